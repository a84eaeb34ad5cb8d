"""Tell faces faceanim animated from real ones by their pixels alone (not the watermark): seed 002's
real-versus-fake table, measured held out by person.

The data (:func:`build_dataset`) is made here from the real people in ``$FACEANIM_DATA``: every face video,
portrait still and MEAD actor is one *person*. Real samples are that person's own frames; animated samples
are the animator's outputs made from one of their frames, in three modes: ``emotion`` (toward each of the
six emotions, refined), ``emotion_warp`` (warp only, no refiner) and ``driving`` (the photo driven by the
person's own video: the same motion as the real frames, so expression alone cannot tell them apart). The
animations are made with provenance off (no watermark to learn from) and, like the real frames, written
as H.264 at the animator's quality and read back. Each frame gives one face crop (detected, aligned like
the animator's 256 px crop).

:class:`FakeNet` is a small CNN on 128 px crops; :func:`cross_validate` trains it with each fold's people
held out (augmented with JPEG, rescaling and colour jitter) and scores the held-out people's crops as they
are, after H.264 CRF 28, after halving the size and after JPEG 75. :class:`AnimatedFaceDetector` is the
net trained on every person, shipped as ``weights/fake_detector.pt`` and used by ``faceanim verify``.
``bench/bench_fake_detector.py`` runs it all and writes ``reports/fake_detector.json``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FaceanimError, MediaError, NoFaceError

__all__ = ["INPUT", "MODES", "FakeNet", "FakeDataset", "AnimatedFaceDetector", "build_dataset", "cross_validate",
           "train_detector", "TRANSFORMS", "face_crop"]

#: side of the face crop the net reads (from the 256 px aligned crop). The first settings (96 px, heavier
#: augmentation, 8 epochs) held out 65% in bench/bench_fake_detector.py; 128 px with the light augmentation
#: below and 12 epochs held out 72% (4 folds by person, the same data)
INPUT = 128
#: the animation modes of the animated samples
MODES = ("emotion", "emotion_warp", "driving")
_ALIGNED = 256


def _torch():
    import torch

    return torch


def _make_net():
    torch = _torch()
    nn = torch.nn

    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    class FakeNet(nn.Module):
        """Five conv blocks (24-128 channels, max-pooled to 6 px), global average, one logit: animated."""

        def __init__(self):
            super().__init__()
            layers: list = []
            for i, o in ((3, 24), (24, 48), (48, 64), (64, 96)):
                layers += block(i, o) + [nn.MaxPool2d(2)]
            layers += block(96, 128)
            self.features = nn.Sequential(*layers)
            self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, 1))

        def forward(self, x):
            return self.head(self.features(x).mean((2, 3)))[:, 0]

    return FakeNet()


def FakeNet():  # noqa: N802 - a factory that reads like the class it makes (torch is imported lazily)
    """A fresh :class:`FakeNet` (``nn.Module``): ``(N, 3, 96, 96)`` floats in [0, 1] -> ``(N,)`` logits."""
    return _make_net()


def face_crop(rgb: np.ndarray, detector) -> np.ndarray | None:
    """The largest face of ``rgb`` aligned like the animator's crop (256 px), or None without a face."""
    from .face.align import align_face

    faces = detector.detect(rgb)
    if not faces:
        return None
    face = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    return align_face(rgb, face, "animation", size=_ALIGNED).image


def _to_input(crops: np.ndarray, size: int = INPUT) -> np.ndarray:
    import cv2

    small = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])
    return (small.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)


@dataclass
class FakeDataset:
    """Aligned face crops ``(N, 256, 256, 3)`` and one row each in ``meta`` (person, label 1 = animated,
    mode, clip: the video or animation the crop came from, in order)."""

    crops: np.ndarray = field(repr=False)
    meta: "pandas.DataFrame" = field(repr=False)  # noqa: F821

    def __len__(self) -> int:
        return len(self.crops)

    def save(self, path: str | os.PathLike) -> Path:
        from ._atomic import atomic_path

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, crops=self.crops, **{f"meta_{c}": self.meta[c].to_numpy() for c in self.meta.columns})
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FakeDataset":
        import pandas as pd

        with np.load(path, allow_pickle=True) as z:
            meta = pd.DataFrame({k[5:]: z[k] for k in z.files if k.startswith("meta_")})
            return cls(crops=z["crops"], meta=meta)


def _round_trip(frames: list, tmp: Path, quality: int = 20) -> list:
    """Frames written as H.264 (the animator's quality) and read back."""
    from .io import VideoReader, VideoWriter

    path = tmp / f"rt_{time.perf_counter_ns()}.mp4"
    with VideoWriter(path, fps=25, quality=quality) as w:
        for f in frames:
            w.write(f)
    with VideoReader(path) as r:
        out = [f.image for f in r]
    path.unlink()
    return out


def _persons(max_frames: int) -> list[dict]:
    """Every person in the data folder: their real frames and the photo(s) to animate, with a driving video."""
    from .config import has_dataset
    from .data import list_face_videos, list_stills
    from .io import VideoReader, read_image

    def frames_of(path, n, start=0):
        """``n`` frames spread over the video from frame ``start`` on."""
        with VideoReader(path) as r:
            total = r.frame_count or 0
        step = max(1, (total - start) // n) if total > start else 1
        with VideoReader(path, step=step) as r:
            return [f.image for f in r if f.index >= start][:n]

    people: dict[str, dict] = {}
    if has_dataset("face_videos"):
        for p in list_face_videos():
            frames = frames_of(p, max_frames)
            people[p.stem] = {"real": [("video", frames)], "photos": [frames[0]], "driving": p}
    if has_dataset("stills"):
        for p in list_stills():
            stem = p.stem
            person = ("sadtalker_still_b" if stem.endswith("1") else "sadtalker_still_a") if stem.startswith(
                "sadtalker_") else stem
            img = read_image(p)
            if max(img.shape[:2]) > 1024:  # the 2048 px portrait: animated at a size like the others
                import cv2

                f = 1024 / max(img.shape[:2])
                img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            entry = people.setdefault(person, {"real": [], "photos": [], "driving": None})
            entry["real"].append(("still", [img]))
            entry["photos"].append(img)
    if has_dataset("mead"):
        from .data.mead import list_mead_clips

        clips = list_mead_clips()
        for actor, group in clips.groupby("actor"):
            entry = people.setdefault(f"mead_{actor}", {"real": [], "photos": [], "driving": None})
            per = max(6, max_frames // max(1, len(group)))
            for row in group.itertuples():
                entry["real"].append((row.name, frames_of(row.path, per, start=10)))
            neutral = group[group.emotion == "neutral"]
            source = neutral.iloc[0] if len(neutral) else group.iloc[0]
            entry["photos"].append(frames_of(source.path, 1)[0])
            moving = group[group.emotion != "neutral"]
            entry["driving"] = moving.iloc[0].path if len(moving) else source.path
    return [{"person": k, **v} for k, v in sorted(people.items())]


def build_dataset(max_frames: int = 24, emotion_frames: int = 8, progress: bool = True,
                  detector: str = "mtcnn", people: list[str] | None = None) -> FakeDataset:
    """Real and animated face crops of every person in the data folder (see the module's docstring), or
    of the ``people`` named (video or still stems, ``mead_<actor>``)."""
    import tempfile

    import pandas as pd
    from tqdm.auto import tqdm

    from .animate import Animator
    from .face import create_detector
    from .labels import EXPRESSIONS

    found = _persons(max_frames)
    people_ = [e for e in found if people is None or e["person"] in people]
    if not people_:
        raise FaceanimError("no face videos, stills or MEAD clips in FACEANIM_DATA to build the dataset from")
    det = create_detector(detector)
    anim = Animator(provenance=False)
    crops, rows = [], []
    tmp = Path(tempfile.mkdtemp(prefix="faceanim-fake-"))

    def add(frames, person, label, mode, clip):
        for i, f in enumerate(frames):
            c = face_crop(f, det)
            if c is not None:
                crops.append(c)
                rows.append({"person": person, "label": label, "mode": mode, "clip": clip, "index": i})

    k = 0
    for entry in tqdm(people_, desc="people", disable=not progress):
        person = entry["person"]
        for clip, frames in entry["real"]:
            add(_round_trip(frames, tmp) if clip != "still" else frames, person, 0, "real", f"{person}/{clip}")
        for j, photo in enumerate(entry["photos"]):
            for mode, refine in (("emotion", True), ("emotion", True), ("emotion_warp", False)):
                emotion = EXPRESSIONS[k % len(EXPRESSIONS)]
                k += 1
                try:
                    clip = anim.emotion(photo, emotion, intensity=1.0, frames=emotion_frames + 3, refine=refine)
                except FaceanimError:
                    continue
                made = _round_trip(list(clip.frames[3:]), tmp)  # past the first frames, still close to the photo
                add(made, person, 1, mode, f"{person}/{j}/{emotion}/{mode}")
            if entry["driving"] is not None and j == 0:
                try:
                    clip = anim.drive(photo, entry["driving"], max_frames=max_frames + 1)
                except FaceanimError:
                    continue
                add(_round_trip(list(clip.frames[1:]), tmp), person, 1, "driving", f"{person}/driving")
    if not crops:
        raise NoFaceError("no face was found in any frame of the data folder's people")
    return FakeDataset(crops=np.stack(crops), meta=pd.DataFrame(rows))


def _jpeg(c: np.ndarray, q: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(c[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(q)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def _rescale(c: np.ndarray, f: float) -> np.ndarray:
    import cv2

    h, w = c.shape[:2]
    small = cv2.resize(c, (max(8, int(w * f)), max(8, int(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _h264(crops: np.ndarray, meta, crf: int = 28) -> np.ndarray:
    """Each clip's crops, in order, H.264-encoded at ``crf`` and decoded."""
    import tempfile

    out = crops.copy()
    tmp = Path(tempfile.mkdtemp(prefix="faceanim-h264-"))
    for _, idx in meta.groupby("clip").indices.items():
        idx = np.sort(idx)
        out[idx] = np.stack(_round_trip(list(crops[idx]), tmp, quality=crf))
    return out


#: what the held-out people's crops are scored after (beside "as written")
TRANSFORMS = {
    "as_written": lambda crops, meta: crops,
    "h264_crf28": lambda crops, meta: _h264(crops, meta, 28),
    "half_size": lambda crops, meta: np.stack([_rescale(c, 0.5) for c in crops]),
    "jpeg_75": lambda crops, meta: np.stack([_jpeg(c, 75) for c in crops]),
}


def _augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flips, some JPEG (quality 60-95) and rescaling (0.6-0.9), colour jitter: lighter than the first
    settings (JPEG from 45 half the time, rescaling from 0.4), see :data:`INPUT`."""
    out = []
    for c in batch:
        if rng.random() < 0.5:
            c = c[:, ::-1]
        if rng.random() < 0.3:
            c = _jpeg(c, int(rng.integers(60, 96)))
        if rng.random() < 0.2:
            c = _rescale(c, float(rng.uniform(0.6, 0.9)))
        if rng.random() < 0.5:
            gain, bias = rng.uniform(0.9, 1.1), rng.uniform(-8, 8)
            c = np.clip(c.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
        out.append(np.ascontiguousarray(c))
    return np.stack(out)


def _fit(crops: np.ndarray, labels: np.ndarray, epochs: int, seed: int, progress: bool, desc: str,
         size: int = INPUT):
    torch = _torch()
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = FakeNet()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    batch = 64
    steps = epochs * max(1, len(crops) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    pos = float(labels.mean())
    weight = torch.tensor((1 - pos) / max(pos, 1e-6))  # balance the classes
    net.train()
    bar = tqdm(range(steps), desc=desc, disable=not progress)
    for _ in bar:
        idx = rng.choice(len(crops), batch, replace=len(crops) < batch)
        x = torch.from_numpy(_to_input(_augment(crops[idx], rng), size))
        y = torch.from_numpy(labels[idx].astype(np.float32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y, pos_weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    net.eval()
    return net


def _score(net, crops: np.ndarray, batch: int = 128, size: int = INPUT) -> np.ndarray:
    torch = _torch()
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), batch):
            out.append(torch.sigmoid(net(torch.from_numpy(_to_input(crops[i:i + batch], size)))).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def cross_validate(data: FakeDataset, folds: int = 4, epochs: int = 12, seed: int = 0,
                   progress: bool = True) -> "pandas.DataFrame":  # noqa: F821
    """Held-out scores of every crop: ``folds`` groups of people, each scored by a net trained on the
    others; one column ``p_<transform>`` per :data:`TRANSFORMS`, plus the fold."""
    from sklearn.model_selection import GroupKFold

    meta = data.meta.reset_index(drop=True).copy()
    labels = meta["label"].to_numpy().astype(np.int64)
    transformed = {name: fn(data.crops, meta) for name, fn in TRANSFORMS.items()}
    for name in TRANSFORMS:
        meta[f"p_{name}"] = np.nan
    meta["fold"] = -1
    for k, (train, test) in enumerate(GroupKFold(n_splits=folds).split(data.crops, labels, meta["person"])):
        net = _fit(data.crops[train], labels[train], epochs, seed + k, progress, f"fold {k + 1}/{folds}")
        for name, crops in transformed.items():
            meta.loc[test, f"p_{name}"] = _score(net, crops[test])
        meta.loc[test, "fold"] = k
    return meta


class AnimatedFaceDetector:
    """The trained :class:`FakeNet`: ``score(image)`` is the probability that the largest face in it was
    animated by faceanim (from its pixels alone), or None without a face."""

    weights_kind = "fake_detector"

    def __init__(self, net, threshold: float = 0.5, detector: str = "mtcnn", size: int = INPUT):
        self.net, self.threshold, self._detector_name, self.size = net, float(threshold), detector, int(size)
        self._detector = None

    @classmethod
    def load(cls, name: str = "fake_detector", root=None) -> "AnimatedFaceDetector":
        from .weights import load_weights

        state, meta = load_weights(name, root=root, kind=cls.weights_kind)
        net = FakeNet()
        net.load_state_dict({k: v.float() for k, v in state["net"].items()})
        net.eval()
        return cls(net, threshold=float(meta.get("threshold", 0.5)), size=int(meta.get("input", INPUT)))

    def save(self, name: str = "fake_detector", root=None, **metadata) -> Path:
        from .weights import save_weights

        state = {"net": {k: (v.half() if v.is_floating_point() else v) for k, v in self.net.state_dict().items()}}
        return save_weights(state, name, {"kind": self.weights_kind, "input": self.size, "threshold": self.threshold,
                                          **metadata}, root=root)

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        """P(animated) of aligned 256 px face crops ``(N, 256, 256, 3)``."""
        return _score(self.net, np.asarray(crops), size=self.size)

    def score(self, image: np.ndarray) -> float | None:
        if self._detector is None:
            from .face import create_detector

            self._detector = create_detector(self._detector_name)
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise MediaError(f"the animated-face detector reads RGB frames, got shape {image.shape}")
        crop = face_crop(image, self._detector)
        return None if crop is None else float(self.score_crops(crop[None])[0])


def train_detector(data: FakeDataset, epochs: int = 12, seed: int = 0, progress: bool = True) -> AnimatedFaceDetector:
    """The detector trained on every person of ``data``."""
    net = _fit(data.crops, data.meta["label"].to_numpy(), epochs, seed, progress, "all people")
    return AnimatedFaceDetector(net)
