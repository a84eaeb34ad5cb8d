"""faceanim: read the emotion on faces, and animate still faces, from Jupyter.

The package follows the data: ``io`` (media) -> ``face`` (detect, landmarks, align) -> ``data``
(datasets) -> ``report`` (headless notebooks, metrics, baselines). ``cli`` and ``widgets`` sit on top.
"""

from .errors import (BackendError, DataNotFoundError, FaceanimError, MediaError, NoFaceError, RegressionError,
                     ReportError, SettingError)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "FaceanimError", "MediaError", "DataNotFoundError", "NoFaceError", "BackendError", "ReportError",
    "RegressionError", "SettingError",
]
