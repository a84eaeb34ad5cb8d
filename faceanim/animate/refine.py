"""The refinement GAN at inference: :class:`Refiner` runs a trained generator (:mod:`faceanim.animate.networks`)
on warped frames, in the precision :func:`faceanim.runtime.compute` chooses. Training is in
:mod:`faceanim.animate.refine_train`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..runtime import compute
from ..weights import load_weights
from .networks import Generator, generator_input

__all__ = ["Refiner"]


class Refiner:
    """A trained generator ready for inference: ``refine(warped, mapping, src_lm, dst_lm)``.

    ``precision`` is ``None`` (chosen by :func:`faceanim.runtime.compute`: bf16 only where the CPU runs it
    fast), ``"fp32"`` or ``"bf16"``.
    """

    def __init__(self, generator: Generator, precision: str | None = None, meta: dict | None = None):
        self.compute = compute(precision, device="cpu")
        self.net = generator.eval().to(memory_format=self.compute.memory_format())
        self.meta = meta or {}

    @classmethod
    def load(cls, name: str = "animator_refiner", precision: str | None = None, root=None) -> "Refiner":
        state, meta = load_weights(name, root=root, kind="animator_refiner")
        gen = Generator(state["config"]["width"])
        gen.load_state_dict(state["generator"])
        return cls(gen, precision, meta)

    @torch.no_grad()
    def refine_batch(self, inputs: np.ndarray) -> np.ndarray:
        """``(B, 6, S, S)`` generator inputs -> ``(B, S, S, 3)`` uint8 frames."""
        x = torch.from_numpy(np.ascontiguousarray(inputs)).contiguous(memory_format=self.compute.memory_format())
        with self.compute.autocast():
            y = self.net(x).float()
        return ((y.permute(0, 2, 3, 1).numpy() + 1.0) * 127.5 + 0.5).clip(0, 255).astype(np.uint8)

    def refine(self, warped, mapping, src_lm, dst_lm) -> np.ndarray:
        return self.refine_batch(generator_input(warped, mapping, src_lm, dst_lm)[None])[0]
