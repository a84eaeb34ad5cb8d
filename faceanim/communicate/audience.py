"""How an expression reads to an audience: the vote distribution viewers would give a face (seed 004).

FER+ gives, for every FER-2013 face, what 10 viewers named in it. :class:`AudienceModel` is a small head
on the recognizer's embedding trained (soft targets) to predict that distribution over the seven emotions
and contempt, and from it: the majority's emotion, the **agreement** (the share of viewers naming the
majority) and the **ambiguity** (the entropy of the votes, in bits). ``bench/bench_audience.py`` trains it
on FER+'s Training faces, chooses on PublicTest and measures PrivateTest once, against two baselines: the
recognizer's own softmax read as a vote distribution, and a constant prior (the training mean).

The clip-level parts live beside it in this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..labels import EMOTIONS

__all__ = ["AUDIENCE", "vote_distribution", "agreement", "ambiguity", "kl_divergence", "AudienceReading",
           "AudienceModel", "audience_metrics", "softmax_as_votes"]

#: the classes viewers vote for: the seven emotions in FER-2013's order, then contempt
AUDIENCE = (*EMOTIONS, "contempt")
# FER+ vote columns (faceanim.data.FERPLUS_COLUMNS order) -> AUDIENCE index; "unknown" and "NF" are dropped
_FROM_FERPLUS = {0: 6, 1: 3, 2: 5, 3: 4, 4: 0, 5: 1, 6: 2, 7: 7}
_EPS = 1e-4


def vote_distribution(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(distribution (N, 8), valid (N,))`` from FER+ vote counts ``(N, 10)``: the share of the votes
    for each :data:`AUDIENCE` class (votes for "unknown" and "not a face" left out); ``valid`` is False
    where no vote named a class."""
    votes = np.asarray(votes, np.float64)
    if votes.ndim != 2 or votes.shape[1] != 10:
        raise MediaError(f"FER+ votes are (N, 10) counts, got shape {votes.shape}")
    counts = np.zeros((len(votes), len(AUDIENCE)))
    for src, dst in _FROM_FERPLUS.items():
        counts[:, dst] = votes[:, src]
    total = counts.sum(1)
    valid = total > 0
    dist = np.where(valid[:, None], counts / np.maximum(total, 1)[:, None], np.nan)
    return dist.astype(np.float32), valid


def agreement(dist: np.ndarray) -> np.ndarray:
    """The share of viewers naming the majority's emotion, per row."""
    return np.asarray(dist).max(-1)


def ambiguity(dist: np.ndarray) -> np.ndarray:
    """The entropy of the votes in bits (0: everyone agrees; 3: spread evenly over all 8 classes)."""
    p = np.clip(np.asarray(dist, np.float64), 0, 1)
    return -(np.where(p > 0, p * np.log2(np.maximum(p, 1e-12)), 0.0)).sum(-1)


def kl_divergence(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """KL(actual || predicted) in nats per row (the predicted distribution floored at 1e-4 and renormalised,
    so a class a model rules out costs a finite amount)."""
    q = np.clip(np.asarray(predicted, np.float64), _EPS, None)
    q /= q.sum(-1, keepdims=True)
    p = np.asarray(actual, np.float64)
    return (np.where(p > 0, p * (np.log(np.maximum(p, 1e-12)) - np.log(q)), 0.0)).sum(-1)


def softmax_as_votes(probabilities: np.ndarray) -> np.ndarray:
    """A recognizer's seven probabilities read as a vote distribution over :data:`AUDIENCE` (contempt 0)."""
    p = np.asarray(probabilities, np.float32)
    return np.concatenate([p, np.zeros((len(p), 1), np.float32)], 1)


@dataclass
class AudienceReading:
    """What the predicted audience makes of one face."""

    distribution: np.ndarray
    majority: str
    agreement: float
    ambiguity: float

    def to_dict(self) -> dict:
        return {"majority": self.majority, "agreement": round(self.agreement, 4), "ambiguity": round(self.ambiguity, 4),
                **{f"votes_{c}": round(float(v), 4) for c, v in zip(AUDIENCE, self.distribution)}}


def _head(dim: int, hidden: int):
    import torch.nn as nn

    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.2), nn.Linear(hidden, len(AUDIENCE)))


class AudienceModel:
    """A head on a recognizer's embedding: ``predict(features) -> (N, 8)`` vote distributions;
    ``read(recognizer, crops)`` -> one :class:`AudienceReading` per aligned face crop."""

    weights_kind = "audience"

    def __init__(self, head, dim: int, hidden: int, recognizer: str = ""):
        self.head, self.dim, self.hidden, self.recognizer = head, int(dim), int(hidden), recognizer

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, epochs: int = 30, hidden: int = 256,
            weight_decay: float = 1e-3, seed: int = 0, recognizer: str = "") -> "AudienceModel":
        """Train on ``features (N, D)`` and vote distributions ``targets (N, 8)`` (soft cross-entropy,
        which is the KL divergence up to a constant)."""
        import torch

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        x = torch.from_numpy(np.asarray(features, np.float32))
        y = torch.from_numpy(np.asarray(targets, np.float32))
        head = _head(x.shape[1], hidden)
        opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=weight_decay)
        batch = 256
        steps = epochs * max(1, len(x) // batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
        head.train()
        for _ in range(steps):
            idx = torch.from_numpy(rng.choice(len(x), batch, replace=len(x) < batch))
            loss = -(y[idx] * torch.log_softmax(head(x[idx]), 1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        head.eval()
        return cls(head, x.shape[1], hidden, recognizer)

    def predict(self, features: np.ndarray) -> np.ndarray:
        import torch

        f = np.asarray(features, np.float32)
        if f.ndim != 2 or f.shape[1] != self.dim:
            raise MediaError(f"the audience model reads ({self.dim},) embeddings, got shape {f.shape}")
        with torch.inference_mode():
            return torch.softmax(self.head(torch.from_numpy(f)), 1).numpy()

    def read(self, recognizer, crops) -> list[AudienceReading]:
        """Aligned face crops (as ``recognizer.predict`` takes them) -> the predicted audience's reading."""
        name = getattr(recognizer, "name", "")
        if self.recognizer and name != self.recognizer:
            from ..errors import SettingError

            raise SettingError(f"this audience model reads {self.recognizer!r}'s embedding, not {name!r}'s; pass "
                               f"create_recognizer({self.recognizer!r}) or retrain it (bench/bench_audience.py)")
        dist = self.predict(recognizer.embed(crops))
        return [AudienceReading(d, AUDIENCE[int(d.argmax())], float(d.max()), float(ambiguity(d))) for d in dist]

    def save(self, name: str = "audience", root=None, **metadata) -> Path:
        from ..weights import save_weights

        return save_weights({"head": self.head.state_dict()}, name,
                            {"kind": self.weights_kind, "dim": self.dim, "hidden": self.hidden,
                             "recognizer": self.recognizer, "classes": list(AUDIENCE), **metadata}, root=root)

    @classmethod
    def load(cls, name: str = "audience", root=None) -> "AudienceModel":
        from ..weights import load_weights

        state, meta = load_weights(name, root=root, kind=cls.weights_kind)
        head = _head(int(meta["dim"]), int(meta["hidden"]))
        head.load_state_dict(state["head"])
        head.eval()
        return cls(head, int(meta["dim"]), int(meta["hidden"]), meta.get("recognizer", ""))


def audience_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict:
    """How close predicted vote distributions are to the real ones: mean KL, the Pearson and Spearman
    correlation of predicted with actual agreement, and how often the predicted majority is the real one."""
    from scipy.stats import pearsonr, spearmanr

    a_agree, p_agree = agreement(actual), agreement(predicted)
    varies = float(np.ptp(p_agree)) > 1e-6  # a constant prediction has no correlation to speak of: 0
    return {"kl": float(kl_divergence(actual, predicted).mean()),
            "agreement_pearson": float(pearsonr(a_agree, p_agree)[0]) if varies else 0.0,
            "agreement_spearman": float(spearmanr(a_agree, p_agree)[0]) if varies else 0.0,
            "majority_accuracy": float((np.asarray(actual).argmax(1) == np.asarray(predicted).argmax(1)).mean()),
            "faces": int(len(actual))}
