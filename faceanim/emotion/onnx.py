"""The recognizer's network run by ONNX Runtime instead of torch (``EmotionRecognizer(backend="onnx")``).

Where torch runs the network in fp32 (CPUs without bf16 units), ONNX Runtime's fp32 kernels are the
ecosystem's alternative: on the 2-core AMD EPYC here they read one face in half torch's fp32 time and
batches about as fast (``bench/bench_emotion.py`` measures them side by side on the same faces and checks
that the outputs agree). The model is exported from the loaded torch weights in memory when first
used (about a second); nothing is downloaded or written.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from ..errors import BackendError
from .model import EmotionNet, NetOutputs

__all__ = ["OnnxNet", "export_onnx"]


class _AllOutputs(torch.nn.Module):
    def __init__(self, net: EmotionNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.forward_all(x)


def export_onnx(net: EmotionNet) -> bytes:
    """The network (eval mode, fused) as an ONNX model with outputs ``logits, intensity, features``."""
    x = torch.rand(2, 1, net.config.input_size, net.config.input_size)
    buf = io.BytesIO()
    try:
        torch.onnx.export(_AllOutputs(net.eval()), (x,), buf, input_names=["x"],  # type: ignore[arg-type]
                          output_names=["logits", "intensity", "features"], dynamic_axes={"x": {0: "n"}},
                          opset_version=17, dynamo=False)
    except Exception as exc:  # an exporter that this torch lacks: say what to use instead
        raise BackendError(f"could not export the recognizer to ONNX ({type(exc).__name__}: {str(exc)[:160]}); "
                           "use backend='torch'") from None
    return buf.getvalue()


class OnnxNet:
    """An ONNX Runtime session over :func:`export_onnx`'s model; :meth:`predict` mirrors
    :func:`~faceanim.emotion.model.predict_logits` (same batching and mirrored pass)."""

    def __init__(self, net: EmotionNet, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise BackendError("the onnx backend needs onnxruntime (pip install onnxruntime); "
                               "use backend='torch'") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(export_onnx(net), options, providers=["CPUExecutionProvider"])
        self.n_classes, self.feature_dim = net.config.n_classes, net.feature_dim

    def predict(self, images: np.ndarray, batch_size: int = 256, flip_tta: bool = True) -> NetOutputs:
        outs, ints, feats = [], [], []
        for s in range(0, len(images), batch_size):
            x = (np.asarray(images[s:s + batch_size], np.float32) / 255.0)[:, None]
            if flip_tta:
                x = np.concatenate([x, x[..., ::-1]])
            logits, inten, f = self.session.run(None, {"x": np.ascontiguousarray(x)})
            if flip_tta:
                k = len(x) // 2
                logits, inten, f = (logits[:k] + logits[k:]) / 2, (inten[:k] + inten[k:]) / 2, (f[:k] + f[k:]) / 2
            outs.append(logits)
            ints.append(inten)
            feats.append(f)
        if not outs:
            return NetOutputs(torch.zeros((0, self.n_classes)), torch.zeros(0), torch.zeros((0, self.feature_dim)))
        return NetOutputs(*(torch.from_numpy(np.concatenate(a)) for a in (outs, ints, feats)))
