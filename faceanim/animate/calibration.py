"""Intensity calibration: what "intensity 1" means, per emotion.

The learned motion and texture are each emotion's *mean* CK+ apex over a handful of training sequences
(2 angry, 4 sad ...). Some of those means read much weaker than real apex faces do: the recognizer's
intensity head reads real CK+48 sad apex faces at about 0.70, but the mean sad apex animated onto a
neutral face at about 0.4, while happy and surprise already read like real ones. So a requested
intensity meant different things per emotion, and "sad 1.0" looked like "happy 0.5".

Calibration fixes the scale, not the shape: one gain per emotion (motion and texture together, the same
``gain`` the exaggeration slider turns), chosen so that on *training* faces (the first frames of the
training CK+ sequences and training videos, never the held-out faces the evaluation animates) the
animated apex reads, on average, as intense as real apex faces of that emotion read (CK+48 without the
held-out subjects). Intensity 1 is then "a real apex, as the intensity estimator sees one"; gain 1 (the
mean measured displacement) is kept for comparison (``calibrated=False``).

The same renders are also checked for identity (dlib's descriptor against the source face's, the animator's
identity check), and no gain is chosen past the point where fewer than :data:`KEEP_PERSON` of the training
faces stay the same person: an emotion whose motion must be tripled before the recognizer reads it as
intense (MEAD's angry) otherwise turns one person into another, which no intensity is worth. Where that cap
binds, intensity 1 reads weaker than a real apex, and the calibration says so (``capped``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..data import load_ckplus48
from ..errors import SettingError
from ..labels import EMOTIONS, EXPRESSIONS
from ..weights import StateWeights
from .clips import HELDOUT_SUBJECTS

__all__ = ["IntensityCalibration", "calibrate_intensity", "GAIN_GRID", "KEEP_PERSON"]

#: gains tried per emotion (the animator's gain range is 0 to 3)
GAIN_GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
#: the share of training faces that must stay the same person at the chosen gain (the issue's 95%)
KEEP_PERSON = 0.95


@dataclass
class IntensityCalibration(StateWeights):
    """Per-emotion gain that makes intensity 1 read like a real apex.

    Attributes:
        gain: emotion -> gain applied to the learned motion and texture (1 = the mean measured apex).
        target: emotion -> mean intensity the recognizer reads on real apex faces (CK+48, held-out subjects out).
        curve: emotion -> ``{gain: mean intensity read}`` on the training faces at full intensity.
        faces: the training faces the curves were measured on.
        recognizer: the recognizer (weights name) whose intensity head defines the scale.
        kept: emotion -> ``{gain: share of the training faces still the same person}`` (empty: not measured).
        capped: emotion -> the identity cap, for the emotions whose gain it lowered.
    """

    weights_kind = "emotion_calibration"

    gain: dict[str, float]
    target: dict[str, float] = field(default_factory=dict)
    curve: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    faces: list[str] = field(default_factory=list, repr=False)
    recognizer: str = ""
    kept: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    capped: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        for e, g in self.gain.items():
            if not 0.0 < float(g) <= 3.0:
                raise SettingError(f"calibrated gain for {e!r} must be in (0, 3], got {g}")

    def gain_for(self, emotion: str) -> float:
        """The gain for ``emotion`` (1 for neutral or an emotion it has no gain for)."""
        return float(self.gain.get(emotion, 1.0))

    def to_state(self) -> dict:
        return {"gain": {k: float(v) for k, v in self.gain.items()},
                "target": {k: float(v) for k, v in self.target.items()},
                "curve": {k: {str(g): float(x) for g, x in v.items()} for k, v in self.curve.items()},
                "faces": list(self.faces), "recognizer": self.recognizer,
                "kept": {k: {str(g): float(x) for g, x in v.items()} for k, v in self.kept.items()},
                "capped": {k: float(v) for k, v in self.capped.items()}}

    @classmethod
    def from_state(cls, state: dict) -> "IntensityCalibration":
        return cls(gain=dict(state["gain"]), target=dict(state.get("target", {})),
                   curve={k: dict(v) for k, v in state.get("curve", {}).items()},
                   faces=list(state.get("faces", [])), recognizer=state.get("recognizer", ""),
                   kept={k: dict(v) for k, v in state.get("kept", {}).items()},
                   capped=dict(state.get("capped", {})))



def _gain_reaching(curve: dict[float, float], target: float) -> float:
    """Smallest gain whose reading reaches ``target``, linear between grid points; the curve is first made
    non-decreasing (a running maximum), and the grid's ends are the limits."""
    gains = np.array(sorted(curve), np.float64)
    read = np.maximum.accumulate(np.array([curve[g] for g in gains], np.float64))
    if target > read[-1]:  # never reached: the largest gain tried
        return float(gains[-1])
    k = int(np.argmax(read >= target))
    if k == 0:
        return float(gains[0])
    g0, g1, r0, r1 = gains[k - 1], gains[k], read[k - 1], read[k]
    return float(g0 + (g1 - g0) * (target - r0) / max(r1 - r0, 1e-9))


def _gain_keeping(kept: dict[float, float], share: float) -> float:
    """Largest gain at which at least ``share`` of the faces are still the same person, linear between grid
    points; the share is first made non-increasing (a running minimum: a face lost at a smaller gain counts as
    lost), and the grid's ends are the limits."""
    gains = np.array(sorted(kept), np.float64)
    left = np.minimum.accumulate(np.array([kept[g] for g in gains], np.float64))
    if left[-1] >= share:
        return float(gains[-1])
    k = int(np.argmax(left < share))
    if k == 0:
        return float(gains[0])
    g0, g1, s0, s1 = gains[k - 1], gains[k], left[k - 1], left[k]
    return float(g0 + (g1 - g0) * (s0 - share) / max(s0 - s1, 1e-9))


def apex_targets(recognizer, exclude_subjects=()) -> dict[str, float]:
    """Mean intensity the recognizer reads on real apex faces per emotion (CK+48; subjects in
    ``exclude_subjects`` left out)."""
    ck = load_ckplus48()
    subjects = np.array([str(n)[:4] for n in ck.names])
    keep = (ck.labels >= 0) & ~np.isin(subjects, list(exclude_subjects))
    _, intensity = recognizer.predict(ck.images[keep])
    labels = ck.labels[keep]
    return {EMOTIONS[k]: float(np.mean(intensity[labels == k])) for k in sorted(set(labels.tolist()))}


def calibrate_intensity(animator, recognizer, clips, gains=GAIN_GRID, threshold: float = 0.3,
                        keep_person: float | None = KEEP_PERSON, settings=None,
                        progress: bool = True) -> IntensityCalibration:
    """Measure each emotion's reading against gain on the training faces (first frames of the training
    CK+ sequences and videos that read as neutral) and pick the gain that reads like real apex faces, at most
    the largest that keeps ``keep_person`` of those faces the same person (None: no identity cap).
    ``settings``: how the apexes are rendered (:meth:`~faceanim.animate.Animator.apex`'s default: refiner
    and texture, uncalibrated); calibrate the emotion-conditioned generator with ``generator=True`` there."""
    from tqdm.auto import tqdm

    from ..face.identity import SAME_PERSON, IdentityCheck

    targets = apex_targets(recognizer, HELDOUT_SUBJECTS)
    faces = []
    for c in clips:
        if c.heldout or c.person in HELDOUT_SUBJECTS:
            continue
        source = animator.prepare(c.frames[0])
        if recognizer.read(source.crop, source.landmarks).intensity < threshold:
            faces.append((c.name, source))
    if not faces:
        raise SettingError("no training faces that read as neutral to calibrate intensity on")
    check = IdentityCheck() if keep_person is not None else None
    sums = {e: np.zeros(len(gains)) for e in EXPRESSIONS}
    same = {e: np.zeros(len(gains)) for e in EXPRESSIONS}
    for _, source in tqdm(faces, desc="calibrating intensity", disable=not progress):
        reference = check.descriptor(source.crop, check.face(source.crop, source.landmarks)) if check else None
        for e in EXPRESSIONS:
            apex = animator.apex(source, e, gains, settings)
            for k, (crop, kp) in enumerate(zip(apex.crops, apex.keypoints)):
                sums[e][k] += recognizer.read(crop, kp).intensity
                if check is not None:
                    same[e][k] += check.distance(crop, kp, reference) < SAME_PERSON
    curve = {e: {float(g): float(s / len(faces)) for g, s in zip(gains, sums[e])} for e in EXPRESSIONS}
    kept = {e: {float(g): float(s / len(faces)) for g, s in zip(gains, same[e])} for e in EXPRESSIONS} if check else {}
    gain, capped = {}, {}
    for e in EXPRESSIONS:
        if e not in targets:
            continue
        gain[e] = round(_gain_reaching(curve[e], targets[e]), 3)
        if kept:
            cap = round(_gain_keeping(kept[e], keep_person), 3)
            if cap < gain[e]:
                gain[e], capped[e] = cap, cap
    return IntensityCalibration(gain=gain, target=targets, curve=curve, faces=[n for n, _ in faces],
                                recognizer=str(getattr(recognizer, "name", type(recognizer).__name__)),
                                kept=kept, capped=capped)
