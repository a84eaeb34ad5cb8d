"""Emoji that follow the intensity: a subtle smile is not a grin.

:func:`draw_emoji` paints a flat cartoon face with OpenCV (no font, no image download): every emotion
has an apex expression (mouth curve and opening, brows, eyes, tint, tears) and the drawn face moves
from the neutral one toward it with the intensity. :func:`unicode_emoji` gives the matching plain
character, also chosen by intensity. :func:`overlay_emoji` puts one beside a face in a frame.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache

import numpy as np

from .errors import SettingError

__all__ = ["Expression", "EXPRESSIONS", "expression", "draw_emoji", "unicode_emoji", "overlay_emoji", "UNICODE",
           "emoji_grid"]

#: (subtle, clear, strong) characters per emotion, picked by intensity thirds.
UNICODE: dict[str, tuple[str, str, str]] = {
    "angry": ("\U0001F612", "\U0001F620", "\U0001F621"),      # unamused, angry, pouting
    "disgust": ("\U0001F615", "\U0001F922", "\U0001F92E"),    # confused, nauseated, vomiting
    "fear": ("\U0001F61F", "\U0001F628", "\U0001F631"),       # worried, fearful, screaming
    "happy": ("\U0001F642", "\U0001F600", "\U0001F604"),      # slight smile, grinning, grinning eyes
    "sad": ("\U0001F641", "\U0001F622", "\U0001F62D"),        # slight frown, crying, sobbing
    "surprise": ("\U0001F62F", "\U0001F62E", "\U0001F632"),   # hushed, open mouth, astonished
    "neutral": ("\U0001F610", "\U0001F610", "\U0001F610"),    # neutral
}


@dataclass(frozen=True)
class Expression:
    """Shape parameters of a drawn face (all roughly in -1..1 or 0..1)."""

    mouth_curve: float = 0.0    # + smile, - frown
    mouth_open: float = 0.0     # 0 closed .. 1 wide open
    mouth_width: float = 1.0    # relative width (an "O" is narrow)
    mouth_skew: float = 0.0     # one corner up (disgust)
    brow_tilt: float = 0.0      # + inner ends down (anger), - inner ends up (sadness, fear)
    brow_raise: float = 0.0     # 0 .. 1 brows lifted (surprise, fear)
    eye_open: float = 1.0       # eye height factor
    eye_smile: float = 0.0      # 0 .. 1: eyes become happy arcs
    tint: tuple[float, float, float] = (255.0, 204.0, 77.0)  # face colour (RGB)
    tears: float = 0.0          # 0 .. 1

    def lerp(self, other: "Expression", t: float) -> "Expression":
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            out[f.name] = tuple(x + (y - x) * t for x, y in zip(a, b)) if isinstance(a, tuple) else a + (b - a) * t
        return Expression(**out)


NEUTRAL = Expression()
#: The apex expression of each emotion (intensity 1); intensity 0 is :data:`NEUTRAL`.
EXPRESSIONS: dict[str, Expression] = {
    "neutral": NEUTRAL,
    "happy": replace(NEUTRAL, mouth_curve=1.0, mouth_open=0.55, mouth_width=1.15, eye_smile=1.0),
    "sad": replace(NEUTRAL, mouth_curve=-0.9, brow_tilt=-0.9, eye_open=0.75, tint=(238.0, 214.0, 120.0), tears=1.0),
    "angry": replace(NEUTRAL, mouth_curve=-0.6, mouth_open=0.15, brow_tilt=1.0, eye_open=0.7,
                     tint=(235.0, 80.0, 55.0)),
    "surprise": replace(NEUTRAL, mouth_open=1.0, mouth_width=0.45, brow_raise=1.0, eye_open=1.45),
    "fear": replace(NEUTRAL, mouth_curve=-0.35, mouth_open=0.8, mouth_width=0.9, brow_tilt=-0.8, brow_raise=0.8,
                    eye_open=1.35, tint=(190.0, 205.0, 235.0)),
    "disgust": replace(NEUTRAL, mouth_curve=-0.5, mouth_skew=0.9, brow_tilt=0.5, eye_open=0.6,
                       tint=(170.0, 205.0, 90.0)),
}


def _check(label: str, intensity: float) -> float:
    if label not in EXPRESSIONS:
        raise SettingError(f"no emoji for {label!r}; choose one of {', '.join(EXPRESSIONS)}")
    try:
        value = float(intensity)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value):
        raise SettingError(f"intensity must be a number in [0, 1], got {intensity!r}")
    return float(np.clip(value, 0.0, 1.0))


def expression(label: str, intensity: float) -> Expression:
    """The drawn face for ``label`` at ``intensity`` (0 = neutral face, 1 = the apex expression)."""
    t = _check(label, intensity)
    return NEUTRAL.lerp(EXPRESSIONS[label], t)


def unicode_emoji(label: str, intensity: float = 1.0) -> str:
    """The plain Unicode emoji for ``label``, subtle/clear/strong by intensity thirds."""
    t = _check(label, intensity)
    return UNICODE[label][min(2, int(t * 3))]


def _bezier(p0, c, p1, n: int = 24) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) ** 2 * np.asarray(p0) + 2 * (1 - t) * t * np.asarray(c) + t ** 2 * np.asarray(p1)


def draw_emoji(label: str, intensity: float = 1.0, size: int = 96) -> np.ndarray:
    """An ``(size, size, 4)`` RGBA uint8 emoji for ``label`` at ``intensity`` (cached per rounded value)."""
    t = _check(label, intensity)
    if size < 8:
        raise SettingError(f"emoji size must be at least 8 px, got {size}")
    return _draw(label, round(t, 2), int(size)).copy()


@lru_cache(maxsize=512)
def _draw(label: str, t: float, size: int) -> np.ndarray:
    import cv2

    e = expression(label, t)
    ss = 4
    s = size * ss
    rgb = np.zeros((s, s, 3), np.uint8)
    alpha = np.zeros((s, s), np.uint8)
    c = (s // 2, s // 2)
    r = int(s * 0.46)
    ink = (60, 40, 20)
    lw = max(1, int(s * 0.028))
    face = tuple(int(v) for v in e.tint)
    cv2.circle(rgb, c, r, face, -1, cv2.LINE_AA)
    cv2.circle(alpha, c, r + lw // 2, 255, -1, cv2.LINE_AA)
    cv2.circle(rgb, c, r, tuple(int(v * 0.7) for v in face), lw, cv2.LINE_AA)
    # a soft highlight: flat cartoon shading, clearly not a photo
    cv2.ellipse(rgb, (int(s * 0.38), int(s * 0.24)), (int(s * 0.14), int(s * 0.06)), -25, 0, 360,
                tuple(min(255, int(v * 1.15) + 25) for v in face), -1, cv2.LINE_AA)
    # eyes
    ey = s * (0.42 - 0.02 * e.brow_raise)
    for sx in (0.35, 0.65):
        ex = s * sx
        if e.eye_smile > 0.5:  # happy arcs
            h = s * 0.05 * (e.eye_smile - 0.3)
            pts = _bezier((ex - s * 0.06, ey + h * 0.5), (ex, ey - h * 2.2), (ex + s * 0.06, ey + h * 0.5))
            cv2.polylines(rgb, [np.round(pts).astype(np.int32)], False, ink, lw, cv2.LINE_AA)
        else:
            axes = (int(s * 0.045), max(2, int(s * 0.07 * e.eye_open * (1 - e.eye_smile * 0.8))))
            cv2.ellipse(rgb, (int(ex), int(ey)), axes, 0, 0, 360, ink, -1, cv2.LINE_AA)
            cv2.circle(rgb, (int(ex + s * 0.012), int(ey - s * 0.02)), max(1, int(s * 0.012)), (255, 255, 255), -1,
                       cv2.LINE_AA)
    # brows: the inner end (towards the nose) moves down with +tilt, up with -tilt
    by = s * (0.29 - 0.07 * e.brow_raise)
    if abs(e.brow_tilt) > 0.05 or e.brow_raise > 0.05:
        for sx, side in ((0.35, 1), (0.65, -1)):
            inner = (s * sx + side * s * 0.07, by + s * 0.06 * e.brow_tilt)
            outer = (s * sx - side * s * 0.07, by - s * 0.02 * e.brow_tilt)
            cv2.line(rgb, tuple(int(v) for v in outer), tuple(int(v) for v in inner), ink, lw, cv2.LINE_AA)
    # mouth
    my, half = s * 0.7, s * 0.17 * e.mouth_width
    left = (c[0] - half, my - s * 0.04 * e.mouth_skew)
    right = (c[0] + half, my + s * 0.03 * e.mouth_skew)
    upper_ctrl = (c[0], my + s * 0.16 * e.mouth_curve - s * 0.05 * e.mouth_open * (1 - max(e.mouth_curve, 0)))
    upper = _bezier(left, upper_ctrl, right)
    if e.mouth_open > 0.06:
        lower_ctrl = (c[0], upper_ctrl[1] + s * 0.26 * e.mouth_open + s * 0.08 * max(e.mouth_curve, 0))
        lower = _bezier(right, lower_ctrl, left)
        poly = np.round(np.concatenate([upper, lower])).astype(np.int32)
        cv2.fillPoly(rgb, [poly], (90, 30, 30), cv2.LINE_AA)
        if e.mouth_curve > 0.4:  # teeth along the upper lip of a grin
            teeth = np.round(np.concatenate([upper, _bezier(right, (c[0], upper_ctrl[1] + s * 0.06), left)])).astype(np.int32)
            cv2.fillPoly(rgb, [teeth], (255, 255, 255), cv2.LINE_AA)
        cv2.polylines(rgb, [poly], True, ink, lw, cv2.LINE_AA)
    else:
        cv2.polylines(rgb, [np.round(upper).astype(np.int32)], False, ink, lw, cv2.LINE_AA)
    if e.tears > 0.3:
        ty = ey + s * 0.09
        drop = int(s * 0.035 * (0.5 + e.tears))
        cx = int(s * 0.66)
        cv2.circle(rgb, (cx, int(ty + drop)), drop, (90, 170, 255), -1, cv2.LINE_AA)
        tri = np.array([[cx - drop, int(ty + drop)], [cx + drop, int(ty + drop)], [cx, int(ty - drop)]], np.int32)
        cv2.fillPoly(rgb, [tri], (90, 170, 255), cv2.LINE_AA)
    out = np.dstack([rgb, alpha])
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)


def overlay_emoji(frame: np.ndarray, emoji: np.ndarray, x: int, y: int) -> np.ndarray:
    """Alpha-blend an RGBA ``emoji`` onto an RGB ``frame`` (in place) with its top-left at ``(x, y)``; clipped."""
    h, w = emoji.shape[:2]
    fh, fw = frame.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(fw, x + w), min(fh, y + h)
    if x1 <= x0 or y1 <= y0:
        return frame
    patch = emoji[y0 - y:y1 - y, x0 - x:x1 - x]
    a = patch[..., 3:4].astype(np.float32) / 255.0
    region = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = (region * (1 - a) + patch[..., :3].astype(np.float32) * a + 0.5).astype(np.uint8)
    return frame


def emoji_grid(emotions=None, levels=(0.2, 0.5, 0.8, 1.0), size: int = 96, cols: int | None = None) -> np.ndarray:
    """One RGB image: every emotion's emoji at each intensity level, on white (rows of ``cols`` tiles)."""
    from .io import as_rgb
    from .labels import EMOTIONS
    from .viz import image_grid

    emotions = list(emotions or EMOTIONS)
    tiles = [as_rgb(draw_emoji(e, v, size)) for e in emotions for v in levels]
    return image_grid(tiles, cols=cols or len(levels) * 2)
