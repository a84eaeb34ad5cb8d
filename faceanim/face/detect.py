"""Face detectors, chosen by name: ``mtcnn`` (default, accurate) and ``haar`` (fast).

Both return every face as a :class:`~faceanim.face.types.Face` with box, score in ``[0, 1]`` and five
points, sorted by score. Huge images are searched at a working resolution (``max_side``) and the results
mapped back, so an 8000 px photo costs about what a 1600 px one does.

>>> from faceanim.demo import astronaut
>>> faces = create_detector("mtcnn").detect(astronaut())      # scikit-image's astronaut (public domain)
>>> len(faces), faces[0].score > 0.99, faces[0].points5.shape
(1, True, (5, 2))
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from ..errors import BackendError, SettingError
from ..io import as_rgb
from ._registry import Registry
from .types import Face

__all__ = ["FaceDetector", "MTCNNDetector", "HaarDetector", "create_detector", "available_detectors", "DETECTORS",
           "DETECTOR_NAMES", "MIN_SCORES"]

DETECTORS: Registry["FaceDetector"] = Registry("face detector")
#: every detector by name (the registry's, once :mod:`faceanim.face` is imported), and the score from which
#: a face counts, per detector (their scores are not on one scale)
DETECTOR_NAMES = ("mtcnn", "haar", "mediapipe")
MIN_SCORES = {"mtcnn": 0.9, "haar": 0.3, "mediapipe": 0.5}


class FaceDetector(ABC):
    """Common interface: ``detect(image) -> list[Face]``.

    Args:
        min_score: faces scoring below this are dropped.
        max_side: images larger than this (pixels, longest side) are searched downscaled.
    """

    name = "base"

    def __init__(self, min_score: float = 0.5, max_side: int = 1600):
        if not 0.0 <= min_score <= 1.0:
            raise SettingError(f"min_score must be in [0, 1], got {min_score}; 0.9 suits mtcnn, 0.3 haar")
        if max_side < 64:
            raise SettingError(f"max_side must be at least 64 px, got {max_side}")
        self.min_score = float(min_score)
        self.max_side = int(max_side)

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in an RGB image (any dtype/channels :func:`~faceanim.io.as_rgb` accepts)."""
        rgb = as_rgb(image)
        h, w = rgb.shape[:2]
        if min(h, w) < max(12, getattr(self, "min_face_size", 12)):
            return []  # smaller than the smallest face this detector looks for: none, not an error
        scale = min(1.0, self.max_side / max(h, w))
        work = rgb
        if scale < 1.0:
            import cv2

            work = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        faces = [f for f in self._detect(work) if f.score >= self.min_score]
        if scale < 1.0:
            faces = [f.scaled(1.0 / scale) for f in faces]
        for f in faces:
            f.box = _clip_box(f.box, w, h)
            f.detector = self.name
        return sorted(faces, key=lambda f: -f.score)

    @abstractmethod
    def _detect(self, rgb: np.ndarray) -> list[Face]:
        """Detect on an RGB uint8 image already at working resolution."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min_score={self.min_score}, max_side={self.max_side})"


def _clip_box(box: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.array([np.clip(box[0], 0, w), np.clip(box[1], 0, h), np.clip(box[2], 0, w), np.clip(box[3], 0, h)],
                    dtype=np.float32)


@DETECTORS.register("mtcnn", "MTCNN (Zhang et al. 2016) from facenet-pytorch; accurate, 5 points, about half haar's "
                            "speed (reports/bench_face.json)")
class MTCNNDetector(FaceDetector):
    """MTCNN from ``facenet-pytorch`` (weights ship inside the package; nothing is downloaded).

    Args:
        min_face_size: smallest face searched for, in working-resolution pixels.
        thresholds: the three cascade stages' thresholds.
        device: torch device string.
    """

    name = "mtcnn"

    def __init__(self, min_score: float = 0.9, max_side: int = 1600, min_face_size: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), device: str = "cpu"):
        super().__init__(min_score=min_score, max_side=max_side)
        try:
            from facenet_pytorch import MTCNN
        except ImportError as exc:
            raise BackendError(
                f"the 'mtcnn' detector needs facenet-pytorch ({exc}); install it with "
                "`pip install --no-deps facenet-pytorch==2.6.0` (or run `make setup`), or use detector='haar'"
            ) from None
        self.min_face_size = int(min_face_size)
        self._net = MTCNN(keep_all=True, device=device, min_face_size=self.min_face_size,
                          thresholds=list(thresholds), post_process=False)

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        import torch

        with torch.inference_mode():
            boxes, probs, points = self._net.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        # With numpy 2, facenet-pytorch returns object arrays: make them plain floats.
        boxes = np.asarray(boxes.tolist(), dtype=np.float32).reshape(-1, 4)
        probs = np.asarray(probs.tolist(), dtype=np.float32).reshape(-1)
        points = np.asarray(points.tolist(), dtype=np.float32).reshape(-1, 5, 2)
        return [Face(box=b, score=float(p), points5=pt) for b, p, pt in zip(boxes, probs, points)]


@DETECTORS.register("haar", "OpenCV Haar cascade (Viola-Jones); fast, frontal, 5 points from dlib's 68")
class HaarDetector(FaceDetector):
    """OpenCV's bundled frontal-face Haar cascade; five points come from the 68-point landmarker.

    The score maps the cascade's final-stage weight ``w`` to ``1 - exp(-w / 4)``: monotone and in
    ``[0, 1)``, but not a calibrated probability.

    Args:
        scale_factor, min_neighbors: OpenCV's ``detectMultiScale`` settings. 1.2 rather than OpenCV's
            usual 1.1 halves the time on 640x480 frames (bench/bench_face.py) at no loss on the face videos.
        min_face_size: smallest face, working-resolution pixels.
        profile: also run the profile cascade (both directions) and merge.
    """

    name = "haar"

    def __init__(self, min_score: float = 0.3, max_side: int = 1600, scale_factor: float = 1.2,
                 min_neighbors: int = 5, min_face_size: int = 30, profile: bool = False):
        super().__init__(min_score=min_score, max_side=max_side)
        import cv2

        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise BackendError(
                "this OpenCV has no CascadeClassifier or bundled cascades (OpenCV 5 dropped them); "
                "install `opencv-python-headless<5` or use detector='mtcnn'"
            )
        self._frontal = self._load(cv2, "haarcascade_frontalface_default.xml")
        self._profile = self._load(cv2, "haarcascade_profileface.xml") if profile else None
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_size = int(min_face_size)
        self._landmarker = None

    @staticmethod
    def _load(cv2, name: str):
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)
        if cascade.empty():
            raise BackendError(f"OpenCV's cascade {name} is missing from {cv2.data.haarcascades}; reinstall opencv")
        return cascade

    def _run(self, cascade, gray: np.ndarray):
        boxes, _, weights = cascade.detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_face_size, self.min_face_size), outputRejectLevels=True)
        if len(boxes) == 0:
            return []
        return [(np.array([x, y, x + w, y + h], dtype=np.float32), 1.0 - math.exp(-max(float(s), 0.0) / 4.0))
                for (x, y, w, h), s in zip(boxes, np.ravel(weights))]

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        import cv2

        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # no global equalisation: it hides faces on gradients
        found = self._run(self._frontal, gray)
        if self._profile is not None:
            found += self._run(self._profile, gray)
            flipped = np.ascontiguousarray(gray[:, ::-1])
            w = gray.shape[1]
            found += [(np.array([w - b[2], b[1], w - b[0], b[3]], dtype=np.float32), s)
                      for b, s in self._run(self._profile, flipped)]
            found = _nms(found, 0.3)
        faces = [Face(box=b, score=s) for b, s in found]
        if faces:
            if self._landmarker is None:
                from .landmarks import create_landmarker

                self._landmarker = create_landmarker("dlib68")
            self._landmarker.fit(rgb, faces)
            for f in faces:
                f.points5 = self._landmarker.points5(f.landmarks)
        return faces


def _nms(found: list[tuple[np.ndarray, float]], iou_max: float) -> list[tuple[np.ndarray, float]]:
    keep: list[tuple[np.ndarray, float]] = []
    for box, score in sorted(found, key=lambda t: -t[1]):
        if all(_iou(box, k[0]) <= iou_max for k in keep):
            keep.append((box, score))
    return keep


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def create_detector(name: str = "mtcnn", **kwargs) -> FaceDetector:
    """Make a detector by name (see :func:`available_detectors`)."""
    return DETECTORS.create(name, **kwargs)


def available_detectors() -> dict[str, str]:
    """Detector names and one line about each."""
    return DETECTORS.describe()
