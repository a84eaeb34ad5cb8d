"""Figures of the animator's learned parts (notebook 03 shows them; each returns a matplotlib figure)."""

from __future__ import annotations

import numpy as np

from .keypoints import apply_affine, border_anchors, normalizing_transform, select_keypoints

__all__ = ["plot_keypoints", "plot_emotion_motion", "plot_expression_texture", "plot_training_pair",
           "plot_refiner_history", "plot_calibration"]


def plot_keypoints(frame: np.ndarray, landmarks: np.ndarray, keypoints: int = 20):
    """The ``keypoints`` landmarks that drive the warp (red) among all 68 (grey), and the border anchors."""
    import matplotlib.pyplot as plt

    idx = select_keypoints(keypoints)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(frame)
    ax.scatter(landmarks[:, 0], landmarks[:, 1], s=6, c="#bbbbbb")
    ax.scatter(landmarks[idx, 0], landmarks[idx, 1], s=14, c="#e24a33")
    anchors = border_anchors(frame.shape[0])
    ax.scatter(anchors[:, 0], anchors[:, 1], s=20, c="#348abd", marker="s")
    ax.set_title(f"{keypoints} keypoints + {len(anchors)} anchors")
    ax.set_axis_off()
    return fig


def plot_emotion_motion(motion, reference: np.ndarray, scale: float = 3.0, compare=None):
    """Each emotion's apex displacement as arrows (``scale`` times longer) on a neutral face in the unit
    frame, and the measured onset curve; ``compare``: another :class:`EmotionMotion` drawn in blue beside
    it (e.g. CK+ alone)."""
    import matplotlib.pyplot as plt

    unit = apply_affine(normalizing_transform(reference), reference)
    names = list(motion.displacement)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(2.6 * (len(names) + 1), 3))
    for ax, name in zip(axes, names):
        d = motion.displacement[name]
        ax.scatter(unit[:, 0], -unit[:, 1], s=4, c="#999999")
        if compare is not None and name in compare.displacement:
            c = compare.displacement[name]
            ax.quiver(unit[:, 0], -unit[:, 1], scale * c[:, 0], -scale * c[:, 1], angles="xy", scale_units="xy",
                      scale=1, color="#348abd", width=0.010, alpha=0.7)
        ax.quiver(unit[:, 0], -unit[:, 1], scale * d[:, 0], -scale * d[:, 1], angles="xy", scale_units="xy",
                  scale=1, color="#e24a33", width=0.012)
        src = getattr(motion, "sources", {}) or {}
        counts = [f"{src[k][name]} {label}" for k, label in (("ckplus", "CK+"), ("mead", "MEAD"))
                  if name in src.get(k, {})]
        ax.set_title(f"{name} ({', '.join(counts) or str(motion.sequences[name]) + ' seq.'})", fontsize=9)
        ax.set_aspect("equal")
        ax.set_axis_off()
    axes[-1].plot(np.linspace(0, 1, len(motion.onset)), motion.onset, "o-")
    axes[-1].set_title("measured onset", fontsize=9)
    axes[-1].set_xlabel("time (0 neutral, 1 apex)")
    fig.tight_layout()
    return fig


def plot_expression_texture(texture, limit: float = 0.6):
    """Each emotion's log ratio image on the canonical face: red brightens, blue darkens (the channels'
    mean); for colour maps a second row shows the colour change itself (grey: none)."""
    import matplotlib.pyplot as plt

    colour = any(np.asarray(v).ndim == 3 for v in texture.log_ratio.values())
    rows = 2 if colour else 1
    fig, axes = plt.subplots(rows, len(texture.emotions), figsize=(2.4 * len(texture.emotions), 2.9 * rows),
                             squeeze=False)
    for k, name in enumerate(texture.emotions):
        ratio = np.asarray(texture.log_ratio[name], np.float32)
        ax = axes[0, k]
        ax.imshow(ratio.mean(-1) if ratio.ndim == 3 else ratio, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.scatter(texture.landmarks[:, 0], texture.landmarks[:, 1], s=2, c="#555555")
        ax.set_title(f"{name} ({texture.sequences[name]} clips)", fontsize=9)
        ax.set_axis_off()
        if colour:
            rgb = ratio if ratio.ndim == 3 else np.repeat(ratio[..., None], 3, -1)
            axes[1, k].imshow(np.clip(0.5 + rgb / (2 * limit), 0, 1))
            axes[1, k].set_title("colour change", fontsize=8)
            axes[1, k].set_axis_off()
    fig.tight_layout()
    return fig


def plot_training_pair(clip, source: int = 0, target: int = -1):
    """What the refiner learns from: the source frame, it warped onto the target's landmarks, the target's
    mouth-region channel, and the real target."""
    import matplotlib.pyplot as plt

    from .refine_train import make_pair

    target = target % len(clip)
    x, y, _ = make_pair(clip, source, target)
    to_img = lambda a: ((a[:3].transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).astype(np.uint8)  # noqa: E731
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    for ax, img, title in zip(axes, [clip.frames[source], to_img(x), x[3], to_img(y)],
                              ["source", "warped", "target mouth region", "real target"]):
        ax.imshow(img, cmap="gray")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return fig


def plot_refiner_history(meta: dict):
    """Validation and training L1 over the steps of a refiner's training, and the adversarial losses."""
    import matplotlib.pyplot as plt
    import pandas as pd

    h = pd.DataFrame(meta["history"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    axes[0].plot(h.step, h.val_l1, label="validation L1 (warp + refinement)")
    axes[0].axhline(h.val_l1_warp.dropna().iloc[0], color="k", ls=":", label="validation L1 (warp only)")
    if "train_l1" in h:
        axes[0].plot(h.step, h.train_l1, alpha=0.6, label="training L1 (face patches)")
    axes[0].set_xlabel("step")
    axes[0].legend(fontsize=8)
    if "train_d" in h:
        axes[1].plot(h.step, h.train_d, label="discriminator hinge loss")
        axes[1].plot(h.step, h.train_fm, label="feature matching")
        axes[1].legend(fontsize=8)
    axes[1].set_xlabel("step")
    fig.suptitle(f"refiner: {meta['parameters'] / 1e6:.2f}M parameters, {meta['training_seconds'] / 60:.0f} min "
                 f"on {meta['hardware']}", fontsize=9)
    return fig


def plot_calibration(cal):
    """Intensity read on the training faces against the gain, per emotion, with the real-apex target
    (dotted) the chosen gain meets."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for k, (emo, curve) in enumerate(sorted(cal.curve.items())):
        g = sorted(curve, key=float)
        ax.plot([float(x) for x in g], [curve[x] for x in g], "o-", color=f"C{k}", ms=3,
                label=f"{emo}: gain {cal.gain[emo]:.2f}")
        ax.axhline(cal.target[emo], color=f"C{k}", ls=":", lw=1)
    ax.set_xlabel("gain (1 = mean measured CK+ apex)")
    ax.set_ylabel("intensity read on the training faces")
    ax.set_title(f"intensity calibration ({len(cal.faces)} training faces)")
    ax.legend(fontsize=7)
    return fig
