"""Shared by the benchmark scripts: frame letterboxing and writing a report (JSON + plot)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from faceanim._atomic import write_json


def letterbox(image: np.ndarray, w: int = 640, h: int = 480) -> np.ndarray:
    """``image`` scaled to fit ``w x h``, centred on black (the frame size the figures are quoted at)."""
    import cv2

    scale = min(w / image.shape[1], h / image.shape[0])
    small = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                       interpolation=cv2.INTER_AREA)
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


def write_report(report: dict, out: str | Path, plot: Callable[[dict, Path], None]) -> Path:
    """Write ``report`` as JSON at ``out`` and its plot beside it (``.png``), both atomically."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(out)
    write_json(out, report)
    plot(report, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png').name}")
    return out


def face_photos() -> list[tuple[str, object]]:
    """The faces the communication benches animate: the public-domain demo photo, then the stills of
    ``$FACEANIM_DATA/face_videos/stills`` (name, photo or path)."""
    from faceanim.config import dataset_path
    from faceanim.demo import astronaut

    return [("astronaut", astronaut())] + [(p.stem, p) for p in sorted(Path(dataset_path("stills")).glob("*.*"))]
