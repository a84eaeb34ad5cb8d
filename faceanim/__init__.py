"""faceanim: read the emotion on faces, and animate still faces, from Jupyter.

The package follows the data: ``io`` (media) -> ``face`` (detect, landmarks, align, track) -> ``data``
(datasets) -> ``emotion`` (recognizer, intensity, training, evaluation) -> ``temporal`` (filters) ->
``video`` (live stream, SQLite log, plots) and ``emoji`` -> ``report`` (headless notebooks, metrics,
baselines). ``cli`` and ``widgets`` sit on top.
"""

import logging
import sys

from .errors import (
    BackendError,
    DataNotFoundError,
    FaceanimError,
    MediaError,
    NoFaceError,
    RegressionError,
    ReportError,
    SettingError,
    WeightsError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__", "verbose",
    "FaceanimError", "MediaError", "DataNotFoundError", "NoFaceError", "BackendError", "ReportError",
    "RegressionError", "SettingError", "WeightsError",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def verbose(level: int | str = logging.INFO) -> logging.Logger:
    """Show faceanim's progress messages (training epochs, evaluation steps) on stderr, which a notebook
    displays under the cell; the CLI calls it. Calling it again only changes the level."""
    logger = logging.getLogger(__name__)
    logger.setLevel(level)
    if not any(getattr(h, "_faceanim", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._faceanim = True
        logger.addHandler(handler)
    return logger
