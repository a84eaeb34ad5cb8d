"""The face pipeline: detect (by name) -> 68 landmarks -> canonical crops -> paste back."""

from .align import TEMPLATES, AlignedFace, Template, align_face, paste_back, similarity_matrix
from .detect import FaceDetector, HaarDetector, MTCNNDetector, available_detectors, create_detector
from .landmarks import LANDMARK_GROUPS, Dlib68Landmarker, Landmarker, available_landmarkers, create_landmarker
from .mesh import MediaPipeDetector, MeshLandmarker, MeshTracker, mesh_to_68
from .pipeline import FacePipeline, FaceResult
from .types import POINTS5_NAMES, Face, faces_to_frame

__all__ = [
    "Face", "POINTS5_NAMES", "faces_to_frame",
    "FaceDetector", "MTCNNDetector", "HaarDetector", "create_detector", "available_detectors",
    "MediaPipeDetector", "MeshLandmarker", "MeshTracker", "mesh_to_68",
    "Landmarker", "Dlib68Landmarker", "create_landmarker", "available_landmarkers", "LANDMARK_GROUPS",
    "Template", "TEMPLATES", "AlignedFace", "align_face", "paste_back", "similarity_matrix",
    "FacePipeline", "FaceResult",
]
