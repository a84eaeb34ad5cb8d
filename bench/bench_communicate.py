"""The sequence predictor (seed 004's design) on the clips that are labelled here, its ablations and baselines,
and the intensity arc against clips whose arc is known.

    FACEANIM_DATA=../shared/data python bench/bench_communicate.py

Clips: the 40 CK+ sequences (10 subjects), the 22 MEAD clips (actors M030, W009 and EAMM's others) and the
animator's own renders of 12 faces (the public-domain demo photo and the 11 stills) in six emotions at
three levels plus neutral, each still -> rise -> hold -> fall -> still (so onset, apex and offset are
known). Every clip is read by faceanim.communicate.read_clip (readings cached in runs/communicate/).

1. Emotion per clip, through faceanim.communicate.fit (the bring-your-own-labels path): on each set alone
   and on all of them pooled, groups (subjects, actors, faces) held out; the full model, the two ablations,
   an SVM and a random forest; 95% intervals over folds; a paired t-test of full vs the best baseline.
2. A score: the requested level of the renders (R2, Spearman), same machinery.
3. The arc: onset / apex / offset errors in frames on held-out renders (the sequence model's per-frame
   intensity, trained on the other faces' renders, vs the recognizer's own intensity), and the apex error
   on CK+ (whose last frame is the apex).
4. The animator's loop: per emotion, how often (over the 12 faces) some amount up to 3 is read as meant by
   70% of the predicted audience with the face kept, and the median smallest such amount.
Writes reports/communicate.json + .png and weights/clip_emotion.pt (the full model on every clip). Each task's
result is kept in runs/communicate/task_<name>.json: an interrupted run resumes, and `--tasks a,b` runs only
those (two processes can share the work; the report is written by a run that finds every task done).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from _common import face_photos, write_report

from faceanim._system import cpu_name
from faceanim.config import REPO_ROOT

CACHE = REPO_ROOT / "runs" / "communicate"
LEVELS = (0.4, 0.7, 1.0)
EPOCHS = 60


def _cached(name: str, make):
    import pandas as pd

    path = CACHE / f"{name}.pkl"
    if path.exists():
        return pd.read_pickle(path)
    value = make()
    CACHE.mkdir(parents=True, exist_ok=True)
    pd.to_pickle(value, path)
    return value


def readings(rec, aud) -> list[dict]:
    """One dict per clip: reading, dataset, group, emotion, level, truth curve (renders)."""
    from tqdm.auto import tqdm

    from faceanim.animate import Animator
    from faceanim.communicate import emotion_clip, read_clip
    from faceanim.data import load_ckplus_sequences
    from faceanim.data.mead import list_mead_clips
    from faceanim.labels import EXPRESSIONS, to_emotion

    def ckplus():
        out = []
        for s in tqdm(load_ckplus_sequences(), desc="CK+"):
            r = read_clip(s.frames, rec, aud, name=s.name, fps=25.0, progress=False)
            out.append({"reading": r, "dataset": "ckplus", "group": s.subject, "emotion": s.emotion, "truth": None})
        return out

    def mead():
        out = []
        for row in tqdm(list_mead_clips().itertuples(), desc="MEAD"):
            r = read_clip(row.path, rec, aud, name=row.name, progress=False)
            out.append({"reading": r, "dataset": "mead", "group": row.actor, "emotion": row.emotion, "truth": None})
        return out

    def renders():
        animator = Animator()
        photos = face_photos()
        out = []
        for person, photo in tqdm(photos, desc="renders"):
            source = animator.prepare(photo)
            jobs = [("neutral", 1.0)] + [(e, lv) for e in EXPRESSIONS for lv in LEVELS]
            for emotion, lv in jobs:
                clip = emotion_clip(animator, source, emotion, lv, person=person)
                r = read_clip(clip.frames, rec, aud, name=clip.name, fps=clip.fps, progress=False)
                out.append({"reading": r, "dataset": "renders", "group": person, "emotion": emotion,
                            "level": lv if emotion != "neutral" else 0.0, "truth": clip.truth})
        return out

    ck = _cached("ckplus", ckplus)
    for c in ck:  # CK+'s own words (anger, happiness, sadness) -> ours, so pooled sets share one label list
        c["emotion"] = to_emotion(c["emotion"])
    return ck + _cached("mead", mead) + _cached("renders", renders)


def _cv_dict(cv) -> dict:
    return {"split": cv.split, "notes": cv.notes, "test": cv.test,
            "summary": {f"{r.model}/{r.metric}": {"mean": round(r.mean, 4), "ci": [round(r.ci_low, 4),
                                                                                  round(r.ci_high, 4)],
                                                  "pooled": round(r.pooled, 4)} for r in cv.summary.itertuples()}}


EMOTION_SETS = {"ckplus": ["ckplus"], "mead": ["mead"], "renders": ["renders"], "pooled": ["ckplus", "mead", "renders"]}


def emotion_task(clips: list[dict], name: str) -> dict:
    """Emotion per clip on one set (or all pooled), through faceanim.communicate.fit."""
    import pandas as pd

    from faceanim.communicate import fit

    chosen = [c for c in clips if c["dataset"] in EMOTION_SETS[name]]
    labels = pd.DataFrame({"clip": [c["reading"].name for c in chosen], "emotion": [c["emotion"] for c in chosen],
                           "group": [f"{c['dataset']}:{c['group']}" for c in chosen]})
    t0 = time.perf_counter()
    res = fit([c["reading"] for c in chosen], labels, folds=5, epochs=EPOCHS, progress=False)
    out = {"clips": len(chosen), "groups": int(labels.group.nunique()), "classes": list(res.cv.classes),
           **_cv_dict(res.cv), "seconds": round(time.perf_counter() - t0, 1)}
    if len(EMOTION_SETS[name]) > 1:
        preds = res.cv.predictions.assign(dataset=[c["dataset"] for c in chosen])
        out["per_dataset_accuracy"] = {
            m: {d: round(float((g[m] == g.truth).mean()), 4) for d, g in preds.groupby("dataset")}
            for m in ("full", "temporal", "visual", "svm", "random_forest")}
    print(name, res.cv.table().to_string(), res.cv.test, flush=True)
    return out


def level_task(clips: list[dict]) -> dict:
    import pandas as pd

    from faceanim.communicate import fit

    chosen = [c for c in clips if c["dataset"] == "renders" and c["emotion"] != "neutral"]
    labels = pd.DataFrame({"clip": [c["reading"].name for c in chosen], "level": [c["level"] for c in chosen],
                           "group": [c["group"] for c in chosen]})
    res = fit([c["reading"] for c in chosen], labels, folds=5, epochs=EPOCHS, progress=False)
    print("level", res.cv.table().to_string(), res.cv.test, flush=True)
    return {"clips": len(chosen), "task": res.cv.task, **_cv_dict(res.cv)}


def arc_errors(clips: list[dict]) -> dict:
    from sklearn.model_selection import GroupKFold

    from faceanim.communicate import SequencePredictor, intensity_arc, smooth

    renders = [c for c in clips if c["dataset"] == "renders" and c["emotion"] != "neutral"]
    ck = [c for c in clips if c["dataset"] == "ckplus"]
    groups = [c["group"] for c in renders]
    err = {"sequence_model": {"onset": [], "apex": [], "offset": []}, "recognizer": {"onset": [], "apex": [], "offset": []}}
    peaks = {"sequence_model": [], "recognizer": [], "level": []}
    everything = [c for c in clips if c["dataset"] == "renders"]
    for tr, te in GroupKFold(5).split(np.zeros(len(renders)), groups=groups):
        train_groups = {groups[i] for i in tr}
        train = [c for c in everything if c["group"] in train_groups]
        model = SequencePredictor.fit([c["reading"].features for c in train], [c["emotion"] for c in train],
                                      frame_targets=[c["truth"] for c in train], epochs=EPOCHS)
        for i in te:
            c = renders[i]
            truth = intensity_arc(c["truth"])
            for kind, curve in (("sequence_model", model.frame_intensity(c["reading"].features)),
                                ("recognizer", c["reading"].intensity)):
                arc = intensity_arc(smooth(curve, 2.0))
                for k in ("onset", "apex", "offset"):
                    a, b = getattr(arc, k), getattr(truth, k)
                    err[kind][k].append(abs(a - b) if a is not None else len(c["truth"]))
                peaks[kind].append(arc.peak)
            peaks["level"].append(c["level"])
    # CK+: trained on every render (no CK+ frame targets), the apex is the last frame
    model = SequencePredictor.fit([c["reading"].features for c in everything], [c["emotion"] for c in everything],
                                  frame_targets=[c["truth"] for c in everything], epochs=EPOCHS)
    ck_err = {"sequence_model": [], "recognizer": []}
    for c in ck:
        n = len(c["reading"])
        for kind, curve in (("sequence_model", model.frame_intensity(c["reading"].features)),
                            ("recognizer", c["reading"].intensity)):
            ck_err[kind].append(abs(intensity_arc(smooth(curve, 2.0)).apex - (n - 1)))
    from scipy.stats import spearmanr

    out = {"renders": {"clips": len(renders), "frames_per_clip": int(len(renders[0]["truth"])),
                       "mean_abs_error_frames": {kind: {k: round(float(np.mean(v)), 2) for k, v in e.items()}
                                                 for kind, e in err.items()},
                       "median_abs_error_frames": {kind: {k: float(np.median(v)) for k, v in e.items()}
                                                   for kind, e in err.items()},
                       "peak_vs_level_spearman": {kind: round(float(spearmanr(peaks[kind], peaks["level"])[0]), 4)
                                                  for kind in ("sequence_model", "recognizer")}},
           "ckplus_apex": {"clips": len(ck), "mean_abs_error_frames": {k: round(float(np.mean(v)), 2)
                                                                        for k, v in ck_err.items()},
                           "mean_frames": round(float(np.mean([len(c["reading"]) for c in ck])), 1)}}
    print("arc", out, flush=True)
    return out, model


def readable_amounts(rec, aud, target: float = 0.7) -> dict:
    """The animator's loop over the 12 faces and six emotions: the smallest amount read as meant at ``target``."""
    from tqdm.auto import tqdm

    from faceanim.animate import Animator
    from faceanim.communicate import AMOUNTS, choose_readable, readability
    from faceanim.labels import EXPRESSIONS

    def make():
        animator = Animator()
        photos = face_photos()
        rows = []
        for person, photo in tqdm(photos, desc="readability"):
            source = animator.prepare(photo)
            for e in EXPRESSIONS:
                t = readability(animator, source, e, AMOUNTS, rec, aud)
                t.attrs.pop("crops", None)  # the renders themselves are not kept
                rows.append({"person": person, "emotion": e, "table": t})
        return rows

    rows = _cached("readability", make)
    out = {"target": target, "faces": len({r["person"] for r in rows}), "amounts": list(AMOUNTS), "per_emotion": {}}
    for e in EXPRESSIONS:
        picks = [choose_readable(r["table"], e, target) for r in rows if r["emotion"] == e]
        reached = [p.amount for p in picks if p.reached]
        out["per_emotion"][e] = {"reached_share": round(len(reached) / len(picks), 4),
                                 "median_amount_where_reached": float(np.median(reached)) if reached else None,
                                 "best_agreement_median": round(float(np.median([p.table.agreement.max()
                                                                                 for p in picks])), 4),
                                 "identity_kept_at_amount_1": round(float(np.mean(
                                     [bool(r["table"].set_index("amount").loc[1.0, "same_person"])
                                      for r in rows if r["emotion"] == e])), 4)}
    print("readable", out, flush=True)
    return out


def plot(report: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    models = ("full", "temporal", "visual", "svm", "random_forest")
    sets = ("ckplus", "mead", "renders", "pooled")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    ax = axes[0]
    w = 0.16
    for j, m in enumerate(models):
        means = [report["emotion"][s]["summary"][f"{m}/accuracy"]["mean"] for s in sets]
        cis = [report["emotion"][s]["summary"][f"{m}/accuracy"]["ci"] for s in sets]
        x = np.arange(len(sets)) + (j - 2) * w
        ax.bar(x, means, w, label=m, yerr=np.abs(np.array(cis).T - means), capsize=2)
    ax.set_xticks(np.arange(len(sets)), [f"{s}\n({report['emotion'][s]['clips']} clips)" for s in sets])
    ax.set_ylabel("clip emotion accuracy (held-out groups)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Emotion per clip: mean over folds, 95% interval")
    ax = axes[1]
    e = report["arc"]["renders"]["mean_abs_error_frames"]
    keys = ("onset", "apex", "offset")
    x = np.arange(3)
    ax.bar(x - 0.2, [e["sequence_model"][k] for k in keys], 0.4, label="sequence model")
    ax.bar(x + 0.2, [e["recognizer"][k] for k in keys], 0.4, label="recognizer intensity")
    ax.set_xticks(x, keys)
    ax.set_ylabel("mean |error| (frames)")
    ax.set_title(f"Arc on held-out renders ({report['arc']['renders']['frames_per_clip']} frames each)")
    ax.legend()
    fig.suptitle(report["cpu"], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


TASKS = (*(f"emotion_{k}" for k in EMOTION_SETS), "level", "arc", "readable")


def _task(name: str, make) -> dict:
    """A task's result, kept in runs/communicate/task_<name>.json so an interrupted bench (or two processes
    given different --tasks) picks up where it stopped."""
    import json

    path = CACHE / f"task_{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    from faceanim._atomic import write_json

    value = make()
    write_json(path, value)
    return value


def main(argv: list[str] | None = None) -> None:
    import argparse

    from faceanim.communicate import AudienceModel, SequencePredictor
    from faceanim.emotion import create_recognizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help="comma-separated tasks to run now (the report is written once every task is done)")
    args = parser.parse_args(argv)
    todo = [t for t in args.tasks.split(",") if t]
    unknown = sorted(set(todo) - set(TASKS))
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    rec, aud = create_recognizer(), AudienceModel.load()
    clips = readings(rec, aud)
    makers = {**{f"emotion_{k}": (lambda k=k: emotion_task(clips, k)) for k in EMOTION_SETS},
              "level": lambda: level_task(clips), "arc": lambda: arc_errors(clips)[0],
              "readable": lambda: readable_amounts(rec, aud)}
    done = {t: _task(t, makers[t]) for t in todo}
    if set(todo) != set(TASKS):
        missing = [t for t in TASKS if not (CACHE / f"task_{t}.json").exists()]
        print(f"ran {', '.join(todo)}; still to run: {', '.join(missing) or 'none (run without --tasks)'}")
        return
    # the default clip model: the full model on every clip, with the renders' frame targets
    model = SequencePredictor.fit([c["reading"].features for c in clips], [c["emotion"] for c in clips],
                                  frame_targets=[c["truth"] for c in clips], epochs=EPOCHS, name="clip_emotion",
                                  recognizer=rec.name)
    model.save("clip_emotion", command="FACEANIM_DATA=../shared/data python bench/bench_communicate.py",
               trained_on={d: sum(c["dataset"] == d for c in clips) for d in ("ckplus", "mead", "renders")},
               hardware=cpu_name())
    report = {"cpu": cpu_name(), "recognizer": rec.name, "epochs": EPOCHS, "classes": list(model.classes),
              "clips": {d: sum(c["dataset"] == d for c in clips) for d in ("ckplus", "mead", "renders")},
              "emotion": {k: done[f"emotion_{k}"] for k in EMOTION_SETS}, "render_level": done["level"],
              "arc": done["arc"], "readable": done["readable"],
              "seconds": {k: v.get("seconds") for k, v in done.items() if isinstance(v, dict) and "seconds" in v},
              "command": "FACEANIM_DATA=../shared/data python bench/bench_communicate.py",
              "not_reproduced": "seed 004's engagement figures (87.3% on an unpublished 15,000-sequence set)"}
    write_report(report, REPO_ROOT / "reports" / "communicate.json", plot)


if __name__ == "__main__":
    sys.exit(main())
