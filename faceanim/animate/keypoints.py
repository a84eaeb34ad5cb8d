"""Keypoints for animation: a chosen subset of the 68 landmarks plus fixed border anchors.

The subset grows in a fixed order of importance (the five points a detector gives first, then the mouth,
brows and eye lids that carry expressions, then the jaw), so a slider from 5 to 68 keeps the most telling
points at every count. Border anchors are fixed points on the crop's edge: they hold the background and
the torso still while the face moves.
"""

from __future__ import annotations

import numpy as np

from ..limits import LIMITS, check

__all__ = ["KEYPOINT_ORDER", "select_keypoints", "border_anchors", "above_brows", "STABLE_POINTS",
           "normalizing_transform", "face_scale", "apply_affine", "MIN_KEYPOINTS"]

MIN_KEYPOINTS = int(LIMITS["keypoints"].low)

#: Order in which landmarks join as the keypoint count grows (iBUG-68 indices).
KEYPOINT_ORDER: tuple[int, ...] = (
    36, 45, 30, 48, 54,                      # outer eye corners, nose tip, mouth corners
    51, 57, 62, 66, 19, 24, 8,               # lips (outer/inner, mid), brow peaks, chin
    39, 42, 37, 44, 41, 46, 21, 22, 17, 26,  # inner eye corners, lids, inner/outer brows
    50, 52, 56, 58, 61, 63, 65, 67, 60, 64,  # rest of the lips
    49, 53, 55, 59, 27, 33, 31, 35,          # lip corners' neighbours, nose bridge and wings
    38, 43, 40, 47, 18, 20, 23, 25,          # rest of eyes and brows
    4, 12, 6, 10, 2, 14, 0, 16,              # jaw
    28, 29, 32, 34, 1, 15, 3, 13, 5, 11, 7, 9,
)
assert sorted(KEYPOINT_ORDER) == list(range(68))

#: Landmarks that barely move with expression (eye corners, nose bridge and base): used to normalise pose.
STABLE_POINTS = np.array([36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35], dtype=np.int64)


def select_keypoints(n: int) -> np.ndarray:
    """Indices of the first ``n`` landmarks in :data:`KEYPOINT_ORDER` (``5 <= n <= 68``), sorted."""
    n = check("keypoints", n)
    return np.sort(np.array(KEYPOINT_ORDER[:n], dtype=np.int64))


def border_anchors(size: int | tuple[int, int], per_side: int = 5) -> np.ndarray:
    """``(4 * (per_side - 1), 2)`` fixed points evenly along the edges of a ``size`` image (corners included)."""
    h, w = (size, size) if np.isscalar(size) else size
    t = np.linspace(0.0, 1.0, per_side)
    top = np.stack([t * (w - 1), np.zeros_like(t)], 1)
    right = np.stack([np.full_like(t, w - 1), t * (h - 1)], 1)
    bottom = np.stack([t[::-1] * (w - 1), np.full_like(t, h - 1)], 1)
    left = np.stack([np.zeros_like(t), t[::-1] * (h - 1)], 1)
    return np.concatenate([top[:-1], right[:-1], bottom[:-1], left[:-1]]).astype(np.float64)


def above_brows(landmarks: np.ndarray, shape: int | tuple[int, int], feather: float = 4.0) -> np.ndarray:
    """``(H, W)`` float32: 1 above the brow line (points 17-26, carried straight out to the image's sides),
    0 below it, the edge blurred by ``feather`` px."""
    import cv2

    h, w = (shape, shape) if np.isscalar(shape) else shape
    brows = np.asarray(landmarks, np.float64)[17:27]
    poly = np.vstack([[0, brows[0, 1]], brows, [w - 1, brows[-1, 1]], [w - 1, -h], [0, -h]])
    mask = np.zeros((h, w), np.float32)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1.0)
    return cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``(..., 2)`` points with a ``(2, 3)`` affine matrix."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


def normalizing_transform(landmarks: np.ndarray) -> np.ndarray:
    """``(2, 3)`` similarity taking a face's landmarks to a unit frame: stable points centred, outer eye
    corners 1 apart and level. Motion measured in this frame is free of the face's size, roll and place."""
    from ..face.align import similarity_matrix

    lm = np.asarray(landmarks, dtype=np.float64)
    ref = _reference_stable()
    return similarity_matrix(lm[STABLE_POINTS], ref)


def _reference_stable() -> np.ndarray:
    # A frontal mean shape's stable points (iBUG-68 mean, eye corners 1 apart), centred on their mean.
    ref = np.array([[-0.5, 0.0], [-0.21, 0.01], [0.21, 0.01], [0.5, 0.0], [0.0, 0.0], [0.0, 0.13], [0.0, 0.26],
                    [0.0, 0.40], [-0.12, 0.47], [0.0, 0.50], [0.12, 0.47]])
    return ref - ref.mean(0)


def face_scale(landmarks: np.ndarray) -> float:
    """Size of a face: square root of the area of its landmarks' convex hull (as FOMM scales motion)."""
    import cv2

    hull = cv2.convexHull(np.asarray(landmarks, np.float32))
    return float(np.sqrt(max(cv2.contourArea(hull), 1e-6)))
