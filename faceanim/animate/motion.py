"""Where the keypoints go: toward an emotion (motion learned from CK+ and MEAD), or with a driving video.

Emotion motion is measured, not typed in. Every face is first put in a pose-free unit frame
(:func:`~faceanim.animate.keypoints.normalizing_transform`: outer eye corners 1 apart and level).

- CK+: for every training sequence the 68 landmarks of the apex frame minus those of the neutral first
  frame. The average onset curve (how far along its final displacement a sequence is at each moment) is
  kept too, as the ``"ckplus"`` easing.
- MEAD: the actors *speak* while they show the emotion, so no single frame is the expression. Each clip's
  :func:`expression_shape` separates the two: the upper face (brows, eyes, nose) is the clip's median
  shape, which speech hardly moves; the lips and the jaw line are the mean of the clip's *rest* frames,
  the 20% with the mouth most closed (speech opens the mouth; the expression sets the shape it rests in:
  a smile's spread lips, surprise's dropped jaw). An actor's emotion motion is that shape minus the shape
  of their neutral clip, read the same way, so what speech leaves in both cancels.
- MEAD's actors also hold their head a little differently in each clip (in the 3DMM fits, M030's sad
  clip is pitched several degrees further down than his neutral one, W009's further up), and a pitched head shortens
  the nose and moves the brows in 2D as an expression would. Each frame is therefore turned frontal first
  (:class:`PoseData`): its pitch and yaw come from the clip's 3DMM fit, and how 68 points move per degree
  from the actor's own 3D face shape (MediaPipe's mesh with depth, on their neutral clip).

The two sources are pooled per emotion, each source's mean weighted half (``mead_weight``), so one MEAD
actor's level-3 expression counts as much as all the CK+ sequences of that emotion; contempt, which only
MEAD has, comes from MEAD alone.

Driving motion follows FOMM/TPSMM: *relative* moves the source keypoints by the driving face's
displacement from a reference frame, scaled by the ratio of face sizes; *absolute* puts the driving
keypoints themselves (similarity-aligned) on the source; the reference is the driving video's first
frame or the frame whose expression and pose are closest to the source's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SettingError, check_number
from ..labels import CONTEMPT, EMOTIONS, to_emotion
from ..limits import check
from ..weights import StateWeights
from .keypoints import apply_affine, face_scale, normalizing_transform

__all__ = ["EmotionMotion", "learn_emotion_motion", "expression_shape", "PoseData", "pose_basis", "mead_pose_data",
           "rest_frames", "mouth_opening",
           "SPEECH_POINTS", "REST_SHARE", "ease", "EASINGS", "emotion_keypoints", "driving_keypoints",
           "closest_frame", "DRIVING_MODES", "ANIMATABLE", "SourceExpression"]

EASINGS = ("smoothstep", "linear", "ckplus")
DRIVING_MODES = ("relative", "absolute")
#: Emotions the animator can move toward (neutral means no motion); contempt where the motion has it.
ANIMATABLE = (*EMOTIONS, CONTEMPT)
#: Landmarks that speech moves (the jaw line 0-16 and the lips 48-67): read from a clip's rest frames.
SPEECH_POINTS = np.r_[0:17, 48:68]
#: Share of a talking clip's frames, the mouth most closed, that are its rest frames.
REST_SHARE = 0.2


@dataclass
class EmotionMotion(StateWeights):
    """Per-emotion apex displacement of the 68 landmarks in the unit face frame, and the onset curve.

    Attributes:
        displacement: emotion name -> ``(68, 2)`` mean apex-minus-neutral displacement (unit frame).
        spread: emotion name -> ``(68,)`` standard deviation of that displacement's length across sequences.
        onset: ``(K,)`` mean fraction of the final displacement reached over normalised time 0..1.
        sequences: emotion name -> number of sequences (CK+) and clips (MEAD) averaged.
        subjects: the CK+ subjects and MEAD actors used.
        sources: source (``"ckplus"``, ``"mead"``) -> emotion -> how many it gave.
        skipped: MEAD clips left out (no neutral clip of the actor, or no head pose where the others have one).
        frontal: MEAD frames were turned frontal (:class:`PoseData`) before they were read.
    """

    weights_kind = "emotion_motion"

    displacement: dict[str, np.ndarray]
    spread: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    onset: np.ndarray = field(default_factory=lambda: np.linspace(0, 1, 21), repr=False)
    sequences: dict[str, int] = field(default_factory=dict)
    subjects: list[str] = field(default_factory=list)
    sources: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    frontal: bool = False

    @property
    def emotions(self) -> list[str]:
        """The emotions this motion can move toward (neutral aside)."""
        return list(self.displacement)

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
                "subjects": list(self.subjects), "sources": {k: dict(v) for k, v in self.sources.items()},
                "skipped": list(self.skipped), "frontal": bool(self.frontal)}

    @classmethod
    def from_state(cls, state: dict) -> "EmotionMotion":
        return cls(displacement=dict(state["displacement"]), spread=dict(state.get("spread", {})),
                   onset=np.asarray(state["onset"]), sequences=dict(state.get("sequences", {})),
                   subjects=list(state.get("subjects", [])),
                   sources={k: dict(v) for k, v in state.get("sources", {}).items()},
                   skipped=list(state.get("skipped", [])), frontal=bool(state.get("frontal", False)))



def _unit(landmarks: np.ndarray) -> np.ndarray:
    return apply_affine(normalizing_transform(landmarks), landmarks)


def mouth_opening(unit: np.ndarray) -> np.ndarray:
    """``(T,)`` gap between the inner lips (points 61-63 against 67-65) of ``(T, 68, 2)`` unit-frame landmarks,
    in eye-corner distances."""
    u = np.asarray(unit, np.float64)
    return np.linalg.norm(u[:, [61, 62, 63]] - u[:, [67, 66, 65]], axis=-1).mean(-1)


def rest_frames(unit: np.ndarray, share: float = REST_SHARE) -> np.ndarray:
    """Indices of the ``share`` of frames with the mouth most closed (at least one)."""
    opening = mouth_opening(unit)
    k = max(1, int(round(share * len(opening))))
    return np.sort(np.argsort(opening, kind="stable")[:k])


def pose_basis(shape3d: np.ndarray) -> np.ndarray:
    """``(2, 68, 2)``: how a face's unit-frame 68 points move per degree of pitch and of yaw, from its
    ``(68, 3)`` 3D shape (image axes, depth away from the camera) turned about its centre and projected
    straight on. Signs follow Deep3DFaceRecon's angles (the MEAD fits'): its y and z axes point the other
    way, which leaves pitch as it is and turns yaw around."""
    pts = np.asarray(shape3d, np.float64)
    pts = pts - pts.mean(0)

    def turned(pitch, yaw):
        a, b = np.radians(pitch), np.radians(-yaw)
        rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
        return _unit((pts @ (ry @ rx).T)[:, :2])

    return np.stack([(turned(1, 0) - turned(-1, 0)) / 2, (turned(0, 1) - turned(0, -1)) / 2])


@dataclass
class PoseData:
    """Head pose per MEAD clip and each actor's :func:`pose_basis`, to turn frames frontal.

    Attributes:
        poses: clip name -> ``(T, 3)`` pitch, yaw, roll in degrees.
        basis: actor -> ``(2, 68, 2)``.
    """

    poses: dict[str, np.ndarray] = field(default_factory=dict)
    basis: dict[str, np.ndarray] = field(default_factory=dict)

    def covers(self, clip) -> bool:
        return clip.name in self.poses and clip.person in self.basis and len(self.poses[clip.name]) == len(clip)

    def frontal(self, clip, frames=None) -> np.ndarray:
        """``(T, 68, 2)`` unit-frame landmarks of ``clip`` (its ``frames`` only, when given), each frame's
        pitch and yaw taken out (as they are where :meth:`covers` is False)."""
        idx = np.arange(len(clip)) if frames is None else np.asarray(frames)
        unit = np.stack([_unit(lm) for lm in clip.landmarks[idx]])
        if not self.covers(clip):
            return unit
        py = self.poses[clip.name][idx, :2]
        return unit - np.einsum("tk,kpd->tpd", py, self.basis[clip.person])

    def frontal_points(self, landmarks: np.ndarray, actor: str, pose: np.ndarray) -> np.ndarray:
        """``(68, 2)`` unit-frame points of one face of ``actor`` seen at ``pose`` (pitch, yaw, ...), turned frontal."""
        unit = _unit(landmarks)
        if actor not in self.basis:
            return unit
        return unit - np.einsum("k,kpd->pd", np.asarray(pose, np.float64)[:2], self.basis[actor])


def mead_pose_data(clips) -> PoseData:
    """:class:`PoseData` for the MEAD clips among ``clips``: poses from their 3DMM fits
    (:func:`~faceanim.data.mead.load_mead_pose`; clips without one are left as they are), each actor's 3D
    shape from MediaPipe's mesh on the first rest frame of their neutral clip."""
    from ..data.mead import load_mead_pose
    from ..errors import BackendError
    from ..face.mesh import face_shape_3d

    data = PoseData()
    for c in clips:
        if c.kind != "mead":
            continue
        pose = load_mead_pose(c.name)
        if pose is not None and len(pose) == len(c):
            data.poses[c.name] = pose
        if c.emotion == "neutral" and c.person not in data.basis:
            unit = np.stack([_unit(lm) for lm in c.landmarks])
            try:
                shape = face_shape_3d(c.frames[rest_frames(unit)[0]])
            except BackendError:
                shape = None
            if shape is not None:
                data.basis[c.person] = pose_basis(shape)
    return data


def expression_shape(landmarks: np.ndarray, found: np.ndarray | None = None, share: float = REST_SHARE,
                     unit: np.ndarray | None = None) -> np.ndarray:
    """``(68, 2)`` unit-frame shape a talking clip's expression holds, speech taken out: the median of every
    frame for the upper face, the mean of the rest frames (:func:`rest_frames`) for the jaw line and lips
    (:data:`SPEECH_POINTS`). ``found``: only the frames where landmarks were fitted. ``unit``: the frames'
    unit-frame points already made (e.g. turned frontal by :meth:`PoseData.frontal`), used instead."""
    keep = np.asarray(found, bool) if found is not None and np.asarray(found).any() else None
    if unit is None:
        lms = np.asarray(landmarks, np.float64)
        unit = np.stack([_unit(lm) for lm in (lms[keep] if keep is not None else lms)])
    elif keep is not None:
        unit = np.asarray(unit)[keep]
    shape = np.median(unit, 0)
    shape[SPEECH_POINTS] = unit[rest_frames(unit, share)][:, SPEECH_POINTS].mean(0)
    return shape


def _mead_displacements(clips, exclude, pose: PoseData | None) -> tuple[dict[str, list[np.ndarray]], set[str], list[str]]:
    """Per emotion, each MEAD actor's expression shape minus their neutral one (frames turned frontal where
    ``pose`` covers the clip); the actors used; the clips left out (no neutral clip of that actor, or no
    pose where the actor's other clips have one)."""
    mead = [c for c in clips if c.kind == "mead" and c.person not in exclude and len(c) >= 2]
    if pose is not None:
        posed = {c.person for c in mead if pose.covers(c)}
        skipped = [c.name for c in mead if c.person in posed and not pose.covers(c)]
        mead = [c for c in mead if c.person not in posed or pose.covers(c)]
    else:
        skipped = []

    def shape(c):
        return expression_shape(c.landmarks, c.found, unit=pose.frontal(c) if pose is not None else None)

    neutral = {}
    for c in mead:
        if c.emotion == "neutral":
            neutral.setdefault(c.person, []).append(shape(c))
    per: dict[str, list[np.ndarray]] = {}
    actors = set()
    for c in mead:
        if c.emotion == "neutral":
            continue
        if c.person not in neutral:
            skipped.append(c.name)
            continue
        per.setdefault(c.emotion, []).append(shape(c) - np.mean(neutral[c.person], 0))
        actors.add(c.person)
    return per, actors, skipped


def learn_emotion_motion(clips, exclude_subjects=(), onset_points: int = 21, mead_weight: float = 0.5,
                         sources=("ckplus", "mead"), pose: PoseData | None = None) -> EmotionMotion:
    """Mean apex-minus-neutral landmark motion per emotion: CK+ clips (``kind == "ckplus"``, apex minus
    first frame) and MEAD clips (``kind == "mead"``, an actor's :func:`expression_shape` minus their
    neutral one), each source's mean weighted ``1 - mead_weight`` and ``mead_weight`` where both have the
    emotion. ``exclude_subjects``: CK+ subjects and MEAD actors left out; ``sources``: which to use;
    ``pose``: MEAD frames turned frontal first (:func:`mead_pose_data`; None: as they are). The onset curve
    is CK+'s (MEAD's clips hold the expression throughout); without CK+ clips it is linear."""
    check_number(mead_weight, "mead_weight", 0.0, 1.0)
    bad = set(sources) - {"ckplus", "mead"}
    if bad or not sources:
        raise SettingError(f"motion sources must be among ckplus, mead; got {sorted(bad) or 'none'}")
    per_ck: dict[str, list[np.ndarray]] = {}
    curves, subjects = [], set()
    for clip in clips if "ckplus" in sources else ():
        if clip.kind != "ckplus" or clip.person in exclude_subjects or len(clip) < 2:
            continue
        unit = np.stack([_unit(lm) for lm in clip.landmarks])
        disp = unit - unit[0]
        final = disp[-1]
        per_ck.setdefault(to_emotion(clip.emotion), []).append(final)
        subjects.add(clip.person)
        # onset: projection of each frame's displacement on the final one, resampled on 0..1
        frac = (disp.reshape(len(disp), -1) @ final.reshape(-1)) / max(float((final ** 2).sum()), 1e-12)
        t = np.linspace(0, 1, len(frac))
        curves.append(np.interp(np.linspace(0, 1, onset_points), t, frac))
    per_mead, actors, skipped = (_mead_displacements(clips, exclude_subjects, pose) if "mead" in sources
                                 else ({}, set(), []))
    if not per_ck and not per_mead:
        raise SettingError("no CK+ or MEAD clips to learn emotion motion from (all excluded or none given)")
    if curves:
        onset = np.clip(np.mean(curves, 0), 0, None)
        onset = np.maximum.accumulate(np.clip((onset - onset[0]) / max(onset[-1] - onset[0], 1e-9), 0, 1))
    else:
        onset = np.linspace(0, 1, onset_points)
    displacement, spread, counts = {}, {}, {}
    for emo in sorted(set(per_ck) | set(per_mead), key=lambda e: ANIMATABLE.index(e) if e in ANIMATABLE else 99):
        ck, md = per_ck.get(emo, []), per_mead.get(emo, [])
        w = mead_weight if ck and md else (1.0 if md else 0.0)
        displacement[emo] = (1 - w) * (np.mean(ck, 0) if ck else 0.0) + w * (np.mean(md, 0) if md else 0.0)
        spread[emo] = np.std([np.linalg.norm(d, axis=1) for d in ck + md], 0)
        counts[emo] = len(ck) + len(md)
    return EmotionMotion(displacement=displacement, spread=spread, onset=onset, sequences=counts,
                         subjects=sorted(subjects | actors),
                         sources={"ckplus": {k: len(v) for k, v in sorted(per_ck.items())},
                                  "mead": {k: len(v) for k, v in sorted(per_mead.items())}},
                         skipped=skipped, frontal=pose is not None and bool(pose.poses))


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
                      undo: "SourceExpression | None" = None, undo_gain: float = 1.0) -> np.ndarray:
    """Source landmarks moved toward ``emotion``: ``(T, 68, 2)`` for a progress array, ``(68, 2)`` for a number.

    The unit-frame displacement is carried onto the source face with the inverse of its normalising
    similarity (so it follows the face's size and roll) and scaled by ``gain * intensity * progress``.
    Intensity 1 with ``gain`` 1 is the measured CK+ mean apex; ``gain`` above 1 exaggerates it (a caricature
    control, 1 to 3). ``undo``, the expression the photo already shows, is taken out along the way:
    its mean displacement times ``undo_gain * undo.amount * progress`` is subtracted, so the last frame
    shows the requested emotion and not the photo's smile under it (``undo_gain``: the calibrated gain of
    the photo's emotion, so that an amount read by the recognizer means what the calibration says).
    """
    import cv2

    gain = float(check("gain", gain))
    intensity = float(check("intensity", intensity))
    src = np.asarray(source, np.float64)
    inv = cv2.invertAffineTransform(normalizing_transform(src))
    unit = gain * intensity * motion.offsets(emotion)
    if undo is not None:
        unit = unit - float(undo_gain) * undo.amount * motion.offsets(undo.emotion)
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
