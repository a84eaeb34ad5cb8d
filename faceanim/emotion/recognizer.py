"""Name the emotion on each face and score its intensity: :class:`EmotionRecognizer`.

>>> from faceanim.demo import astronaut
>>> rec = create_recognizer()                  # the committed weights
>>> readings = rec.recognize(astronaut())      # or a path; detect -> align (FER framing) -> classify
>>> readings[0].label, readings[0].intensity > 0.5, readings[0].shown
('happy', True, 'happy')
>>> rec.to_frame(readings).shape               # one row per face
(1, 17)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import BackendError, MediaError, SettingError
from ..face._registry import Registry
from ..face.types import Face
from ..io import _to_uint8
from ..labels import EMOTIONS
from ..runtime import INFERENCE_BACKENDS, compute
from ..weights import load_weights
from .model import EmotionNet, NetConfig, NetOutputs, predict_logits

if TYPE_CHECKING:  # used in annotations only
    import pandas

__all__ = ["EmotionReading", "Recognizer", "EmotionRecognizer", "create_recognizer", "available_recognizers",
           "DEFAULT_RECOGNIZER", "DEFAULT_THRESHOLD", "INFERENCE_BACKENDS", "readings_to_frame", "to_gray48"]

#: the committed weights ``weights/emotion_resnet_ft2.pt`` (``emotion_resnet`` trained further in two warm
#: restarts with ``faceanim train emotion --init-from``; see weights/README.md)
DEFAULT_RECOGNIZER = "emotion_resnet_ft2"
#: intensity at or above which a face counts as showing an emotion (the notebooks' slider)
DEFAULT_THRESHOLD = 0.3

RECOGNIZERS: Registry["EmotionRecognizer"] = Registry("recognizer")


@dataclass
class EmotionReading:
    """The emotion on one face.

    Attributes:
        label: the most probable of :data:`~faceanim.data.EMOTIONS`.
        probabilities: ``(7,)`` class probabilities in that order.
        intensity: how strongly the face shows an expression, 0 (neutral) .. 1 (apex), learned from
            CK+ neutral-to-apex sequences, not from the class probability.
        face: the detected face it belongs to (``None`` for an aligned crop given directly).
        threshold: intensity from which the face counts as expressive (see :attr:`shown`).
        hold: a temporal filter's verdict on :attr:`expressive` (with hysteresis around the threshold).
    """

    label: str
    probabilities: np.ndarray = field(repr=False)
    intensity: float
    face: Face | None = None
    threshold: float = DEFAULT_THRESHOLD
    source: str | None = None
    #: set by a temporal filter: whether the face counts as expressive after hysteresis (None: threshold only)
    hold: bool | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        where = "" if self.face is None else f", box=({', '.join(f'{v:.0f}' for v in self.face.box)})"
        return (f"EmotionReading({self.label!r} p={self.confidence:.2f}, intensity={self.intensity:.2f}, "
                f"shown={self.shown!r}{where})")

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities))

    @property
    def expressive(self) -> bool:
        """True when the face shows a (non-neutral) emotion at or above the intensity threshold."""
        if self.label == "neutral":
            return False
        return self.hold if self.hold is not None else self.intensity >= self.threshold

    @property
    def shown(self) -> str:
        """The label to display: :attr:`label` when :attr:`expressive`, else ``"neutral"``."""
        return self.label if self.expressive else "neutral"

    def probability(self, emotion: str) -> float:
        return float(self.probabilities[EMOTIONS.index(emotion)])

    def to_row(self) -> dict:
        row = {"label": self.label, "shown": self.shown, "intensity": float(self.intensity),
               "confidence": self.confidence}
        row.update({f"p_{e}": float(p) for e, p in zip(EMOTIONS, self.probabilities)})
        if self.face is not None:
            row.update(dict(zip(("x1", "y1", "x2", "y2"), map(float, self.face.box))), face_score=self.face.score)
        if self.source is not None:
            row["source"] = self.source
        return row

    def to_dict(self) -> dict:
        """JSON-ready: source, box, label, probabilities (by name), intensity."""
        return {"source": self.source,
                "box": None if self.face is None else [round(float(v), 1) for v in self.face.box],
                "label": self.label, "shown": self.shown,
                "probabilities": {e: round(float(p), 4) for e, p in zip(EMOTIONS, self.probabilities)},
                "intensity": round(float(self.intensity), 4)}


def readings_to_frame(readings: Iterable[EmotionReading], **columns) -> "pandas.DataFrame":  # noqa: F821
    """One row per reading (``face`` numbers them), plus constant ``columns``."""
    import pandas as pd

    rows = [{"face": i, **columns, **r.to_row()} for i, r in enumerate(readings)]
    return pd.DataFrame(rows)


def to_gray48(crop: np.ndarray, size: int = 48) -> np.ndarray:
    """Any aligned crop (gray or RGB, any side, uint8 or float in [0, 1]) as ``(size, size)`` uint8 gray."""
    import cv2

    a = np.asarray(crop)
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or min(a.shape[:2]) < 4:
        raise MediaError(f"a face crop must be (H, W) gray or (H, W, 3) RGB, at least 4 px; got shape {a.shape}")
    a = _to_uint8(a)  # the same rules as every image (float 0-1, 16-bit, NaN refused)
    if a.ndim == 3:
        a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
    if a.shape != (size, size):
        interp = cv2.INTER_AREA if min(a.shape) > size else cv2.INTER_LINEAR
        a = cv2.resize(np.ascontiguousarray(a), (size, size), interpolation=interp)
    return a


class Recognizer:
    """What every recognizer offers on top of its ``predict(crops) -> (probabilities, intensity)``:
    readings for aligned crops, for whole images (detect -> ``fer`` alignment) and for faces already found.

    Subclasses set ``name``, ``threshold``, ``input_size`` and ``_detector_name``, and implement ``predict``.
    """

    name = "base"
    input_size = 48
    threshold = DEFAULT_THRESHOLD
    _detector_name = "mtcnn"
    _pipeline = None

    def predict(self, crops) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def recognize_aligned(self, crops, sources: Sequence[str] | None = None,
                          faces: Sequence[Face | None] | None = None) -> list[EmotionReading]:
        """One reading per aligned crop (no detection): FER-style 48 px crops are scored as they are."""
        probs, inten = self.predict(crops)
        return [EmotionReading(label=EMOTIONS[int(p.argmax())], probabilities=p, intensity=float(v),
                               face=None if faces is None else faces[i], threshold=self.threshold,
                               source=None if sources is None else sources[i])
                for i, (p, v) in enumerate(zip(probs, inten))]

    @property
    def pipeline(self):
        """The face pipeline :meth:`recognize` uses (detector -> ``fer`` alignment)."""
        if self._pipeline is None:
            from ..face import FacePipeline

            lm = None if self._detector_name == "mtcnn" else "dlib68"
            self._pipeline = FacePipeline(self._detector_name, landmarker=lm, template="fer")
        return self._pipeline

    def recognize(self, image, source: str | None = None) -> list[EmotionReading]:
        """Detect every face in an image (array or path), align it, and read its emotion."""
        if isinstance(image, (str, os.PathLike)):
            source = source or str(image)
        result = self.pipeline(image)
        crops = [a.image for a in result.aligned]
        return self.recognize_aligned(crops, sources=[source] * len(crops) if source else None,
                                      faces=result.faces)

    def recognize_faces(self, image: np.ndarray, faces: Sequence[Face], source: str | None = None) -> list[EmotionReading]:
        """Read the emotion of faces already found in ``image`` (they need 5 points or 68 landmarks)."""
        from ..face.align import align_face

        crops = [align_face(image, f, "fer", size=self.input_size).image for f in faces]
        return self.recognize_aligned(crops, sources=[source] * len(faces) if source else None, faces=list(faces))

    def read(self, image: np.ndarray, landmarks) -> EmotionReading:
        """The reading of the one face in ``image`` whose 68 ``landmarks`` are known (no detection)."""
        return self.recognize_faces(image, [Face.from_landmarks(landmarks)])[0]

    @staticmethod
    def to_frame(readings: Iterable[EmotionReading], **columns):
        return readings_to_frame(readings, **columns)


class EmotionRecognizer(Recognizer):
    """Our network with its intensity head, loaded from checksummed weights.

    Args:
        weights: name of a file pair in ``weights/`` (``<name>.pt`` + ``<name>.json``).
        threshold: intensity threshold (0..1) for :attr:`EmotionReading.shown`.
        flip_tta: average with the mirrored face (+0.6 point on PrivateTest here, half the speed).
        detector: face detector used by :meth:`recognize` on whole images.
        batch_size: faces per forward pass (small batches of 16 stay in cache and were fastest here, see
            ``bench/bench_emotion.py``).
        device, precision: where and how to run (``None``: chosen by :func:`faceanim.runtime.compute`,
            bf16 only where the CPU runs it fast; ``"fp32"`` / ``"bf16"`` force it).
        backend: what runs the network, by name (:data:`INFERENCE_BACKENDS`): ``"torch"``, or ``"onnx"``
            (ONNX Runtime, fp32 on the CPU; ``bench/bench_emotion.py`` measures it beside torch's paths);
            ``None``: ``$FACEANIM_BACKEND``, else torch.
    """

    kind = "emotion"

    def __init__(self, weights: str = DEFAULT_RECOGNIZER, threshold: float = DEFAULT_THRESHOLD,
                 flip_tta: bool = True, detector: str = "mtcnn", batch_size: int = 16,
                 device: str | None = None, precision: str | None = None, backend: str | None = None,
                 weights_root: str | os.PathLike | None = None):

        if not 0.0 <= threshold <= 1.0:
            raise SettingError(f"threshold must be in [0, 1], got {threshold}")
        state, meta = load_weights(weights, root=weights_root, kind=self.kind)
        self.name, self.metadata, self.threshold = weights, meta, float(threshold)
        self.flip_tta, self.batch_size = flip_tta, batch_size
        self.backend = (backend or os.environ.get("FACEANIM_BACKEND") or "torch").lower()
        if self.backend not in INFERENCE_BACKENDS:
            raise SettingError(f"unknown inference backend {self.backend!r}; choose one of {', '.join(INFERENCE_BACKENDS)}")
        if self.backend == "onnx":
            if precision == "bf16":
                raise SettingError("the onnx backend runs fp32; use backend='torch' for bf16")
            precision = "fp32"
        self.compute = compute(precision, device=device)
        self.device = self.compute.torch_device
        self.model = EmotionNet(NetConfig.from_dict(meta["net"]))
        self.model.load_state_dict(state["model"])
        self.model.fuse_for_inference()  # BatchNorm folded into the convolutions: same outputs, ~15% faster
        self.model.to(self.device).to(memory_format=self.compute.memory_format()).eval()
        self.input_size = self.model.config.input_size
        self._onnx = None
        if self.backend == "onnx":
            from .onnx import OnnxNet

            if self.device.type != "cpu":
                raise SettingError("the onnx backend runs on the CPU; use backend='torch' on a GPU")
            self._onnx = OnnxNet(self.model, threads=self.compute.threads)
        self._detector_name = detector
        self._pipeline = None

    def __repr__(self) -> str:
        # the figure the weights were chosen on; PrivateTest is measured apart (`faceanim evaluate emotion`)
        acc = self.metadata.get("public_test_accuracy")
        extra = f", PublicTest acc {acc:.3f}" if acc is not None else ""
        how = self.compute.precision if self.backend == "torch" else f"{self.backend} {self.compute.precision}"
        return f"EmotionRecognizer({self.name!r}, threshold={self.threshold}, {how}{extra})"

    def predict(self, crops: np.ndarray | Sequence[np.ndarray],
                flip_tta: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities (N, 7), intensity (N,))`` for aligned face crops (any size, gray or RGB);
        ``flip_tta`` overrides the recognizer's setting for this call."""
        batch = self._as_batch(crops)
        if len(batch) == 0:
            return np.zeros((0, len(EMOTIONS)), np.float32), np.zeros(0, np.float32)
        out = self._run(batch, flip_tta)
        return (torch.softmax(out.logits, 1).numpy().astype(np.float32),
                torch.sigmoid(out.intensity).numpy().astype(np.float32))

    def embed(self, crops) -> np.ndarray:
        """The ``(N, D)`` embeddings the intensity head reads."""
        return self._run(self._as_batch(crops)).features.numpy()

    def embed_and_predict(self, crops) -> tuple[np.ndarray, np.ndarray]:
        """``(embeddings (N, D), probabilities (N, 7))`` in one pass (what the audience model reads)."""
        batch = self._as_batch(crops)
        if len(batch) == 0:
            return np.zeros((0, 0), np.float32), np.zeros((0, len(EMOTIONS)), np.float32)
        out = self._run(batch)
        return out.features.numpy(), torch.softmax(out.logits, 1).numpy().astype(np.float32)

    def _run(self, batch: np.ndarray, flip_tta: bool | None = None) -> NetOutputs:
        flip = self.flip_tta if flip_tta is None else flip_tta
        if self._onnx is not None:
            return self._onnx.predict(batch, batch_size=self.batch_size, flip_tta=flip)
        return predict_logits(self.model, batch, batch_size=self.batch_size, flip_tta=flip, settings=self.compute)

    def _as_batch(self, crops) -> np.ndarray:
        if isinstance(crops, (str, bytes)) or not hasattr(crops, "__len__"):
            raise MediaError(f"expected face crops: an (N, H, W[, 3]) array or a list of (H, W[, 3]) arrays, got "
                             f"{type(crops).__name__}")
        if isinstance(crops, np.ndarray) and crops.ndim == 3 and crops.shape[1:] == (self.input_size,) * 2 \
                and crops.dtype == np.uint8:
            return crops
        if isinstance(crops, np.ndarray) and crops.ndim == 2:
            crops = [crops]
        return np.stack([to_gray48(c, self.input_size) for c in crops]) if len(crops) else \
            np.zeros((0, self.input_size, self.input_size), np.uint8)


@RECOGNIZERS.register("faceanim", help="faceanim's CNN with a CK+-trained intensity head (weights/)")
def _ours(weights: str = DEFAULT_RECOGNIZER, **kwargs) -> EmotionRecognizer:
    return EmotionRecognizer(weights=weights, **kwargs)


def available_recognizers() -> list[str]:
    """Names :func:`create_recognizer` accepts: committed emotion weights, then other backends."""
    from ..weights import available_weights
    from . import peers  # noqa: F401  (registers the optional peers)

    return available_weights(kind=EmotionRecognizer.kind) + [n for n in RECOGNIZERS.names() if n != "faceanim"]


def create_recognizer(name: str | None = None, **kwargs):
    """A recognizer by name: a weights name from ``weights/`` or a registered backend (e.g. ``"fer"``);
    None gives :data:`DEFAULT_RECOGNIZER`."""
    from ..weights import available_weights
    from . import peers  # noqa: F401  (registers the optional peers)

    name = name or DEFAULT_RECOGNIZER

    if name in available_weights(kind=EmotionRecognizer.kind):
        return EmotionRecognizer(weights=name, **kwargs)
    if name in RECOGNIZERS.names():
        return RECOGNIZERS.create(name, **kwargs)
    raise BackendError(f"unknown recognizer {name!r}; choose one of: {', '.join(available_recognizers()) or 'none'} "
                       "(train one with `faceanim train emotion`)")
