"""Drawing helpers: faces on frames, image grids. Pure functions returning new arrays or figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .face.types import Face
from .io import as_rgb

__all__ = ["draw_faces", "image_grid", "show_images", "annotate_readings"]

_COLORS = [(46, 204, 113), (52, 152, 219), (231, 76, 60), (241, 196, 15), (155, 89, 182), (26, 188, 156)]


def draw_faces(image: np.ndarray, faces: Sequence[Face], labels: Sequence[str] | None = None,
               landmarks: bool = True, thickness: int | None = None) -> np.ndarray:
    """A copy of ``image`` with each face's box, score (or label), five points and 68 landmarks drawn."""
    import cv2

    out = as_rgb(image).copy()
    h, w = out.shape[:2]
    t = thickness or max(1, int(round(max(h, w) / 400)))
    for i, face in enumerate(faces):
        color = _COLORS[i % len(_COLORS)]
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, t, cv2.LINE_AA)
        text = labels[i] if labels is not None else f"{i}: {face.score:.2f}"
        scale = max(0.4, t * 0.45)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, t // 2))
        ty = max(th + 4, y1 - 4)
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 4, ty + 2), color, -1)
        cv2.putText(out, text, (x1 + 2, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), max(1, t // 2), cv2.LINE_AA)
        if landmarks and face.landmarks is not None:
            for x, y in face.landmarks:
                cv2.circle(out, (int(round(x)), int(round(y))), max(1, t), (255, 255, 255), -1, cv2.LINE_AA)
        if face.points5 is not None:
            for x, y in face.points5:
                cv2.circle(out, (int(round(x)), int(round(y))), max(2, 2 * t), (255, 0, 0), -1, cv2.LINE_AA)
    return out


def image_grid(images: Sequence[np.ndarray], cols: int = 8, pad: int = 2, size: int | None = None) -> np.ndarray:
    """Tile images (resized to ``size`` if given, else the first image's size) into one RGB array."""
    import cv2

    if not images:
        raise ValueError("no images to tile")
    tiles = [as_rgb(im) for im in images]
    th, tw = (size, size) if size else tiles[0].shape[:2]
    tiles = [t if t.shape[:2] == (th, tw) else cv2.resize(t, (tw, th), interpolation=cv2.INTER_AREA) for t in tiles]
    cols = max(1, min(cols, len(tiles)))
    rows = -(-len(tiles) // cols)
    grid = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[pad + r * (th + pad): pad + r * (th + pad) + th, pad + c * (tw + pad): pad + c * (tw + pad) + tw] = t
    return grid


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, cols: int = 4,
                size: float = 3.0):
    """A matplotlib figure with one axis per image (titles optional). Returns the figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, im in enumerate(images):
        ax = axes.ravel()[i]
        arr = np.asarray(im)
        ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


#: one colour per face id in live annotations
_TRACK_COLORS = [(46, 204, 113), (52, 152, 219), (231, 76, 60), (241, 196, 15), (155, 89, 182), (26, 188, 156),
            (230, 126, 34), (236, 240, 241)]


def blur_faces(image: np.ndarray, boxes, pad: float = 0.25) -> np.ndarray:
    """A copy of ``image`` with each box (``x1, y1, x2, y2``, enlarged by ``pad`` of its size on every side)
    pixelated to 6 cells across and blurred: no face in it can be recognised."""
    import cv2

    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    for box in boxes:
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        dx, dy = pad * (x2 - x1), pad * (y2 - y1)
        a, b = max(0, int(x1 - dx)), max(0, int(y1 - dy))
        c, d = min(w, int(np.ceil(x2 + dx))), min(h, int(np.ceil(y2 + dy)))
        if c - a < 2 or d - b < 2:
            continue
        region = out[b:d, a:c]
        small = cv2.resize(region, (6, max(1, round(6 * (d - b) / (c - a)))), interpolation=cv2.INTER_AREA)
        big = cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_LINEAR)
        k = max(3, (min(c - a, d - b) // 4) | 1)
        out[b:d, a:c] = cv2.GaussianBlur(big, (k, k), 0)
    return out


def annotate_readings(image: np.ndarray, faces, emoji: bool = True) -> np.ndarray:
    """A copy of ``image`` with, per face (each a :class:`~faceanim.video.FaceReading`: ``face_id``, ``face``,
    ``reading``): box, id and label, an intensity bar and the emoji beside it."""
    import cv2

    from .emoji import draw_emoji, overlay_emoji

    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    t = max(1, int(round(max(h, w) / 400)))
    for fr in faces:
        color = _TRACK_COLORS[fr.face_id % len(_TRACK_COLORS)]
        x1, y1, x2, y2 = (int(round(v)) for v in fr.face.box)
        r = fr.reading
        cv2.rectangle(out, (x1, y1), (x2, y2), color, t, cv2.LINE_AA)
        text = f"#{fr.face_id} {r.shown} {r.intensity:.2f}"
        scale = max(0.45, t * 0.5)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, t // 2 + 1))
        ty = max(th + 4, y1 - 4)
        cv2.rectangle(out, (x1, ty - th - 4), (x1 + tw + 4, ty + 3), color, -1)
        cv2.putText(out, text, (x1 + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), max(1, t // 2 + 1),
                    cv2.LINE_AA)
        # intensity bar under the box; the tick marks the threshold
        bw, bh = x2 - x1, max(4, 3 * t)
        by = min(h - bh - 1, y2 + 3 * t)
        cv2.rectangle(out, (x1, by), (x2, by + bh), (40, 40, 40), -1)
        cv2.rectangle(out, (x1, by), (x1 + int(bw * r.intensity), by + bh), color, -1)
        tx = x1 + int(bw * r.threshold)
        cv2.line(out, (tx, by - t), (tx, by + bh + t), (255, 255, 255), max(1, t // 2))
        if emoji:
            side = int(np.clip((y2 - y1) * 0.5, 24, 160))
            ex = x2 + 4 * t if x2 + 4 * t + side <= w else x1 - 4 * t - side
            ex = int(np.clip(ex, 0, max(0, w - side)))
            overlay_emoji(out, draw_emoji(r.shown, r.intensity if r.expressive else 0.0, side), ex, y1)
    return out
