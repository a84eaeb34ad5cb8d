"""Measure a recognizer: accuracy, macro-F1, per-class precision/recall, confusion, calibration,
intensity on held-out CK+ subjects, cross-dataset CK+48, and robustness to light, blur, occlusion,
rotation and small faces. ``faceanim evaluate emotion`` runs :func:`evaluate_emotion`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..labels import EMOTIONS

logger = logging.getLogger(__name__)

__all__ = ["classification_metrics", "expected_calibration_error", "CORRUPTIONS", "corrupt", "robustness",
           "EmotionEvaluation", "evaluate_emotion", "plot_confusion", "plot_reliability", "plot_intensity_curves",
           "plot_robustness", "plot_training_curves"]


def classification_metrics(probs: np.ndarray, labels: np.ndarray, prefix: str = "") -> dict:
    """Accuracy, macro-F1, ECE and per-class precision/recall/F1 for ``(N, 7)`` probabilities."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    pred = probs.argmax(1)
    present = np.unique(labels)  # macro averages over the classes the set has (CK+48 has no neutral)
    p, r, f, n = precision_recall_fscore_support(labels, pred, labels=range(len(EMOTIONS)), zero_division=0)
    out = {f"{prefix}accuracy": float(accuracy_score(labels, pred)),
           f"{prefix}macro_f1": float(f1_score(labels, pred, labels=present, average="macro", zero_division=0)),
           f"{prefix}ece": expected_calibration_error(probs, labels)[0], f"{prefix}n": int(len(labels))}
    for i, e in enumerate(EMOTIONS):
        if i in present:
            out[f"{prefix}precision_{e}"], out[f"{prefix}recall_{e}"] = float(p[i]), float(r[i])
            out[f"{prefix}f1_{e}"] = float(f[i])
    return out


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15):
    """``(ece, table)``: top-label ECE over equal-width confidence bins, and the per-bin table."""
    import pandas as pd

    conf, pred = probs.max(1), probs.argmax(1)
    correct = (pred == labels).astype(np.float64)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            gap = abs(correct[m].mean() - conf[m].mean())
            ece += m.mean() * gap
            rows.append({"low": lo, "high": hi, "n": int(m.sum()), "confidence": float(conf[m].mean()),
                         "accuracy": float(correct[m].mean())})
    return float(ece), pd.DataFrame(rows)


def _rotate(img: np.ndarray, deg: float) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), deg, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _band(img: np.ndarray, top: float, bottom: float) -> np.ndarray:
    out = img.copy()
    h = img.shape[0]
    out[int(round(top * h)):int(round(bottom * h))] = 0
    return out


def _small(img: np.ndarray, side: int = 24) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    small = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _blur(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigmaX=1.5)


def _gamma(img: np.ndarray, gamma: float, gain: float) -> np.ndarray:
    f = (img.astype(np.float32) / 255.0) ** gamma * gain
    return np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)


#: Each corruption maps one 48x48 uint8 face to another. Eye and mouth bands follow the ``fer`` template
#: (eyes at 40% of the height, mouth corners at 80%).
CORRUPTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clean": lambda x: x,
    "darker": lambda x: _gamma(x, 1.6, 0.45),
    "brighter": lambda x: _gamma(x, 0.6, 1.25),
    "blur": _blur,
    "occlude_eyes": lambda x: _band(x, 0.28, 0.52),
    "occlude_mouth": lambda x: _band(x, 0.68, 0.92),
    "rotate_+15": lambda x: _rotate(x, 15),
    "rotate_-15": lambda x: _rotate(x, -15),
    "small_24px": _small,
}


def corrupt(images: np.ndarray, name: str) -> np.ndarray:
    fn = CORRUPTIONS[name]
    return np.stack([fn(im) for im in images]) if len(images) else images


def robustness(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, labels: np.ndarray,
               conditions: list[str] | None = None) -> "pandas.DataFrame":  # noqa: F821
    """Accuracy and macro-F1 of ``predict(images) -> (N, 7) probs`` under each corruption."""
    import pandas as pd
    from sklearn.metrics import f1_score

    rows = []
    for name in conditions or list(CORRUPTIONS):
        pred = predict(corrupt(images, name)).argmax(1)
        rows.append({"condition": name, "accuracy": float((pred == labels).mean()),
                     "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0))})
    table = pd.DataFrame(rows)
    table["drop"] = table["accuracy"].iloc[0] - table["accuracy"]
    return table


# ---------------------------------------------------------------- plots
def plot_confusion(probs: np.ndarray, labels: np.ndarray, title: str = "", ax=None):
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    cm = confusion_matrix(labels, probs.argmax(1), labels=range(len(EMOTIONS))).astype(np.float64)
    cm_norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 5.2))
    sns.heatmap(cm_norm, annot=True, fmt=".2f", cmap="Blues", vmin=0, vmax=1, xticklabels=EMOTIONS,
                yticklabels=EMOTIONS, ax=ax, cbar_kws={"label": "share of true class"})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return ax.figure


def plot_reliability(probs: np.ndarray, labels: np.ndarray, title: str = "", ax=None):
    import matplotlib.pyplot as plt

    ece, table = expected_calibration_error(probs, labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 4.4))
    width = table["high"] - table["low"]
    ax.bar(table["low"], table["accuracy"], width=width, align="edge", edgecolor="k", alpha=0.75, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.plot(table["confidence"], table["accuracy"], "o", color="C3", ms=4, label="bin mean")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} ECE = {ece:.3f}".strip())
    ax.legend(loc="upper left", fontsize=8)
    return ax.figure


def plot_intensity_curves(frames: "pandas.DataFrame", title: str = "intensity over each CK+ sequence"):  # noqa: F821
    """One panel per emotion: intensity (solid) and 1 - p(neutral) (dotted) against sequence progress."""
    import matplotlib.pyplot as plt

    emotions = sorted(frames["emotion"].unique())
    cols = min(3, len(emotions))
    rows = int(np.ceil(len(emotions) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, emo in zip(axes.flat, emotions):
        part = frames[frames["emotion"] == emo]
        for k, (_, seq) in enumerate(part.groupby("sequence")):
            ax.plot(seq["progress"], seq["intensity"], color=f"C{k % 10}", lw=1.4)
            ax.plot(seq["progress"], seq["p_not_neutral"], color=f"C{k % 10}", lw=0.8, ls=":")
        ax.set_title(f"{emo} ({part['sequence'].nunique()} seq.)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(emotions):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("neutral -> apex")
    for ax in axes[:, 0]:
        ax.set_ylabel("intensity")
    fig.suptitle(f"{title} (solid: intensity head, held-out subject; dotted: 1 - p(neutral))")
    fig.tight_layout()
    return fig


def plot_robustness(tables: dict[str, "pandas.DataFrame"], title: str = "robustness (PrivateTest)"):  # noqa: F821
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    long = pd.concat([t.assign(model=name) for name, t in tables.items()], ignore_index=True)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    sns.barplot(long, x="condition", y="accuracy", hue="model", ax=ax)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=30)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_training_curves(history: list[dict] | "pandas.DataFrame", title: str = "training"):  # noqa: F821
    import matplotlib.pyplot as plt
    import pandas as pd

    h = pd.DataFrame(history)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    a.plot(h["epoch"], h["train_loss"], label="train loss (soft targets)")
    a.set_xlabel("epoch")
    a.legend()
    a.grid(alpha=0.3)
    b.plot(h["epoch"], h["train_acc"], label="Training (augmented)")
    b.plot(h["epoch"], h["public_acc"], label="PublicTest (flip TTA)")
    best = h["public_acc"].idxmax()
    b.scatter([h["epoch"][best]], [h["public_acc"][best]], color="C3", zorder=3,
              label=f"chosen: epoch {h['epoch'][best]}, {h['public_acc'][best]:.3f}")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    b.legend()
    b.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- the whole evaluation
@dataclass
class EmotionEvaluation:
    metrics: dict
    per_class: "pandas.DataFrame"  # noqa: F821
    robustness: "pandas.DataFrame"  # noqa: F821
    intensity: object | None = None  # IntensityCV
    cross: object | None = None  # crossdata.CrossResult
    between: object | None = None  # intensity.BetweenPerson
    figures: dict = field(default_factory=dict)
    probs: dict = field(default_factory=dict, repr=False)

    def targets(self, peer: str = "fer") -> "pandas.DataFrame":  # noqa: F821
        """The figures issue 18 asks for, each beside what it must reach (``reached`` is None where a figure
        is missing, e.g. without the peer)."""
        import pandas as pd

        m, rows = self.metrics, []

        def add(what, ours, ref, kind=">="):
            ok = None if ours is None or ref is None else (ours >= ref if kind == ">=" else ours > ref)
            rows.append({"figure": what, "ours": ours, "must reach": ref, "reached": ok})

        add("PrivateTest accuracy (single model)", m.get("private_accuracy"), PRIVATE_TARGET)
        for key in [k[len("cross_"):-len("_accuracy")] for k in m if k.startswith("cross_") and k.endswith("_accuracy")]:
            add(f"{key}: accuracy vs the {peer} peer", m[f"cross_{key}_accuracy"],
                m.get(f"peer_{peer}_cross_{key}_accuracy"))
        for set_name in ("ckplus", "mead"):
            base = m.get(f"between_{set_name}_p_not_neutral_spearman")
            for score in ("ordering_head", "shared_head"):
                add(f"{set_name}: between-person Spearman, {score} vs 1 - p(neutral)",
                    m.get(f"between_{set_name}_{score}_spearman"), base, ">")
        add("CK+ within-sequence Spearman (shipped head)", m.get("intensity_spearman_mean"), 0.9)
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        m = self.metrics
        keys = ["private_accuracy", "private_macro_f1", "public_accuracy", "intensity_spearman_mean",
                "ckplus48_accuracy"]
        return "EmotionEvaluation(" + ", ".join(f"{k}={m[k]:.4f}" for k in keys if m.get(k) is not None) + ")"


#: the published single-model record on FER-2013 PrivateTest (Pham et al., Residual Masking Network, 74.14%),
#: rounded up: what issue 18 asks a recognizer of ours to reach
PRIVATE_TARGET = 0.742

#: quick mode's sizes: robustness faces, and FER+ anchor faces of each kind for the intensity head
QUICK_ROBUSTNESS, QUICK_ANCHORS = 200, 300


def evaluate_emotion(recognizer=None, out_dir: str | os.PathLike | None = None, quick: bool = False,
                     peers: list[str] | None = None, progress: bool = True, write: bool = True) -> EmotionEvaluation:
    """Run every measurement on ``recognizer`` (the default weights if None) and write ``out_dir``.

    ``quick`` uses 600 PrivateTest/PublicTest faces, 200 faces for robustness, a third of CK+48, and 4 CK+
    subjects in 2 folds with 300 FER+ anchor faces of each kind (a smoke run, about a minute on 2 cores in
    fp32; its figures are not the published ones). Writes ``<out_dir>/emotion_metrics.json`` and PNG figures under
    ``<out_dir>/emotion/`` (``out_dir`` defaults to ``reports/``).
    """
    import matplotlib
    import pandas as pd

    from .._atomic import write_json
    from ..config import has_dataset, reports_dir
    from ..data import load_fer2013
    from .crossdata import cross_dataset, cross_sets, heldout_mask, plot_cross_dataset
    from .intensity import align_ckplus, between_person_cv, intensity_cross_validation, plot_between_person
    from .recognizer import create_recognizer

    rec = recognizer or create_recognizer()
    out = Path(out_dir) if out_dir is not None else reports_dir()
    fig_dir = out / "emotion"
    t0 = time.time()
    fer = load_fer2013()
    metrics: dict = {"recognizer": rec.name, "quick": bool(quick)}
    probs, figures, subsets = {}, {}, {}
    rng = np.random.default_rng(0)
    for split, key in (("PrivateTest", "private"), ("PublicTest", "public")):
        part = fer.split(split)
        if quick:
            part = part.subset(np.sort(rng.permutation(len(part))[:600]))
        p, _ = rec.predict(part.images)
        probs[key] = (p, part.labels)
        subsets[key] = part
        metrics.update(classification_metrics(p, part.labels, prefix=f"{key}_"))
        logger.info(f"{split}: accuracy {metrics[f'{key}_accuracy']:.4f}, macro-F1 {metrics[f'{key}_macro_f1']:.4f}")
    if getattr(rec, "flip_tta", False):  # the fast setting (no mirrored pass), on the same PrivateTest faces
        part = subsets["private"]
        p1, _ = rec.predict(part.images, flip_tta=False)
        metrics["private_accuracy_single_pass"] = float((p1.argmax(1) == part.labels).mean())
        logger.info(f"PrivateTest without the mirrored pass: accuracy {metrics['private_accuracy_single_pass']:.4f}")
    p_priv, y_priv = probs["private"]
    per_class = pd.DataFrame({"precision": [metrics[f"private_precision_{e}"] for e in EMOTIONS],
                              "recall": [metrics[f"private_recall_{e}"] for e in EMOTIONS],
                              "f1": [metrics[f"private_f1_{e}"] for e in EMOTIONS],
                              "support": np.bincount(y_priv, minlength=len(EMOTIONS))}, index=EMOTIONS)
    figures["confusion_private"] = plot_confusion(p_priv, y_priv, "FER-2013 PrivateTest (row-normalised)")
    figures["reliability_private"] = plot_reliability(p_priv, y_priv, "PrivateTest")

    # robustness, ours and peers on the same faces
    part = fer.split("PrivateTest")
    sub = np.sort(rng.permutation(len(part))[: (QUICK_ROBUSTNESS if quick else 2000)])
    imgs, labs = part.images[sub], part.labels[sub]
    rob = {rec.name: robustness(lambda x: rec.predict(x)[0], imgs, labs)}
    peer_recs = {}
    for peer_name in peers or []:
        try:
            peer = create_recognizer(peer_name)
        except Exception as exc:  # an optional extra: say why it is missing and go on
            logger.info(f"peer {peer_name!r} skipped: {exc}")
            metrics[f"peer_{peer_name}_skipped"] = str(exc)[:200]
            continue
        peer_recs[peer_name] = peer
        p_peer, _ = peer.predict(fer.split("PrivateTest").images if not quick else part.images[sub])
        y_peer = part.labels if not quick else labs
        metrics.update(classification_metrics(p_peer, y_peer, prefix=f"peer_{peer_name}_private_"))
        rob[peer_name] = robustness(lambda x, peer=peer: peer.predict(x)[0], imgs, labs)
        logger.info(f"peer {peer_name}: PrivateTest accuracy {metrics[f'peer_{peer_name}_private_accuracy']:.4f}")
    for name, table in rob.items():
        tag = "" if name == rec.name else f"peer_{name}_"
        for _, r in table.iterrows():
            metrics[f"{tag}robust_{r['condition']}_accuracy"] = float(r["accuracy"])
    figures["robustness"] = plot_robustness(rob, f"robustness on {len(sub)} PrivateTest faces")

    # cross-dataset: CK+48 (contempt dropped), MEAD's talking actors, the labelled stills; peers on the same faces
    sets = cross_sets(quick=quick, progress=progress)
    cross = None
    if "ckplus48" in sets:
        ck48 = sets["ckplus48"]
        p48, _ = rec.predict(ck48.images)
        metrics.update({k: v for k, v in classification_metrics(p48, ck48.labels, prefix="ckplus48_").items()
                        if not k.startswith("ckplus48_precision") and not k.startswith("ckplus48_f1_")})
        figures["confusion_ckplus48"] = plot_confusion(p48, ck48.labels, "CK+48 (contempt dropped)")
        logger.info(f"CK+48: accuracy {metrics['ckplus48_accuracy']:.4f}")
    if sets:  # every face, and apart the people no recognizer trains on (TrainConfig.extra leaves them out)
        held = {f"{k}_heldout": v.subset(heldout_mask(v)) for k, v in sets.items() if k in ("ckplus48", "mead")}
        cross = cross_dataset({rec.name: rec, **peer_recs}, {**sets, **held}, ours=rec.name)
        metrics.update(cross.metrics())
        figures["cross_dataset"] = plot_cross_dataset(cross)
        for r in cross.table.itertuples():
            logger.info(f"{r.set} ({r.unit}s): {r.judge} accuracy {r.accuracy:.4f} on {r.n}")

    # intensity, leave-subjects-out
    cv = between = None
    if not hasattr(rec, "model"):
        logger.info(f"CK+ intensity skipped: {rec.name!r} has no embedding to fit an intensity head on")
    elif has_dataset("ckplus_sequences"):
        from ..data import load_ckplus_sequences

        seqs = load_ckplus_sequences()
        if quick:  # four subjects only
            keep = set(seqs.subjects[:4])
            seqs = [s for s in seqs if s.subject in keep]
        ck = align_ckplus(seqs, progress=progress)
        metrics["ckplus_frames_without_face"] = ck.missed
        cv = intensity_cross_validation(rec.model, ck, fer, n_folds=2 if quick else None,
                                        anchors=QUICK_ANCHORS if quick else None,
                                        settings=getattr(rec, "compute", None))
        metrics.update(cv.summary())
        figures["intensity_curves"] = plot_intensity_curves(cv.frames)
        between = between_person_cv(rec.model, ck, sets, fer, settings=getattr(rec, "compute", None), peers=peer_recs,
                                    ck48_folds=2 if quick else 5, anchors=QUICK_ANCHORS if quick else None,
                                    ferplus=QUICK_ANCHORS if quick else 6000, progress=progress)
        metrics.update(between.summary())
        figures["between_person"] = plot_between_person(between)
        for r in between.table().itertuples():
            logger.info(f"between people, {r.set}: {r.score} Spearman {r.spearman:.4f}, "
                        f"spread at the full level {r.spread_full:.4f}")
        logger.info(f"CK+ intensity: mean within-sequence Spearman {cv.mean_spearman:.4f} "
            f"(1 - p(neutral): {metrics['p_not_neutral_spearman_mean']:.4f})")

    hist = getattr(rec, "metadata", {}).get("history")
    if hist:
        figures["training_curves"] = plot_training_curves(hist, f"training {rec.name}")
    metrics["seconds"] = round(time.time() - t0, 1)
    ev = EmotionEvaluation(metrics=metrics, per_class=per_class, robustness=rob[rec.name], intensity=cv,
                           cross=cross, between=between, figures=figures, probs=probs)
    if write:
        from .._atomic import atomic_path

        fig_dir.mkdir(parents=True, exist_ok=True)
        for name, fig in figures.items():
            with atomic_path(fig_dir / f"{name}.png") as tmp:
                fig.savefig(tmp, dpi=110, bbox_inches="tight")
        write_json(out / "emotion_metrics.json", {"metrics": metrics, "figures": sorted(figures),
                                                  "weights": getattr(rec, "metadata", {}).get("sha256")})
        logger.info(f"wrote {out / 'emotion_metrics.json'} and {len(figures)} figures in {fig_dir}")
    if matplotlib.get_backend().lower() == "agg":
        import matplotlib.pyplot as plt

        for fig in figures.values():
            plt.close(fig)
    return ev
