"""The style table (seed 004's concern: stylised characters): the recognizer and the audience model on faces
in other styles, before and after training for style.

    FACEANIM_DATA=../shared/data python bench/bench_style.py

Styles: FER-2013 PrivateTest faces as photos and rendered by faceanim.style (cartoon, painted, sketch at
strengths 1-3; the FER+ votes of each face still apply, so the audience model's agreement correlation is
measured on them), the package's own drawn emoji (six emotions at three levels), and the animator's outputs
(12 faces, six emotions at full intensity; the requested emotion is the label).

"After": emotion_resnet_style, the default recognizer trained 5 more epochs with 30% of the faces shown
styled (its command is in weights/emotion_resnet_style.json), and audience_style, the audience head trained
here on its embedding of FER+ Training faces as photos and styled (weights/audience_style.pt). Both are
chosen on PublicTest only; PrivateTest is read once per finished model, here.
Writes reports/style.json + .png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from _common import face_photos, write_report

from faceanim._system import cpu_name
from faceanim.config import REPO_ROOT

EMOJI_LEVELS = (0.5, 0.75, 1.0)
STYLED_SEED = 11


def _styled_sets(images: np.ndarray) -> dict:
    from tqdm.auto import tqdm

    from faceanim.style import STRENGTHS, STYLES, stylize

    sets = {"photo": images}
    for st in STYLES:
        for s in STRENGTHS:
            sets[f"{st} {s}"] = np.stack([stylize(im, st, s) for im in tqdm(images, desc=f"{st} {s}", leave=False)])
    return sets


def _emoji_set():
    from faceanim.emoji import draw_emoji
    from faceanim.emotion.recognizer import to_gray48
    from faceanim.labels import EXPRESSIONS

    crops, labels = [], []
    for e in EXPRESSIONS:
        for lv in EMOJI_LEVELS:
            rgba = draw_emoji(e, lv, 96).astype(np.float32)
            rgb = rgba[..., :3] * (rgba[..., 3:] / 255) + 255 * (1 - rgba[..., 3:] / 255)  # on white
            crops.append(to_gray48(rgb.round().astype(np.uint8)))
            labels.append(e)
    return np.stack(crops), labels


def _animator_set(rec):
    from tqdm.auto import tqdm

    from faceanim.animate import Animator
    from faceanim.face.align import align_face
    from faceanim.face.types import Face
    from faceanim.labels import EXPRESSIONS

    animator = Animator()
    photos = [photo for _, photo in face_photos()]
    crops, labels = [], []
    for photo in tqdm(photos, desc="animator outputs", leave=False):
        source = animator.prepare(photo)
        for e in EXPRESSIONS:
            anim = animator.emotion(source, e, 1.0, frames=1, paste=False)
            kp = anim.keypoints[-1]
            face = Face(box=np.r_[kp.min(0), kp.max(0)], score=1.0, detector="landmarks", landmarks=kp)
            crops.append(align_face(anim.crops[-1], face, "fer", size=rec.input_size).image)
            labels.append(e)
    return np.stack(crops), labels


def _row(rec, aud, images, labels, dist=None) -> dict:
    from sklearn.metrics import f1_score

    from faceanim.communicate import audience_metrics
    from faceanim.labels import EMOTIONS

    feats, probs = [], []
    for i in range(0, len(images), 512):
        f, p = rec.embed_and_predict(images[i:i + 512])
        feats.append(f)
        probs.append(p)
    feats, probs = np.concatenate(feats), np.concatenate(probs)
    pred = np.asarray(EMOTIONS)[probs.argmax(1)]
    truth = np.asarray(labels)
    row = {"faces": int(len(images)), "accuracy": float((pred == truth).mean()),
           "macro_f1": float(f1_score(truth, pred, average="macro", labels=sorted(set(truth)), zero_division=0))}
    votes = aud.predict(feats)
    from faceanim.communicate import AUDIENCE

    row["audience_majority_is_label"] = float((np.asarray(AUDIENCE)[votes.argmax(1)] == truth).mean())
    if dist is not None:
        m = audience_metrics(dist, votes)
        row.update({"agreement_pearson": m["agreement_pearson"], "kl": m["kl"],
                    "majority_accuracy": m["majority_accuracy"]})
    return row


def _table(rec, aud, sets, labels, dist, valid, emoji, animated) -> dict:
    out = {}
    for name, images in sets.items():
        r = _row(rec, aud, images, labels)
        r.update({k: v for k, v in _row(rec, aud, images[valid], labels[valid], dist[valid]).items()
                  if k in ("agreement_pearson", "kl", "majority_accuracy")})
        out[name] = r
        print(name, {k: round(v, 4) for k, v in r.items()}, flush=True)
    out["emoji (drawn)"] = _row(rec, aud, *emoji)
    out["animator outputs"] = _row(rec, aud, *animated)
    print("emoji", out["emoji (drawn)"], "\nanimator", out["animator outputs"], flush=True)
    return out


def train_style_audience(rec, fer, dist, valid):
    """The audience head on ``rec``'s embedding of FER+ Training faces, as photos and one styled copy each."""
    from faceanim.communicate import AudienceModel, audience_metrics
    from faceanim.emotion.train import styled_copies

    tr = (fer.usage == "Training") & valid
    images = fer.images[tr]
    styled = (styled_copies(images, STYLED_SEED, REPO_ROOT / "runs" / "style" / "train_styled.npy").numpy()[:, 0]
              * 255).round().astype(np.uint8)
    feats = np.concatenate([rec.embed(images[i:i + 512]) for i in range(0, len(images), 512)] +
                           [rec.embed(styled[i:i + 512]) for i in range(0, len(styled), 512)])
    targets = np.concatenate([dist[tr], dist[tr]])
    model = AudienceModel.fit(feats, targets, recognizer=rec.name, hidden=256, epochs=20, weight_decay=1e-3)
    pub = (fer.usage == "PublicTest") & valid
    chosen_on = audience_metrics(dist[pub], model.predict(np.concatenate(
        [rec.embed(fer.images[pub][i:i + 512]) for i in range(0, pub.sum(), 512)])))
    model.save("audience_style", command="FACEANIM_DATA=../shared/data python bench/bench_style.py",
               trained_on="FER+ Training faces, as photos and one styled copy each (faceanim.style)",
               public_test=chosen_on)
    return model


def plot(report: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    names = list(report["before"]["table"])
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    for ax, key, label in ((axes[0], "accuracy", "recognizer accuracy"),
                           (axes[1], "agreement_pearson", "audience agreement Pearson")):
        x = np.arange(len(names))
        for j, which in enumerate(("before", "after")):
            if which not in report or report[which] is None:
                continue
            vals = [report[which]["table"][n].get(key, np.nan) for n in names]
            ax.bar(x + (j - 0.5) * 0.4, vals, 0.4, label=f"{which}: {report[which]['recognizer']}")
        ax.set_xticks(x, names, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle(f"Faces in other styles ({report['cpu']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    from faceanim.communicate import AudienceModel, vote_distribution
    from faceanim.data import load_fer2013
    from faceanim.emotion import available_recognizers, create_recognizer
    from faceanim.labels import EMOTIONS

    t0 = time.perf_counter()
    fer = load_fer2013()
    dist, valid = vote_distribution(fer.ferplus_votes)
    priv = fer.usage == "PrivateTest"
    images, labels = fer.images[priv], np.asarray(EMOTIONS)[fer.labels[priv]]
    sets = _styled_sets(images)
    emoji = _emoji_set()
    report = {"cpu": cpu_name(), "private_test_faces": int(priv.sum()),
              "command": "FACEANIM_DATA=../shared/data python bench/bench_style.py"}
    for which, rec_name, aud_name in (("before", None, "audience"), ("after", "emotion_resnet_style", "audience_style")):
        if rec_name is not None and rec_name not in available_recognizers():
            report[which] = None
            print(f"no {rec_name} weights: train them first (see the module text)")
            continue
        rec = create_recognizer(rec_name)
        if which == "after":
            aud = train_style_audience(rec, fer, dist, valid)
        else:
            aud = AudienceModel.load(aud_name)
        animated = _animator_set(rec)
        report[which] = {"recognizer": rec.name, "audience": aud_name,
                         "public_test_accuracy": rec.metadata.get("public_test_accuracy"),
                         "table": _table(rec, aud, sets, labels, dist[priv], valid[priv], emoji, animated)}
    if report.get("after"):
        b, a = report["before"]["table"], report["after"]["table"]
        report["photo_private_test_change_points"] = round(100 * (a["photo"]["accuracy"] - b["photo"]["accuracy"]), 2)
        styled = [n for n in b if n not in ("photo",)]
        report["mean_change_on_other_styles_points"] = round(
            100 * float(np.mean([a[n]["accuracy"] - b[n]["accuracy"] for n in styled])), 2)
        report["photo_kept_within_half_a_point"] = report["photo_private_test_change_points"] >= -0.5
    report["seconds"] = round(time.perf_counter() - t0, 1)
    write_report(report, REPO_ROOT / "reports" / "style.json", plot)


if __name__ == "__main__":
    sys.exit(main())
