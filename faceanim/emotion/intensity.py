"""Expression intensity learned from real orderings, not from softmax confidence.

Girard et al. (2015) show that class probability is a poor measure of intensity. Our intensity head is
a linear score on the network's embedding, trained on:

* **CK+ neutral-to-apex sequences**: within a sequence a later frame is at least as intense as an
  earlier one (pairwise ranking loss), the first frame is neutral (target 0) and the last the apex
  (target 1), and, as an ordinal-regression term, each frame's position in the sequence is a soft target
  (without it the score jumps from 0 to 1 like a step: it ranks as well but a subtle smile reads as 0 or 1);
* **FER+ crowd votes** on FER-2013 Training faces: a face that at least 8 of 10 annotators call one
  non-neutral emotion should score above a face that at least 8 of 10 call neutral (ranking loss), which
  carries the scale from a lab with 10 people to faces in the wild.

:func:`intensity_cross_validation` measures it with leave-subjects-out folds, so each CK+ sequence is
scored by a head that never saw its person; :func:`fit_intensity_head` fits the head that ships.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import predict_logits

__all__ = ["CKAligned", "align_ckplus", "fer_anchor_faces", "fit_intensity_head", "intensity_cross_validation",
           "IntensityCV", "spearman", "fit_final_head", "INTENSITY_SCORES", "ferplus_levels", "BetweenPerson",
           "between_person_cv", "plot_between_person"]


@dataclass
class CKAligned:
    """CK+ sequences aligned to the ``fer`` template: ``crops[i]`` is ``(T_i, 48, 48)`` uint8."""

    names: list[str]
    subjects: list[str]
    emotions: list[str]
    crops: list[np.ndarray] = field(repr=False)
    missed: int = 0  # frames where no face was found (the previous frame's face was reused)

    def __len__(self) -> int:
        return len(self.crops)


def align_ckplus(sequences=None, detector: str = "mtcnn", progress: bool = True) -> CKAligned:
    """Detect and align every frame of every CK+ sequence (the last found face is reused on a miss)."""
    from tqdm.auto import tqdm

    from ..data import load_ckplus_sequences
    from ..face import FacePipeline
    from ..face.align import align_face

    seqs = sequences if sequences is not None else load_ckplus_sequences()
    pipe = FacePipeline(detector, landmarker=None if detector == "mtcnn" else "dlib68", template=None, max_faces=1)
    crops, missed = [], 0
    total = sum(len(s) for s in seqs)
    with tqdm(total=total, desc="aligning CK+", unit="frame", disable=not progress, mininterval=2.0) as bar:
        for s in seqs:
            out, last = [], None
            for frame in s.frames:
                faces = pipe(frame).faces
                if faces:
                    last = faces[0]
                else:
                    missed += 1
                if last is None:  # nothing yet: fall back to the whole frame
                    from .recognizer import to_gray48
                    out.append(to_gray48(frame))
                else:
                    out.append(align_face(frame, last, "fer").image)
                bar.update()
            crops.append(np.stack(out))
    return CKAligned(names=[s.name for s in seqs], subjects=[s.subject for s in seqs],
                     emotions=[s.emotion for s in seqs], crops=crops, missed=missed)


def fer_anchor_faces(fer, split: str = "Training", agree: int = 8, limit: int = 3000, seed: int = 0):
    """``(neutral_images, expressive_images)``: FER faces at least ``agree`` of 10 FER+ annotators call
    neutral, or call one and the same non-neutral emotion (at most ``limit`` of each, sampled)."""
    part = fer.split(split)
    votes = part.ferplus_distribution()
    ok = ~np.isnan(votes).any(1)
    total = part.ferplus_votes.sum(1)
    share = np.where(ok[:, None], votes, 0) * np.where(total > 0, total, 1)[:, None] / 10.0
    neutral = ok & (share[:, 6] >= agree / 10.0)
    expressive = ok & (np.delete(share, 6, axis=1).max(1) >= agree / 10.0)
    rng = np.random.default_rng(seed)
    pick = lambda m: rng.permutation(np.flatnonzero(m))[:limit]  # noqa: E731
    return part.images[pick(neutral)], part.images[pick(expressive)]


def fit_intensity_head(seq_feats: list[np.ndarray], neutral_feats: np.ndarray | None = None,
                       expressive_feats: np.ndarray | None = None, l2: float = 1e-2, steps: int = 100,
                       wild_weight: float = 0.5, graded: float = 1.0, seed: int = 0,
                       levels: list[tuple[np.ndarray, np.ndarray]] | None = None,
                       level_weight: float = 1.0) -> tuple[np.ndarray, float]:
    """Fit ``(w, b)`` so that ``sigmoid(f @ w + b)`` is the intensity of a face with embedding ``f``.

    ``levels``: sources of faces of many people with an absolute target each, ``(features, targets in 0..1)``
    (what :func:`between_person_cv` gives the shared-scale head); each source's cross-entropy counts
    ``level_weight``. They tie the scale across people, where the CK+ orderings tie it only within a sequence."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    feats = np.concatenate(seq_feats)
    mu, sd = feats.mean(0), feats.std(0) + 1e-6
    norm = lambda a: torch.from_numpy(((a - mu) / sd).astype(np.float32))  # noqa: E731
    x = norm(feats)
    # every ordered pair (earlier, later) of every sequence; each sequence weighs the same
    offsets = np.cumsum([0] + [len(f) for f in seq_feats])
    pi, pj, pw, first, last = [], [], [], [], []
    for k, f in enumerate(seq_feats):
        i, j = np.triu_indices(len(f), k=1)
        pi.append(i + offsets[k])
        pj.append(j + offsets[k])
        pw.append(np.full(len(i), 1.0 / max(len(i), 1) / len(seq_feats)))
        first.append(offsets[k])
        last.append(offsets[k + 1] - 1)
    pi, pj = torch.from_numpy(np.concatenate(pi)), torch.from_numpy(np.concatenate(pj))
    pw = torch.from_numpy(np.concatenate(pw).astype(np.float32))
    first, last = torch.tensor(first), torch.tensor(last)
    progress = torch.from_numpy(np.concatenate([np.linspace(0, 1, len(f)) for f in seq_feats]).astype(np.float32))
    frame_w = torch.from_numpy(np.concatenate([np.full(len(f), 1.0 / len(f) / len(seq_feats))
                                               for f in seq_feats]).astype(np.float32))
    wild = neutral_feats is not None and expressive_feats is not None and len(neutral_feats) and len(expressive_feats)
    if wild:  # a fixed random pairing of consensus-expressive with consensus-neutral faces
        rng = np.random.default_rng(seed)
        m = min(len(neutral_feats), len(expressive_feats))
        neg = norm(np.asarray(neutral_feats)[rng.permutation(len(neutral_feats))[:m]])
        pos = norm(np.asarray(expressive_feats)[rng.permutation(len(expressive_feats))[:m]])
    w = torch.zeros(feats.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=0.5, max_iter=steps, max_eval=int(steps * 1.5), line_search_fn="strong_wolfe")
    ones, zeros = torch.ones(len(last)), torch.zeros(len(first))
    level_sets = [(norm(np.asarray(f)), torch.from_numpy(np.asarray(t, np.float32))) for f, t in (levels or [])
                  if len(f)]

    def closure():
        opt.zero_grad()
        score = x @ w
        rank = (F.softplus(-(score[pj] - score[pi])) * pw).sum()
        anchor = (F.binary_cross_entropy_with_logits(score[first] + b, zeros)
                  + F.binary_cross_entropy_with_logits(score[last] + b, ones)) / 2
        loss = rank + anchor + l2 * (w @ w)
        if graded:  # ordinal regression on the position: keeps the 0..1 scale graded, not a step
            soft = F.binary_cross_entropy_with_logits(score + b, progress, reduction="none")
            loss = loss + graded * (soft * frame_w).sum()
        if wild:
            loss = loss + wild_weight * F.softplus(-(pos @ w - neg @ w)).mean()
        for lf, lt in level_sets:
            loss = loss + level_weight * F.binary_cross_entropy_with_logits(lf @ w + b, lt)
        loss.backward()
        return loss

    opt.step(closure)
    w_raw = w.detach().numpy() / sd
    b_raw = float(b.detach().numpy()[0] - (mu / sd) @ w.detach().numpy())
    return w_raw.astype(np.float32), b_raw


def spearman(values: np.ndarray) -> float:
    """Spearman correlation of ``values`` with their position (frame order); NaN if constant."""
    from scipy.stats import spearmanr

    values = np.asarray(values, np.float64)
    if len(values) < 3 or np.allclose(values, values[0]):
        return float("nan")
    return float(spearmanr(np.arange(len(values)), values).statistic)


@dataclass
class IntensityCV:
    """Leave-subjects-out results: ``table`` has one row per sequence, ``frames`` one row per frame."""

    table: "pandas.DataFrame"  # noqa: F821
    frames: "pandas.DataFrame"  # noqa: F821

    @property
    def mean_spearman(self) -> float:
        return float(self.table["spearman"].mean())

    def expressive_share(self, threshold: float) -> "pandas.Series":  # noqa: F821
        """Share of CK+ frames counted expressive (``intensity >= threshold``) in the first 20% of each
        sequence (near neutral), the middle, and the last 20% (near the apex)."""
        import pandas as pd

        f = self.frames
        part = pd.cut(f["progress"], [-0.01, 0.2, 0.8, 1.0], labels=["first 20%", "middle", "last 20%"])
        return (f["intensity"] >= threshold).groupby(part, observed=True).mean().rename("expressive share")

    def plot_threshold(self, threshold: float):
        """A bar per part of the sequences: how much of it counts as expressive at ``threshold``."""
        import matplotlib.pyplot as plt

        share = self.expressive_share(threshold)
        fig, ax = plt.subplots(figsize=(5, 3))
        share.plot.bar(ax=ax, color=["C0", "C1", "C3"])
        ax.set_ylim(0, 1)
        ax.set_ylabel("share counted expressive")
        ax.set_title(f"threshold {threshold:.2f}")
        ax.tick_params(axis="x", rotation=0)
        return fig

    def threshold_accuracy(self, threshold: float) -> float:
        """Balanced accuracy of ``intensity >= threshold`` telling apex frames from neutral first frames."""
        f = self.frames
        neutral, apex = f[f["frame"] == 0]["intensity"], f[f["progress"] == 1.0]["intensity"]
        return float(((neutral < threshold).mean() + (apex >= threshold).mean()) / 2)

    def summary(self, threshold: float | None = None) -> dict:
        from .recognizer import DEFAULT_THRESHOLD

        t = self.table
        threshold = DEFAULT_THRESHOLD if threshold is None else threshold
        grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
        accs = [self.threshold_accuracy(g) for g in grid]
        return {"threshold": threshold, "threshold_balanced_accuracy": self.threshold_accuracy(threshold),
                "best_threshold": float(grid[int(np.argmax(accs))]), "best_threshold_balanced_accuracy": max(accs),
                "intensity_spearman_mean": self.mean_spearman,
                "intensity_spearman_median": float(t["spearman"].median()),
                "intensity_spearman_min": float(t["spearman"].min()),
                "p_not_neutral_spearman_mean": float(t["spearman_p_not_neutral"].mean()),
                "max_prob_spearman_mean": float(t["spearman_max_prob"].mean()),
                "intensity_first_frame_mean": float(t["first"].mean()),
                "intensity_last_frame_mean": float(t["last"].mean()),
                "sequences": int(len(t)), "subjects": int(t["subject"].nunique())}


def intensity_cross_validation(model, ck: CKAligned, fer=None, n_folds: int | None = None,
                               progress: bool = True, anchors: int | None = None, settings=None,
                               **fit_kwargs) -> IntensityCV:
    """Score every CK+ sequence with a head fitted without its subject (one fold per subject by default).

    ``anchors`` caps the FER+ anchor faces of each kind (None: :func:`fer_anchor_faces`' default);
    ``settings`` is the :class:`~faceanim.runtime.Compute` to run the network with.

    Also scores two softmax baselines on the same frames: ``1 - p(neutral)`` and the top probability.
    """
    import pandas as pd
    import torch

    seq_logits, seq_feats = [], []
    for crops in ck.crops:
        out = predict_logits(model, crops, settings=settings)
        seq_logits.append(torch.softmax(out.logits, 1).numpy())
        seq_feats.append(out.features.numpy())
    neutral = expressive = None
    if fer is not None:
        n_img, e_img = fer_anchor_faces(fer, **({"limit": anchors} if anchors else {}))
        neutral = predict_logits(model, n_img, settings=settings).features.numpy()
        expressive = predict_logits(model, e_img, settings=settings).features.numpy()
    subjects = sorted(set(ck.subjects))
    n_folds = n_folds or len(subjects)
    groups = [subjects[i::n_folds] for i in range(n_folds)]
    rows, frame_rows = [], []
    for fold, held in enumerate(groups):
        train = [k for k, s in enumerate(ck.subjects) if s not in held]
        test = [k for k, s in enumerate(ck.subjects) if s in held]
        w, b = fit_intensity_head([seq_feats[k] for k in train], neutral, expressive, **fit_kwargs)
        for k in test:
            inten = 1 / (1 + np.exp(-(seq_feats[k] @ w + b)))
            probs = seq_logits[k]
            rows.append({"sequence": ck.names[k], "subject": ck.subjects[k], "emotion": ck.emotions[k],
                         "fold": fold, "frames": len(inten), "spearman": spearman(inten),
                         "spearman_p_not_neutral": spearman(1 - probs[:, 6]),
                         "spearman_max_prob": spearman(probs.max(1)),
                         "first": float(inten[0]), "last": float(inten[-1])})
            for t, v in enumerate(inten):
                frame_rows.append({"sequence": ck.names[k], "subject": ck.subjects[k], "emotion": ck.emotions[k],
                                   "frame": t, "progress": t / max(len(inten) - 1, 1), "intensity": float(v),
                                   "p_not_neutral": float(1 - probs[t, 6])})
    return IntensityCV(table=pd.DataFrame(rows), frames=pd.DataFrame(frame_rows))


def fit_final_head(model, ck: CKAligned, fer=None, **fit_kwargs) -> tuple[np.ndarray, float]:
    """Fit the shipped head on every CK+ subject (plus FER+ anchors) and install it in ``model``."""
    import torch

    feats = [predict_logits(model, c).features.numpy() for c in ck.crops]
    neutral = expressive = None
    if fer is not None:
        n_img, e_img = fer_anchor_faces(fer)
        neutral = predict_logits(model, n_img).features.numpy()
        expressive = predict_logits(model, e_img).features.numpy()
    w, b = fit_intensity_head(feats, neutral, expressive, **fit_kwargs)
    with torch.no_grad():
        model.intensity.weight.copy_(torch.from_numpy(w).view(1, -1))
        model.intensity.bias.fill_(b)
    return w, b


# ---------------------------------------------------------------- one scale across people
#: the scores :func:`between_person_cv` compares: the softmax baseline, today's head (CK+ orderings + FER+
#: anchors) and the shared-scale head (the same, plus absolute levels of many people)
INTENSITY_SCORES = ("p_not_neutral", "ordering_head", "shared_head")


#: the absolute levels the shared-scale head may learn from (:func:`between_person_cv`'s ``level_sources``)
LEVEL_SOURCES = ("ferplus", "ckplus48", "mead")


def ferplus_levels(fer, split: str = "Training", limit: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(images, targets)``: FER faces with FER+ votes, the target being the share of the 10 viewers who saw an
    emotion in it (``1 - `` the neutral share): thousands of people on one scale (at most ``limit``, sampled)."""
    part = fer.split(split)
    dist = part.ferplus_distribution()
    ok = np.flatnonzero(~np.isnan(dist).any(1))
    pick = np.sort(np.random.default_rng(seed).permutation(ok)[:limit])
    return part.images[pick], (1.0 - dist[pick, 6]).astype(np.float32)


@dataclass
class BetweenPerson:
    """One row per held-out face in ``faces``: ``set``, ``person``, ``group``, true ``level`` (CK+ sequences: the
    frame's position, 0 = neutral, 1 = apex; MEAD: 0 = the actor's neutral clip, 1 = level 3; CK+48: 1), and a
    column per score. ``within`` holds the within-sequence Spearman of each score on the CK+ sequences."""

    faces: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    within: dict = field(default_factory=dict)

    @property
    def scores(self) -> list[str]:
        return [c for c in self.faces.columns if c not in ("set", "person", "group", "level")]

    def table(self) -> "pandas.DataFrame":  # noqa: F821
        """Per set and score: the pooled Spearman with the true level over every face of every held-out
        person; the spread across people of their mean score at the neutral and at the full level; and the
        separation, the gap between the two levels' means over the root-mean-square of the two spreads."""
        import pandas as pd
        from scipy.stats import spearmanr

        rows = []
        for set_name, part in self.faces.groupby("set", sort=False):
            for score in self.scores:
                valid = part[score].notna()
                if not valid.any():
                    continue
                p = part[valid]
                row = {"set": set_name, "score": score, "faces": int(len(p)), "people": int(p["person"].nunique())}
                row["spearman"] = (float(spearmanr(p["level"], p[score]).statistic)
                                   if p["level"].nunique() > 1 else np.nan)
                for lvl, tag in ((0.0, "neutral"), (1.0, "full")):
                    per_person = p[p["level"] == lvl].groupby("person")[score].mean()
                    row[f"mean_{tag}"] = float(per_person.mean()) if len(per_person) else np.nan
                    row[f"spread_{tag}"] = float(per_person.std(ddof=0)) if len(per_person) > 1 else np.nan
                # how far apart the two levels sit, in units of the spread across people (a saturated score
                # has a small spread and a small gap alike; this ratio does not reward that)
                spread = np.sqrt((row["spread_neutral"] ** 2 + row["spread_full"] ** 2) / 2)
                row["separation"] = float((row["mean_full"] - row["mean_neutral"]) / spread) if spread > 0 else np.nan
                rows.append(row)
        return pd.DataFrame(rows)

    def plot_people(self, set_name: str = "ckplus"):
        """Each held-out person's mean score at their neutral and at their full level, one line per person
        and a panel per score: lines that sit on top of each other read one strength alike."""
        import matplotlib.pyplot as plt

        part = self.faces[self.faces["set"] == set_name]
        part = part[part["level"].isin([0.0, 1.0])]
        scores = self.scores
        fig, axes = plt.subplots(1, len(scores), figsize=(2.9 * len(scores), 3.2), sharey=True, squeeze=False)
        for ax, score in zip(axes[0], scores):
            means = part.groupby(["person", "level"])[score].mean().unstack("level")
            for k, (_, r) in enumerate(means.iterrows()):
                ax.plot(list(r.index), r.values, "o-", color=f"C{k % 10}", lw=1, ms=3, alpha=0.8)
            ax.set_xticks([0, 1], ["neutral", "full"])
            ax.set_title(score.replace("_", " "), fontsize=9)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("mean score of one person")
        fig.suptitle(f"{set_name}: {part['person'].nunique()} held-out people")
        fig.tight_layout()
        return fig

    def summary(self) -> dict:
        out = {}
        for r in self.table().itertuples():
            for k in ("spearman", "spread_neutral", "spread_full", "mean_neutral", "mean_full", "separation"):
                v = getattr(r, k)
                if v == v:  # not NaN
                    out[f"between_{r.set}_{r.score}_{k}"] = float(v)
        for score, v in self.within.items():
            out[f"within_ckplus_{score}_spearman_mean"] = float(v)
        return out


def between_person_cv(model, ck: CKAligned, sets: dict, fer, settings=None, peers: dict | None = None,
                      ck48_folds: int = 5, anchors: int | None = None, ferplus: int = 6000,
                      level_weight: float = 1.0, level_sources: tuple[str, ...] = LEVEL_SOURCES,
                      progress: bool = True) -> BetweenPerson:
    """Score faces of people no head saw, three ways (:data:`INTENSITY_SCORES`), plus each peer's
    ``1 - p(neutral)``:

    * CK+ sequences, one fold per subject (the head fitted without that subject's sequences and CK+48 faces);
    * MEAD (``sets["mead"]``), one fold per actor with a neutral and a level-3 clip (that actor's frames out);
    * CK+48 (``sets["ckplus48"]``), ``ck48_folds`` folds of subjects (their faces and sequences out).

    The shared-scale head adds, as absolute targets (``level_sources``, each weighing ``level_weight``): FER+
    vote shares (``ferplus`` Training faces), CK+48 apexes (1) and MEAD frames (0 neutral, 1 level 3), each only
    from people outside the fold.
    """
    import pandas as pd
    import torch
    from tqdm.auto import tqdm

    def run(images):
        out = predict_logits(model, images, settings=settings)
        return out.features.numpy(), 1 - torch.softmax(out.logits, 1).numpy()[:, 6]

    seq = [run(c) for c in ck.crops]
    seq_feats = [f for f, _ in seq]
    neutral = expressive = None
    if fer is not None:
        n_img, e_img = fer_anchor_faces(fer, **({"limit": anchors} if anchors else {}))
        neutral, expressive = run(n_img)[0], run(e_img)[0]
        fp_img, fp_target = ferplus_levels(fer, limit=ferplus)
        fp_feats = run(fp_img)[0]
    else:
        fp_feats, fp_target = np.zeros((0, model.feature_dim), np.float32), np.zeros(0, np.float32)
    ck48, mead = sets.get("ckplus48"), sets.get("mead")
    if mead is not None:
        mead = mead.subset(~np.isnan(mead.levels))
    feats = {k: run(s.images) if s is not None and len(s) else None for k, s in (("ckplus48", ck48), ("mead", mead))}
    peer_p = {}
    for name, peer in (peers or {}).items():
        peer_p[name] = {"ckplus": [1 - peer.predict(c)[0][:, 6] for c in ck.crops]}
        for k, s in (("ckplus48", ck48), ("mead", mead)):
            if s is not None and len(s):
                peer_p[name][k] = 1 - peer.predict(s.images)[0][:, 6]

    def heads(out_people: set, out_actor: str | None):
        """(ordering head, shared head) fitted without ``out_people`` (CK+ subjects) and ``out_actor``."""
        train = [k for k, s in enumerate(ck.subjects) if s not in out_people]
        w0 = fit_intensity_head([seq_feats[k] for k in train], neutral, expressive)
        levels = [(fp_feats, fp_target)] if "ferplus" in level_sources else []
        if feats["ckplus48"] is not None and "ckplus48" in level_sources:
            keep = ~np.isin(ck48.people, list(out_people))
            levels.append((feats["ckplus48"][0][keep], ck48.levels[keep]))
        if feats["mead"] is not None and "mead" in level_sources:
            keep = mead.people != out_actor
            levels.append((feats["mead"][0][keep], mead.levels[keep]))
        w1 = fit_intensity_head([seq_feats[k] for k in train], neutral, expressive, levels=levels,
                                level_weight=level_weight)
        return w0, w1

    def score(f, w):
        return 1 / (1 + np.exp(-(f @ w[0] + w[1])))

    rows, within = [], {s: [] for s in INTENSITY_SCORES + tuple(f"{p}_p_not_neutral" for p in peer_p)}
    subjects = sorted(set(ck.subjects))
    actors = sorted(set(mead.people.tolist())) if mead is not None else []
    ck48_subjects = sorted(set(ck48.people.tolist())) if ck48 is not None else []
    ck48_groups = [set(ck48_subjects[i::ck48_folds]) for i in range(ck48_folds)] if ck48_subjects else []
    folds = [("ckplus", {s}, None) for s in subjects] + [("mead", set(), a) for a in actors] + \
            [("ckplus48", g, None) for g in ck48_groups]
    for set_name, out_people, out_actor in tqdm(folds, desc="between-person folds", disable=not progress):
        w0, w1 = heads(out_people, out_actor)
        if set_name == "ckplus":
            for k in [k for k, s in enumerate(ck.subjects) if s in out_people]:
                f, pnn = seq[k]
                cols = {"p_not_neutral": pnn, "ordering_head": score(f, w0), "shared_head": score(f, w1),
                        **{f"{p}_p_not_neutral": v["ckplus"][k] for p, v in peer_p.items()}}
                for c, v in cols.items():
                    within[c].append(spearman(v))
                rows.append(pd.DataFrame({"set": "ckplus", "person": ck.subjects[k], "group": ck.names[k],
                                          "level": np.linspace(0, 1, len(f)), **cols}))
        else:
            fs = ck48 if set_name == "ckplus48" else mead
            f, pnn = feats[set_name]
            m = np.isin(fs.people, list(out_people)) if set_name == "ckplus48" else fs.people == out_actor
            rows.append(pd.DataFrame({"set": set_name, "person": fs.people[m], "group": fs.groups[m],
                                      "level": fs.levels[m], "p_not_neutral": pnn[m],
                                      "ordering_head": score(f[m], w0), "shared_head": score(f[m], w1),
                                      **{f"{p}_p_not_neutral": v[set_name][m] for p, v in peer_p.items()}}))
    return BetweenPerson(faces=pd.concat(rows, ignore_index=True),
                         within={k: float(np.nanmean(v)) for k, v in within.items() if v})


def plot_between_person(bp: BetweenPerson, title: str = "one intensity scale across people"):
    """Left: pooled Spearman with the true level per set and score. Right: each held-out person's mean score
    at the full level (one dot per person), per set and score: the tighter, the more alike it reads."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = bp.table()
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1.4]})
    sns.barplot(table.dropna(subset=["spearman"]), x="set", y="spearman", hue="score", ax=a)
    for cont in a.containers:
        a.bar_label(cont, fmt="%.2f", fontsize=7)
    a.set_ylim(0, 1.1)
    a.legend(loc="lower right", fontsize=7, title="score", title_fontsize=7, framealpha=0.9)
    a.set_title("Spearman with the true level, all people pooled")
    a.grid(axis="y", alpha=0.3)
    full = bp.faces[bp.faces["level"] == 1.0].melt(id_vars=["set", "person"], value_vars=bp.scores,
                                                   var_name="score", value_name="value")
    per_person = full.groupby(["set", "score", "person"], as_index=False)["value"].mean()
    sns.stripplot(per_person, x="set", y="value", hue="score", dodge=True, ax=b, size=3, legend=False)
    b.set_ylim(-0.02, 1.02)
    b.set_ylabel("mean score at the full level")
    b.set_title("each person at the full level (one dot each)")
    b.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
