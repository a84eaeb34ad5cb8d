"""The refinement GAN's networks and what they read: a small U-Net generator and a PatchGAN discriminator.

Generator input (6 channels, :func:`generator_input`): the warped source (RGB), the target's inner-mouth
region, the warped source's inner-mouth region (their difference says where a mouth opened or closed), and
the warp's displacement length. An emotion-conditioned generator (``conditions=7``) reads 7 more: one
constant plane per expression of :data:`CONDITIONS`, holding the requested intensity of that expression
(all zero: no emotion asked for, as when a video drives the photo; :func:`condition_planes`). It outputs a
correction and a mask, ``out = warped + mask * correction``, so where the warp is right it is passed
through untouched (the background stays still). Training is in :mod:`faceanim.animate.refine_train`,
inference in :mod:`faceanim.animate.refine`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..labels import CONTEMPT, EXPRESSIONS
from .warp import flow_magnitude, warp_image

__all__ = ["Generator", "Discriminator", "generator_input", "mouth_mask", "INNER_MOUTH", "CONDITIONS",
           "condition_planes", "BASE_CHANNELS"]

INNER_MOUTH = np.arange(60, 68)
#: the expressions an emotion-conditioned generator reads, one input plane each
CONDITIONS = (*EXPRESSIONS, CONTEMPT)
#: the generator's input channels before any condition planes
BASE_CHANNELS = 6


def condition_planes(emotion: str | None, amount: float, size: int | tuple[int, int]) -> np.ndarray:
    """``(7, H, W)`` float32: ``amount`` on the plane of ``emotion`` (:data:`CONDITIONS`), zeros elsewhere
    (all zeros for None or neutral)."""
    h, w = (size, size) if np.isscalar(size) else size
    out = np.zeros((len(CONDITIONS), h, w), np.float32)
    if emotion is not None and emotion in CONDITIONS:
        out[CONDITIONS.index(emotion)] = float(amount)
    return out


def mouth_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """``(S, S)`` float32 mask of the inner-mouth polygon (points 60-67)."""
    import cv2

    m = np.zeros((size, size), np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(landmarks)[INNER_MOUTH]).astype(np.int32)], 255)
    return m.astype(np.float32) / 255.0


def generator_input(warped: np.ndarray, mapping: np.ndarray, src_lm: np.ndarray, dst_lm: np.ndarray) -> np.ndarray:
    """``(6, S, S)`` float32: warped RGB in [-1, 1], target mouth, warped source mouth, displacement / 8 px."""
    s = warped.shape[0]
    rgb = warped.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    tgt = mouth_mask(dst_lm, s)
    src = warp_image(mouth_mask(src_lm, s), mapping)
    mag = np.minimum(flow_magnitude(mapping) / 8.0, 4.0)
    return np.concatenate([rgb, tgt[None], src[None], mag[None]]).astype(np.float32)


def _conv(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout // 4), cout), nn.SiLU())


class Generator(nn.Module):
    """A 3-level U-Net (16-32-64-128 channels, ~0.5M parameters) predicting a correction and a mask;
    ``conditions``: how many condition planes follow the 6 input channels (0 or ``len(CONDITIONS)``)."""

    def __init__(self, width: int = 16, conditions: int = 0):
        super().__init__()
        w = width
        self.conditions = int(conditions)
        self.e0 = nn.Sequential(_conv(BASE_CHANNELS + self.conditions, w), _conv(w, w))
        self.e1 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.e2 = nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w))
        self.e3 = nn.Sequential(_conv(4 * w, 8 * w, 2), _conv(8 * w, 8 * w))
        self.d2 = _conv(8 * w + 4 * w, 4 * w)
        self.d1 = _conv(4 * w + 2 * w, 2 * w)
        self.d0 = _conv(2 * w + w, w)
        self.out = nn.Conv2d(w, 4, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        warped = x[:, :3]
        f0 = self.e0(x)
        f1 = self.e1(f0)
        f2 = self.e2(f1)
        f3 = self.e3(f2)
        up = lambda a, b: F.interpolate(a, size=b.shape[-2:], mode="bilinear", align_corners=False)  # noqa: E731
        y = self.d2(torch.cat([up(f3, f2), f2], 1))
        y = self.d1(torch.cat([up(y, f1), f1], 1))
        y = self.d0(torch.cat([up(y, f0), f0], 1))
        o = self.out(y).float()
        mask = torch.sigmoid(o[:, 3:4] - 2.0)  # starts mostly closed: the warp passes through
        return (warped.float() + mask * 2.0 * torch.tanh(o[:, :3])).clamp(-1, 1)


class Discriminator(nn.Module):
    """PatchGAN (70 px receptive field) with spectral norm, conditioned on the target mouth region;
    returns its intermediate features too (for feature matching)."""

    def __init__(self, width: int = 32):
        super().__init__()
        sn = nn.utils.spectral_norm
        w = width
        self.layers = nn.ModuleList([
            nn.Sequential(sn(nn.Conv2d(4, w, 4, 2, 1)), nn.LeakyReLU(0.2)),
            nn.Sequential(sn(nn.Conv2d(w, 2 * w, 4, 2, 1)), nn.LeakyReLU(0.2)),
            nn.Sequential(sn(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)), nn.LeakyReLU(0.2)),
            nn.Sequential(sn(nn.Conv2d(4 * w, 8 * w, 4, 1, 1)), nn.LeakyReLU(0.2)),
            sn(nn.Conv2d(8 * w, 1, 4, 1, 1)),
        ])

    def forward(self, image: torch.Tensor, cond: torch.Tensor) -> list[torch.Tensor]:
        x = torch.cat([image, cond], 1)
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats
