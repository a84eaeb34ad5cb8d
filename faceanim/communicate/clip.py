"""One clip, frame by frame, as a viewer would read it: :func:`read_clip` and :func:`summarize`.

:func:`read_clip` finds the subject's face in every frame (the largest face; a frame without one is kept
and marked), reads it with the emotion recognizer and the audience model, and returns a
:class:`ClipReading`: a per-frame DataFrame and the per-frame feature rows the sequence predictor takes.
:func:`summarize` turns a reading into a :class:`ClipSummary`: the emotion meant (given, or the sequence
predictor's / the audience's choice), clarity over time (the predicted share of viewers naming that
emotion), the intensity arc (onset, apex, offset, peak), mixed-signal moments (two emotions competing)
and temporal consistency.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import MediaError, NoFaceError, SettingError
from ..labels import EMOTIONS
from ..limits import check
from .audience import AUDIENCE, ambiguity

__all__ = ["FRAME_FEATURES", "MIN_FRAMES", "ClipReading", "Arc", "ClipSummary", "read_clip", "smooth",
           "intensity_arc", "mixed_moments", "summarize", "clip_from_frames"]

#: what the sequence predictor sees of each frame: the recognizer's 7 probabilities and intensity, the
#: audience model's 8 vote shares, and whether a face was found (features of a frame without one are held
#: from the nearest frame with one)
FRAME_FEATURES = (*(f"p_{e}" for e in EMOTIONS), "intensity", *(f"votes_{c}" for c in AUDIENCE), "face")
#: a clip shorter than this (frames with a face) is summarised from its frames alone: no sequence model
MIN_FRAMES = 8
#: where two emotions "compete": the runner-up has at least FLOOR of the votes and trails by at most MARGIN
MIXED_FLOOR, MIXED_MARGIN = 0.25, 0.15
#: the arc's level crossings, as shares of the way from the clip's lowest to its highest intensity
ONSET_AT, APEX_AT = 0.2, 0.9
#: an arc whose peak rises less than this above its baseline is reported as flat
FLAT = 0.1


@dataclass
class ClipReading:
    """A clip read frame by frame.

    Attributes:
        name: the clip's name (file stem, or what the caller gave).
        fps: frames per second of the source.
        table: one row per frame: ``frame``, ``time_s``, ``face`` (found or not), the box, the recognizer's
            ``label``/``p_<emotion>``/``intensity``, the audience's ``votes_<class>``, ``majority``,
            ``agreement``, ``ambiguity``.
        features: ``(T, len(FRAME_FEATURES))`` float32 rows for the sequence predictor.
    """

    name: str
    fps: float
    table: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    features: np.ndarray = field(repr=False)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def face_frames(self) -> int:
        return int(self.table["face"].sum())

    @property
    def votes(self) -> np.ndarray:
        return self.table[[f"votes_{c}" for c in AUDIENCE]].to_numpy(np.float64)

    @property
    def intensity(self) -> np.ndarray:
        return self.table["intensity"].to_numpy(np.float64)

    def __repr__(self) -> str:
        return f"ClipReading({self.name!r}, {len(self)} frames, {self.face_frames} with a face, {self.fps:g} fps)"


def _fill(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Rows where no face was found take the nearest found row's values."""
    if found.all() or not found.any():
        return values
    idx = np.flatnonzero(found)
    nearest = idx[np.abs(np.arange(len(found))[:, None] - idx[None, :]).argmin(1)]
    return values[nearest]


def clip_from_frames(name: str, fps: float, found: np.ndarray, boxes: np.ndarray, probs: np.ndarray,
                     intensity: np.ndarray, votes: np.ndarray) -> ClipReading:
    """A :class:`ClipReading` from per-frame arrays (rows where ``found`` is False may hold anything)."""
    import pandas as pd

    found = np.asarray(found, bool)
    if not found.any():
        raise NoFaceError(f"no face was found in any of the {len(found)} frames of {name}; the communication "
                          f"report needs a visible face (check the clip shows one, large and lit)")
    probs = _fill(np.asarray(probs, np.float32), found)
    intensity = _fill(np.asarray(intensity, np.float32).reshape(-1), found)
    votes = _fill(np.asarray(votes, np.float32), found)
    t = np.arange(len(found))
    table = pd.DataFrame({"frame": t, "time_s": t / fps, "face": found})
    for k, c in enumerate(("x1", "y1", "x2", "y2")):
        table[c] = np.where(found, np.asarray(boxes, np.float32)[:, k], np.nan)
    table["label"] = [EMOTIONS[i] for i in probs.argmax(1)]
    for i, e in enumerate(EMOTIONS):
        table[f"p_{e}"] = probs[:, i]
    table["intensity"] = intensity
    for i, c in enumerate(AUDIENCE):
        table[f"votes_{c}"] = votes[:, i]
    table["majority"] = [AUDIENCE[i] for i in votes.argmax(1)]
    table["agreement"] = votes.max(1)
    table["ambiguity"] = ambiguity(votes)
    features = np.concatenate([probs, intensity[:, None], votes, found[:, None].astype(np.float32)], 1)
    return ClipReading(name=name, fps=float(fps), table=table, features=features.astype(np.float32))


def _frames_of(source, max_frames: int | None):
    """``(name, fps, iterator of RGB/gray frames, total)`` for a path, an Animation or frames."""
    from ..io import frame_source, is_image_path

    if hasattr(source, "crops") and hasattr(source, "fps"):  # an Animation
        frames = source.frames if getattr(source, "frames", None) is not None else source.crops
        frames = frames[:max_frames] if max_frames else frames
        return "animation", float(source.fps), iter(frames), len(frames)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            raise MediaError(f"{path} is a folder; give one video file (or read each clip in it: "
                             f"[read_clip(p) for p in sorted(Path({str(path)!r}).glob('*.mp4'))])")
        if is_image_path(path):
            raise MediaError(f"{path} is a still image; the communication report reads a clip (a video, or a "
                             f"list of frames). For one face use AudienceModel.read or faceanim recognize")
        items, fps, total, reader = frame_source(path, max_frames=max_frames)
        return path.stem, float(fps or 25.0), (im for _, _, im in items), total
    if isinstance(source, np.ndarray) and source.ndim == 3 and source.shape[2] in (3, 4):
        raise MediaError(f"an array of shape {source.shape} is one colour image; a clip is (frames, height, width"
                         f"[, 3]) or a video path")
    if isinstance(source, np.ndarray) and source.ndim in (3, 4) and source.dtype == np.uint8:
        frames = source[:max_frames] if max_frames else source
        return "frames", 25.0, iter(frames), len(frames)
    items, fps, total, _ = frame_source(source, max_frames=max_frames)
    return "frames", float(fps), (im for _, _, im in items), total


def read_clip(source, recognizer=None, audience=None, name: str | None = None, fps: float | None = None,
              max_frames: int | None = None, batch: int = 32, progress: bool = True) -> ClipReading:
    """Read every frame of a clip: a video path, an :class:`~faceanim.animate.Animation`, a ``(T, H, W[, 3])``
    uint8 array or an iterable of frames. The subject is the largest face in each frame; a frame without a
    face is kept (``face`` False) and its features held from the nearest frame with one.
    Raises :class:`~faceanim.errors.NoFaceError` when no frame shows a face."""
    from tqdm.auto import tqdm

    from ..emotion import create_recognizer
    from .audience import AudienceModel

    max_frames = check("max_frames", max_frames, optional=True)
    recognizer = recognizer or create_recognizer()
    audience = audience or AudienceModel.load()
    clip_name, clip_fps, frames, total = _frames_of(source, max_frames)
    name = name or clip_name
    fps = check("fps", fps) if fps is not None else clip_fps
    found, boxes, crops = [], [], []
    probs, inten, votes = [], [], []

    def flush():
        if not crops:
            return
        p, v = recognizer.predict(crops)
        votes.append(audience.predict(recognizer.embed(crops)))
        probs.append(p)
        inten.append(v)
        crops.clear()

    pipeline = recognizer.pipeline
    for image in tqdm(frames, total=total, desc=f"reading {name}", unit="frame", disable=not progress):
        result = pipeline(np.asarray(image))
        if result.faces:
            k = int(np.argmax([f.size for f in result.faces]))
            found.append(True)
            boxes.append(np.asarray(result.faces[k].box, np.float32))
            crops.append(result.aligned[k].image)
            if len(crops) >= batch:
                flush()
        else:
            found.append(False)
            boxes.append(np.full(4, np.nan, np.float32))
    flush()
    if not found:
        raise MediaError(f"{name} has no frames; give a clip with at least {MIN_FRAMES} frames")
    found_a = np.asarray(found)
    n = len(found_a)
    full_p, full_i, full_v = (np.zeros((n, len(EMOTIONS)), np.float32), np.zeros(n, np.float32),
                              np.zeros((n, len(AUDIENCE)), np.float32))
    if found_a.any():
        full_p[found_a], full_i[found_a], full_v[found_a] = (np.concatenate(probs), np.concatenate(inten),
                                                             np.concatenate(votes))
    return clip_from_frames(name, fps, found_a, np.stack(boxes), full_p, full_i, full_v)


def smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian over time (``sigma`` in frames; 0 leaves the values as they are), edges held."""
    sigma = float(check("smooth_sigma", sigma))
    values = np.asarray(values, np.float64)
    if sigma <= 0 or len(values) < 2:
        return values.copy()
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(values, sigma, axis=0, mode="nearest")


@dataclass
class Arc:
    """The intensity arc: frames where the expression sets in (``onset``), peaks (``apex``: the middle of
    the run near the peak) and has gone (``offset``; None when the clip ends before that), and the peak."""

    onset: int
    apex: int
    offset: int | None
    peak: float
    baseline: float

    def to_dict(self, fps: float | None = None) -> dict:
        out = {"onset": self.onset, "apex": self.apex, "offset": self.offset, "peak": round(self.peak, 4),
               "baseline": round(self.baseline, 4)}
        if fps:
            out.update({f"{k}_s": None if getattr(self, k) is None else round(getattr(self, k) / fps, 3)
                        for k in ("onset", "apex", "offset")})
        return out


def intensity_arc(curve: np.ndarray, onset_at: float = ONSET_AT, apex_at: float = APEX_AT) -> Arc:
    """Onset, apex and offset of a (smoothed) intensity curve, as level crossings between its lowest and
    highest values: onset is the first frame above ``onset_at`` of the way up before the apex, the apex the
    middle of the run at or above ``apex_at`` that holds the peak, the offset the first frame after it back
    below ``onset_at``."""
    c = np.asarray(curve, np.float64)
    if c.ndim != 1 or not len(c) or not np.isfinite(c).all():
        raise MediaError("an intensity arc needs a 1-D curve of finite numbers")
    peak_i = int(c.argmax())
    lo, hi = float(c[: peak_i + 1].min()), float(c.max())
    span = hi - lo
    if span <= 1e-9:
        return Arc(onset=0, apex=peak_i, offset=None, peak=hi, baseline=lo)
    high = c >= lo + apex_at * span
    start = end = peak_i
    while start > 0 and high[start - 1]:
        start -= 1
    while end < len(c) - 1 and high[end + 1]:
        end += 1
    apex = (start + end) // 2
    low_level = lo + onset_at * span
    before = np.flatnonzero(c[: peak_i + 1] <= low_level)
    onset = int(before[-1] + 1) if len(before) else 0
    after = np.flatnonzero(c[end:] < low_level)
    offset = int(end + after[0]) if len(after) else None
    return Arc(onset=min(onset, apex), apex=apex, offset=offset, peak=hi, baseline=lo)


def mixed_moments(votes: np.ndarray, floor: float = MIXED_FLOOR, margin: float = MIXED_MARGIN,
                  found: np.ndarray | None = None) -> "pandas.DataFrame":  # noqa: F821
    """Runs of frames where two emotions compete for the viewers: the runner-up has at least ``floor`` of the
    votes and trails the leader by at most ``margin``. One row per run: start, end, frames, the two emotions,
    and their mean shares."""
    import pandas as pd

    v = np.asarray(votes, np.float64)
    order = np.argsort(-v, 1)
    top, second = v[np.arange(len(v)), order[:, 0]], v[np.arange(len(v)), order[:, 1]]
    mixed = (second >= floor) & (top - second <= margin)
    if found is not None:
        mixed &= np.asarray(found, bool)
    rows, t = [], 0
    while t < len(v):
        if not mixed[t]:
            t += 1
            continue
        s = t
        while t < len(v) and mixed[t]:
            t += 1
        pair = sorted({int(order[k, 0]) for k in range(s, t)} | {int(order[k, 1]) for k in range(s, t)},
                      key=lambda j: -v[s:t, j].mean())[:2]
        rows.append({"start": s, "end": t - 1, "frames": t - s, "first": AUDIENCE[pair[0]],
                     "second": AUDIENCE[pair[1]], "first_share": float(v[s:t, pair[0]].mean()),
                     "second_share": float(v[s:t, pair[1]].mean())})
    return pd.DataFrame(rows, columns=["start", "end", "frames", "first", "second", "first_share", "second_share"])


@dataclass
class ClipSummary:
    """What :func:`summarize` makes of a clip (``to_dict`` for JSON; ``frames`` is the per-frame table with
    the smoothed ``clarity`` and ``intensity_smooth`` columns and a ``mixed`` flag)."""

    name: str
    emotion: str
    emotion_from: str
    arc_from: str
    clarity: float
    clarity_peak: float
    arc: Arc
    consistency: float
    steadiness: float
    mixed: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    frames: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    fps: float = 25.0
    emotion_probabilities: dict = field(default_factory=dict, repr=False)
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"clip": self.name, "emotion": self.emotion, "emotion_from": self.emotion_from, "arc_from": self.arc_from,
                "clarity": round(self.clarity, 4), "clarity_peak": round(self.clarity_peak, 4),
                "arc": self.arc.to_dict(self.fps), "consistency": round(self.consistency, 4),
                "steadiness": round(self.steadiness, 4), "frames": int(len(self.frames)),
                "face_frames": int(self.frames["face"].sum()), "fps": self.fps,
                "mixed_moments": self.mixed.to_dict("records"),
                "emotion_probabilities": {k: round(v, 4) for k, v in self.emotion_probabilities.items()},
                "notes": list(self.notes)}

    def apex_votes(self) -> "pandas.Series":  # noqa: F821
        """The predicted vote distribution at the apex frame."""
        import pandas as pd

        row = self.frames.iloc[self.arc.apex]
        return pd.Series({c: float(row[f"votes_{c}"]) for c in AUDIENCE}, name="votes")


def summarize(reading: ClipReading, emotion: str | None = None, predictor=None, sigma: float = 2.0,
              mixed_floor: float = MIXED_FLOOR, mixed_margin: float = MIXED_MARGIN) -> ClipSummary:
    """Summarise a :class:`ClipReading`. ``emotion``: the emotion the clip means to show (one of
    :data:`AUDIENCE`); without it the ``predictor`` (a :class:`~faceanim.communicate.SequencePredictor`)
    names it, or, for a clip too short for one, the audience's majority over the frames near the peak.
    ``sigma``: the smoothing over time in frames."""
    notes = []
    if predictor is not None and not (predictor.task == "class" and set(predictor.classes) <= set(AUDIENCE)):
        raise SettingError(f"the sequence model {predictor.name!r} predicts {list(predictor.classes) or 'a score'}, not "
                           f"emotions; summarize needs one that names emotions (clip_emotion) or emotion=...")
    found = reading.table["face"].to_numpy(bool)
    if not found.all():
        notes.append(f"no face in {int((~found).sum())} of {len(found)} frames; their readings are held from the "
                     f"nearest frame with a face and they count in no figure")
    mixed_floor, mixed_margin = check("agreement", mixed_floor, what="mixed_floor"), \
        check("agreement", mixed_margin, what="mixed_margin")
    votes_s = smooth(reading.votes, sigma)
    enough = predictor is not None and reading.face_frames >= MIN_FRAMES
    if enough and predictor.frame_trained:
        inten_s, arc_from = smooth(predictor.frame_intensity(reading.features), sigma), f"sequence model {predictor.name}"
    else:
        inten_s, arc_from = smooth(reading.intensity, sigma), "recognizer intensity"
    arc = intensity_arc(inten_s)
    if arc.peak - arc.baseline < FLAT:
        notes.append(f"the intensity stays within {arc.peak - arc.baseline:.2f} over the clip: no clear arc, so onset, "
                     f"apex and offset say little")
    probabilities: dict = {}
    if emotion is not None:
        from ..labels import ALIASES

        key = ALIASES.get(str(emotion).lower(), str(emotion).lower())
        if key not in AUDIENCE:
            raise SettingError(f"unknown emotion {emotion!r}; choose one of {', '.join(AUDIENCE)}")
        emotion, source = key, "given"
    elif enough and predictor.task == "class":
        probs = predictor.predict_proba([reading.features])[0]
        probabilities = dict(zip(predictor.classes, map(float, probs)))
        emotion, source = predictor.classes[int(np.argmax(probs))], f"sequence model {predictor.name}"
    else:
        if predictor is not None and not enough:
            notes.append(f"only {reading.face_frames} frames with a face (the sequence model needs {MIN_FRAMES}); "
                         f"the emotion is the audience's majority near the peak")
        near = found & (inten_s >= arc.baseline + 0.5 * (arc.peak - arc.baseline))
        near = near if near.any() else found
        mean = reading.votes[near].mean(0)
        emotion, source = AUDIENCE[int(mean.argmax())], "audience majority near the peak"
    k = AUDIENCE.index(emotion)
    clarity_t = votes_s[:, k]
    shown = found & (inten_s >= arc.baseline + 0.5 * (arc.peak - arc.baseline))
    shown = shown if shown.any() else found
    raw_major = reading.votes.argmax(1)
    tv = 0.5 * np.abs(np.diff(reading.votes[found], axis=0)).sum(1) if found.sum() > 1 else np.zeros(1)
    mixed = mixed_moments(votes_s, mixed_floor, mixed_margin, found)
    frames = reading.table.copy()
    frames["clarity"] = clarity_t
    frames["intensity_smooth"] = inten_s
    frames["mixed"] = False
    for r in mixed.itertuples():
        frames.loc[r.start:r.end, "mixed"] = True
    return ClipSummary(name=reading.name, emotion=emotion, emotion_from=source, arc_from=arc_from,
                       clarity=float(clarity_t[shown].mean()), clarity_peak=float(clarity_t[arc.apex]), arc=arc,
                       consistency=float((raw_major[shown] == k).mean()), steadiness=float(1.0 - tv.mean()),
                       mixed=mixed, frames=frames, fps=reading.fps, emotion_probabilities=probabilities,
                       notes=notes)
