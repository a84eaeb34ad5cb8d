"""Dense warps from keypoint motion: a thin-plate spline (the animator's warp) and one global affine
transform per frame (seed 002's approach, kept as a baseline).

Warps are backward maps: for every output pixel, where to sample the source image. The spline is fitted
from the target keypoints to the source keypoints, evaluated on a coarse grid and upsampled (the map is
smooth, so a 64x64 grid loses nothing visible and keeps the warp at a few milliseconds).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import FaceanimError

__all__ = ["TPS", "tps_map", "warp_image", "affine_warp", "flow_magnitude"]


def _kernel(r2: np.ndarray) -> np.ndarray:
    # U(r) = r^2 log r^2, with U(0) = 0 (0 * log(tiny) is 0; negative rounding errors count as 0)
    r2 = np.maximum(r2, 1e-300)
    return r2 * np.log(r2)


class TPS:
    """A thin-plate spline ``f`` with ``f(dst_i) ~= src_i`` (``smooth`` > 0 relaxes the fit, in units of
    the normalised image side), fitted once and evaluated anywhere."""

    def __init__(self, dst: np.ndarray, src: np.ndarray, scale: float = 1.0, smooth: float = 1e-3):
        dst = np.asarray(dst, np.float64) / scale
        src = np.asarray(src, np.float64) / scale
        if dst.shape != src.shape or dst.ndim != 2 or dst.shape[1] != 2:
            raise FaceanimError(f"TPS needs two (N, 2) point sets of one shape, got {dst.shape} and {src.shape}")
        n = len(dst)
        if n < 3:
            raise FaceanimError("TPS needs at least 3 points")
        k = _kernel(((dst[:, None] - dst[None]) ** 2).sum(-1)) + smooth * np.eye(n)
        p = np.hstack([np.ones((n, 1)), dst])
        a = np.zeros((n + 3, n + 3))
        a[:n, :n], a[:n, n:], a[n:, :n] = k, p, p.T
        b = np.zeros((n + 3, 2))
        b[:n] = src
        try:
            self.coef = np.linalg.solve(a, b)
        except np.linalg.LinAlgError:
            self.coef = np.linalg.lstsq(a, b, rcond=None)[0]
        self.ctrl, self.scale = dst, scale

    def __call__(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, np.float64) / self.scale
        shape = pts.shape
        pts = pts.reshape(-1, 2)
        c = self.ctrl  # |p - c|^2 = |p|^2 + |c|^2 - 2 p.c: one matrix product instead of a (P, N, 2) array
        u = _kernel((pts * pts).sum(1)[:, None] + (c * c).sum(1)[None] - 2.0 * pts @ c.T)
        n = len(self.ctrl)
        out = u @ self.coef[:n] + self.coef[n] + pts @ self.coef[n + 1:]
        return (out * self.scale).reshape(shape)


def tps_map(src_pts: np.ndarray, dst_pts: np.ndarray, size: int | tuple[int, int], grid: int = 64,
            smooth: float = 1e-3) -> np.ndarray:
    """``(H, W, 2)`` float32 backward map: output pixel -> source position, moving ``src_pts`` to ``dst_pts``."""
    import cv2

    h, w = (size, size) if np.isscalar(size) else size
    tps = TPS(dst_pts, src_pts, scale=float(max(h, w)), smooth=smooth)
    gh, gw = min(grid, h), min(grid, w)
    gy, gx = np.linspace(0, h - 1, gh), np.linspace(0, w - 1, gw)
    coarse = tps(np.stack(np.meshgrid(gx, gy), -1)).astype(np.float32)
    if (gh, gw) == (h, w):
        return coarse
    # corner-aligned bilinear upsampling (exact for affine motion, right up to the image edge)
    ux, uy = _upsample_coords(h, w, gh, gw)
    return cv2.remap(coarse, ux, uy, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@lru_cache(maxsize=16)
def _upsample_coords(h: int, w: int, gh: int, gw: int) -> tuple[np.ndarray, np.ndarray]:
    ux = np.broadcast_to(np.linspace(0, gw - 1, w, dtype=np.float32)[None, :], (h, w)).copy()
    uy = np.broadcast_to(np.linspace(0, gh - 1, h, dtype=np.float32)[:, None], (h, w)).copy()
    return ux, uy


def warp_image(image: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Sample ``image`` at a backward map from :func:`tps_map` (bilinear, edges reflected)."""
    import cv2

    return cv2.remap(image, mapping[..., 0], mapping[..., 1], interpolation=cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT101)


def flow_magnitude(mapping: np.ndarray) -> np.ndarray:
    """``(H, W)`` distance each output pixel's sample moved, in pixels."""
    h, w = mapping.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.sqrt((mapping[..., 0] - gx) ** 2 + (mapping[..., 1] - gy) ** 2)


def affine_warp(image: np.ndarray, src_pts: np.ndarray, dst_pts: np.ndarray) -> np.ndarray:
    """The whole image moved by the one least-squares affine transform taking ``src_pts`` to ``dst_pts``."""
    import cv2

    src = np.asarray(src_pts, np.float64)
    dst = np.asarray(dst_pts, np.float64)
    a = np.hstack([src, np.ones((len(src), 1))])
    mat = np.linalg.lstsq(a, dst, rcond=None)[0].T
    h, w = image.shape[:2]
    return cv2.warpAffine(image, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
