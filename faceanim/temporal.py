"""Filters over time, so labels and points do not flicker from frame to frame.

:class:`EmaFilter` smooths any vector (class probabilities, intensity) per key (a face id). Its
``strength`` in [0, 1) is the share of the past kept at each step: 0 is off, 0.8 averages over about
5 frames (the notebooks' slider).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from .errors import SettingError
from .labels import EMOTIONS

__all__ = ["EmaFilter", "EmotionFilter", "Filtered", "label_changes", "SMOOTHING", "HYSTERESIS", "BAND"]

#: the live filter's defaults (:class:`EmotionFilter`, the stream, the CLI and notebook 06), picked from
#: the grid ``bench/bench_live.py`` measures: they halve label flicker on the face videos and keep the
#: apex-frame accuracy on CK+ sequences (the last third of each sequence loses about 3 points: the
#: filter lags a fast onset)
SMOOTHING, HYSTERESIS, BAND = 0.3, 0.1, 0.1


class EmaFilter:
    """Exponential moving average per key: ``y = strength * y_prev + (1 - strength) * x``.

    A key unseen for more than ``reset_after`` steps starts afresh (a face that comes back does not
    inherit an old mood).
    """

    def __init__(self, strength: float = 0.7, reset_after: int = 30):
        if not 0.0 <= strength < 1.0:
            raise SettingError(f"filter strength must be in [0, 1), got {strength}")
        self.strength, self.reset_after = float(strength), int(reset_after)
        self._state: dict[Hashable, tuple[np.ndarray, int]] = {}

    def __call__(self, key: Hashable, x, step: int) -> np.ndarray:
        x = np.asarray(x, np.float64)
        prev = self._state.get(key)
        if prev is None or step - prev[1] > self.reset_after or self.strength == 0.0:
            y = x
        else:
            y = self.strength * prev[0] + (1.0 - self.strength) * x
        self._state[key] = (y, step)
        return y

    def reset(self) -> None:
        self._state.clear()


def label_changes(labels, times) -> tuple[int, float]:
    """``(changes, changes per second)`` of a label sequence sampled at ``times`` (seconds)."""
    labels = list(labels)
    times = np.asarray(times, np.float64)
    changes = sum(a != b for a, b in zip(labels[:-1], labels[1:]))
    span = float(times.max() - times.min()) if len(times) > 1 else 0.0
    return changes, (changes / span if span > 0 else 0.0)


@dataclass
class Filtered:
    """What :class:`EmotionFilter` makes of one reading.

    Attributes:
        probabilities: ``(7,)`` smoothed class probabilities (:data:`~faceanim.labels.EMOTIONS` order).
        intensity: smoothed intensity, 0..1.
        label: index of the label kept after hysteresis.
        expressive: whether the face counts as showing an emotion (threshold with a band).
    """

    probabilities: np.ndarray
    intensity: float
    label: int
    expressive: bool

    @property
    def name(self) -> str:
        return EMOTIONS[self.label]


class EmotionFilter:
    """Per-face smoothing of emotion readings: an EMA on probabilities and intensity, then hysteresis.

    * the label changes only when another class's smoothed probability beats the current one's by
      ``hysteresis`` (a near tie does not flip the label back and forth);
    * "shows an emotion" switches on at ``threshold + band`` and off at ``threshold - band``.

    ``strength`` is the EMA share of the past (0 = off); with ``strength=0`` and ``hysteresis=0`` and
    ``band=0`` the readings pass through unchanged.
    """

    def __init__(self, strength: float = SMOOTHING, hysteresis: float = HYSTERESIS, band: float = BAND,
                 reset_after: int = 30):
        if not 0.0 <= hysteresis <= 1.0 or not 0.0 <= band <= 0.5:
            raise SettingError(f"hysteresis must be in [0, 1] and band in [0, 0.5], got {hysteresis}, {band}")
        self.ema = EmaFilter(strength, reset_after)
        self.strength, self.hysteresis, self.band = self.ema.strength, float(hysteresis), float(band)
        self._label: dict[Hashable, tuple[int, bool]] = {}

    def __call__(self, key: Hashable, probs, intensity: float, step: int, threshold: float) -> "Filtered":
        """One face's reading after smoothing and hysteresis."""
        fresh = key not in self.ema._state or step - self.ema._state[key][1] > self.ema.reset_after
        s = self.ema(key, np.append(np.asarray(probs, np.float64), intensity), step)
        p = s[:-1] / s[:-1].sum()
        v = float(s[-1])
        best = int(p.argmax())
        prev = None if fresh else self._label.get(key)
        if prev is None:
            label, on = best, v >= threshold
        else:
            label = best if p[best] - p[prev[0]] > self.hysteresis else prev[0]
            on = v >= threshold - self.band if prev[1] else v >= threshold + self.band
        self._label[key] = (label, on)
        return Filtered(p, v, label, bool(on))

    def reset(self) -> None:
        self.ema.reset()
        self._label.clear()
