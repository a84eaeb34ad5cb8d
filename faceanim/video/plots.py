"""Plots of a run: the emotional intensity graph, time shares, and a strip of key frames with emoji."""

from __future__ import annotations

import numpy as np

from ..labels import EMOTIONS

__all__ = ["emotion_intensities", "plot_intensity_graph", "plot_time_share", "plot_key_frames"]

_EMO_COLORS = {"angry": "#d62728", "disgust": "#2ca02c", "fear": "#9467bd", "happy": "#ff7f0e", "sad": "#1f77b4",
               "surprise": "#e377c2", "neutral": "#7f7f7f"}


def emotion_intensities(readings: "pandas.DataFrame") -> "pandas.DataFrame":  # noqa: F821
    """Long table (face_id, video_time, emotion, intensity): the face's intensity shared among the
    non-neutral emotions by their probabilities (``intensity * p(e) / (1 - p(neutral))``)."""
    import pandas as pd

    if readings.empty:
        return pd.DataFrame(columns=["face_id", "video_time", "emotion", "intensity"])
    rest = (1.0 - readings["p_neutral"]).clip(lower=1e-6)
    parts = []
    for e in EMOTIONS[:-1]:
        parts.append(pd.DataFrame({"face_id": readings["face_id"], "video_time": readings["video_time"],
                                   "emotion": e, "intensity": readings["intensity"] * readings[f"p_{e}"] / rest}))
    return pd.concat(parts, ignore_index=True)


def plot_intensity_graph(readings, threshold: float | None = None, title: str = "emotional intensity over time"):
    """One panel per face: each emotion's intensity against video time (seaborn)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    long = emotion_intensities(readings)
    faces = sorted(long["face_id"].unique()) or [0]
    fig, axes = plt.subplots(len(faces), 1, figsize=(10, 2.6 * len(faces)), sharex=True, squeeze=False)
    for ax, fid in zip(axes[:, 0], faces):
        part = long[long["face_id"] == fid]
        if len(part):
            sns.lineplot(part, x="video_time", y="intensity", hue="emotion", palette=_EMO_COLORS, ax=ax, lw=1.4)
        if threshold is not None:
            ax.axhline(threshold, color="k", ls=":", lw=1, label="threshold")
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face #{fid}")
        ax.legend(loc="upper right", fontsize=7, ncol=4)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("video time (s)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_time_share(readings, column: str = "shown", title: str = "time share per emotion"):
    """Stacked horizontal bars: the share of each face's analysed frames per (shown) emotion."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.7 + 0.55 * max(1, readings["face_id"].nunique() if len(readings) else 1)))
    if len(readings):
        share = readings.groupby("face_id")[column].value_counts(normalize=True).unstack(fill_value=0.0)
        share = share.reindex(columns=[e for e in EMOTIONS if e in share.columns])
        left = np.zeros(len(share))
        for e in share.columns:
            ax.barh([f"face #{i}" for i in share.index], share[e], left=left, color=_EMO_COLORS[e], label=e)
            left += share[e].to_numpy()
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of analysed frames")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_key_frames(key_frames, max_frames: int = 8, title: str = "key frames (most intense moments)"):
    """Thumbnails of the most intense moments, each with its drawn emoji and Unicode emoji."""
    import matplotlib.pyplot as plt

    from ..emoji import draw_emoji, unicode_emoji

    kf = sorted(key_frames, key=lambda k: -k[3])[:max_frames]
    kf = sorted(kf, key=lambda k: k[1])
    n = max(1, len(kf))
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.0), squeeze=False,
                             gridspec_kw={"height_ratios": [1.6, 1]})
    for ax in axes.ravel():
        ax.axis("off")
    for i, (fid, t, label, v, thumb) in enumerate(kf):
        axes[0, i].imshow(thumb)
        axes[0, i].set_title(f"#{fid} {t:.1f}s\n{label} {v:.2f}", fontsize=8)
        axes[1, i].imshow(draw_emoji(label, v, 96))
        axes[1, i].set_title(f"U+{ord(unicode_emoji(label, v)):X}", fontsize=7)
    if not kf:
        axes[0, 0].text(0.5, 0.5, "no expressive moment above the threshold", ha="center", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
