"""Where the keypoints go: toward an emotion (motion learned from CK+), or with a driving video.

Emotion motion is measured, not typed in: for every training CK+ sequence the 68 landmarks of the apex
frame minus those of the neutral first frame, each frame first put in a pose-free unit frame
(:func:`~faceanim.animate.keypoints.normalizing_transform`), averaged per emotion. The average onset curve
(how far along its final displacement a sequence is at each moment) is kept too, as the ``"ckplus"`` easing.

Driving motion follows FOMM/TPSMM: *relative* moves the source keypoints by the driving face's
displacement from a reference frame, scaled by the ratio of face sizes; *absolute* puts the driving
keypoints themselves (similarity-aligned) on the source; the reference is the driving video's first
frame or the frame whose expression and pose are closest to the source's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SettingError, check_number
from ..labels import EMOTIONS, to_emotion
from ..limits import check
from ..weights import StateWeights
from .keypoints import apply_affine, face_scale, normalizing_transform

__all__ = ["EmotionMotion", "learn_emotion_motion", "ease", "EASINGS", "emotion_keypoints", "driving_keypoints",
           "closest_frame", "DRIVING_MODES", "ANIMATABLE", "SourceExpression"]

EASINGS = ("smoothstep", "linear", "ckplus")
DRIVING_MODES = ("relative", "absolute")
#: Emotions the animator can move toward (neutral means no motion).
ANIMATABLE = EMOTIONS


@dataclass
class EmotionMotion(StateWeights):
    """Per-emotion apex displacement of the 68 landmarks in the unit face frame, and the onset curve.

    Attributes:
        displacement: emotion name -> ``(68, 2)`` mean apex-minus-neutral displacement (unit frame).
        spread: emotion name -> ``(68,)`` standard deviation of that displacement's length across sequences.
        onset: ``(K,)`` mean fraction of the final displacement reached over normalised time 0..1.
        sequences: emotion name -> number of sequences averaged.
    """

    weights_kind = "emotion_motion"

    displacement: dict[str, np.ndarray]
    spread: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    onset: np.ndarray = field(default_factory=lambda: np.linspace(0, 1, 21), repr=False)
    sequences: dict[str, int] = field(default_factory=dict)
    subjects: list[str] = field(default_factory=list)

    def offsets(self, emotion: str) -> np.ndarray:
        """``(68, 2)`` unit-frame displacement at full intensity (zeros for neutral)."""
        if emotion == "neutral":
            return np.zeros((68, 2))
        if emotion not in self.displacement:
            known = ", ".join(["neutral", *self.displacement])
            raise SettingError(f"unknown emotion {emotion!r}; choose one of {known}")
        return np.asarray(self.displacement[emotion], np.float64)

    def to_state(self) -> dict:
        return {"displacement": {k: np.asarray(v, np.float32) for k, v in self.displacement.items()},
                "spread": {k: np.asarray(v, np.float32) for k, v in self.spread.items()},
                "onset": np.asarray(self.onset, np.float32), "sequences": dict(self.sequences),
                "subjects": list(self.subjects)}

    @classmethod
    def from_state(cls, state: dict) -> "EmotionMotion":
        return cls(displacement=dict(state["displacement"]), spread=dict(state.get("spread", {})),
                   onset=np.asarray(state["onset"]), sequences=dict(state.get("sequences", {})),
                   subjects=list(state.get("subjects", [])))



def _unit(landmarks: np.ndarray) -> np.ndarray:
    return apply_affine(normalizing_transform(landmarks), landmarks)


def learn_emotion_motion(clips, exclude_subjects=(), onset_points: int = 21) -> EmotionMotion:
    """Average apex-minus-neutral landmark motion per emotion over CK+ clips (``kind == "ckplus"``)."""
    per: dict[str, list[np.ndarray]] = {}
    curves, subjects = [], set()
    for clip in clips:
        if clip.kind != "ckplus" or clip.person in exclude_subjects or len(clip) < 2:
            continue
        unit = np.stack([_unit(lm) for lm in clip.landmarks])
        disp = unit - unit[0]
        final = disp[-1]
        per.setdefault(to_emotion(clip.emotion), []).append(final)
        subjects.add(clip.person)
        # onset: projection of each frame's displacement on the final one, resampled on 0..1
        frac = (disp.reshape(len(disp), -1) @ final.reshape(-1)) / max(float((final ** 2).sum()), 1e-12)
        t = np.linspace(0, 1, len(frac))
        curves.append(np.interp(np.linspace(0, 1, onset_points), t, frac))
    if not per:
        raise SettingError("no CK+ clips to learn emotion motion from (all excluded or none given)")
    onset = np.clip(np.mean(curves, 0), 0, None)
    onset = (onset - onset[0]) / max(onset[-1] - onset[0], 1e-9)
    return EmotionMotion(
        displacement={k: np.mean(v, 0) for k, v in sorted(per.items())},
        spread={k: np.std([np.linalg.norm(d, axis=1) for d in v], 0) for k, v in sorted(per.items())},
        onset=np.maximum.accumulate(np.clip(onset, 0, 1)), sequences={k: len(v) for k, v in sorted(per.items())},
        subjects=sorted(subjects))


def ease(frames: int, curve: str = "smoothstep", onset: np.ndarray | None = None, hold: int = 0) -> np.ndarray:
    """``(frames,)`` progress from 0 to 1 (then ``hold`` extra frames at 1)."""
    frames, hold = check("frames", frames), check("hold", hold)
    if curve not in EASINGS:
        raise SettingError(f"unknown easing {curve!r}; choose one of {', '.join(EASINGS)}")
    t = np.linspace(0.0, 1.0, frames) if frames > 1 else np.ones(1)
    if curve == "linear":
        p = t
    elif curve == "smoothstep":
        p = t * t * (3 - 2 * t)
    else:
        curve_pts = np.linspace(0, 1, 21) if onset is None else np.asarray(onset)
        p = np.interp(t, np.linspace(0, 1, len(curve_pts)), curve_pts)
    return np.concatenate([p, np.ones(hold)])


def emotion_keypoints(source: np.ndarray, motion: EmotionMotion, emotion: str, intensity: float,
                      progress: np.ndarray | float = 1.0, gain: float = 1.0,
                      undo: "SourceExpression | None" = None) -> np.ndarray:
    """Source landmarks moved toward ``emotion``: ``(T, 68, 2)`` for a progress array, ``(68, 2)`` for a number.

    The unit-frame displacement is carried onto the source face with the inverse of its normalising
    similarity (so it follows the face's size and roll) and scaled by ``gain * intensity * progress``.
    Intensity 1 with ``gain`` 1 is the measured CK+ mean apex; ``gain`` above 1 exaggerates it (a caricature
    control, 1 to 3). ``undo``, the expression the photo already shows, is taken out along the way:
    its mean displacement times ``undo.amount * progress`` is subtracted, so the last frame shows the
    requested emotion and not the photo's smile under it.
    """
    import cv2

    gain = float(check("gain", gain))
    intensity = float(check("intensity", intensity))
    src = np.asarray(source, np.float64)
    inv = cv2.invertAffineTransform(normalizing_transform(src))
    unit = gain * intensity * motion.offsets(emotion)
    if undo is not None:
        unit = unit - undo.amount * motion.offsets(undo.emotion)
    prog = np.asarray(progress, np.float64)
    return src + prog[..., None, None] * (unit @ inv[:, :2].T)


@dataclass(frozen=True)
class SourceExpression:
    """The expression a photo already shows, to be taken out when it is animated toward another one:
    ``emotion`` at ``amount`` (0 = neutral, 1 = the measured CK+ mean apex), with where it came from."""

    emotion: str
    amount: float
    source: str = "given"

    def __post_init__(self):
        if self.emotion not in ANIMATABLE:
            raise SettingError(f"unknown source expression {self.emotion!r}; choose one of {', '.join(ANIMATABLE)}")
        check_number(self.amount, "source expression amount", 0.0, 1.0)

    @property
    def neutral(self) -> bool:
        return self.emotion == "neutral" or self.amount == 0

    @classmethod
    def from_reading(cls, reading) -> "SourceExpression":
        """From a recognizer's :class:`~faceanim.emotion.EmotionReading`: its label at its learned intensity
        when the face counts as expressive (intensity at or above the reading's threshold), else neutral."""
        if not reading.expressive:
            return cls("neutral", 0.0, "recognizer")
        return cls(reading.label, float(np.clip(reading.intensity, 0.0, 1.0)), "recognizer")


def closest_frame(source: np.ndarray, driving: np.ndarray) -> int:
    """Index of the driving frame whose pose-free landmarks are closest to the source's."""
    s = _unit(source)
    d = np.stack([_unit(lm) for lm in driving])
    return int(np.argmin(((d - s) ** 2).sum((1, 2))))


def driving_keypoints(source: np.ndarray, driving: np.ndarray, mode: str = "relative",
                      reference: str | int = "first", scale: bool = True) -> np.ndarray:
    """``(T, 68, 2)`` source keypoints that follow ``driving`` ``(T, 68, 2)`` landmarks.

    Args:
        mode: ``"relative"`` (source + driving displacement from the reference frame; keeps the source's
            face shape) or ``"absolute"`` (the driving landmarks, moved by the similarity that puts the
            reference driving face on the source face).
        reference: ``"first"``, ``"best"`` (the frame closest to the source pose, FOMM's
            ``find_best_frame``), or a frame index.
        scale: in relative mode, scale the displacement by the ratio of face sizes.
    """
    from ..face.align import similarity_matrix

    src = np.asarray(source, np.float64)
    drv = np.asarray(driving, np.float64)
    if drv.ndim != 3 or drv.shape[1:] != src.shape:
        raise SettingError(f"driving landmarks must be (T, {len(src)}, 2), got {drv.shape}")
    if mode not in DRIVING_MODES:
        raise SettingError(f"unknown driving mode {mode!r}; choose one of {', '.join(DRIVING_MODES)}")
    if reference == "first":
        ref = 0
    elif reference == "best":
        ref = closest_frame(src, drv)
    elif isinstance(reference, (int, np.integer)) and 0 <= reference < len(drv):
        ref = int(reference)
    else:
        raise SettingError(f"reference must be 'first', 'best' or a frame index below {len(drv)}, got {reference!r}")
    if mode == "relative":
        ratio = face_scale(src) / face_scale(drv[ref]) if scale else 1.0
        return src + (drv - drv[ref]) * ratio
    mat = similarity_matrix(drv[ref], src)
    return apply_affine(mat, drv)
