"""The range of every numeric setting, in one place, checked once where a value comes in.

The command line (argparse ``type=``), the settings dataclasses (``field(metadata={"limit": ...})``) and the
public functions all check through :func:`check`, so ``faceanim animate --fps nan`` and
``Animator().emotion(photo, "happy", fps=float("nan"))`` give the same :class:`~faceanim.errors.SettingError`,
naming the setting, the value and the range. Only finite numbers pass; a whole-number setting must be
integral (``8.0`` is 8, ``8.5`` and ``"8"`` are refused by the API; the command line parses its text).

>>> check("fps", 25)
25.0
>>> check("frames", 8.0)
8
>>> check("fps", float("nan"))
Traceback (most recent call last):
...
faceanim.errors.SettingError: fps must be a finite number above 0 and at most 240, got nan
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from dataclasses import dataclass

from .errors import SettingError

__all__ = ["Limit", "LIMITS", "check", "argtype", "validate_fields", "MAX_FRAMES"]

#: The longest output any setting may ask for (frames): about 67 minutes at 25 fps.
MAX_FRAMES = 100_000


@dataclass(frozen=True)
class Limit:
    """A closed (or half-open) range of numbers; ``integer`` ones must be whole."""

    what: str
    low: float
    high: float
    integer: bool = False
    low_open: bool = False
    high_open: bool = False
    hint: str = ""

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a finite number"
        lo = f"above {self.low:g}" if self.low_open else f"at least {self.low:g}"
        hi = f"below {self.high:g}" if self.high_open else f"at most {self.high:g}"
        if not (self.low_open or self.high_open):
            return f"{kind} from {self.low:g} to {self.high:g}"
        return f"{kind} {lo} and {hi}"

    def check(self, value, what: str | None = None) -> int | float:
        """``value`` as an ``int`` (integer limits) or ``float`` inside the range, else a :class:`SettingError`."""
        name = what or self.what
        bad = SettingError(f"{name} must be {self.describe()}{self.hint}, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise bad
        number = float(value)
        if not math.isfinite(number):
            raise SettingError(f"{name} must be {self.describe()}{self.hint}, got {number}")
        if self.integer and number != int(number):
            raise bad
        low_ok = number > self.low if self.low_open else number >= self.low
        high_ok = number < self.high if self.high_open else number <= self.high
        if not (low_ok and high_ok):
            raise SettingError(f"{name} must be {self.describe()}{self.hint}, got {value:g}")
        return int(number) if self.integer else number


#: name -> range. Settings dataclasses name their entry in ``field(metadata={"limit": NAME})``.
LIMITS: dict[str, Limit] = {
    # animation
    "fps": Limit("fps", 0, 240, low_open=True),
    "frames": Limit("frames", 1, MAX_FRAMES, integer=True, hint=" (frames from neutral to the target)"),
    "hold": Limit("hold", 0, MAX_FRAMES, integer=True, hint=" (extra frames holding the target)"),
    "intensity": Limit("intensity", 0, 1),
    "gain": Limit("gain", 0, 3, hint=" (1 is the measured CK+ apex)"),
    "keypoints": Limit("keypoint count", 5, 68, integer=True),
    "filter_strength": Limit("filter strength", 0, 1, hint=" (0 is off, 1 the strongest)"),
    "gaussian": Limit("gaussian strength", 0, 1),
    "texture": Limit("texture strength", 0, 2, hint=" (1 is the measured CK+ mean)"),
    "anchors_per_side": Limit("anchors_per_side", 2, 64, integer=True),
    "lost_frames": Limit("lost_frames", 0, 10_000, integer=True, hint=" (frames)"),
    "max_jump": Limit("max_jump", 0, 256, low_open=True, hint=" (crop pixels a keypoint may move in one frame)"),
    # reading videos
    "max_frames": Limit("max_frames", 1, 10**9, integer=True, hint=" (or leave it unset for the whole video)"),
    "every": Limit("every", 1, 10**6, integer=True, hint=" (analyse every N-th frame)"),
    # faces and emotions
    "threshold": Limit("threshold", 0, 1),
    "min_score": Limit("min_score", 0, 1),
    "face_id": Limit("face id", 0, 10**6, integer=True, hint=" (the #N on a face in the annotated video)"),
    "stride": Limit("stride", 1, 10_000, integer=True, hint=" (run the detector every N frames)"),
    "smoothing": Limit("smoothing", 0, 1, high_open=True, hint=" (0 is off)"),
    "hysteresis": Limit("hysteresis", 0, 1),
    "band": Limit("band", 0, 0.5),
    "max_faces": Limit("max_faces", 1, 1000, integer=True),
    # communication
    "agreement": Limit("agreement", 0, 1, hint=" (a share of viewers)"),
    "smooth_sigma": Limit("smoothing", 0, 100, hint=" (frames; 0 is off)"),
    "folds": Limit("folds", 2, 20, integer=True),
    "epochs": Limit("epochs", 1, 10_000, integer=True),
    # batch runs
    "workers": Limit("workers", 1, 4096, integer=True, hint=" (processes)"),
}


def check(name: str, value, optional: bool = False, what: str | None = None):
    """``value`` checked against ``LIMITS[name]`` (``None`` passes when ``optional``)."""
    if value is None and optional:
        return None
    return LIMITS[name].check(value, what)


def argtype(name: str, optional: bool = False):
    """An argparse ``type=``: the flag's text parsed as a number and checked like the API checks it."""
    limit = LIMITS[name]

    def parse(text: str):
        if optional and text.lower() in ("none", ""):
            return None
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {limit.describe()}{limit.hint}, got {text!r}") from None
        try:
            return limit.check(value)
        except SettingError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace(f"{limit.what} must", "must", 1)) from None

    parse.__name__ = limit.what  # argparse names the type in its messages
    return parse


def validate_fields(obj) -> None:
    """Check every field of a settings dataclass that names a limit (``None`` passes where the default is None)."""
    for f in dataclasses.fields(obj):
        name = f.metadata.get("limit")
        if name is not None:
            value = getattr(obj, f.name)
            setattr(obj, f.name, check(name, value, optional=f.default is None))
