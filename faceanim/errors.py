"""One family of errors for everything a user can get wrong.

Every message says what is wrong *and* what to do about it, so a notebook user never has to read a
traceback from deep inside OpenCV, PyAV or Pillow.
"""

from __future__ import annotations

__all__ = [
    "FaceanimError",
    "MediaError",
    "DataNotFoundError",
    "NoFaceError",
    "BackendError",
    "SettingError",
    "ReportError",
    "RegressionError",
    "WeightsError",
    "check_number",
]


class FaceanimError(Exception):
    """Base class of every error faceanim raises on purpose."""


class MediaError(FaceanimError, ValueError):
    """An image or video cannot be read or written."""


class DataNotFoundError(FaceanimError, FileNotFoundError):
    """A dataset is not where ``FACEANIM_DATA`` says it should be."""


class NoFaceError(FaceanimError):
    """A step needs a face and none was found."""


class BackendError(FaceanimError, KeyError):
    """An unknown backend name, or a backend whose package is not installed."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class SettingError(FaceanimError, ValueError):
    """A parameter is out of range (a threshold above 1, a negative size ...)."""


class ReportError(FaceanimError):
    """A notebook failed while running headless."""


class RegressionError(FaceanimError):
    """A notebook's metrics moved outside the tolerance of the committed baseline."""


class WeightsError(FaceanimError, FileNotFoundError):
    """A weights file is missing, damaged (checksum mismatch) or of the wrong kind."""


def check_number(value, what: str, low: float, high: float, hint: str = "") -> float:
    """``value`` as a finite float in ``[low, high]``, or a :class:`SettingError` naming ``what`` and the range
    (the same check as :mod:`faceanim.limits`, for ranges that have no name there)."""
    from .limits import Limit

    return float(Limit(what, low, high, hint=hint).check(value))
