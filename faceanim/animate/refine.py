"""The refinement GAN at inference: :class:`Refiner` runs a trained generator (:mod:`faceanim.animate.networks`)
on warped frames, in the precision :func:`faceanim.runtime.compute` chooses, through torch or ONNX Runtime
(``backend=``). Training is in :mod:`faceanim.animate.refine_train`.

The generator is fully convolutional, so it can run on a window of the crop: :func:`refine_window` is the
box around the face (the source's and target's landmarks and a margin) where the warp leaves work to do;
outside it the warped frame is kept as it is. At 256 px a face window is about 180 px a side, about half
the generator's work (``bench/bench_live_animation.py`` measures the time and the quality change).
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import torch

from ..errors import BackendError, SettingError
from ..runtime import INFERENCE_BACKENDS, compute
from ..weights import load_weights
from .networks import BASE_CHANNELS, Generator, generator_input

__all__ = ["Refiner", "refine_window", "REFINE_WINDOWS", "WINDOW_MARGIN"]

#: where the generator runs: the whole 256 px crop, or the window around the face
REFINE_WINDOWS = ("crop", "face")
#: pixels of the crop added around the landmarks' box in the face window
WINDOW_MARGIN = 24
_MULTIPLE = 8  # the U-Net halves the size three times


def refine_window(source_landmarks: np.ndarray, targets, size: int, margin: int = WINDOW_MARGIN) -> tuple:
    """``(y0, y1, x0, x1)``: the box around ``source_landmarks`` and every ``(68, 2)`` in ``targets`` plus
    ``margin`` px, its sides multiples of 8 inside the ``size`` px crop."""
    pts = np.concatenate([np.asarray(source_landmarks, np.float64).reshape(-1, 2),
                          *(np.asarray(t, np.float64).reshape(-1, 2) for t in targets)])
    lo = np.clip(np.floor(pts.min(0) - margin), 0, size)
    hi = np.clip(np.ceil(pts.max(0) + margin), 0, size)
    x0, y0 = (int(v) // _MULTIPLE * _MULTIPLE for v in lo)
    x1, y1 = (min(size, -(-int(v) // _MULTIPLE) * _MULTIPLE) for v in hi)
    if x1 - x0 < 4 * _MULTIPLE or y1 - y0 < 4 * _MULTIPLE:  # a degenerate box: the whole crop
        return 0, size, 0, size
    return y0, y1, x0, x1


def _export(net: Generator) -> bytes:
    x = torch.rand(1, BASE_CHANNELS + net.conditions, 64, 64)
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on GroupNorm's shape checks (constant here)
            torch.onnx.export(net.float().eval(), (x,), buf, input_names=["x"], output_names=["y"],  # type: ignore[arg-type]
                              dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "y": {0: "n", 2: "h", 3: "w"}},
                              opset_version=17, dynamo=False)
    except Exception as exc:  # an exporter this torch lacks: say what to use instead
        raise BackendError(f"could not export the refiner to ONNX ({type(exc).__name__}: {str(exc)[:160]}); "
                           "use backend='torch'") from None
    return buf.getvalue()


class Refiner:
    """A trained generator ready for inference: ``refine(warped, mapping, src_lm, dst_lm)``.

    Args:
        precision: ``None`` (chosen by :func:`faceanim.runtime.compute`: bf16 only where the CPU runs it
            fast), ``"fp32"`` or ``"bf16"`` (torch only).
        backend: ``"torch"`` or ``"onnx"`` (ONNX Runtime, fp32; exported from the loaded weights in memory
            when made, about a second; nothing is written). None or ``"auto"``: ``$FACEANIM_BACKEND`` (the
            CLI's ``--backend``, shared with the recognizer), else torch where the machine runs bf16 and ONNX
            Runtime where it runs fp32 (measured: on AVX2-only CPUs ONNX Runtime's generator is faster and
            the live path reaches 30 fps only with it, ``reports/bench_live_animation_avx2.json``).
    """

    def __init__(self, generator: Generator, precision: str | None = None, meta: dict | None = None,
                 backend: str | None = None):
        backend = (backend or os.environ.get("FACEANIM_BACKEND") or "auto").lower()
        if backend == "auto":
            backend = _auto_backend(precision)
        if backend not in INFERENCE_BACKENDS:
            raise SettingError(f"unknown refiner backend {backend!r}; choose one of {', '.join(INFERENCE_BACKENDS)}")
        self.backend = backend
        self.meta = meta or {}
        self._session = None
        if backend == "onnx":
            if precision not in (None, "auto", "fp32"):
                raise SettingError("the onnx backend runs fp32; use backend='torch' for bf16")
            try:
                import onnxruntime as ort
            except ImportError:
                raise BackendError("the onnx backend needs onnxruntime (pip install onnxruntime); "
                                   "use backend='torch'") from None
            self.compute = compute("fp32", device="cpu")
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.inter_op_num_threads = 1
            # idle threads sleep instead of spinning: in a live stream the decoder and the tracker share the
            # cores (end to end 32 fps instead of 26 in the face window, bench/bench_live_animation.py)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(_export(generator), options, providers=["CPUExecutionProvider"])
            self.net = generator.eval()
        else:
            self.compute = compute(precision, device="cpu")
            self.net = generator.eval().to(memory_format=self.compute.memory_format())

    @classmethod
    def load(cls, name: str = "animator_refiner", precision: str | None = None, root=None,
             backend: str | None = None) -> "Refiner":
        state, meta = load_weights(name, root=root, kind="animator_refiner")
        gen = Generator(state["config"]["width"], state["config"].get("conditions", 0))
        gen.load_state_dict(state["generator"])
        return cls(gen, precision, meta, backend=backend)

    @property
    def conditions(self) -> int:
        """How many emotion condition planes the generator reads (0: it is not emotion-conditioned)."""
        return int(self.net.conditions)

    @property
    def name(self) -> str:
        return f"{self.backend} {self.compute.precision}"

    @torch.no_grad()
    def _run(self, x: np.ndarray) -> np.ndarray:
        """``(B, 6, h, w)`` float32 -> ``(B, 3, h, w)`` float32 in [-1, 1]."""
        if self._session is not None:
            return self._session.run(None, {"x": np.ascontiguousarray(x, np.float32)})[0]
        t = torch.from_numpy(np.ascontiguousarray(x)).contiguous(memory_format=self.compute.memory_format())
        with self.compute.autocast():
            return self.net(t).float().numpy()

    def refine_batch(self, inputs: np.ndarray, window: tuple | None = None,
                     warped: np.ndarray | None = None) -> np.ndarray:
        """``(B, 6, S, S)`` generator inputs -> ``(B, S, S, 3)`` uint8 frames.

        ``window``: ``(y0, y1, x0, x1)`` (:func:`refine_window`): the generator runs there only and the
        rest of each frame is ``warped`` ``(B, S, S, 3)`` (recovered from the inputs when not given)."""
        if window is None:
            return _to_uint8(self._run(inputs))
        y0, y1, x0, x1 = window
        if warped is None:
            warped = _to_uint8(inputs[:, :3])
        out = np.array(warped, np.uint8, copy=True)
        out[:, y0:y1, x0:x1] = _to_uint8(self._run(inputs[:, :, y0:y1, x0:x1]))
        return out

    def refine(self, warped, mapping, src_lm, dst_lm, emotion: str | None = None, amount: float = 0.0) -> np.ndarray:
        """One warped frame refined (an emotion-conditioned generator told ``emotion`` at ``amount``)."""
        x = generator_input(warped, mapping, src_lm, dst_lm)
        if self.conditions:
            from .networks import condition_planes

            x = np.concatenate([x, condition_planes(emotion, amount, x.shape[1:])])
        return self.refine_batch(x[None])[0]


def _auto_backend(precision: str | None) -> str:
    """torch where the machine runs bf16 (its fastest path here), ONNX Runtime where it runs fp32."""
    import importlib.util

    if compute(precision, device="cpu").precision == "bf16" or importlib.util.find_spec("onnxruntime") is None:
        return "torch"
    return "onnx"


def _to_uint8(y: np.ndarray) -> np.ndarray:
    """``(B, 3, h, w)`` in [-1, 1] -> ``(B, h, w, 3)`` uint8."""
    return ((np.moveaxis(y, 1, -1) + 1.0) * 127.5 + 0.5).clip(0, 255).astype(np.uint8)
