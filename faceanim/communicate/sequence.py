"""Seed 004's sequence machine, on labels that exist: per-frame features -> BiLSTM -> a small transformer.

:class:`SequencePredictor` takes variable-length clips of per-frame rows (:data:`~.clip.FRAME_FEATURES`: the
recognizer's reading and the audience model's vote shares; the "CNN per frame" is the recognizer) and
predicts a per-clip class (an emotion, an engagement class) or score, plus a per-frame intensity where
frame targets are given. ``variant`` picks seed 004's ablations:

- ``"visual"``: frame encoder only, attention-pooled (no temporal model);
- ``"temporal"``: frame encoder -> bidirectional LSTM, pooled;
- ``"full"``: a transformer with positional encoding fusing the frame encoding and the BiLSTM's output.

:func:`cross_validate` runs all three and two scikit-learn baselines on hand-made per-clip statistics
(an RBF SVM and a random forest) on the same stratified (optionally leave-groups-out) folds, and reports
accuracy / macro-F1 / AUC for classes or R2 / Spearman for scores with 95% intervals across folds and a
paired t-test of the full model against the best baseline. :func:`fit` does that from clips and a
``labels.csv`` a user brings, then fits the full model on everything.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FaceanimError, SettingError
from ..limits import check
from .audience import AUDIENCE
from .clip import FRAME_FEATURES, MIN_FRAMES

__all__ = ["VARIANTS", "BASELINES", "MODELS", "SequencePredictor", "clip_statistics", "CVResult",
           "cross_validate", "FitResult", "fit", "load_labels", "LabelError"]

VARIANTS = ("full", "temporal", "visual")
BASELINES = ("svm", "random_forest")
MODELS = (*VARIANTS, *BASELINES)
#: clips longer than this are subsampled evenly (about 5 s at 25 fps)
MAX_LEN = 128


class LabelError(FaceanimError, ValueError):
    """Labels that do not fit the clips (missing, duplicated, one class only, unreadable)."""


def _net(n_in: int, n_out: int, variant: str, d: int = 48, hidden: int = 32, heads: int = 4, layers: int = 1,
         dropout: float = 0.2):
    import torch
    import torch.nn as nn

    class SequenceNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.variant = variant
            self.encode = nn.Sequential(nn.Linear(n_in, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, d))
            if variant in ("temporal", "full"):
                self.lstm = nn.LSTM(d, hidden, batch_first=True, bidirectional=True)
                self.proj = nn.Linear(2 * hidden, d)
            if variant == "full":
                layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout, batch_first=True)
                self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
                pos = torch.arange(MAX_LEN * 2)[:, None]
                div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
                pe = torch.zeros(MAX_LEN * 2, d)
                pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
                self.register_buffer("pe", pe, persistent=False)
            self.norm = nn.LayerNorm(d)
            self.attend = nn.Linear(d, 1)
            self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(d, n_out))
            self.frame = nn.Linear(d, 1)

        def forward(self, x, mask):
            h = self.encode(x)
            z = h
            if self.variant in ("temporal", "full"):
                lengths = mask.sum(1).clamp(min=1).cpu()
                packed = nn.utils.rnn.pack_padded_sequence(h, lengths, batch_first=True, enforce_sorted=False)
                out, _ = self.lstm(packed)
                out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=h.shape[1])
                z = self.proj(out)
            if self.variant == "full":
                z = self.transformer(h + z + self.pe[: h.shape[1]], src_key_padding_mask=~mask)
            z = self.norm(z)
            score = self.attend(z).squeeze(-1).masked_fill(~mask, float("-inf"))
            pooled = (torch.softmax(score, 1).unsqueeze(-1) * z).sum(1)
            return self.out(pooled), torch.sigmoid(self.frame(z).squeeze(-1))

    return SequenceNet()


def _subsample(seq: np.ndarray) -> np.ndarray:
    if len(seq) <= MAX_LEN:
        return seq
    return seq[np.linspace(0, len(seq) - 1, MAX_LEN).round().astype(int)]


def _pad(seqs: list[np.ndarray], targets: list[np.ndarray | None] | None = None):
    import torch

    n, t, f = len(seqs), max(len(s) for s in seqs), seqs[0].shape[1]
    x, mask = np.zeros((n, t, f), np.float32), np.zeros((n, t), bool)
    ft, fmask = np.zeros((n, t), np.float32), np.zeros((n, t), bool)
    for i, s in enumerate(seqs):
        x[i, : len(s)], mask[i, : len(s)] = s, True
        if targets is not None and targets[i] is not None:
            ft[i, : len(s)], fmask[i, : len(s)] = targets[i], True
    return (torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(ft), torch.from_numpy(fmask))


def _check_sequences(sequences) -> list[np.ndarray]:
    out = []
    for i, s in enumerate(sequences):
        s = getattr(s, "features", s)
        a = np.asarray(s, np.float32)
        if a.ndim != 2 or a.shape[1] != len(FRAME_FEATURES):
            raise SettingError(f"clip {i}: a sequence is (frames, {len(FRAME_FEATURES)}) feature rows "
                               f"(read_clip(...).features), got shape {a.shape}")
        if len(a) < MIN_FRAMES:
            raise SettingError(f"clip {i} has {len(a)} frames; the sequence model needs at least {MIN_FRAMES} "
                               f"(summarize() reads shorter clips frame by frame)")
        if not np.isfinite(a).all():
            raise SettingError(f"clip {i} has features that are not finite numbers")
        out.append(a)
    return out


class SequencePredictor:
    """A trained sequence model: ``predict(sequences)``, ``predict_proba`` (classes),
    ``frame_intensity(sequence)``; ``save``/``load`` as checksummed weights."""

    weights_kind = "clip_sequence"

    def __init__(self, net, variant: str, task: str, classes: tuple, mean: np.ndarray, std: np.ndarray,
                 frame_trained: bool = False, name: str = "", recognizer: str = "", config: dict | None = None):
        self.net, self.variant, self.task, self.classes = net, variant, task, tuple(classes)
        self.mean, self.std, self.frame_trained = mean.astype(np.float32), std.astype(np.float32), frame_trained
        self.name, self.recognizer, self.config = name, recognizer, dict(config or {})

    def __repr__(self) -> str:
        what = f"{len(self.classes)} classes" if self.task == "class" else "a score"
        return f"SequencePredictor({self.name or self.variant!r}, {self.variant}, {what})"

    @classmethod
    def fit(cls, sequences, targets, task: str = "class", variant: str = "full", frame_targets=None,
            epochs: int = 60, seed: int = 0, classes: Sequence | None = None, name: str = "",
            recognizer: str = "", **config) -> "SequencePredictor":
        """Train on ``sequences`` (each ``(T, F)``; clips longer than :data:`MAX_LEN` subsampled) and per-clip
        ``targets`` (class names, or numbers for ``task="score"``). ``frame_targets``: an optional per-clip
        ``(T,)`` 0..1 intensity (None where unknown) for the per-frame head."""
        import torch

        if variant not in VARIANTS:
            raise SettingError(f"unknown sequence variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        if task not in ("class", "score"):
            raise SettingError(f"task is 'class' or 'score', got {task!r}")
        epochs = check("epochs", epochs)
        seqs = [_subsample(s) for s in _check_sequences(sequences)]
        ftg = None
        if frame_targets is not None:
            ftg = [None if t is None else _subsample(np.asarray(t, np.float32)) for t in frame_targets]
        y_raw = list(targets)
        if len(y_raw) != len(seqs):
            raise SettingError(f"{len(seqs)} clips but {len(y_raw)} targets")
        if task == "class":
            classes = tuple(classes) if classes is not None else _class_order(y_raw)
            y = torch.tensor([classes.index(v) for v in y_raw])
            n_out = len(classes)
            counts = np.bincount(y.numpy(), minlength=n_out).astype(np.float32)
            weight = torch.from_numpy(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_out, 0.0))
            loss_fn = torch.nn.CrossEntropyLoss(weight=weight.float(), label_smoothing=0.05)
        else:
            classes = ()
            y = torch.tensor(np.asarray(y_raw, np.float32))
            n_out = 1
            loss_fn = None
        allf = np.concatenate(seqs)
        mean, std = allf.mean(0), allf.std(0) + 1e-3
        if task == "score":
            config["y_mean"], config["y_std"] = float(y.mean()), float(y.std() + 1e-6)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        net = _net(len(FRAME_FEATURES), n_out, variant)
        opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-2)
        batch = min(16, len(seqs))
        steps_per = max(1, math.ceil(len(seqs) / batch))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * steps_per)
        norm = [(s - mean) / std for s in seqs]
        net.train()
        for _ in range(epochs):
            order = rng.permutation(len(seqs))
            for b in range(steps_per):
                idx = order[b * batch:(b + 1) * batch]
                if not len(idx):
                    continue
                xs, ts = [], []
                for i in idx:  # augmentation: a random stretch (>= 60%) of the clip, feature noise
                    n = len(norm[i])
                    keep = int(rng.integers(max(MIN_FRAMES, int(0.6 * n)), n + 1)) if n > MIN_FRAMES else n
                    start = int(rng.integers(0, n - keep + 1))
                    xs.append(norm[i][start:start + keep] + rng.normal(0, 0.05, (keep, norm[i].shape[1])).astype(np.float32))
                    ts.append(None if ftg is None or ftg[i] is None else ftg[i][start:start + keep])
                x, mask, ft, fmask = _pad(xs, ts)
                logits, frame = net(x, mask)
                if task == "class":
                    loss = loss_fn(logits, y[idx])
                else:
                    loss = torch.nn.functional.mse_loss(logits.squeeze(1), (y[idx] - config["y_mean"]) / config["y_std"])
                if fmask.any():
                    loss = loss + torch.nn.functional.mse_loss(frame[fmask], ft[fmask])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                sched.step()
        net.eval()
        frame_trained = ftg is not None and any(t is not None for t in ftg)
        return cls(net, variant, task, classes, mean, std, frame_trained, name, recognizer,
                   {"epochs": epochs, "seed": seed, **config})

    def _forward(self, sequences):
        import torch

        seqs = [(_subsample(s) - self.mean) / self.std for s in _check_sequences(sequences)]
        x, mask, _, _ = _pad(seqs)
        with torch.inference_mode():
            logits, frame = self.net(x, mask)
        return logits, frame, [len(s) for s in seqs]

    def predict_proba(self, sequences) -> np.ndarray:
        import torch

        if self.task != "class":
            raise SettingError("predict_proba is for a class model; this one predicts a score (use predict)")
        logits, _, _ = self._forward(sequences)
        return torch.softmax(logits, 1).numpy()

    def predict(self, sequences) -> np.ndarray:
        if self.task == "class":
            return np.asarray(self.classes, dtype=object)[self.predict_proba(sequences).argmax(1)]
        logits, _, _ = self._forward(sequences)
        return logits.squeeze(1).numpy() * self.config["y_std"] + self.config["y_mean"]

    def frame_intensity(self, sequence) -> np.ndarray:
        """The per-frame intensity head's 0..1 curve for one clip (at the clip's own length)."""
        if not self.frame_trained:
            raise SettingError("this sequence model was trained without frame targets; it has no intensity curve")
        s = _check_sequences([sequence])[0]
        _, frame, lengths = self._forward([s])
        curve = frame[0, : lengths[0]].numpy()
        if len(s) > MAX_LEN:
            curve = np.interp(np.arange(len(s)), np.linspace(0, len(s) - 1, len(curve)), curve)
        return curve

    def save(self, name: str, root=None, **metadata) -> Path:
        from ..weights import save_weights

        return save_weights({"net": self.net.state_dict()}, name,
                            {"kind": self.weights_kind, "variant": self.variant, "task": self.task,
                             "classes": list(self.classes), "mean": self.mean.tolist(), "std": self.std.tolist(),
                             "frame_trained": self.frame_trained, "recognizer": self.recognizer,
                             "features": list(FRAME_FEATURES), "config": self.config, **metadata}, root=root)

    @classmethod
    def load(cls, name: str = "clip_emotion", root=None) -> "SequencePredictor":
        from ..weights import load_weights

        state, meta = load_weights(name, root=root, kind=cls.weights_kind)
        if list(meta.get("features", [])) != list(FRAME_FEATURES):
            raise SettingError(f"weights {name!r} were trained on other frame features; retrain them")
        n_out = len(meta["classes"]) if meta["task"] == "class" else 1
        net = _net(len(FRAME_FEATURES), n_out, meta["variant"])
        net.load_state_dict(state["net"])
        net.eval()
        return cls(net, meta["variant"], meta["task"], tuple(meta["classes"]), np.asarray(meta["mean"]),
                   np.asarray(meta["std"]), bool(meta["frame_trained"]), name, meta.get("recognizer", ""),
                   meta.get("config", {}))


def _class_order(values) -> tuple:
    present = {str(v) for v in values}
    if present <= set(AUDIENCE):
        return tuple(c for c in AUDIENCE if c in present)
    return tuple(sorted(present))


def clip_statistics(sequence) -> np.ndarray:
    """Hand-made per-clip features for the baselines: per frame feature, the mean, spread, minimum, maximum
    and the change from the first to the last quarter; then the clip's log length."""
    s = np.asarray(getattr(sequence, "features", sequence), np.float32)
    q = max(1, len(s) // 4)
    return np.concatenate([s.mean(0), s.std(0), s.min(0), s.max(0), s[-q:].mean(0) - s[:q].mean(0),
                           [np.log(len(s))]]).astype(np.float32)


def _baseline(kind: str, task: str, seed: int):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR

    if kind == "svm":
        est = SVC(C=3.0, class_weight="balanced", random_state=seed) if task == "class" else SVR(C=3.0)
        return make_pipeline(StandardScaler(), est)
    if task == "class":
        return RandomForestClassifier(300, class_weight="balanced", random_state=seed, n_jobs=1)
    return RandomForestRegressor(300, random_state=seed, n_jobs=1)


@dataclass
class CVResult:
    """What :func:`cross_validate` measured. ``folds``: one row per (model, fold) with its metrics;
    ``summary``: per model and metric the mean over folds, its 95% interval and the figure over the pooled
    out-of-fold predictions; ``test``: the paired t-test of the full model against the best baseline;
    ``predictions``: every clip's out-of-fold prediction per model."""

    task: str
    classes: tuple
    folds: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    summary: "pandas.DataFrame"  # noqa: F821
    test: dict
    predictions: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    split: str = ""
    notes: list = field(default_factory=list)

    @property
    def metric(self) -> str:
        return "accuracy" if self.task == "class" else "spearman"

    def table(self) -> "pandas.DataFrame":  # noqa: F821
        """Models by rows, each metric as ``mean [low, high]`` text: the table to show."""
        t = self.summary.copy()
        t["value"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in zip(t["mean"], t["ci_low"], t["ci_high"])]
        return t.pivot(index="model", columns="metric", values="value").reindex(
            [m for m in MODELS if m in set(t["model"])])

    def to_dict(self) -> dict:
        return {"task": self.task, "classes": list(self.classes), "split": self.split, "notes": self.notes,
                "summary": self.summary.to_dict("records"), "test": self.test,
                "folds": self.folds.to_dict("records")}


def _metrics(task: str, y_true, y_pred, proba=None, classes=()) -> dict:
    from scipy.stats import spearmanr
    from sklearn.metrics import accuracy_score, f1_score, r2_score, roc_auc_score

    if task == "class":
        out = {"accuracy": float(accuracy_score(y_true, y_pred)),
               "macro_f1": float(f1_score(y_true, y_pred, average="macro", labels=sorted(set(y_true)),
                                          zero_division=0))}
        if proba is not None and len(set(y_true)) > 1:
            present = sorted(c for c in classes if c in set(y_true))  # sklearn wants the labels sorted
            cols = [list(classes).index(c) for c in present]
            p = np.asarray(proba)[:, cols]
            p = p / np.maximum(p.sum(1, keepdims=True), 1e-9)
            try:  # a fold whose classes leave AUC undefined gets none (the pooled figure still has one)
                if len(present) == 2:
                    out["auc"] = float(roc_auc_score(np.asarray(y_true) == present[1], p[:, 1]))
                else:
                    out["auc"] = float(roc_auc_score(y_true, p, multi_class="ovr", labels=present))
            except ValueError:
                out.pop("auc", None)
        return out
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    rho = spearmanr(y_true, y_pred)[0] if np.ptp(y_pred) > 0 and np.ptp(y_true) > 0 else 0.0
    return {"r2": float(r2_score(y_true, y_pred)), "spearman": float(rho)}


def _splits(y, groups, task: str, folds: int, seed: int, notes: list):
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    n = len(y)
    if task == "class":
        counts = {c: int(np.sum(np.asarray(y) == c)) for c in set(y)}
        if groups is not None:
            k = min(folds, len(set(groups)))
            if k < 2:
                raise LabelError("every clip has the same group; leave-groups-out needs at least two groups")
            if k < folds:
                notes.append(f"{k} folds (one per group), not {folds}")
            return list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), y, groups)), \
                f"stratified {k}-fold, groups held out"
        k = min(folds, min(counts.values()))
        if k < folds:
            notes.append(f"{k} folds, not {folds}: the smallest class has {min(counts.values())} clips")
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(n), y)), f"stratified {k}-fold"
    if groups is not None:
        k = min(folds, len(set(groups)))
        if k < 2:
            raise LabelError("every clip has the same group; leave-groups-out needs at least two groups")
        return list(GroupKFold(k).split(np.zeros(n), y, groups)), f"{k}-fold, groups held out"
    bins = np.argsort(np.argsort(np.asarray(y, float))) * min(folds, n) // n  # stratify by score rank
    try:
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(n), bins)), \
            f"{folds}-fold stratified by score"
    except ValueError:
        return list(KFold(folds, shuffle=True, random_state=seed).split(np.zeros(n))), f"{folds}-fold"


def _class_scores(est, x: np.ndarray, classes: tuple) -> np.ndarray:
    """Per-class scores summing to 1 (a forest's probabilities; an SVM's one-vs-rest decision values through a
    softmax, which ranks like them: enough for AUC), in ``classes`` order."""
    if hasattr(est, "predict_proba"):
        p = est.predict_proba(x)
    else:
        d = np.asarray(est.decision_function(x), float)
        d = np.stack([-d, d], 1) if d.ndim == 1 else d
        p = np.exp(d - d.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
    out = np.zeros((len(x), len(classes)))
    for j, c in enumerate(est.classes_):
        out[:, classes.index(c)] = p[:, j]
    return out


#: the range each metric can take (a t-interval is clipped to it)
_BOUNDS = {"accuracy": (0, 1), "macro_f1": (0, 1), "auc": (0, 1), "spearman": (-1, 1), "r2": (-np.inf, 1)}


def _interval(values: np.ndarray, metric: str = "") -> tuple[float, float, float]:
    """The mean over folds and its 95% t-interval (clipped to the metric's range)."""
    from scipy.stats import t as student

    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return m, m, m
    h = float(student.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    lo, hi = _BOUNDS.get(metric, (-np.inf, np.inf))
    return m, float(max(lo, m - h)), float(min(hi, m + h))


def check_targets(y, task: str) -> None:
    """Refuse targets a model cannot learn from: one class only, a class with one clip, scores that never vary."""
    if task == "class":
        values, counts = np.unique(np.asarray(y, dtype=str), return_counts=True)
        if len(values) < 2:
            raise LabelError(f"every clip has the label {values[0]!r}; a classifier needs at least two classes")
        single = values[counts < 2]
        if len(single):
            raise LabelError(f"class(es) {', '.join(map(repr, single))} have a single clip; cross-validation needs "
                             f"at least two clips of each class (add clips or merge the class)")
    else:
        a = np.asarray(y, float)
        if not np.isfinite(a).all():
            raise LabelError("some scores are not finite numbers")
        if np.ptp(a) == 0:
            raise LabelError(f"every clip has the score {a[0]:g}; a score model needs scores that vary")


def cross_validate(sequences, targets, groups=None, task: str = "class", folds: int = 5, models=MODELS,
                   frame_targets=None, epochs: int = 60, seed: int = 0, progress: bool = True) -> CVResult:
    """Every model in ``models`` on the same folds (see the module text). ``groups``: one id per clip (a
    person, an actor) held out together."""
    import pandas as pd
    from scipy.stats import ttest_rel
    from tqdm.auto import tqdm

    folds = check("folds", folds)
    seqs = _check_sequences(sequences)
    y = np.asarray([str(v) for v in targets] if task == "class" else np.asarray(targets, float), dtype=object)
    if len(y) != len(seqs):
        raise LabelError(f"{len(seqs)} clips but {len(y)} targets")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise SettingError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    check_targets(y, task)
    if groups is not None and len(groups) != len(seqs):
        raise LabelError(f"{len(seqs)} clips but {len(groups)} groups")
    notes: list = []
    import warnings

    with warnings.catch_warnings():  # "the least populated class has only N members": said in notes instead
        warnings.simplefilter("ignore", UserWarning)
        splits, split_name = _splits(list(y), None if groups is None else list(groups), task, folds, seed, notes)
    smallest = min(int(np.sum(y == c)) for c in set(y)) if task == "class" else len(y)
    if task == "class" and smallest < len(splits):
        notes.append(f"the smallest class has {smallest} clips, fewer than the {len(splits)} folds: some folds "
                     f"test without it")
    classes = _class_order(y) if task == "class" else ()
    stats = np.stack([clip_statistics(s) for s in seqs])
    rows, preds = [], []
    oof = {m: [None] * len(seqs) for m in models}
    oof_p = {m: np.zeros((len(seqs), len(classes))) for m in models}
    bar = tqdm(total=len(splits) * len(models), desc="cross-validation", disable=not progress)
    for k, (tr, te) in enumerate(splits):
        for m in models:
            proba = None
            if m in VARIANTS:
                ft = None if frame_targets is None else [frame_targets[i] for i in tr]
                model = SequencePredictor.fit([seqs[i] for i in tr], [y[i] for i in tr], task, m, ft, epochs, seed,
                                              classes=classes or None)
                if task == "class":
                    proba = model.predict_proba([seqs[i] for i in te])
                    pred = np.asarray(classes, dtype=object)[proba.argmax(1)]
                else:
                    pred = model.predict([seqs[i] for i in te])
            else:
                est = _baseline(m, task, seed)
                yt = [y[i] for i in tr] if task == "class" else np.asarray([y[i] for i in tr], float)
                est.fit(stats[tr], yt)
                pred = est.predict(stats[te])
                if task == "class":
                    proba = _class_scores(est, stats[te], classes)
            truth = [y[i] for i in te]
            rows.append({"model": m, "fold": k, "clips": len(te), **_metrics(task, truth, pred, proba, classes)})
            for j, i in enumerate(te):
                oof[m][i] = pred[j]
                if proba is not None:
                    oof_p[m][i] = proba[j]
            bar.update()
    bar.close()
    folds_df = pd.DataFrame(rows)
    summary = []
    for m in models:
        pooled = _metrics(task, list(y), oof[m], oof_p[m] if task == "class" else None, classes)
        for metric in [c for c in folds_df.columns if c not in ("model", "fold", "clips")]:
            vals = folds_df.loc[folds_df.model == m, metric].dropna().to_numpy()
            if not len(vals) and metric not in pooled:
                continue
            mean, lo, hi = _interval(vals, metric) if len(vals) else (np.nan,) * 3
            summary.append({"model": m, "metric": metric, "mean": mean, "ci_low": lo, "ci_high": hi,
                            "pooled": pooled.get(metric, np.nan), "folds": int(len(vals))})
    summary_df = pd.DataFrame(summary)
    metric = "accuracy" if task == "class" else "spearman"
    test: dict = {}
    base = [b for b in BASELINES if b in models]
    if "full" in models and base:
        per = folds_df.pivot(index="fold", columns="model", values=metric)
        best = max(base, key=lambda b: per[b].mean())
        diff = per["full"] - per[best]
        p = float(ttest_rel(per["full"], per[best]).pvalue) if diff.abs().sum() > 0 else 1.0
        test = {"metric": metric, "full": float(per["full"].mean()), "best_baseline": best,
                "baseline": float(per[best].mean()), "difference": float(diff.mean()),
                "p_value": p if np.isfinite(p) else 1.0, "folds": int(len(per)), "test": "paired t-test over folds"}
    for i in range(len(seqs)):
        preds.append({"clip": i, "truth": y[i], "group": None if groups is None else groups[i],
                      **{m: oof[m][i] for m in models}})
    return CVResult(task=task, classes=classes, folds=folds_df, summary=summary_df, test=test,
                    predictions=pd.DataFrame(preds), split=split_name, notes=notes)


# ------------------------------------------------------------------------------------- your own labels
def load_labels(labels, clip_names: Sequence[str], target: str | None = None) -> tuple:
    """``(targets, groups or None, task, target column, labelled names not among the clips)`` for
    ``clip_names`` from a labels CSV (or a DataFrame) with a ``clip`` column (the file name, with or without
    its suffix), one target column (a class or a score; ``target`` names it when there are several) and an
    optional ``group`` column (clips of one person held out together). Refuses missing, duplicated or
    unlabelled clips with a :class:`LabelError`."""
    import pandas as pd

    if isinstance(labels, (str, os.PathLike)):
        path = Path(labels)
        if not path.is_file():
            raise LabelError(f"labels file {path} does not exist; give a CSV with a 'clip' column and a label column")
        try:
            table = pd.read_csv(path)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise LabelError(f"cannot read {path} as CSV ({exc}); save it as comma-separated text") from None
    elif isinstance(labels, pd.DataFrame):
        table = labels.copy()
    else:
        raise LabelError(f"labels are a CSV path or a DataFrame, got {type(labels).__name__}")
    table.columns = [str(c).strip() for c in table.columns]
    if "clip" not in table.columns:
        raise LabelError(f"the labels have no 'clip' column (columns: {', '.join(table.columns)}); name the column "
                         f"that holds the clip file names 'clip'")
    candidates = [c for c in table.columns if c not in ("clip", "group")]
    if target is None:
        if len(candidates) != 1:
            raise LabelError(f"say which column is the target (target=...): the labels have {candidates or 'none'}")
        target = candidates[0]
    if target not in table.columns:
        raise LabelError(f"no column {target!r} in the labels (columns: {', '.join(table.columns)})")
    table["key"] = [_clip_key(c) for c in table["clip"]]
    dup = table["key"][table["key"].duplicated()].unique()
    if len(dup):
        raise LabelError(f"clip(s) {', '.join(map(repr, dup[:5]))} are labelled more than once; keep one row per clip")
    missing_value = table.loc[table[target].isna(), "key"].tolist()
    if missing_value:
        raise LabelError(f"clip(s) {', '.join(map(repr, missing_value[:5]))} have no {target!r} value")
    keys = [_clip_key(n) for n in clip_names]
    by_key = table.set_index("key")
    missing = [k for k in keys if k not in by_key.index]
    if missing:
        raise LabelError(f"{len(missing)} clip(s) have no label, e.g. {', '.join(map(repr, missing[:5]))}; add "
                         f"rows for them or leave the clips out")
    extra = sorted(set(by_key.index) - set(keys))
    values = by_key.loc[keys, target]
    numeric = pd.api.types.is_numeric_dtype(values)
    task = "score" if numeric and (values.nunique() > 10 or not np.allclose(values, values.round())) else "class"
    targets = values.astype(float).tolist() if task == "score" else [str(v) for v in values]
    groups = by_key.loc[keys, "group"].astype(str).tolist() if "group" in by_key.columns else None
    return targets, groups, task, target, extra


def _clip_key(name) -> str:
    """A clip's name without its folder and video suffix ("a/b.mp4" -> "b"; "face_0.4" stays itself)."""
    from ..io import is_video_path

    p = Path(str(name).strip())
    return p.stem if is_video_path(p) else p.name


@dataclass
class FitResult:
    """:func:`fit`'s result: the cross-validation, the full model fitted on every clip, and the readings."""

    cv: CVResult
    model: SequencePredictor
    readings: list = field(repr=False)
    target: str = ""
    notes: list = field(default_factory=list)


def fit(clips, labels, target: str | None = None, folds: int = 5, models=MODELS, epochs: int = 60, seed: int = 0,
        recognizer=None, audience=None, progress: bool = True) -> FitResult:
    """Bring your own audience labels: ``clips`` (video paths, a folder of videos, or
    :class:`~faceanim.communicate.ClipReading` objects) and ``labels`` (a CSV path or DataFrame, see
    :func:`load_labels`) -> cross-validated figures for every model and the full model fitted on all clips."""
    from ..emotion.recognizer import DEFAULT_RECOGNIZER
    from ..io import is_video_path
    from .clip import ClipReading, read_clip

    if isinstance(clips, (str, os.PathLike)):
        folder = Path(clips)
        if not folder.is_dir():
            raise LabelError(f"{folder} is not a folder of clips; give a folder or a list of video paths")
        clips = sorted(p for p in folder.iterdir() if is_video_path(p))
        if not clips:
            raise LabelError(f"no video files in {folder}")
    clips = list(clips)
    names = [c.name if isinstance(c, ClipReading) else _clip_key(c) for c in clips]
    targets, groups, task, target, extra = load_labels(labels, names, target)
    notes = [f"{len(extra)} labelled clip(s) not among the clips were left out"] if extra else []
    readings = []
    for c in clips:
        if isinstance(c, ClipReading):
            readings.append(c)
        else:
            readings.append(read_clip(c, recognizer=recognizer, audience=audience, progress=progress))
    short = [r.name for r in readings if len(r) < MIN_FRAMES]
    if short:
        raise LabelError(f"clip(s) {', '.join(short[:5])} have fewer than {MIN_FRAMES} frames; the sequence model "
                         f"cannot learn from them: leave them out")
    cv = cross_validate([r.features for r in readings], targets, groups, task, folds, models, epochs=epochs,
                        seed=seed, progress=progress)
    model = SequencePredictor.fit([r.features for r in readings], targets, task, "full", epochs=epochs, seed=seed,
                                  name=f"fit:{target}", recognizer=getattr(recognizer, "name", DEFAULT_RECOGNIZER))
    return FitResult(cv=cv, model=model, readings=readings, target=target, notes=notes + cv.notes)
