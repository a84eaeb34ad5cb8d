"""faceanim: read the emotion on faces, and animate still faces, from Jupyter.

The package follows the data: ``io`` (media) -> ``face`` (detect, landmarks, align, track) -> ``data``
(datasets) -> ``emotion`` (recognizer, intensity, training, evaluation) -> ``temporal`` (filters) ->
``video`` (live stream, SQLite log, plots) and ``emoji`` -> ``report`` (headless notebooks, metrics,
baselines). ``cli`` and ``widgets`` sit on top.
"""

from .errors import (BackendError, DataNotFoundError, FaceanimError, MediaError, NoFaceError, RegressionError,
                     ReportError, SettingError, WeightsError)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "FaceanimError", "MediaError", "DataNotFoundError", "NoFaceError", "BackendError", "ReportError",
    "RegressionError", "SettingError", "WeightsError",
]
