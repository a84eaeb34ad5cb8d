"""The augmentations the seed papers name: flip, rotation, scale, shift, brightness and contrast."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Augment", "AugmentedFaces"]


@dataclass
class Augment:
    """Random geometric + photometric jitter for face crops (gray ``(H, W)`` or RGB ``(H, W, 3)`` uint8).

    Attributes:
        flip: probability of a horizontal flip.
        rotation: maximum rotation, degrees (uniform in ``[-rotation, rotation]``).
        scale: ``(low, high)`` zoom factor.
        shift: maximum shift as a fraction of the side.
        brightness: maximum additive change as a fraction of 255.
        contrast: maximum multiplicative change around the mean (``1 +- contrast``).
    """

    flip: float = 0.5
    rotation: float = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    shift: float = 0.1
    brightness: float = 0.2
    contrast: float = 0.2

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        import cv2

        img = np.asarray(image)
        h, w = img.shape[:2]
        if self.flip and rng.random() < self.flip:
            img = img[:, ::-1]
        angle = rng.uniform(-self.rotation, self.rotation) if self.rotation else 0.0
        zoom = rng.uniform(*self.scale)
        dx, dy = (rng.uniform(-self.shift, self.shift, 2) * (w, h)) if self.shift else (0.0, 0.0)
        if angle or zoom != 1.0 or dx or dy:
            mat = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angle, zoom)
            mat[:, 2] += (dx, dy)
            img = cv2.warpAffine(np.ascontiguousarray(img), mat, (w, h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REFLECT101)
        if self.brightness or self.contrast:
            f = img.astype(np.float32)
            c = 1.0 + rng.uniform(-self.contrast, self.contrast)
            b = rng.uniform(-self.brightness, self.brightness) * 255.0
            mean = f.mean()
            img = np.clip((f - mean) * c + mean + b, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(img)

    def batch(self, images: np.ndarray, seed: int = 0) -> np.ndarray:
        """Augment every image of an ``(N, H, W[, 3])`` array (a new array)."""
        rng = np.random.default_rng(seed)
        return np.stack([self(im, rng) for im in images])


class AugmentedFaces:
    """A torch ``Dataset`` of gray faces: ``(float tensor (1, H, W) in [0, 1], target)``.

    Randomness is per-sample and per-epoch reproducible: the generator is seeded from
    ``(seed, epoch, index)``; call :meth:`set_epoch` each epoch.
    """

    def __init__(self, images: np.ndarray, targets: np.ndarray, augment=None, seed: int = 0):
        self.images = images
        self.targets = targets
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        import torch

        img = self.images[i]
        if self.augment is not None:
            img = self.augment(img, np.random.default_rng((self.seed, self.epoch, int(i))))
        x = torch.from_numpy(np.ascontiguousarray(img)).float().div_(255.0)
        x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)
        t = self.targets[i]
        y = torch.as_tensor(t, dtype=torch.float32) if np.ndim(t) else torch.as_tensor(int(t))
        return x, y
