"""Faces in other styles: cartoon renderings of real faces, for measuring (and training) across styles.

Seed 004 is about stylised characters; we have no licensed stylised-character set, so real test faces are
rendered in three styles at three strengths (1 light .. 3 strong), all made here with OpenCV:

- ``"cartoon"``: edge-preserving smoothing (repeated bilateral filters), flat tones (quantised levels) and
  ink lines (adaptive-threshold edges);
- ``"painted"``: OpenCV's ``stylization`` (a domain-transform edge-preserving filter with flattened detail);
- ``"sketch"``: OpenCV's ``pencilSketch`` (grey pencil strokes), blended with the photo at strengths 1-2.

A face smaller than 160 px is scaled up for the filter and back down, so a 48 px FER face is styled at
the scale the filters are made for.

>>> import numpy as np
>>> face = (np.arange(48 * 48) % 251).astype(np.uint8).reshape(48, 48)
>>> stylize(face, "cartoon", 2).shape
(48, 48)
"""

from __future__ import annotations

import numpy as np

from .errors import SettingError

__all__ = ["STYLES", "STRENGTHS", "stylize", "style_grid"]

STYLES = ("cartoon", "painted", "sketch")
STRENGTHS = (1, 2, 3)
_WORK = 160


def _check(style: str, strength) -> int:
    if style not in STYLES:
        raise SettingError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    if strength not in STRENGTHS:
        raise SettingError(f"style strength is 1, 2 or 3, got {strength!r}")
    return int(strength)


def _cartoon(bgr: np.ndarray, s: int) -> np.ndarray:
    import cv2

    out = bgr
    for _ in range(s + 1):
        out = cv2.bilateralFilter(out, 9, 30 + 20 * s, 7)
    levels = (12, 7, 4)[s - 1]
    step = 256 // levels
    out = (out // step * step + step // 2).clip(0, 255).astype(np.uint8)
    gray = cv2.medianBlur(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 5)
    edges = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 9 - s)
    if s >= 3:
        edges = cv2.erode(edges, np.ones((2, 2), np.uint8))
    return np.where(edges[..., None] == 0, (out * 0.15).astype(np.uint8), out)


def _painted(bgr: np.ndarray, s: int) -> np.ndarray:
    import cv2

    return cv2.stylization(bgr, sigma_s=(20, 45, 80)[s - 1], sigma_r=(0.2, 0.4, 0.6)[s - 1])


def _sketch(bgr: np.ndarray, s: int) -> np.ndarray:
    import cv2

    gray, _ = cv2.pencilSketch(bgr, sigma_s=60, sigma_r=0.07, shade_factor=0.06)
    sketch = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if s == 3:
        return sketch
    a = (0.5, 0.8)[s - 1]
    return cv2.addWeighted(sketch, a, bgr, 1 - a, 0)


def stylize(image: np.ndarray, style: str, strength: int = 2) -> np.ndarray:
    """``image`` (gray ``(H, W)`` or RGB ``(H, W, 3)`` uint8) in ``style`` at ``strength`` 1-3; same shape back."""
    import cv2

    s = _check(style, strength)
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or min(a.shape[:2]) < 8:
        raise SettingError(f"stylize takes a gray (H, W) or RGB (H, W, 3) uint8 image of at least 8 px, got "
                           f"{a.dtype} {a.shape}")
    gray_in = a.ndim == 2
    bgr = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR) if gray_in else cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    h, w = bgr.shape[:2]
    scale = max(1.0, _WORK / min(h, w))
    if scale > 1:
        bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    out = {"cartoon": _cartoon, "painted": _painted, "sketch": _sketch}[style](np.ascontiguousarray(bgr), s)
    if scale > 1:
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(out, cv2.COLOR_BGR2GRAY) if gray_in else cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def style_grid(image: np.ndarray) -> np.ndarray:
    """The photo then every style at every strength, side by side (for a figure or a notebook)."""
    tiles = [np.asarray(image)] + [stylize(image, st, s) for st in STYLES for s in STRENGTHS]
    return np.concatenate(tiles, axis=1)
