"""Freely licensed demo media that needs no dataset.

The photo is scikit-image's ``astronaut`` (Eileen Collins, NASA; public domain). The demo video is made
from it: a slow zoom, pan and head-roll, so the tour notebook and tests have a real face moving without
shipping any research-only data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import REPO_ROOT

__all__ = ["astronaut", "demo_video", "group_photo"]


def astronaut() -> np.ndarray:
    """The astronaut photo, RGB uint8 ``(512, 512, 3)``."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def group_photo(n: int = 3, seed: int = 0) -> np.ndarray:
    """Several copies of the astronaut's face at different sizes on one 960x540 canvas (a 'group')."""
    import cv2

    rng = np.random.default_rng(seed)
    face = astronaut()[20:260, 130:330]
    canvas = np.full((540, 960, 3), 235, np.uint8)
    canvas[:] = np.linspace(200, 245, 960, dtype=np.uint8)[None, :, None]
    slots = np.linspace(0, 960, n + 1)
    for i in range(n):
        side = int(rng.uniform(150, 230))
        tile = cv2.resize(face, (int(side * 200 / 240), side), interpolation=cv2.INTER_AREA)
        if i % 2:
            tile = tile[:, ::-1]
        x = int((slots[i] + slots[i + 1]) / 2 - tile.shape[1] / 2)
        y = int(rng.uniform(40, 540 - side - 40))
        canvas[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    return canvas


def demo_video(path: str | Path | None = None, frames: int = 120, fps: float = 25.0, size: tuple[int, int] = (640, 480)) -> Path:
    """Write (once) and return the demo mp4: the astronaut photo with a smooth zoom, pan and roll.

    It is made on first use under ``data/demo/`` (ignored by git), and is deterministic.
    """
    import cv2

    from .io import write_video

    path = Path(path) if path else REPO_ROOT / "data" / "demo" / f"astronaut_v2_{size[0]}x{size[1]}_{frames}.mp4"
    if path.exists():
        return path
    src = astronaut()
    w, h = size

    def frame(t: float) -> np.ndarray:
        angle = 8.0 * np.sin(2 * np.pi * t)
        zoom = 1.0 + 0.25 * np.sin(np.pi * t)
        cx, cy = 230 + 20 * np.sin(2 * np.pi * t), 140 + 10 * np.cos(2 * np.pi * t)
        mat = cv2.getRotationMatrix2D((cx, cy), angle, zoom * h / 420)
        mat[:, 2] += (w / 2 - cx, h / 2 - cy)
        return cv2.warpAffine(src, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    return write_video(path, (frame(i / frames) for i in range(frames)), fps=fps)
