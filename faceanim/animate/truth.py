"""Emotion animation measured against the truth: MEAD's actors, each held out in turn.

MEAD films one person neutral **and** in every emotion, so an animation of that person's neutral face can
be compared with their real expression instead of with a recognizer alone. For every actor with a neutral
clip (:func:`actor_folds`), everything learned from MEAD is learned again without that actor (their frames
never touch it), and the actor's neutral face, taken from several rest frames of their neutral clip
(mouth closed), is animated to each emotion at full intensity by each method. Each render is compared
with the same actor's real clip of that emotion:

- **shape error**: the 68 points fitted on the render against the real clip's
  :func:`~faceanim.animate.motion.expression_shape` (the speech taken out), both in the pose-free unit
  frame (outer eye corners 1 apart, so the error is in inter-ocular distances) and turned frontal
  (:class:`~faceanim.animate.motion.PoseData`: the real clip by its frames' 3DMM pose, the render by its
  source frame's), mean over the 68 points;
  beside it the error of not moving at all (the neutral frame itself), which is how much expression there
  is to find;
- **appearance**: L1 and SSIM of the face box and of the mouth box against the real clip's rest frames
  (the mouth most closed: the expression's own mouth, not a syllable's), each real frame first put on the
  render by the similarity of their pose-free points;
- **judges**: the independent ``fer`` model (``make setup-peers``) and our recognizer read the render, and
  every frame of the real clips of that emotion (every MEAD actor's, the EAMM clips too); the rate at
  which each names the requested emotion, for the render and for the real faces;
- **identity**: dlib's descriptor of the render against the source frame's (the existing check).

Methods: the current CK+ method (the animator's default weights, learned before MEAD, and with its
intensity calibration), MEAD + CK+ pooled (the animator's motion and texture as :mod:`~faceanim.animate.motion`
learns them now, with and without the calibration measured again in each fold) and MEAD alone, each with
the refinement generator the animator had; and MEAD + CK+ motion with the emotion-conditioned generator
(no texture: it paints the expression itself) trained without the held-out actor
(``weights/animator_generator_without_<actor>.pt``, ``faceanim train animator --parts generator
--leave-out <actor>``), where those weights exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BackendError, DataNotFoundError
from ..face.align import AlignedFace
from ..face.identity import SAME_PERSON
from ..face.types import Face
from ..labels import CONTEMPT, EMOTIONS, EXPRESSIONS
from .animator import AnimationSettings, Animator, SourceFace
from .clips import HELDOUT_SUBJECTS, Clip
from .keypoints import STABLE_POINTS, apply_affine, normalizing_transform
from .motion import (
    SPEECH_POINTS,
    EmotionMotion,
    PoseData,
    emotion_keypoints,
    expression_shape,
    learn_emotion_motion,
    mead_pose_data,
    mouth_opening,
    rest_frames,
)
from .texture import learn_expression_texture

__all__ = ["actor_folds", "neutral_sources", "against_real", "ckplus_animator", "CKPLUS_WEIGHTS", "real_readings",
           "TruthEval", "summarize_truth",
           "TRUTH_METHODS", "OPEN_MOUTH_MARGIN", "truth_figure"]

#: the methods compared, in order: the CK+ method from before MEAD (uncalibrated and calibrated), MEAD + CK+
#: (uncalibrated and calibrated), MEAD only
TRUTH_METHODS = ("CK+ (current)", "CK+ (current) calibrated", "MEAD+CK+", "MEAD+CK+ calibrated", "MEAD only",
                 "MEAD+CK+ generator", "MEAD+CK+ generator calibrated")
#: the MEAD-learned method the issue's targets are reported for (``Animator(**LEARNED_FROM["mead"])``)
DEFAULT_METHOD = "MEAD+CK+ calibrated"
#: the CK+-only weights (the animator's default; made before MEAD joined)
CKPLUS_WEIGHTS = {"motion": "emotion_motion", "texture": "emotion_texture", "calibration": "emotion_calibration"}
#: an emotion "opens the mouth" when its real rest frames' inner-lip gap exceeds the actor's neutral one by
#: this many inter-ocular distances (pooled over actors)
OPEN_MOUTH_MARGIN = 0.02
_UPPER = np.setdiff1d(np.arange(68), SPEECH_POINTS)


def _unit(lm: np.ndarray) -> np.ndarray:
    return apply_affine(normalizing_transform(lm), lm)


def actor_folds(mead: list[Clip]) -> list[str]:
    """The MEAD actors that can be held out: those with a neutral clip and at least one emotion clip."""
    actors = sorted({c.person for c in mead if c.emotion == "neutral"})
    return [a for a in actors if any(c.person == a and c.emotion != "neutral" for c in mead)]


def neutral_sources(clip: Clip, n: int = 4) -> list[tuple[int, SourceFace]]:
    """``n`` source faces from a neutral clip: its rest frames (mouth closed), evenly spread over them, each
    as a :class:`SourceFace` of the clip's 256 px crop (frame index, source)."""
    idx = np.flatnonzero(clip.found) if clip.found.any() else np.arange(len(clip))
    unit = np.stack([_unit(lm) for lm in clip.landmarks[idx]])
    rest = idx[rest_frames(unit)]
    pick = rest[np.unique(np.linspace(0, len(rest) - 1, min(n, len(rest))).round().astype(int))]
    out = []
    for t in pick:
        img = clip.frames[t]
        aligned = AlignedFace(image=img, matrix=np.array([[1.0, 0, 0], [0, 1.0, 0]]), template="animation",
                              face=Face(box=[0, 0, 1, 1], score=1.0))
        out.append((int(t), SourceFace(image=img, aligned=aligned, landmarks=clip.landmarks[t].astype(np.float64))))
    return out


def _judges(recognizer, peer: str | None) -> dict:
    """``{"ours": recognizer, "fer": the peer}`` (the peer only where it is installed)."""
    from ..emotion import create_recognizer

    judges = {"ours": recognizer}
    if peer:
        try:
            judges[peer] = create_recognizer(peer)
        except BackendError:
            pass
    return judges


def real_readings(mead: list[Clip], judges: dict, every: int = 1) -> "pandas.DataFrame":  # noqa: F821
    """What each judge reads on every ``every``-th frame of the real emotion clips (neutral included):
    one row per (clip, frame, judge), with ``rest`` marking the clip's rest frames."""
    import pandas as pd

    rows = []
    for c in mead:
        idx = np.flatnonzero(c.found)[::every]
        if not len(idx):
            continue
        unit = np.stack([_unit(lm) for lm in c.landmarks[idx]])
        rest = set(idx[rest_frames(unit)].tolist())
        for name, judge in judges.items():
            for t in idx:
                r = judge.read(c.frames[t], c.landmarks[t])
                rows.append({"clip": c.name, "actor": c.person, "emotion": c.emotion, "frame": int(t), "judge": name,
                             "label": r.label, "rest": int(t) in rest,
                             "correct": (r.label == c.emotion) if c.emotion != "neutral" else (r.shown == "neutral")})
    return pd.DataFrame(rows)


def ckplus_animator(refiner="animator_refiner", recognizer=None) -> Animator:
    """The animator's default, as it was before MEAD: CK+-only motion, texture and calibration
    (:data:`CKPLUS_WEIGHTS`), the refiner and the texture (no generator)."""
    return Animator(refiner=refiner, predictor=None, recognizer=recognizer, generator=None, **CKPLUS_WEIGHTS)


def _methods(current: Animator, clips: list[Clip], held: str, pose: PoseData | None = None,
             recognizer=None, calibrate: bool = True, progress: bool = False) -> dict:
    """Method name -> (animator, settings) for one fold: ``held`` and the evaluation CK+ subjects excluded
    from everything learned here (the calibration, on the training CK+ and video faces, never sees MEAD)."""
    import dataclasses

    from .calibration import calibrate_intensity

    full = AnimationSettings(paste=False, refine=current.refiner is not None, texture=1.0, calibrated=False,
                             generator=False)
    out = {"CK+ (current)": (current, full)}
    if current.calibration is not None:
        out["CK+ (current) calibrated"] = (current, dataclasses.replace(full, calibrated=True))
    exclude = (*HELDOUT_SUBJECTS, held)
    for name, sources in (("MEAD+CK+", ("ckplus", "mead")), ("MEAD only", ("mead",))):
        motion = learn_emotion_motion(clips, exclude_subjects=exclude, sources=sources, pose=pose)
        texture = learn_expression_texture(clips, exclude_subjects=exclude, sources=sources)
        anim = Animator(refiner=current.refiner, motion=motion, texture=texture, predictor=None, calibration=None,
                        recognizer=current._recognizer, generator=None)
        out[name] = (anim, full)
        train = [c for c in clips if c.kind in ("ckplus", "video")]
        if name == "MEAD+CK+" and calibrate and recognizer is not None:
            cal = Animator(refiner=current.refiner, motion=motion, texture=texture, predictor=None,
                           calibration=calibrate_intensity(anim, recognizer, train, progress=progress),
                           recognizer=current._recognizer, generator=None)
            out["MEAD+CK+ calibrated"] = (cal, dataclasses.replace(full, calibrated=True))
        generator = _fold_generator(held)
        if name == "MEAD+CK+" and generator is not None:
            gen = Animator(refiner=current.refiner, generator=generator, motion=motion, texture=texture,
                           predictor=None, calibration=None, recognizer=current._recognizer)
            plain = dataclasses.replace(full, generator=True)
            out["MEAD+CK+ generator"] = (gen, plain)
            if calibrate and recognizer is not None:  # measured on the generator's own renders
                gen_cal = Animator(refiner=current.refiner, generator=generator, motion=motion, texture=texture,
                                   predictor=None, recognizer=current._recognizer,
                                   calibration=calibrate_intensity(gen, recognizer, train, settings=plain,
                                                                   progress=progress))
                out["MEAD+CK+ generator calibrated"] = (gen_cal, dataclasses.replace(plain, calibrated=True))
    return {k: out[k] for k in TRUTH_METHODS if k in out}


def _fold_generator(held: str):
    """The emotion-conditioned generator trained without MEAD actor ``held``, or None where it was not made."""
    from ..errors import WeightsError
    from .refine import Refiner
    from .train import generator_name

    try:
        return Refiner.load(generator_name(held))
    except (WeightsError, FileNotFoundError):
        return None


def _boxes(lm: np.ndarray, size: int) -> dict:
    def box(pts, grow):
        lo, hi = pts.min(0), pts.max(0)
        pad = grow * (hi - lo).max()
        x0, y0 = np.clip(np.floor(lo - pad), 0, size - 1).astype(int)
        x1, y1 = np.clip(np.ceil(hi + pad), 1, size).astype(int)
        return y0, y1, x0, x1

    return {"face": box(lm[np.r_[0:27]], 0.02), "mouth": box(lm[48:68], 0.25)}


def _appearance(render: np.ndarray, render_lm: np.ndarray, reals: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """L1 and SSIM of the face and mouth boxes (from the render's points) against each real frame put on
    the render by the similarity of their stable points; means over the real frames."""
    import cv2
    from skimage.metrics import structural_similarity

    from ..face.align import similarity_matrix

    size = render.shape[0]
    boxes = _boxes(render_lm, size)
    acc: dict[str, list[float]] = {}
    for img, lm in reals:
        mat = similarity_matrix(lm[STABLE_POINTS], render_lm[STABLE_POINTS])
        real = cv2.warpAffine(img, mat, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        for part, (y0, y1, x0, x1) in boxes.items():
            a, b = render[y0:y1, x0:x1], real[y0:y1, x0:x1]
            acc.setdefault(f"{part}_l1", []).append(float(np.abs(a.astype(np.float32) - b).mean() / 255.0))
            win = min(7, min(a.shape[:2]) // 2 * 2 - 1)
            acc.setdefault(f"{part}_ssim", []).append(float(structural_similarity(a, b, channel_axis=2,
                                                                                  data_range=255, win_size=win)))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def against_real(animator: Animator | None = None, recognizer=None, clips: list[Clip] | None = None,
                 mead: list[Clip] | None = None, sources_per_actor: int = 4, rest_frames_compared: int = 8,
                 peer: str | None = "fer", calibrate: bool = True, progress: bool = True,
                 actors: list[str] | None = None) -> tuple:
    """``(renders DataFrame, real DataFrame)``: every method's renders of each held-out actor's neutral face
    scored against that actor's real expressions (the module says how), and the judges' readings of the
    real clips. ``animator``: the current method (default :func:`ckplus_animator`; its refiner is every
    method's); ``clips``: the animator's clips (:func:`~faceanim.animate.clips.load_clips`: CK+ for the
    motion, CK+ and videos for the calibration); ``mead``: the MEAD clips
    (:func:`~faceanim.animate.clips.load_mead_clips`); ``calibrate``: also the MEAD+CK+ method with its
    intensity calibration, measured again in each fold (a few minutes a fold); ``actors``: hold out only
    these (default: every actor :func:`actor_folds` finds)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from ..emotion import create_recognizer
    from .clips import load_clips, load_mead_clips
    from .evaluate import _Scorer

    recognizer = recognizer or create_recognizer()
    animator = animator or ckplus_animator(recognizer=recognizer)
    if animator._recognizer is None:
        animator._recognizer = recognizer
    clips = clips if clips is not None else load_clips(progress=progress)
    mead = mead if mead is not None else load_mead_clips(progress=progress)
    folds = [a for a in actor_folds(mead) if actors is None or a in actors]
    if not folds:
        raise DataNotFoundError("no MEAD actor has a neutral clip and an emotion clip to compare with")
    judges = _judges(recognizer, peer)
    pose = mead_pose_data(mead)
    scorer = _Scorer()
    pool = [c for c in clips if c.kind in ("ckplus", "video")] + list(mead)
    rows = []
    for held in tqdm(folds, desc="actors held out", disable=not progress):
        neutral = next(c for c in mead if c.person == held and c.emotion == "neutral")
        targets = {}
        for c in mead:
            if c.person == held and c.emotion != "neutral" and c.name.startswith(held):
                idx = np.flatnonzero(c.found)
                unit = np.stack([_unit(lm) for lm in c.landmarks[idx]])
                rest = idx[rest_frames(unit)]
                rest = rest[np.unique(np.linspace(0, len(rest) - 1, min(rest_frames_compared, len(rest)))
                                      .round().astype(int))]
                targets[c.emotion] = (expression_shape(c.landmarks, c.found, unit=pose.frontal(c)),
                                      [(c.frames[t], c.landmarks[t].astype(np.float64)) for t in rest])
        methods = _methods(animator, pool, held, pose, recognizer, calibrate)
        neutral_pose = pose.poses.get(neutral.name) if pose.covers(neutral) else None
        for t, source in neutral_sources(neutral, sources_per_actor):
            src_desc = scorer.descriptor(source.crop, scorer.face(source.crop, source.landmarks))
            # a render keeps its source frame's head pose: both are turned frontal by it
            frontal = (lambda lm: _unit(lm)) if neutral_pose is None else \
                (lambda lm, p=neutral_pose[t], a=held: pose.frontal_points(lm, a, p))  # noqa: E731
            src_unit = frontal(source.landmarks)
            for emotion, (shape, reals) in targets.items():
                base_err = np.linalg.norm(src_unit - shape, axis=1)
                rows.append({"actor": held, "source_frame": t, "emotion": emotion, "method": "no motion",
                             "shape_error": float(base_err.mean()), "upper_error": float(base_err[_UPPER].mean()),
                             "lower_error": float(base_err[SPEECH_POINTS].mean()),
                             **_appearance(source.crop, source.landmarks, reals)})
                for method, (anim, st) in methods.items():
                    motion: EmotionMotion = anim.motion
                    if emotion not in motion.displacement:
                        continue
                    gain = anim.emotion_gain(emotion, 1.0, st)
                    kp = emotion_keypoints(source.landmarks, motion, emotion, 1.0, gain=gain)
                    crop = anim.render(source, kp[None], settings=st, emotion=(emotion, gain)).crops[0]
                    face = scorer.face(crop, kp)
                    fitted = np.asarray(face.landmarks, np.float64)
                    err = np.linalg.norm(frontal(fitted) - shape, axis=1)
                    ident = float(np.linalg.norm(scorer.descriptor(crop, face) - src_desc))
                    row = {"actor": held, "source_frame": t, "emotion": emotion, "method": method, "gain": gain,
                           "shape_error": float(err.mean()), "upper_error": float(err[_UPPER].mean()),
                           "lower_error": float(err[SPEECH_POINTS].mean()),
                           **_appearance(crop, fitted, reals), "identity": ident, "same_person": ident < SAME_PERSON}
                    for name, judge in judges.items():
                        label = judge.recognize_faces(crop, [face])[0].label
                        row[f"{name}_label"] = label
                        row[f"{name}_correct"] = label == emotion if emotion != CONTEMPT else np.nan
                    rows.append(row)
    renders = pd.DataFrame(rows)
    real = real_readings(mead, judges)
    return renders, real


def _open_mouth(mead: list[Clip]) -> dict[str, float]:
    """Per emotion: how much more open the real rest-frame mouth is than the actor's neutral one (inter-ocular
    distances, mean over actors)."""
    def rest_open(c):
        unit = np.stack([_unit(lm) for lm in c.landmarks[c.found]])
        return float(mouth_opening(unit[rest_frames(unit)]).mean())

    neutral = {c.person: rest_open(c) for c in mead if c.emotion == "neutral"}
    per: dict[str, list[float]] = {}
    for c in mead:
        if c.emotion != "neutral" and c.person in neutral:
            per.setdefault(c.emotion, []).append(rest_open(c) - neutral[c.person])
    return {k: float(np.mean(v)) for k, v in per.items()}


def summarize_truth(renders, real, mead: list[Clip] | None = None, current: str = "CK+ (current)",
                    new: str = DEFAULT_METHOD) -> dict:
    """The figures of :func:`against_real`'s tables, and the issue's targets for every method against
    ``current`` (``targets[method]``); ``new`` names the MEAD-learned one the issue's targets are reported
    for (``mead_method``)."""
    out: dict = {"actors": sorted(renders.actor.unique().tolist()), "methods": {}}
    fer_emotions = [e for e in EXPRESSIONS if e in set(renders.emotion)]
    judges = [c[:-8] for c in renders.columns if c.endswith("_correct")]
    for method, g in renders.groupby("method", sort=False):
        m = {"renders": int(len(g)), "shape_error": float(g.shape_error.mean()),
             "shape_error_six": float(g[g.emotion.isin(fer_emotions)].shape_error.mean()),
             "upper_error": float(g.upper_error.mean()), "lower_error": float(g.lower_error.mean()),
             "per_emotion": {e: {k: float(x[k].mean()) for k in ("shape_error", "face_l1", "face_ssim", "mouth_l1",
                                                                 "mouth_ssim")}
                             for e, x in g.groupby("emotion")}}
        if "same_person" in g and g.same_person.notna().any():
            m["same_person_share"] = float(g.same_person.astype(float).mean())
        for j in judges:
            col = g[f"{j}_correct"]
            if col.notna().any():
                six = g[g.emotion.isin(fer_emotions)]
                m[f"{j}_rate"] = float(six[f"{j}_correct"].astype(float).mean())
                for e, x in six.groupby("emotion"):
                    m["per_emotion"][e][f"{j}_rate"] = float(x[f"{j}_correct"].astype(float).mean())
        out["methods"][method] = m
    if len(real):
        emo = real[real.emotion.isin(fer_emotions)]
        out["real"] = {j: {"rate": float(x.correct.mean()), "rest_rate": float(x[x.rest].correct.mean()),
                           "frames": int(len(x)), "clips": int(x["clip"].nunique()),
                           "per_emotion": {e: float(y.correct.mean()) for e, y in x.groupby("emotion")},
                           "clip_majority": float(x.groupby("clip").apply(
                               lambda c: (c.label.mode().iloc[0] == c.emotion.iloc[0])).mean())}
                       for j, x in emo.groupby("judge")}
        # the rate on the held-out actors' own clips only, the faces the renders are compared with
        own = emo[emo.actor.isin(out["actors"]) & emo["clip"].str.match(r"^[MW]\d{3}_front")]
        for j, x in own.groupby("judge"):
            out["real"][j]["rate_same_actors"] = float(x.correct.mean())
            out["real"][j]["per_emotion_same_actors"] = {e: float(y.correct.mean()) for e, y in x.groupby("emotion")}
    if mead is not None:
        out["open_mouth"] = _open_mouth(mead)
    # that method when it was measured (a quick run skips the calibrations): else its uncalibrated form
    out["mead_method"] = new if new in out["methods"] else new.replace(" calibrated", "")
    out["targets"] = {m: _targets(out, current, m) for m in out["methods"]
                      if m not in ("no motion", current, current + " calibrated")}
    return out


def _targets(out: dict, current: str, new: str) -> dict:
    """The issue's figures for method ``new`` against ``current`` (the CK+ method from before MEAD)."""
    methods = out["methods"]
    if current not in methods or new not in methods:
        return {}
    cur, nw = methods[current], methods[new]
    targets: dict = {"shape_error_reduction": 1.0 - nw["shape_error_six"] / cur["shape_error_six"]}
    targets["shape_error_30pct_lower"] = targets["shape_error_reduction"] >= 0.30
    opened = [e for e, v in out.get("open_mouth", {}).items() if v > OPEN_MOUTH_MARGIN and e in cur["per_emotion"]]
    targets["open_mouth_emotions"] = opened
    targets["mouth_l1_lower_every_open_mouth"] = bool(opened) and all(
        nw["per_emotion"][e]["mouth_l1"] < cur["per_emotion"][e]["mouth_l1"] for e in opened)
    if "fer_rate" in nw and "fer" in out.get("real", {}):
        ref = out["real"]["fer"].get("rate_same_actors", out["real"]["fer"]["rate"])
        targets["fer_rate_animated"], targets["fer_rate_real"] = nw["fer_rate"], ref
        targets["fer_ratio"] = nw["fer_rate"] / ref if ref else float("nan")
        targets["fer_at_least_90pct_of_real"] = bool(ref) and nw["fer_rate"] >= 0.9 * ref
    if "same_person_share" in nw:
        targets["same_person_95pct"] = nw["same_person_share"] >= 0.95
    return targets


@dataclass
class TruthEval:
    """:func:`against_real`'s tables and :func:`summarize_truth`'s figures."""

    metrics: dict
    renders: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    real: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    figures: list[Path] = field(default_factory=list)

    def table(self, judge: str = "fer") -> "pandas.DataFrame":  # noqa: F821
        """One row per emotion, per method: shape error, mouth L1, the judge's rate; the real faces' rate."""
        import pandas as pd

        cols = {}
        for method, m in self.metrics["methods"].items():
            for e, v in m["per_emotion"].items():
                for k in ("shape_error", "mouth_l1", f"{judge}_rate"):
                    if k in v:
                        cols.setdefault((method, k), {})[e] = v[k]
        table = pd.DataFrame(cols)
        real = self.metrics.get("real", {}).get(judge, {})
        if real:
            table[("real faces", f"{judge}_rate")] = pd.Series(real.get("per_emotion_same_actors", real["per_emotion"]))
        return table.reindex([e for e in (*EMOTIONS, CONTEMPT) if e in table.index])


def truth_figure(metrics: dict, judge: str = "fer"):
    """Three panels per emotion: shape error (no motion, each method), mouth-box L1, and the judge's rate on
    the renders beside its rate on the real faces. Numbers only: no research-only face is drawn."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    methods = metrics["methods"]
    names = [m for m in ("no motion", *TRUTH_METHODS) if m in methods]
    emotions = [e for e in (*EXPRESSIONS, CONTEMPT) if any(e in methods[m]["per_emotion"] for m in names)]
    fig, axes = plt.subplots(1, 3, figsize=(16, 3.8))
    width = 0.8 / (len(names) + 1)
    x = np.arange(len(emotions))
    for k, m in enumerate(names):
        per = methods[m]["per_emotion"]
        for ax, key in zip(axes, ("shape_error", "mouth_l1", f"{judge}_rate")):
            vals = [per.get(e, {}).get(key, np.nan) for e in emotions]
            ax.bar(x + k * width, vals, width, label=m)
    real = metrics.get("real", {}).get(judge, {})
    if real:
        per = real.get("per_emotion_same_actors", real["per_emotion"])
        axes[2].bar(x + len(names) * width, [per.get(e, np.nan) for e in emotions], width, color="k",
                    label="real faces (same actors)")
    for ax, title in zip(axes, ("shape error (inter-ocular distances, lower is better)",
                                "mouth-box L1 against the real frames (lower is better)",
                                f"'{judge}' names the requested emotion")):
        ax.set_xticks(x + width * len(names) / 2, emotions, rotation=20)
        ax.set_title(title, fontsize=9)
    axes[2].legend(fontsize=7, loc="upper center", bbox_to_anchor=(-0.7, -0.18), ncol=len(names) + 1)
    fig.suptitle(f"Animated vs real expressions, MEAD actors held out in turn ({', '.join(metrics['actors'])})")
    return fig
