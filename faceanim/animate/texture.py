"""Expression texture: the shading an expression adds that moving keypoints cannot (brow furrows, nose
wrinkles, the nasolabial fold, teeth, the whites of widened eyes), learned from CK+ as expression ratio
images (Liu, Shan & Zhang, "Expressive expression mapping with ratio images", SIGGRAPH 2001).

For every training CK+ sequence the neutral first frame and the apex last frame are each warped onto one
canonical face (the mean neutral landmarks), so the expression's geometry is taken out and only its
shading is left; ``log((apex + c) / (neutral + c))`` is the expression's ratio image, in which the
person's own skin, moles and lighting cancel. The log ratios are averaged per emotion; their broad part
(a change of lighting between the two frames, not a crease) is taken out with a high-pass, and they are
kept inside a feathered face mask with the eyes cut out (the warp already opens or narrows the eyes; a
mean ratio over them only clouds the iris).

MEAD's clips are in colour, and its actors speak. For an actor's clip every frame is warped onto the
canonical face; the clip's face is the per-pixel median of those frames above the mouth and the mean of
its rest frames (:func:`~faceanim.animate.motion.rest_frames`, the mouth most closed) over the mouth and
jaw, so a syllable's open mouth is not read as the expression's. The ratio is taken per colour channel
(lips redden, teeth whiten) against the same actor's neutral clip read the same way. CK+'s grey maps and
MEAD's colour maps are pooled per emotion like the motion (each source's mean weighted half): a pooled map
is ``(S, S, 3)``, and a CK+-only one ``(S, S)`` (the same change on every channel).

To use one, it is carried from the canonical face onto the photo and then by each frame's own warp, and
applied as a ratio ``r = exp(amount * log_ratio)`` (:func:`apply_texture`), with ``amount`` following
intensity and easing, so intensity 0 is the photo untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import SettingError
from ..labels import to_emotion
from ..weights import StateWeights
from .keypoints import above_brows, border_anchors
from .warp import tps_map, warp_image

__all__ = ["ExpressionTexture", "learn_expression_texture", "apply_texture", "face_mask", "eyes_mask",
           "forehead_keep"]

#: Largest log ratio kept (a factor of about 2.5 either way): beyond it a map is misalignment, not shading.
MAX_LOG_RATIO = 0.9


def face_mask(landmarks: np.ndarray, size: int, forehead: float = 0.55, feather: float = 6.0) -> np.ndarray:
    """``(S, S)`` float32 in [0, 1]: the jaw line closed over the brows raised by ``forehead`` x the
    distance between the eye centres (the forehead creases), with edges blurred by ``feather`` px."""
    import cv2

    lm = np.asarray(landmarks, np.float64)
    eyes = np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0))
    up = lm[27] - lm[30]  # nose bridge direction: "up" for this face, roll included
    up = up / max(np.linalg.norm(up), 1e-9)
    poly = np.vstack([lm[0:17], lm[26:16:-1] + up * forehead * eyes])
    mask = np.zeros((size, size), np.float32)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1.0)
    return cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask


def eyes_mask(landmarks: np.ndarray, size: int, grow: float = 0.08, feather: float = 2.0) -> np.ndarray:
    """``(S, S)`` float32: the two eye outlines (points 36-47) grown by ``grow`` x the distance between the
    eye centres, edges blurred by ``feather`` px."""
    import cv2

    lm = np.asarray(landmarks, np.float64)
    mask = np.zeros((size, size), np.float32)
    for a, b in ((36, 42), (42, 48)):
        cv2.fillPoly(mask, [np.round(lm[a:b]).astype(np.int32)], 1.0)
    r = max(1, int(round(grow * np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)))))
    mask = cv2.dilate(mask, np.ones((2 * r + 1, 2 * r + 1), np.uint8))
    return cv2.GaussianBlur(mask, (0, 0), feather) if feather > 0 else mask


#: Cheek polygons (landmark indices) whose colour stands for the face's skin in :func:`forehead_keep`.
_CHEEKS = ([1, 2, 3, 48, 31, 39, 40, 41, 36], [15, 14, 13, 54, 35, 42, 47, 46, 45])


def forehead_keep(crop: np.ndarray, landmarks: np.ndarray, reach: float = 6.0) -> np.ndarray:
    """``(S, S)`` float32 in [0, 1]: where the photo's forehead is not skin (hair over it, a hat), 0;
    elsewhere 1. The texture's forehead part (raised brows, furrows) is multiplied by it, so it is never
    painted onto a fringe.

    Skin is the cheeks' colour: per-channel median and spread (MAD) in Lab; a pixel above the brows more
    than ``reach`` spreads away (lightness counting half) gets weight 0, within ``reach / 2`` weight 1.
    Below the brows nothing is changed (lips and an opening mouth are not skin, but they are the texture's)."""
    import cv2

    img = np.asarray(crop)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, -1)
    lm = np.asarray(landmarks, np.float64)
    h, w = img.shape[:2]
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32)
    sample = np.zeros((h, w), np.uint8)
    for poly in _CHEEKS:
        cv2.fillPoly(sample, [np.round(lm[poly]).astype(np.int32)], 1)
    if sample.sum() < 20:  # a face too small or too turned to read its skin: keep everything
        return np.ones((h, w), np.float32)
    px = lab[sample > 0]
    med = np.median(px, 0)
    spread = 1.4826 * np.median(np.abs(px - med), 0) + np.array([4.0, 2.0, 2.0], np.float32)
    dist = np.sqrt((((lab - med) / spread) ** 2 * np.array([0.5, 1.0, 1.0], np.float32)).sum(-1))
    skin = np.clip((reach - dist) / (reach / 2), 0, 1).astype(np.float32)
    zone = above_brows(lm, (h, w))
    return cv2.GaussianBlur(1.0 - zone * (1.0 - skin), (0, 0), 2.0)


@dataclass
class ExpressionTexture(StateWeights):
    """Per-emotion log ratio images on a canonical face.

    Attributes:
        landmarks: ``(68, 2)`` canonical (mean neutral) landmarks, in pixels of a ``size`` square.
        log_ratio: emotion name -> ``(size, size)`` (grey, CK+ only) or ``(size, size, 3)`` (colour) float32
            mean masked log ratio (apex over neutral).
        sequences: emotion name -> number of CK+ sequences and MEAD clips averaged; subjects: the CK+
            subjects and MEAD actors used.
        params: how the maps were made (blur, offset, high-pass sigma).
    """

    weights_kind = "emotion_texture"

    landmarks: np.ndarray = field(repr=False)
    log_ratio: dict[str, np.ndarray] = field(repr=False)
    sequences: dict[str, int] = field(default_factory=dict)
    subjects: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(next(iter(self.log_ratio.values())).shape[0])

    @property
    def emotions(self) -> list[str]:
        return sorted(self.log_ratio)

    def ratio(self, emotion: str, undo: tuple[str, float] | None = None, weight: float = 1.0) -> np.ndarray | None:
        """The canonical log ratio of ``emotion`` times ``weight``; with ``undo = (name, amount)`` the photo's
        own expression is taken out as well (its ratio times ``amount`` subtracted, except over the lips and
        mouth: the photo's teeth and lip colour are real, and taking a smile's brightening out there turns
        the teeth grey and the lips dark; the warp closing the lips is what hides them). None: nothing to
        apply."""
        ratio = self._one(emotion)
        if ratio is not None and weight != 1.0:
            ratio = ratio * float(weight)
        if undo is None or undo[1] == 0 or (gone := self._one(undo[0])) is None:
            return ratio
        keep = 1.0 - self.mouth_mask
        gone = gone * (float(undo[1]) * (keep[..., None] if gone.ndim == 3 else keep))
        if ratio is not None and ratio.ndim != gone.ndim:  # one colour map, one grey map: both in colour
            ratio, gone = _colour(ratio), _colour(gone)
        return -gone if ratio is None else ratio - gone

    def _one(self, emotion: str) -> np.ndarray | None:
        if emotion == "neutral":
            return None
        if emotion not in self.log_ratio:
            raise SettingError(f"no expression texture for {emotion!r}; there is one for "
                               f"{', '.join(self.emotions)}")
        return np.asarray(self.log_ratio[emotion], np.float32)

    @cached_property
    def mouth_mask(self) -> np.ndarray:
        """``(size, size)`` float32: the canonical lips (outer contour, points 48-59) grown by 3 px, feathered."""
        import cv2

        m = np.zeros((self.size, self.size), np.float32)
        cv2.fillPoly(m, [np.round(self.landmarks[48:60]).astype(np.int32)], 1.0)
        return cv2.GaussianBlur(cv2.dilate(m, np.ones((7, 7), np.uint8)), (0, 0), 3.0)

    def source_map(self, landmarks: np.ndarray, size: int, anchors_per_side: int = 5, grid: int = 32) -> np.ndarray:
        """``(size, size, 2)`` backward map from a ``size`` crop of a face with these 68 ``landmarks`` into
        this texture's canonical frame (made once per photo)."""
        kp = np.asarray(landmarks, np.float64)
        if kp.shape != (68, 2):
            raise SettingError(f"expression texture needs the 68 landmarks, got an array of shape {kp.shape}")
        canon = np.vstack([self.landmarks, border_anchors(self.size, anchors_per_side)])
        return tps_map(canon, np.vstack([kp, border_anchors(size, anchors_per_side)]), size, grid=grid)

    def map_for(self, emotion: str, keypoints: np.ndarray, size: int, anchors_per_side: int = 5,
                undo: tuple[str, float] | None = None, weight: float = 1.0) -> np.ndarray:
        """``(size, size)`` float32 log ratio of ``emotion`` (with ``undo``, the photo's expression taken out:
        see :meth:`ratio`; times ``weight``) moved onto a face whose 68 landmarks are ``keypoints`` (crop
        pixels); zeros for neutral."""
        ratio = self.ratio(emotion, undo, weight)
        if ratio is None:
            return np.zeros((size, size), np.float32)
        return warp_image(ratio, self.source_map(keypoints, size, anchors_per_side))

    def map_through(self, emotion: str, source_map: np.ndarray, mapping: np.ndarray,
                    keep: np.ndarray | None = None, undo: tuple[str, float] | None = None,
                    weight: float = 1.0) -> np.ndarray:
        """The log ratio of ``emotion`` on a warped frame: the frame's backward warp into the photo's crop
        (``mapping``) followed by :meth:`source_map` of the photo, so the texture lands exactly where the
        warp put the face, whatever the keypoint count (and without fitting a spline per frame). ``keep``
        (the photo's :func:`forehead_keep`) is carried by the same warp and multiplied in; ``undo`` and
        ``weight`` as in :meth:`ratio`."""
        ratio = self.ratio(emotion, undo, weight)
        if ratio is None:
            return np.zeros(mapping.shape[:2], np.float32)
        out = warp_image(ratio, warp_image(source_map, mapping))
        if keep is None:
            return out
        kept = warp_image(keep, mapping)
        return out * (kept[..., None] if out.ndim == 3 else kept)

    def to_state(self) -> dict:
        return {"landmarks": np.asarray(self.landmarks, np.float32),
                "log_ratio": {k: np.asarray(v, np.float16) for k, v in self.log_ratio.items()},
                "sequences": dict(self.sequences), "subjects": list(self.subjects), "params": dict(self.params)}

    @classmethod
    def from_state(cls, state: dict) -> "ExpressionTexture":
        return cls(landmarks=np.asarray(state["landmarks"], np.float64),
                   log_ratio={k: np.asarray(v, np.float32) for k, v in state["log_ratio"].items()},
                   sequences=dict(state.get("sequences", {})), subjects=list(state.get("subjects", [])),
                   params=dict(state.get("params", {})))



def _colour(ratio: np.ndarray) -> np.ndarray:
    return ratio if ratio.ndim == 3 else np.repeat(ratio[..., None], 3, -1)


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    img = np.asarray(frame)
    return (cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img).astype(np.float32)


def learn_expression_texture(clips, exclude_subjects=(), blur: float = 1.5, offset: float = 8.0,
                             highpass: float = 12.0, anchors_per_side: int = 5, mead_weight: float = 0.5,
                             sources=("ckplus", "mead")) -> ExpressionTexture:
    """Mean expression ratio image per emotion: CK+ clips (``kind == "ckplus"``; neutral first frame against
    apex last frame, grey) and MEAD clips (``kind == "mead"``; each actor's emotion clip against their
    neutral clip, per colour channel, speech taken out as the module says), all warped onto the mean
    neutral landmarks of the CK+ sequences (of the MEAD neutral clips when there are no CK+ ones).

    Args:
        blur: Gaussian sigma (px) applied to both frames first, so one-pixel misalignment is not read as shading.
        offset: added to both grey levels before the ratio, so near-black pixels do not explode it.
        highpass: sigma (px) of the broad part removed from each mean map (0 keeps it).
        mead_weight: MEAD's share of an emotion both sources have; ``sources``: which to use.
        exclude_subjects: CK+ subjects and MEAD actors left out.
    """
    import cv2

    from .keypoints import apply_affine, normalizing_transform
    from .motion import SPEECH_POINTS, rest_frames

    use = lambda c, kind: c.kind == kind and kind in sources and c.person not in exclude_subjects and len(c) >= 2  # noqa: E731
    ck = [c for c in clips if use(c, "ckplus")]
    mead = [c for c in clips if use(c, "mead")]
    neutral_mead = {c.person: c for c in mead if c.emotion == "neutral"}
    mead = [c for c in mead if c.person in neutral_mead]
    if not ck and not mead:
        raise SettingError("no CK+ or MEAD clips to learn expression texture from (all excluded or none given)")
    size = int((ck or mead)[0].frames.shape[1])
    canon = np.mean([c.landmarks[0] for c in ck], 0) if ck else \
        np.mean([c.landmarks[c.found].mean(0) for c in neutral_mead.values()], 0)
    anchors = border_anchors(size, anchors_per_side)
    target = np.vstack([canon, anchors])

    def to_canon(frame, lm, grey=True):
        img = _gray(frame) if grey else np.asarray(frame, np.float32)
        g = warp_image(img, tps_map(np.vstack([lm, anchors]), target, size, grid=32))
        return cv2.GaussianBlur(g, (0, 0), blur) if blur > 0 else g

    per_ck: dict[str, list[np.ndarray]] = {}
    for c in ck:
        neutral = to_canon(c.frames[0], c.landmarks[0])
        apex = to_canon(c.frames[-1], c.landmarks[-1])
        per_ck.setdefault(to_emotion(c.emotion), []).append(np.log((apex + offset) / (neutral + offset)))
    # the lower face (jaw line and lips, grown) comes from the rest frames
    lower = np.zeros((size, size), np.float32)
    cv2.fillPoly(lower, [np.round(cv2.convexHull(canon[SPEECH_POINTS].astype(np.float32))[:, 0]).astype(np.int32)], 1.0)
    lower = cv2.GaussianBlur(cv2.dilate(lower, np.ones((9, 9), np.uint8)), (0, 0), 4.0)[..., None]

    def clip_face(c):
        idx = np.flatnonzero(c.found) if c.found.any() else np.arange(len(c))
        unit = np.stack([apply_affine(normalizing_transform(lm), lm) for lm in c.landmarks[idx]])
        rest = set(idx[rest_frames(unit)].tolist())
        step = max(1, len(idx) // 40)  # about 40 frames for the median; every rest frame
        warped = {int(t): to_canon(c.frames[t], c.landmarks[t], grey=False)
                  for t in sorted(set(idx[::step].tolist()) | rest)}
        upper = np.median(np.stack(list(warped.values())), 0)
        mouth = np.mean([warped[t] for t in rest], 0)
        return upper * (1 - lower) + mouth * lower

    per_mead: dict[str, list[np.ndarray]] = {}
    neutral_faces = {actor: clip_face(c) for actor, c in neutral_mead.items()}
    for c in mead:
        if c.emotion != "neutral":
            per_mead.setdefault(c.emotion, []).append(
                np.log((clip_face(c) + offset) / (neutral_faces[c.person] + offset)))
    keep = face_mask(canon, size) * (1.0 - eyes_mask(canon, size))

    def finish(maps):
        mean = np.mean(maps, 0)
        if highpass > 0:
            mean = mean - cv2.GaussianBlur(mean, (0, 0), highpass)
        return (np.clip(mean, -MAX_LOG_RATIO, MAX_LOG_RATIO) * (keep[..., None] if mean.ndim == 3 else keep)
                ).astype(np.float32)

    log_ratio, counts = {}, {}
    for emo in sorted(set(per_ck) | set(per_mead)):
        a, b = per_ck.get(emo), per_mead.get(emo)
        if a and b:
            log_ratio[emo] = (1 - mead_weight) * _colour(finish(a)) + mead_weight * finish(b)
        else:
            log_ratio[emo] = finish(a or b)
        counts[emo] = len(a or []) + len(b or [])
    return ExpressionTexture(landmarks=canon, log_ratio=log_ratio, sequences=counts,
                             subjects=sorted({c.person for c in ck + mead}),
                             params={"blur": blur, "offset": offset, "highpass": highpass,
                                     "max_log_ratio": MAX_LOG_RATIO, "mead_weight": mead_weight,
                                     "sources": {"ckplus": {k: len(v) for k, v in sorted(per_ck.items())},
                                                 "mead": {k: len(v) for k, v in sorted(per_mead.items())}}})


def apply_texture(image: np.ndarray, log_ratio: np.ndarray, amount: float) -> np.ndarray:
    """The ratio ``r = exp(amount * log_ratio)`` applied to the image's grey level (luma, BT.601), as uint8;
    ``amount`` 0 returns ``image`` as is.

    Where ``r < 1`` the grey level ``Y`` is multiplied by it (a furrow's shadow). Where ``r > 1`` its
    *distance to white* is divided by it, ``255 - (255 - Y) / r``: the same change as multiplying for a dark
    pixel, but a bright one (teeth already showing) approaches white instead of overshooting it.
    The ratio images were learned on grey levels, so only the grey level changes: the same offset is added
    to the three channels, which keeps the colour (Cb, Cr) as it was. Scaling each channel instead faded the
    colour with the change, so lips went pale where a pout brightened them and shadows went grey-blue on skin.
    A grey image gets exactly the grey-level formula. A colour map (``(S, S, 3)``, learned from MEAD's colour
    clips) gives each channel its own ratio, with the same formula per channel: there the colour change is
    measured, not a side effect."""
    if amount == 0:
        return image
    log_ratio = np.asarray(log_ratio, np.float32)
    img = image.astype(np.float32)
    if log_ratio.ndim == 3 and img.ndim == 2:  # a colour map on a grey image: the channels' mean log ratio
        log_ratio = log_ratio.mean(-1)
    r = np.exp(float(amount) * log_ratio)
    if r.ndim == 3:  # a colour map: each channel its own ratio
        out = np.where(r < 1, img * r, 255.0 - (255.0 - img) / r)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    y = img @ np.array([0.299, 0.587, 0.114], np.float32) if img.ndim == 3 else img
    change = np.where(r < 1, y * r, 255.0 - (255.0 - y) / r) - y
    out = img + change[..., None] if img.ndim == 3 else img + change
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
