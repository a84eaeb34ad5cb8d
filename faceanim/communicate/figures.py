"""Figures for the communication report: a clip's report card and the readability curve."""

from __future__ import annotations

import numpy as np

from .audience import AUDIENCE

__all__ = ["report_card", "readability_plot"]


def report_card(summary, images=None, target: float = 0.7, strip: int = 8):
    """One figure for a :class:`~faceanim.communicate.ClipSummary`: clarity over time against ``target`` (mixed-
    signal frames shaded), the intensity arc with its onset / apex / offset, the predicted vote distribution at
    the apex, and (with ``images``, the clip's frames) a strip of frames, mixed-signal ones framed in red."""
    import matplotlib.pyplot as plt

    f = summary.frames
    t = f["time_s"].to_numpy()
    rows = 3 if images is not None else 2
    fig = plt.figure(figsize=(12, 2.6 * rows + 0.4))
    grid = fig.add_gridspec(rows, 3)
    ax = fig.add_subplot(grid[0, :2])
    ax.plot(t, f["clarity"], color="C0", lw=2, label=f"clarity: viewers naming {summary.emotion}")
    ax.axhline(target, color="0.4", ls="--", lw=1, label=f"target {target:.0%}")
    for r in summary.mixed.itertuples():
        ax.axvspan(t[r.start], t[r.end], color="C3", alpha=0.2, lw=0)
    if not f["face"].all():
        ax.plot(t[~f["face"].to_numpy()], np.zeros((~f["face"]).sum()), "kx", label="no face")
    ax.set_ylim(0, 1)
    ax.set_ylabel("predicted share")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{summary.name}: {summary.emotion} ({summary.emotion_from}); clarity {summary.clarity:.0%}, "
                 f"consistency {summary.consistency:.0%}", fontsize=9)
    ax = fig.add_subplot(grid[1, :2], sharex=ax)
    ax.plot(t, f["intensity_smooth"], color="C1", lw=2, label=f"intensity ({summary.arc_from})")
    arc = summary.arc
    for name, k, c in (("onset", arc.onset, "C2"), ("apex", arc.apex, "C3"), ("offset", arc.offset, "C4")):
        if k is not None:
            ax.axvline(t[k], color=c, ls=":", lw=1.5, label=f"{name} {t[k]:.2f} s")
    ax.set_ylabel("intensity")
    ax.set_xlabel("seconds")
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    ax = fig.add_subplot(grid[:2, 2])
    votes = summary.apex_votes()
    colors = ["C3" if c == summary.emotion else "C0" for c in AUDIENCE]
    ax.barh(list(AUDIENCE)[::-1], votes.to_numpy()[::-1], color=colors[::-1])
    ax.set_xlim(0, 1)
    ax.set_title("predicted votes at the apex", fontsize=9)
    if images is not None:
        n = min(strip, len(images))
        picks = np.unique(np.r_[np.linspace(0, len(images) - 1, n).round().astype(int), arc.apex])[:strip + 1]
        mixed = f["mixed"].to_numpy()
        sub = grid[2, :].subgridspec(1, len(picks))
        for j, k in enumerate(picks):
            a = fig.add_subplot(sub[0, j])
            a.imshow(np.asarray(images[k]), cmap="gray")
            a.set_xticks([])
            a.set_yticks([])
            for s in a.spines.values():
                s.set_color("C3" if mixed[k] else "0.7")
                s.set_linewidth(3 if mixed[k] else 1)
            a.set_title(f"{t[k]:.2f} s" + (" apex" if k == arc.apex else "") + (" mixed" if mixed[k] else ""),
                        fontsize=7)
    fig.tight_layout()
    return fig


def readability_plot(table, emotion: str, target: float = 0.7, chosen=None):
    """Predicted agreement against the amount (intensity, then exaggeration past 1), identity failures marked."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.4))
    ok = table["same_person"].to_numpy(bool)
    ax.plot(table["amount"], table["agreement"], "-", color="C0")
    ax.plot(table["amount"][ok], table["agreement"][ok], "o", color="C0", label="same person")
    ax.plot(table["amount"][~ok], table["agreement"][~ok], "x", color="C3", ms=8, label="identity lost")
    ax.axhline(target, color="0.4", ls="--", lw=1, label=f"target {target:.0%}")
    ax.axvline(1.0, color="0.8", lw=1)
    if chosen is not None and chosen.reached:
        ax.plot([chosen.amount], [chosen.agreement], "*", color="C2", ms=16, label=f"smallest readable: {chosen.amount:g}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("amount (intensity up to 1, then exaggeration)")
    ax.set_ylabel(f"predicted share naming {emotion}")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
