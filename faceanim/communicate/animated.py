"""The animator and the audience together: clips whose truth is known, and the smallest readable expression.

:func:`emotion_clip` renders an emotion animation with a known arc (still, rise, hold, fall, still) and
returns its frames with the per-frame intensity that was asked for: labelled clips for the sequence
predictor and for measuring arc errors. :func:`readability` renders one face at a range of amounts
(intensity up to 1, then exaggeration up to 3) and reads each with the recognizer, the audience model
and the identity check; :func:`smallest_readable` picks the smallest amount the predicted audience reads
as the requested emotion with the chosen agreement while the face is still the same person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SettingError
from ..labels import EMOTIONS
from ..limits import check
from .audience import AUDIENCE

__all__ = ["EmotionClip", "emotion_clip", "AMOUNTS", "readability", "Readable", "smallest_readable", "choose_readable"]

#: the amounts :func:`readability` tries: intensity 0.1-1 at exaggeration 1, then exaggeration 1.25-3
AMOUNTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)


@dataclass
class EmotionClip:
    """An animation with a known arc: ``frames (T, 256, 256, 3)`` crops and ``truth (T,)``, the requested
    intensity at each frame (level times the easing); ``rendered`` frames were made by the animator, the
    others repeat them (the still lead-in and tail, the fall as the rise reversed)."""

    name: str
    person: str
    emotion: str
    level: float
    frames: np.ndarray = field(repr=False)
    truth: np.ndarray = field(repr=False)
    index: np.ndarray = field(repr=False)
    fps: float = 25.0


def emotion_clip(animator, source, emotion: str, level: float = 1.0, lead: int = 6, rise: int = 24,
                 hold: int = 12, person: str = "", fps: float = 25.0, **overrides) -> EmotionClip:
    """Still for ``lead`` frames, rise over ``rise`` frames to ``emotion`` at ``level``, hold, fall back the
    same way, still again. Only the rise and hold are rendered (the rest repeats those frames), so the clip
    costs ``rise + hold`` renders."""
    from ..animate.motion import ease

    level = check("intensity", level)
    anim = animator.emotion(source, emotion, level, frames=rise, hold=hold, fps=fps, paste=False, **overrides)
    rendered = anim.crops
    up = np.arange(rise)
    index = np.concatenate([np.zeros(lead, int), up, np.arange(rise, rise + hold), up[::-1], np.zeros(lead, int)])
    progress = ease(rise, "smoothstep", animator.motion.onset, hold)
    curve = np.concatenate([np.zeros(lead), progress[:rise], progress[rise:], progress[:rise][::-1], np.zeros(lead)])
    truth = curve * (level if emotion != "neutral" else 0.0)
    name = f"{person or 'face'}_{emotion}_{level:g}"
    return EmotionClip(name=name, person=person, emotion=emotion, level=float(level), frames=rendered[index],
                       truth=truth.astype(np.float32), index=index, fps=fps)


def readability(animator, photo, emotion: str, amounts=AMOUNTS, recognizer=None, audience=None,
                settings=None) -> "pandas.DataFrame":  # noqa: F821
    """One row per amount: ``intensity`` and ``exaggeration`` (amounts above 1 exaggerate at intensity 1),
    the predicted audience's share naming ``emotion`` (``agreement``), its majority, the recognizer's label,
    and the identity distance to the source with ``same_person`` (dlib descriptors, under 0.6)."""
    import pandas as pd

    from ..emotion import create_recognizer
    from ..face.align import align_face
    from ..face.identity import SAME_PERSON, FaceDescriber
    from ..face.landmarks import create_landmarker
    from ..face.types import Face
    from .audience import AudienceModel

    if emotion not in AUDIENCE or emotion in ("neutral", "contempt"):
        raise SettingError(f"readability is for an emotion the animator makes: one of "
                           f"{', '.join(e for e in AUDIENCE if e not in ('neutral', 'contempt'))}, got {emotion!r}")
    amounts = np.asarray([check("gain", a, what="amount") for a in amounts], np.float64)
    if not len(amounts) or (amounts <= 0).any():
        raise SettingError("give at least one amount above 0 (intensity up to 1, exaggeration up to 3)")
    amounts = np.sort(amounts)
    recognizer = recognizer or create_recognizer()
    audience = audience or AudienceModel.load()
    source = photo if hasattr(photo, "landmarks") else animator.prepare(photo)
    st = settings or animator.settings
    landmarker, describer = create_landmarker("dlib68"), FaceDescriber()

    def face_of(image, points):
        f = Face(box=np.r_[points.min(0), points.max(0)], score=1.0, detector="landmarks")
        landmarker.fit(image, [f])
        return f

    src_face = face_of(source.crop, source.landmarks)
    src_desc = describer.describe(source.crop, [src_face])[0]
    gains = np.array([animator.emotion_gain(emotion, max(1.0, a), st) for a in amounts])
    levels = np.minimum(amounts, 1.0)
    from ..animate.motion import emotion_keypoints

    track = np.stack([emotion_keypoints(source.landmarks, animator.motion, emotion, lv, gain=g)
                      for lv, g in zip(levels, gains)])
    crops = animator.render(source, track, settings=st, emotion=(emotion, gains * levels)).crops
    faces = [face_of(c, kp) for c, kp in zip(crops, track)]
    aligned = [align_face(c, f, "fer", size=recognizer.input_size).image for c, f in zip(crops, faces)]
    probs, _ = recognizer.predict(aligned)
    votes = audience.predict(recognizer.embed(aligned))
    k = AUDIENCE.index(emotion)
    rows = []
    for a, lv, c, f, p, v in zip(amounts, levels, crops, faces, probs, votes):
        ident = float(np.linalg.norm(describer.describe(c, [f])[0] - src_desc))
        rows.append({"amount": float(a), "intensity": float(lv), "exaggeration": float(max(1.0, a)),
                     "agreement": float(v[k]), "majority": AUDIENCE[int(v.argmax())],
                     "recognized": EMOTIONS[int(p.argmax())],
                     "identity": ident, "same_person": ident < SAME_PERSON})
    table = pd.DataFrame(rows)
    table.attrs["crops"] = crops
    return table


@dataclass
class Readable:
    """:func:`smallest_readable`'s choice: the amount (None when no amount tried was read as meant with the
    face kept), as intensity and exaggeration, its agreement, and the whole table."""

    emotion: str
    target: float
    amount: float | None
    intensity: float | None
    exaggeration: float | None
    agreement: float | None
    table: "pandas.DataFrame" = field(repr=False)  # noqa: F821

    @property
    def reached(self) -> bool:
        return self.amount is not None

    def to_dict(self) -> dict:
        return {"emotion": self.emotion, "target": self.target, "reached": self.reached, "amount": self.amount,
                "intensity": self.intensity, "exaggeration": self.exaggeration, "agreement": self.agreement,
                "best_agreement": float(self.table["agreement"].max())}


def smallest_readable(animator, photo, emotion: str, target: float = 0.7, amounts=AMOUNTS, recognizer=None,
                      audience=None, settings=None) -> Readable:
    """The smallest amount at which the predicted audience names ``emotion`` with at least ``target`` of its
    votes while the identity check passes (see :func:`readability`)."""
    table = readability(animator, photo, emotion, amounts, recognizer, audience, settings)
    return choose_readable(table, emotion, target)


def choose_readable(table, emotion: str, target: float = 0.7) -> Readable:
    """:func:`smallest_readable`'s choice from a :func:`readability` table already made (a slider moves the
    target without rendering again)."""
    target = check("agreement", target)
    ok = table[(table["agreement"] >= target) & table["same_person"] & (table["majority"] == emotion)]
    if ok.empty:
        return Readable(emotion, target, None, None, None, None, table)
    r = ok.iloc[0]
    return Readable(emotion, target, float(r.amount), float(r.intensity), float(r.exaggeration), float(r.agreement),
                    table)
