"""Measure the animator (``faceanim evaluate animation``) into ``reports/animation_metrics.json``.

1. Reconstruction on held-out real videos (and held-out CK+ subjects): frame 0 is the source, the video's
   own landmarks drive it, and each result is compared with the real frame: L1, SSIM, PSNR, AKD (68-point
   distance, dlib fitted on the result and on the real frame in the same box) and identity distance
   (dlib's 128-d descriptor, result vs source), for the still source, one global affine per frame, the
   warp alone, and warp + refinement.
2. Emotion animation on held-out faces that read as neutral at rest: the recognizer's top label at full
   intensity, requested vs recognized intensity (Spearman), identity distance to the source, for warp,
   warp + refinement and warp + refinement + expression texture; beside them what the same recognizer
   reads on real apex expressions (held-out CK+ subjects and CK+48), the ceiling for a faithful animation;
   and from faces that already show an expression, with that expression kept or taken out.
3. Keypoint steadiness: jitter against filter strength, with the lag it costs; the GRU's next-frame error
   against constant velocity and constant position.
4. Frames per second at 256 px for the warp path and the full path, and the full path at a 512 px crop.
5. Against the truth (:mod:`~faceanim.animate.truth`): MEAD's actors, each held out in turn, animated from
   their neutral face and compared with their real expressions (shape, face and mouth appearance, the
   independent ``fer`` judge and ours, identity), for the CK+ method from before MEAD and the MEAD-learned
   one; written to ``animation_metrics.json`` under ``against_real`` (needs ``$FACEANIM_DATA/mead``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._atomic import atomic_path, write_json
from ..config import has_dataset, reports_dir
from ..data import list_stills, load_ckplus48
from ..demo import astronaut as _astronaut
from ..emotion import create_recognizer
from ..errors import NoFaceError
from ..face.align import AlignedFace
from ..face.identity import SAME_PERSON, IdentityCheck
from ..face.types import Face
from ..io import read_image
from ..labels import EMOTIONS, EXPRESSIONS, to_emotion
from .animator import AnimationSettings, Animator, SourceFace
from .clips import HELDOUT_SUBJECTS, HELDOUT_VIDEOS, load_clips
from .motion import SourceExpression, driving_keypoints, ease, emotion_keypoints
from .smooth import jitter, lag_frames, one_euro, prediction_errors, predictive_filter
from .warp import affine_warp

__all__ = ["evaluate_animation", "AnimationEval", "reconstruction", "emotion_animation", "emotion_methods",
           "from_expressive", "astronaut_gallery", "real_apex", "steadiness", "time_paths", "METHODS", "LEVELS"]

METHODS = ("still", "affine", "warp", "warp+refine")
LEVELS = (0.25, 0.5, 0.75, 1.0)
TARGET_EMOTIONS = EXPRESSIONS


#: dlib landmarks in a given box, and identity descriptors, for result frames
_Scorer = IdentityCheck


def _frame_metrics(out: np.ndarray, real: np.ndarray) -> dict:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    return {"l1": float(np.abs(out.astype(np.float32) - real.astype(np.float32)).mean() / 255.0),
            "ssim": float(structural_similarity(out, real, channel_axis=2, data_range=255)),
            "psnr": float(peak_signal_noise_ratio(real, out, data_range=255))}


def reconstruction(animator, clips, max_frames: int = 40, progress: bool = True, refine_window: str = "crop",
                   methods: tuple | None = None):
    """Per-frame metrics (DataFrame) of the four methods on the held-out clips (``methods``: only these;
    ``refine_window``: where the generator runs, :class:`~faceanim.animate.AnimationSettings`)."""
    import pandas as pd
    from tqdm.auto import tqdm

    scorer = _Scorer()
    rows = []
    held = [c for c in clips if c.heldout]
    for clip in tqdm(held, desc="reconstruction", disable=not progress):
        idx = np.unique(np.linspace(1, len(clip) - 1, min(max_frames, len(clip) - 1)).round().astype(int))
        src_img, src_lm = clip.frames[0], clip.landmarks[0].astype(np.float64)
        # frame 0 is the reference, so relative motion reproduces the real landmarks exactly
        track = driving_keypoints(src_lm, np.concatenate([clip.landmarks[:1], clip.landmarks[idx]]), "relative",
                                  0)[1:]
        aligned = AlignedFace(image=src_img, matrix=np.array([[1.0, 0, 0], [0, 1.0, 0]]), template="animation",
                              face=Face(box=[0, 0, 1, 1], score=1.0))
        source = SourceFace(image=src_img, aligned=aligned, landmarks=src_lm)
        base = AnimationSettings(keypoints=68, paste=False, refine_window=refine_window)
        wanted = [m for m in ("still", "affine", "warp", "warp+refine") if methods is None or m in methods]
        if animator.refiner is None and "warp+refine" in wanted:
            wanted.remove("warp+refine")
        outs = {}
        for m in wanted:
            if m == "still":
                outs[m] = np.repeat(src_img[None], len(idx), 0)
            elif m == "affine":
                outs[m] = np.stack([affine_warp(src_img, src_lm, track[k]) for k in range(len(idx))])
            elif m == "warp":
                outs[m] = animator.render(source, track, settings=AnimationSettings(keypoints=68, paste=False,
                                                                                    refine=False)).crops
            else:
                outs[m] = animator.render(source, track, settings=base).crops
        src_face = scorer.face(src_img, src_lm)
        src_desc = scorer.descriptor(src_img, src_face)
        for k, t in enumerate(idx):
            real = clip.frames[t]
            real_face = scorer.face(real, clip.landmarks[t])
            for method, frames in outs.items():
                out = frames[k]
                # landmarks are fitted where the method put the face (the still frame's face never moved)
                face = scorer.face(out, src_lm if method == "still" else track[k])
                ident = float(np.linalg.norm(scorer.descriptor(out, face) - src_desc))
                rows.append({"clip": clip.name, "group": clip.kind, "frame": int(t), "method": method,
                             **_frame_metrics(out, real),
                             "akd": float(np.linalg.norm(face.landmarks - real_face.landmarks, axis=1).mean()),
                             "identity": ident, "same_person": ident < SAME_PERSON})
    return pd.DataFrame(rows)


def _heldout_faces(animator, recognizer, clips, stills: bool = True):
    """``(faces, no_face)``: ``(name, source, reading)`` for the first frames of held-out CK+ sequences and
    videos and the stills, with what the recognizer reads on each; names where no face was found."""

    items = [(c.name, c.frames[0]) for c in clips if c.heldout]
    if stills and has_dataset("stills"):
        items += [(p.stem, read_image(p)) for p in list_stills()]
    faces, missed = [], []
    for name, image in items:
        try:
            source = animator.prepare(image)
        except NoFaceError:
            missed.append(name)
            continue
        faces.append((name, source, recognizer.read(source.crop, source.landmarks)))
    return faces, missed


def _neutral_faces(animator, recognizer, clips, threshold: float, stills: bool = True):
    """Held-out faces at rest (:func:`_heldout_faces` the recognizer reads below the intensity threshold)."""
    faces, missed = _heldout_faces(animator, recognizer, clips, stills)
    kept = [(name, source) for name, source, r in faces if r.intensity < threshold]
    dropped = [(name, "no face") for name in missed]
    dropped += [(name, f"{r.label} at intensity {r.intensity:.2f}") for name, _, r in faces if r.intensity >= threshold]
    return kept, dropped


def from_expressive(animator, recognizer, clips, stills: bool = True, astronaut: bool = True,
                    progress: bool = True):
    """Readings DataFrame: faces that already show an expression (held-out faces the recognizer reads as
    expressive, and scikit-image's smiling astronaut) moved at full intensity to every *other* emotion
    and to neutral, with the full method, twice: ``"kept"`` (the photo's expression left in, the motion
    added on top) and ``"taken out"`` (:class:`~faceanim.animate.motion.SourceExpression` read by the
    recognizer and removed along the way, the animator's default). ``correct``: the recognizer names the
    requested emotion (for neutral: reads the face as not expressive); ``reads_as_source`` in the summary
    is the share still read as the photo's own expression (lower is better)."""
    import pandas as pd
    from tqdm.auto import tqdm

    faces, _ = _heldout_faces(animator, recognizer, clips, stills)
    faces = [(n, s, r) for n, s, r in faces if r.expressive]
    if astronaut:

        source = animator.prepare(_astronaut())
        reading = recognizer.read(source.crop, source.landmarks)
        if reading.expressive:
            faces.append(("astronaut", source, reading))
    st = list(emotion_methods(animator).values())[-1]
    scorer = _Scorer()
    rows = []
    for name, source, reading in tqdm(faces, desc="from expressive faces", disable=not progress):
        src_desc = scorer.descriptor(source.crop, scorer.face(source.crop, source.landmarks))
        undo = SourceExpression.from_reading(reading)
        for emotion in [e for e in EMOTIONS if e != reading.label]:
            for method, u in (("kept", None), ("taken out", undo)):
                g = animator.emotion_gain(emotion, 1.0, st)
                ug = 1.0 if u is None or u.neutral else animator.emotion_gain(u.emotion, 1.0, st)
                track = emotion_keypoints(source.landmarks, animator.motion, emotion, 1.0, gain=g, undo=u,
                                          undo_gain=ug)[None]
                crop = animator.render(source, track, settings=st, emotion=(emotion, g),
                                       undo=None if u is None else (u.emotion, ug * u.amount)).crops[0]
                face = scorer.face(crop, track[0])
                out = recognizer.recognize_faces(crop, [face])[0]
                ident = float(np.linalg.norm(scorer.descriptor(crop, face) - src_desc))
                rows.append({"face": name, "source_label": reading.label, "source_intensity": reading.intensity,
                             "emotion": emotion, "method": method, "label": out.label, "shown": out.shown,
                             "intensity": out.intensity,
                             "correct": out.shown == "neutral" if emotion == "neutral" else out.label == emotion,
                             "identity": ident, "same_person": ident < SAME_PERSON})
    return pd.DataFrame(rows)


def _summ_expressive(df) -> dict:
    if not len(df):
        return {}
    out = {"faces": int(df.face.nunique()),
           "sources": {n: f"{g.source_label.iloc[0]} {g.source_intensity.iloc[0]:.2f}" for n, g in df.groupby("face")}}
    for m, g in df.groupby("method"):
        out[m] = {"top1": float(g.correct.mean()),
                  "top1_emotions": float(g[g.emotion != "neutral"].correct.mean()),
                  "to_neutral": float(g[g.emotion == "neutral"].correct.mean()),
                  "per_emotion": {e: float(x.correct.mean()) for e, x in g.groupby("emotion")},
                  "reads_as_source": float((g.label == g.source_label).mean()),
                  "same_person_share": float(g.same_person.mean())}
    return out


def emotion_methods(animator) -> dict:
    """Emotion-animation variants side by side, the full one (the animator's default) last: warp only,
    warp + refinement, warp + the emotion-conditioned generator (the alternative to the texture),
    warp + refinement + expression texture (all at the mean measured apex), and the last of them with the
    per-emotion intensity calibration."""

    methods = {"warp": AnimationSettings(paste=False, refine=False, texture=0.0, calibrated=False, generator=False)}
    if animator.refiner is not None:
        methods["warp+refine"] = AnimationSettings(paste=False, texture=0.0, calibrated=False, generator=False)
    last = "warp+refine" if animator.refiner is not None else "warp"
    if animator.generator is not None and animator.refiner is not None:  # the alternative to the texture
        methods["warp+generator"] = AnimationSettings(paste=False, texture=1.0, calibrated=False, generator=True)
        last = "warp+generator"
    if animator.texture is not None:
        last = "warp+refine+texture" if animator.refiner is not None else "warp+texture"
        methods[last] = AnimationSettings(paste=False, refine=animator.refiner is not None, texture=1.0,
                                          calibrated=False, generator=False)
    if animator.calibration is not None:
        methods[last + "+calibrated"] = dataclasses.replace(methods[last], calibrated=True)
    return methods


def real_apex(recognizer, clips) -> dict:
    """What the recognizer reads on *real* expressions, the ceiling a faithful animation could reach: the
    apex (last) frames of the held-out CK+ sequences, and CK+48 (apex frames of 327 sequences, 118 subjects;
    contempt dropped), per emotion and as the mean over the six emotions."""

    out = {}
    rows = [(c.emotion, recognizer.read(c.frames[-1], c.landmarks[-1]).label)
            for c in clips if c.heldout and c.kind == "ckplus"]
    if rows:

        per = {}
        for emo, label in rows:
            per.setdefault(to_emotion(emo), []).append(label == to_emotion(emo))
        out["heldout_ckplus_apex"] = {"faces": len(rows), "top1": float(np.mean([x for v in per.values() for x in v])),
                                      "per_emotion": {e: float(np.mean(v)) for e, v in sorted(per.items())},
                                      "count": {e: len(v) for e, v in sorted(per.items())}}
    if has_dataset("ckplus48"):

        ck48 = load_ckplus48()
        keep = ck48.labels >= 0
        pred = recognizer.predict(ck48.images[keep])[0].argmax(1)
        labels = ck48.labels[keep]
        recall = {EMOTIONS[k]: float((pred[labels == k] == k).mean()) for k in sorted(set(labels.tolist()))}
        out["ckplus48"] = {"faces": int(keep.sum()), "recall": recall,
                           "mean_recall": float(np.mean(list(recall.values())))}
    return out


def emotion_animation(animator, recognizer, clips, threshold: float = 0.3, levels=LEVELS, progress: bool = True,
                      stills: bool = True, gains=(1.0,), textures=(1.0,)):
    """``(readings DataFrame, dropped list)``: each neutral held-out face moved to each emotion and level.

    Other ``gains`` (motion and texture exaggerated together) and other ``textures`` (texture strength alone,
    motion as measured) are rendered at full intensity with the full method only; their rows have
    ``variant`` set ("" for the main rows)."""
    import pandas as pd
    from tqdm.auto import tqdm

    scorer = _Scorer()
    faces, dropped = _neutral_faces(animator, recognizer, clips, threshold, stills)
    methods = emotion_methods(animator)
    jobs = [(method, st, 1.0, tuple(levels), "") for method, st in methods.items()]
    best = list(methods)[-1]
    jobs += [(best, methods[best], g, (max(levels),), f"x{g:g}") for g in gains if g != 1.0]
    if methods[best].texture > 0:
        jobs += [(best, dataclasses.replace(methods[best], texture=float(t)), 1.0, (max(levels),), f"texture {t:g}")
                 for t in textures if t != methods[best].texture]
    rows = []
    for name, source in tqdm(faces, desc="emotion animation", disable=not progress):
        src_face = scorer.face(source.crop, source.landmarks)
        src_desc = scorer.descriptor(source.crop, src_face)
        for emotion in TARGET_EMOTIONS:
            for method, st, gain, lvs, variant in jobs:
                g = animator.emotion_gain(emotion, gain, st)
                track = np.stack([emotion_keypoints(source.landmarks, animator.motion, emotion, lv, gain=g)
                                  for lv in lvs])
                crops = animator.render(source, track, settings=st, emotion=(emotion, g * np.asarray(lvs))).crops
                for lv, crop, kp in zip(lvs, crops, track):
                    face = scorer.face(crop, kp)
                    reading = recognizer.recognize_faces(crop, [face])[0]
                    ident = float(np.linalg.norm(scorer.descriptor(crop, face) - src_desc))
                    rows.append({"face": name, "emotion": emotion, "level": lv, "gain": gain, "applied_gain": g,
                                 "method": method,
                                 "variant": variant, "texture": st.texture,
                                 "label": reading.label, "intensity": reading.intensity,
                                 "p_target": float(reading.probabilities[EMOTIONS.index(emotion)]),
                                 "correct": reading.label == emotion, "identity": ident,
                                 "same_person": ident < SAME_PERSON})
    return pd.DataFrame(rows), dropped


def steadiness(clips, predictor=None, strengths=(0.0, 0.25, 0.5, 0.75, 0.9, 1.0)) -> dict:
    """Jitter and lag of the keypoint filters on the held-out videos' landmark tracks, and the GRU's
    next-frame error against the constant-velocity and constant-position predictors."""

    held = [c for c in clips if c.heldout and c.kind == "video"]
    rows = []
    filters = {"one_euro": lambda x, s, fps: one_euro(x, s, fps),
               "constant_velocity": lambda x, s, fps: predictive_filter(x, s, None)}
    if predictor is not None:
        filters["gru"] = lambda x, s, fps: predictive_filter(x, s, predictor)
    for name, f in filters.items():
        for s in strengths:
            js, lags, lag_ms = [], [], []
            for c in held:
                raw = c.landmarks.astype(np.float64)
                y = f(raw, s, c.fps)
                lag = lag_frames(y, raw)
                js.append(jitter(y))
                lags.append(lag)
                lag_ms.append(1000.0 * lag / c.fps)
            rows.append({"filter": name, "strength": s, "jitter": float(np.mean(js)),
                         "lag_frames": float(np.mean(lags)), "lag_ms": float(np.mean(lag_ms))})
    out = {"filters": rows, "clips": [c.name for c in held],
           "raw_jitter": float(np.mean([jitter(c.landmarks) for c in held]))}
    if predictor is not None:
        out["next_frame_error_px"] = prediction_errors(predictor, [c.landmarks for c in clips if c.heldout])
    return out


def time_paths(animator, source=None, frames: int = 48, repeats: int = 2) -> dict:
    """Frames per second at 256 px: warp path (keypoints -> TPS -> remap -> Gaussian) and full path
    (+ refinement and expression texture, one frame at a time as a live preview runs), excluding and
    including paste-back."""

    source = source or animator.prepare(_astronaut())
    progress = ease(frames)
    track = emotion_keypoints(source.landmarks, animator.motion, "happy", 1.0, progress)
    out = {"frames": frames, "image": list(source.image.shape[:2])}
    variants = {"warp_fps": AnimationSettings(paste=False, refine=False, gaussian=0.3),
                "warp_pasted_fps": AnimationSettings(paste=True, refine=False, gaussian=0.3)}
    if animator.refiner is not None:
        variants["full_fps"] = AnimationSettings(paste=False, refine=True, gaussian=0.3)
        variants["full_pasted_fps"] = AnimationSettings(paste=True, refine=True, gaussian=0.3)
        variants["full_512_fps"] = AnimationSettings(paste=False, refine=True, gaussian=0.3, crop_size=512)
        variants["full_512_pasted_fps"] = AnimationSettings(paste=True, refine=True, gaussian=0.3, crop_size=512)
    sources = {256: source}
    for key, st in variants.items():
        if st.crop_size not in sources:
            sources[st.crop_size] = animator.prepare(source.image, st.crop_size)
        src = sources[st.crop_size]
        kp = track * (st.crop_size / source.crop.shape[0])
        best = 0.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            animator.render(src, kp, settings=st, batch_size=1,
                            emotion=("happy", progress) if st.refine else None)
            best = max(best, frames / (time.perf_counter() - t0))
        out[key] = round(best, 1)
    return out


def time_generator(name: str = "animator_generator", repeats: int = 20) -> dict:
    """Milliseconds per call of the emotion-conditioned generator on one 256 px frame, on the whole crop and
    on the face window (the live path's default), at the precision and backend the machine chooses, and
    the full emotion path's frames per second with it (whole crop); {} where those weights were not made."""
    from ..errors import WeightsError
    from .refine import Refiner

    try:
        refiner = Refiner.load(name)
    except (WeightsError, FileNotFoundError):
        return {}
    from .refine import refine_window

    anim = Animator(generator=refiner, predictor=None)
    source = anim.prepare(_astronaut())
    x = np.random.default_rng(0).uniform(-1, 1, (1, 6 + refiner.conditions, 256, 256)).astype(np.float32)
    window = refine_window(source.landmarks, [source.landmarks], 256)

    def ms(**kw) -> float:
        refiner.refine_batch(x, **kw)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            refiner.refine_batch(x, **kw)
            times.append(time.perf_counter() - t0)
        return round(1000 * float(np.median(times)), 2)

    crop_ms, face_ms = ms(), ms(window=window)
    progress = ease(24)
    track = emotion_keypoints(source.landmarks, anim.motion, "happy", 1.0, progress)
    t0 = time.perf_counter()
    anim.render(source, track, settings=AnimationSettings(paste=False, gaussian=0.3), batch_size=1,
                emotion=("happy", progress))
    return {"weights": name, "backend": refiner.name, "generator_ms_crop_256": crop_ms,
            "generator_ms_face_window": face_ms, "window": list(window),
            "full_fps": round(24 / (time.perf_counter() - t0), 1)}


def paste_check(animator, image=None) -> dict:
    """How the paste-back treats the photo: the largest change outside the crop's footprint (must be 0),
    the mean change in the feathered border ring and inside the face crop, for a full-intensity surprise."""
    import cv2

    image = _astronaut() if image is None else image
    clip = animator.emotion(image, "surprise", 1.0, frames=2)
    src = clip.source
    size = src.crop.shape[0]
    footprint = cv2.warpAffine(np.ones((size, size), np.float32), src.aligned.inverse, image.shape[1::-1],
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    diff = np.abs(clip.frames[-1].astype(np.float32) - image.astype(np.float32)).mean(-1)
    ring = (footprint > 0.01) & (footprint < 0.99)
    ring_edge = ring & (cv2.erode(footprint, np.ones((3, 3))) < 0.5)  # outer part of the crop's edge
    return {"outside_crop_max_change": float(diff[footprint == 0].max(initial=0.0)),
            "crop_edge_mean_change": float(diff[ring_edge].mean()) if ring_edge.any() else 0.0,
            "inside_crop_mean_change": float(diff[footprint >= 0.99].mean())}


@dataclass
class AnimationEval:
    metrics: dict
    reconstruction: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    emotion: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    figures: list[Path] = field(default_factory=list)
    #: the comparison with MEAD's real expressions (:class:`~faceanim.animate.truth.TruthEval`), when run
    truth: "object | None" = field(default=None, repr=False)

    def reconstruction_table(self) -> "pandas.DataFrame":  # noqa: F821
        """One row per (clip kind, method): mean L1, SSIM, AKD, identity over the held-out frames."""
        import pandas as pd

        rec = self.metrics["reconstruction"]
        return pd.DataFrame({(g, m): v for g, d in rec.items() for m, v in d.items()}).T

    def emotion_table(self) -> "pandas.DataFrame":  # noqa: F821
        """One column per emotion method: top-1 at full intensity, pooled and per-face Spearman, same person."""
        import pandas as pd

        e = self.metrics["emotion_animation"]
        keys = ("top1_full", "spearman_pooled", "spearman_mean_per_face_emotion", "same_person_share")
        return pd.DataFrame({m: {k: e[m][k] for k in keys} for m in self.methods})

    @property
    def methods(self) -> list[str]:
        """The emotion methods measured, simplest first (the last is the animator's default)."""
        e = self.metrics["emotion_animation"]
        return [m for m, v in e.items() if isinstance(v, dict) and "top1_full" in v and "spearman_pooled" in v]

    def per_emotion_table(self) -> "pandas.DataFrame":  # noqa: F821
        """Top-1 at full intensity per emotion and method, with the ceiling (real apex faces) beside it."""
        import pandas as pd

        e = self.metrics["emotion_animation"]
        per = pd.DataFrame({m: e[m]["top1_full_per_emotion"] for m in self.methods})
        ceiling = e.get("real_apex", {})
        if "heldout_ckplus_apex" in ceiling:
            per["real apex: held-out CK+"] = pd.Series(ceiling["heldout_ckplus_apex"]["per_emotion"])
        if "ckplus48" in ceiling:
            per["real apex: CK+48"] = pd.Series(ceiling["ckplus48"]["recall"])
        per.loc["mean of six"] = per.mean()
        return per

    def slider_table(self) -> "pandas.DataFrame":  # noqa: F821
        """What the exaggeration and texture sliders buy at full intensity (top-1) and cost (same person)."""
        import pandas as pd

        rows = self.metrics["emotion_animation"].get("top1_full_by_gain", {})
        return pd.DataFrame({k: {"top1": v["top1"], "same person": v["same_person_share"]}
                             for k, v in rows.items()}).T

    def expressive_table(self) -> "pandas.DataFrame":  # noqa: F821
        """From expressive photos: the photo's expression kept vs taken out."""
        import pandas as pd

        fx = self.metrics["emotion_animation"].get("from_expressive", {})
        keys = ("top1", "top1_emotions", "to_neutral", "reads_as_source", "same_person_share")
        return pd.DataFrame({m: {k: fx[m][k] for k in keys} for m in ("kept", "taken out") if m in fx})

    def __repr__(self) -> str:
        r = self.metrics.get("reconstruction", {}).get("video", {})
        emo = self.metrics.get("emotion_animation", {})
        e = emo.get(emo.get("full_method", ""), {})
        return (f"AnimationEval(video L1 {({k: round(v['l1'], 4) for k, v in r.items()})}, "
                f"emotion top-1 at full {e.get('top1_full')}, Spearman {e.get('spearman_pooled')})")


def _summ_recon(df) -> dict:
    out = {}
    for group, g in df.groupby("group"):
        out[group] = {m: {"l1": float(x.l1.mean()), "ssim": float(x.ssim.mean()), "psnr": float(x.psnr.mean()),
                          "akd": float(x.akd.mean()), "identity": float(x.identity.mean()),
                          "same_person_share": float(x.same_person.mean()), "frames": int(len(x))}
                      for m, x in g.groupby("method")}
    return out


def _summ_emotion(df) -> dict:
    """Target figures from the main rows (gain 1: the measured CK+ apex; texture 1); the other gains and
    texture strengths, at full intensity, as ``top1_full_by_gain`` (keys ``"<method> x1"``, ``"... x2"``,
    ``"... texture 2"``)."""
    from scipy.stats import spearmanr

    out = {}
    if "variant" in df and (df.variant != "").any():
        full = df[df.level == df.level.max()]
        out["top1_full_by_gain"] = {
            f"{m} {v or 'x1'}": {"top1": float(x.correct.mean()), "intensity": float(x.intensity.mean()),
                                 "same_person_share": float(x.same_person.mean()),
                                 "per_emotion": {e: float(y.correct.mean()) for e, y in x.groupby("emotion")}}
            for (m, v), x in full.groupby(["method", "variant"])}
        df = df[df.variant == ""]
    for method, g in df.groupby("method"):
        full = g[g.level == g.level.max()]
        per = [spearmanr(x.level, x.intensity).statistic for _, x in g.groupby(["face", "emotion"])
               if x.intensity.nunique() > 1]
        out[method] = {
            "top1_full": float(full.correct.mean()),
            "top1_full_per_emotion": {e: float(x.correct.mean()) for e, x in full.groupby("emotion")},
            "labels_full": {e: x.label.value_counts().to_dict() for e, x in full.groupby("emotion")},
            "spearman_pooled": float(spearmanr(g.level, g.intensity).statistic),
            "spearman_mean_per_face_emotion": float(np.nanmean(per)) if per else float("nan"),
            "intensity_by_level": {str(k): float(v) for k, v in g.groupby("level").intensity.mean().items()},
            "identity_mean": float(g.identity.mean()), "same_person_share": float(g.same_person.mean()),
            "renders": int(len(g))}
    return out


def _plots(metrics: dict, recon, emo, out_dir: Path, animator) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import seaborn as sns

    figs = []

    def save(fig, name):
        path = out_dir / name
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        figs.append(path)

    if len(recon):
        fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
        for ax, metric in zip(axes, ("l1", "ssim", "psnr", "akd")):
            sns.barplot(data=recon, x="method", y=metric, hue="group", ax=ax, order=list(METHODS), errorbar=None)
            ax.set_title(metric.upper() + (" (lower is better)" if metric in ("l1", "akd") else ""))
            ax.set_xlabel("")
            ax.tick_params(axis="x", rotation=20)
        fig.suptitle("Reconstruction of held-out clips from their first frame")
        save(fig, "reconstruction.png")
    if len(emo):
        if "variant" in emo:
            emo = emo[emo.variant == ""]
        fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
        full = emo[emo.level == emo.level.max()]
        order = [e for e in TARGET_EMOTIONS if e in set(full.emotion)]
        sns.barplot(data=full, x="emotion", y="correct", hue="method", ax=axes[0], errorbar=None, order=order)
        axes[0].axhline(0.8, color="k", ls=":", lw=1)
        recall = metrics.get("emotion_animation", {}).get("real_apex", {}).get("ckplus48", {}).get("recall", {})
        if recall:
            axes[0].scatter(range(len(order)), [recall.get(e, np.nan) for e in order], marker="_", s=500,
                            color="k", zorder=5, label="real apex faces (CK+48)")
            axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
        axes[0].set_ylabel("recognizer names the requested emotion")
        axes[0].set_title("At full intensity")
        sns.lineplot(data=emo, x="level", y="intensity", hue="method", style="emotion", ax=axes[1], errorbar=None)
        axes[1].set_xlabel("requested intensity")
        axes[1].set_ylabel("recognized intensity")
        axes[1].set_title("Requested vs recognized intensity")
        axes[1].legend(fontsize=7, ncol=2)
        save(fig, "emotion_animation.png")
    st = metrics.get("steadiness", {})
    if st.get("filters"):
        import pandas as pd

        f = pd.DataFrame(st["filters"])
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, g in f.groupby("filter"):
            ax.plot(g.lag_ms, g.jitter, "o-", label=name)
            for _, r in g.iterrows():
                ax.annotate(f"{r.strength:g}", (r.lag_ms, r.jitter), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_xlabel("lag (ms)")
        ax.set_ylabel("jitter (px / frame², 256 px crop)")
        ax.set_title("Keypoint filters on held-out videos (labels: strength)")
        ax.legend()
        save(fig, "jitter_vs_lag.png")
    # a gallery on the freely licensed astronaut (no research-only faces in committed figures)
    save(astronaut_gallery(animator), "astronaut_emotions.png")
    return figs


def astronaut_gallery(animator):
    """Figure: scikit-image's astronaut (public domain) at full intensity of each emotion, one row per
    method of :func:`emotion_methods` (each adding one step to the row above), and a last row that also
    takes her smile out (the animator's default)."""
    import matplotlib.pyplot as plt

    source = animator.prepare(_astronaut())
    names = list(emotion_methods(animator).items())
    rows = [(name if r == 0 else "+ " + name.split("+")[-1], stt, None) for r, (name, stt) in enumerate(names)]
    smile = animator.read_expression(source)
    if not smile.neutral:
        rows.append((f"+ {smile.emotion} {smile.amount:.2f}\ntaken out", names[-1][1], smile))
    fig, axes = plt.subplots(len(rows), 7, figsize=(14, 2.3 * len(rows)), squeeze=False)
    for r, (name, stt, undo) in enumerate(rows):
        gains = [animator.emotion_gain(e, 1.0, stt) for e in TARGET_EMOTIONS]
        ug = 1.0 if undo is None else animator.emotion_gain(undo.emotion, 1.0, stt)
        crops = [animator.render(source, emotion_keypoints(source.landmarks, animator.motion, e, 1.0, gain=g,
                                                           undo=undo, undo_gain=ug)[None],
                                 settings=stt, emotion=(e, g),
                                 undo=None if undo is None else (undo.emotion, ug * undo.amount)).crops[0]
                 for e, g in zip(TARGET_EMOTIONS, gains)]
        for c, (img, title) in enumerate(zip([source.crop, *crops], ["source", *TARGET_EMOTIONS])):
            axes[r, c].imshow(img)
            axes[r, c].set_axis_off()
            axes[r, c].set_title(title if r == 0 else "", fontsize=9)
        axes[r, 0].text(-10, 128, name, rotation=90, va="center", ha="right", fontsize=9)
    return fig


def evaluate_animation(animator=None, recognizer=None, out_dir: str | os.PathLike | None = None,
                       quick: bool = False, progress: bool = True, clips=None, mead=None,
                       peer: str | None = "fer") -> AnimationEval:
    """Run everything above; write ``animation_metrics.json`` and ``animation/*.png`` under ``out_dir``.

    ``clips`` defaults to every prepared clip (:func:`~faceanim.animate.clips.load_clips`); ``quick`` scores
    6 frames per held-out clip and animates only the first 3 held-out faces (no stills). ``mead``: the MEAD
    clips for the comparison with real expressions (default: the cached ones where ``$FACEANIM_DATA`` has
    MEAD; an empty list skips it); ``peer``: its independent judge (``"fer"``, where installed)."""
    import pandas as pd

    animator = animator or Animator()
    recognizer = recognizer or create_recognizer()
    out_dir = Path(out_dir) if out_dir else reports_dir()
    fig_dir = out_dir / "animation"
    fig_dir.mkdir(parents=True, exist_ok=True)
    clips = clips if clips is not None else load_clips(progress=progress)
    t0 = time.time()
    recon = reconstruction(animator, clips, max_frames=6 if quick else 40, progress=progress)
    full_method = list(emotion_methods(animator))[-1]
    emo, dropped = emotion_animation(animator, recognizer, clips if not quick else
                                     [c for c in clips if c.heldout][:3], levels=LEVELS, progress=progress,
                                     stills=not quick, gains=(1.0, 2.0) if quick else (1.0, 1.5, 2.0, 3.0),
                                     textures=(1.0, 2.0) if quick else (1.0, 1.5, 2.0))
    expressive = from_expressive(animator, recognizer, clips if not quick else [c for c in clips if c.heldout][:3],
                                 stills=not quick, progress=progress)
    metrics = {
        "heldout_videos": list(HELDOUT_VIDEOS), "heldout_subjects": list(HELDOUT_SUBJECTS), "quick": quick,
        "reconstruction": _summ_recon(recon),
        "emotion_animation": {**_summ_emotion(emo), "faces": int(emo.face.nunique()) if len(emo) else 0,
                              "full_method": full_method, "real_apex": real_apex(recognizer, clips),
                              "dropped": [{"face": n, "why": w} for n, w in dropped],
                              "from_expressive": _summ_expressive(expressive)},
        "steadiness": steadiness(clips, animator.predictor),
        "speed": time_paths(animator, frames=24 if quick else 48),
        "generator_speed": time_generator(),
        "paste_back": paste_check(animator),
        "weights": {k: getattr(v, "meta", {}).get("sha256") for k, v in (("refiner", animator.refiner),
                                                                          ("generator", animator.generator))},
    }
    v = metrics["reconstruction"].get("video", {})
    e = metrics["emotion_animation"].get(full_method, {})
    if "warp+refine" in v:
        wr = v["warp+refine"]
        others = [m for m in v if m != "warp+refine"]
        metrics["targets"] = {
            "refine_beats_all_on_l1": all(wr["l1"] < v[m]["l1"] for m in others),
            "refine_beats_all_on_ssim": all(wr["ssim"] > v[m]["ssim"] for m in others),
            "refine_beats_all_on_akd": all(wr["akd"] < v[m]["akd"] for m in others),
            "top1_full_at_least_0.8": e.get("top1_full", 0) >= 0.8,
            "spearman_pooled_at_least_0.9": e.get("spearman_pooled", 0) >= 0.9,
            "identity_under_0.6_on_95pct": min(wr["same_person_share"], e.get("same_person_share", 0)) >= 0.95,
            "warp_30fps": metrics["speed"].get("warp_fps", 0) >= 30,
            "full_10fps": metrics["speed"].get("full_fps", 0) >= 10,
            "background_untouched": metrics["paste_back"]["outside_crop_max_change"] == 0.0,
        }
    truth = None
    if mead is None and has_dataset("mead"):
        from .clips import load_mead_clips

        mead = load_mead_clips(progress=progress)
    if mead:
        from .truth import TruthEval, against_real, summarize_truth, truth_figure

        renders, real = against_real(recognizer=recognizer, clips=clips, mead=mead, peer=peer,
                                     sources_per_actor=2 if quick else 4, calibrate=not quick, progress=progress)
        truth = TruthEval(summarize_truth(renders, real, mead), renders, real)
        metrics["against_real"] = truth.metrics
    metrics["seconds"] = round(time.time() - t0, 1)
    figs = _plots(metrics, recon, emo, fig_dir, animator)
    if truth is not None:
        import matplotlib.pyplot as plt

        path = fig_dir / "against_real.png"
        fig = truth_figure(truth.metrics)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        figs.append(path)
        with atomic_path(fig_dir / "against_real_renders.csv") as tmp:
            truth.renders.to_csv(tmp, index=False)
    write_json(out_dir / "animation_metrics.json", metrics)
    for name, df in (("reconstruction_frames.csv", recon), ("emotion_renders.csv", emo),
                     ("from_expressive.csv", expressive)):

        with atomic_path(fig_dir / name) as tmp:
            pd.DataFrame(df).to_csv(tmp, index=False)
    return AnimationEval(metrics=metrics, reconstruction=recon, emotion=emo, figures=figs, truth=truth)
