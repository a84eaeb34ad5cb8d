"""Alignment: crop a face to a canonical square, and paste a (changed) crop back into the frame.

A template gives where the five points (eyes, nose, mouth corners) land in the crop, as fractions of
its side. The crop is the similarity transform (rotation, uniform scale, shift) that best maps the
face's five points onto the template (least squares, Umeyama 1991); the transform comes back with the
crop so results can go back into the original photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FaceanimError, NoFaceError
from ..io import as_rgb
from .types import Face

__all__ = ["Template", "TEMPLATES", "AlignedFace", "align_face", "paste_back", "similarity_matrix"]


@dataclass(frozen=True)
class Template:
    """Where the five points go in a square crop of ``size`` pixels (coordinates as fractions of size)."""

    name: str
    size: int
    points: tuple[tuple[float, float], ...]
    gray: bool = False

    def pixels(self, size: int | None = None) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float64) * (size or self.size)


# The "fer" template is the median position of MTCNN's five points on 492 FER-2013 training faces
# (bench/calibrate_fer_template.py), so a photo aligned with it is framed like the faces the recognizer
# learns from. The "animation" template is the ArcFace layout zoomed out so hair, chin and some
# background stay in the 256 px crop, as FOMM/TPSMM crops do.
_ARCFACE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                     [70.7299, 92.2041]]) / 112.0
_ANIM = (_ARCFACE - 0.5) * 0.62 + np.array([0.5, 0.45])

TEMPLATES: dict[str, Template] = {
    "fer": Template("fer", 48, ((0.3048, 0.4022), (0.6818, 0.3988), (0.4959, 0.6137), (0.3391, 0.7969),
                                (0.6521, 0.7980)), gray=True),
    "animation": Template("animation", 256, tuple(map(tuple, np.round(_ANIM, 4))), gray=False),
    "arcface": Template("arcface", 112, tuple(map(tuple, np.round(_ARCFACE, 4))), gray=False),
}


@dataclass
class AlignedFace:
    """A canonical crop and the transform that made it.

    Attributes:
        image: the crop, ``(S, S, 3)`` RGB uint8, or ``(S, S)`` uint8 for gray templates.
        matrix: ``(2, 3)`` affine map from frame pixels to crop pixels.
        template: template name.
        face: the face it came from.
    """

    image: np.ndarray
    matrix: np.ndarray
    template: str
    face: Face

    @property
    def inverse(self) -> np.ndarray:
        """``(2, 3)`` affine map from crop pixels back to frame pixels."""
        import cv2

        return cv2.invertAffineTransform(self.matrix)

    @property
    def scale(self) -> float:
        """Crop pixels per frame pixel (above 1 means the face was upsampled)."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    @property
    def angle(self) -> float:
        """Rotation applied, in degrees (the face's in-plane roll, with the sign flipped)."""
        return float(np.degrees(np.arctan2(self.matrix[1, 0], self.matrix[0, 0])))

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` frame points into crop coordinates."""
        pts = np.asarray(points, dtype=np.float64)
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` crop points back into frame coordinates."""
        inv = self.inverse
        return np.asarray(points, dtype=np.float64) @ inv[:, :2].T + inv[:, 2]


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama) mapping ``src`` ``(N, 2)`` onto ``dst``; ``(2, 3)``."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.shape[0] < 2:
        raise FaceanimError(f"need matching point sets of at least 2 points, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = (s_c**2).sum() / len(src)
    if var_s < 1e-12:
        raise FaceanimError("the face's points all coincide; cannot align it")
    cov = d_c.T @ s_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1, 1] = -1
    rot = u @ d @ vt
    scale = np.trace(np.diag(sig) @ d) / var_s
    mat = np.zeros((2, 3))
    mat[:, :2] = scale * rot
    mat[:, 2] = mu_d - scale * rot @ mu_s
    return mat


def align_face(image: np.ndarray, face: Face, template: str | Template = "animation", size: int | None = None,
               border: str = "reflect") -> AlignedFace:
    """Crop ``face`` out of ``image`` to a canonical square.

    Args:
        image: the frame the face was found in.
        face: needs ``points5`` (every detector gives them) or 68 ``landmarks``.
        template: ``"animation"`` (256 px RGB), ``"fer"`` (48 px gray, framed like FER-2013), ``"arcface"``
            or a :class:`Template`.
        size: override the template's side in pixels.
        border: ``"reflect"`` (no black corners, best for animation) or ``"constant"`` (black).
    """
    import cv2

    if isinstance(template, str) and template not in TEMPLATES:
        raise FaceanimError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    tpl = TEMPLATES[template] if isinstance(template, str) else template
    if face is None:
        raise NoFaceError("no face to align; detect faces first and pass one of them")
    pts = face.points5
    if pts is None and face.landmarks is not None and len(face.landmarks) == 68:
        from .landmarks import Landmarker

        pts = Landmarker.points5(face.landmarks)
    if pts is None:
        raise FaceanimError("this face has no five points or 68 landmarks to align on; run a detector that gives them")
    side = int(size or tpl.size)
    mat = similarity_matrix(pts, tpl.pixels(side))
    rgb = as_rgb(image)
    mode = cv2.BORDER_REFLECT101 if border == "reflect" else cv2.BORDER_CONSTANT
    # Downscaling by a large factor aliases with bilinear sampling; area-average first.
    scale = float(np.sqrt(abs(np.linalg.det(mat[:, :2]))))
    src, pre = rgb, 1.0
    if scale < 0.5:
        pre = scale * 2.0
        src = cv2.resize(rgb, (max(1, round(rgb.shape[1] * pre)), max(1, round(rgb.shape[0] * pre))),
                         interpolation=cv2.INTER_AREA)
    m_src = mat.copy()
    m_src[:, :2] /= pre
    crop = cv2.warpAffine(src, m_src, (side, side), flags=cv2.INTER_LINEAR, borderMode=mode)
    if tpl.gray:
        crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return AlignedFace(image=crop, matrix=mat.astype(np.float64), template=tpl.name, face=face)


def paste_back(frame: np.ndarray, crop: np.ndarray, aligned: AlignedFace, feather: float = 0.08,
               mask: np.ndarray | None = None) -> np.ndarray:
    """Put ``crop`` (e.g. an animated version of ``aligned.image``) back into ``frame``.

    The crop is warped with the inverse transform and blended through a mask that fades out over
    ``feather`` x crop side near its border, so no seam shows. Returns a new frame; ``frame`` is untouched.

    Args:
        mask: optional ``(S, S)`` float mask in [0, 1] of the crop region to paste (default: the whole crop).
    """
    import cv2

    out = as_rgb(frame).copy()
    crop_rgb = as_rgb(crop)
    side = crop_rgb.shape[0]
    if crop_rgb.shape[0] != crop_rgb.shape[1]:
        raise FaceanimError(f"crop must be square, got {crop_rgb.shape[:2]}")
    expected = aligned.image.shape[0]
    inv = aligned.inverse
    if side != expected:  # a crop at another resolution than the alignment: rescale the map
        inv = inv.copy()
        inv[:, :2] *= expected / side
    if mask is None:
        mask = np.ones((side, side), np.float32)
    mask = np.asarray(mask, dtype=np.float32)
    border = max(1, int(round(feather * side)))
    if border > 0:
        mask = mask.copy()
        mask[:border // 2 + 1, :] = 0
        mask[-(border // 2 + 1):, :] = 0
        mask[:, :border // 2 + 1] = 0
        mask[:, -(border // 2 + 1):] = 0
        k = 2 * border + 1
        mask = cv2.GaussianBlur(mask, (k, k), border / 2.0)
    h, w = out.shape[:2]
    warped = cv2.warpAffine(crop_rgb, inv, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpAffine(mask, inv, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
    blended = warped.astype(np.float32) * alpha + out.astype(np.float32) * (1.0 - alpha)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
