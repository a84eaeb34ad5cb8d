"""The animator: one photo in, a moving face out (toward an emotion, or with a driving video).

Pipeline per frame: target keypoints (learned emotion motion or driving motion) -> optional keypoint
filter (One-Euro or the GRU predictor) -> thin-plate-spline warp of the 256 px face crop with border
anchors -> refinement generator -> expression texture (emotion animation: the emotion's CK+ ratio image,
carried by the same warp) -> Gaussian post-filter on the moved region -> paste back into the photo.

Emotion animation starts from the photo's own expression: the emotion recognizer reads it (a smile at
0.96, say) and that expression's learned motion and texture are taken out as the requested one comes in,
so "angry" from a smiling portrait does not keep the smile (``source_expression="neutral"`` keeps it).
It keeps the generator below the brows. Above them the expression's change is the warp's
and the texture's: the generator, trained on real frame pairs where a moving forehead means a moving head,
painted a light band along the hairline when the brows were lowered (angry, disgust).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._system import check_memory
from ..errors import MediaError, NoFaceError, SettingError
from ..face.align import AlignedFace
from ..limits import check, validate_fields
from .calibration import IntensityCalibration
from .keypoints import above_brows, border_anchors, select_keypoints
from .motion import DRIVING_MODES, EASINGS, EmotionMotion, SourceExpression, driving_keypoints, ease, emotion_keypoints
from .networks import generator_input
from .refine import REFINE_WINDOWS, Refiner, refine_window
from .smooth import KeypointGRU, one_euro, predictive_filter
from .texture import ExpressionTexture, apply_texture, forehead_keep
from .warp import flow_magnitude, tps_map, warp_image

if TYPE_CHECKING:
    from ..provenance import Marker

__all__ = ["AnimationSettings", "CROP_SIZES", "DEFAULT_REFINER", "DEFAULT_GENERATOR", "LEARNED_FROM",
           "SourceFace", "Animation", "AnimatedFrame",
           "SavedAnimation", "Animator",
           "gaussian_post_filter", "paste_animated", "Paster", "FrameRenderer",
           "motion_weight", "FILTERS"]

FILTERS = ("one_euro", "gru", "constant_velocity")
#: face crop sides the animator works at: 256 (what every part was trained at) or 512 (a large photo's
#: detail kept; the refinement generator still runs at 256 and its correction is scaled up)
CROP_SIZES = (256, 512)
_NET_SIZE = 256
#: the refinement generator an :class:`Animator` uses unless told otherwise (weights name)
DEFAULT_REFINER = "animator_refiner"
#: the emotion-conditioned generator an :class:`Animator` animates emotions with (weights name)
DEFAULT_GENERATOR = "animator_generator"
#: where the emotion motion, texture and calibration were learned: ``Animator(**LEARNED_FROM["mead"])``
#: (CLI ``--learned-from mead``). CK+ alone is the default: pooled with MEAD's two actors the motion
#: matches their real expressions better uncalibrated, but calibrated it keeps the person less often and
#: the held-out faces read back less often (README, "Against real expressions").
LEARNED_FROM = {"ckplus": {"motion": "emotion_motion", "texture": "emotion_texture",
                           "calibration": "emotion_calibration"},
                "mead": {"motion": "emotion_motion_mead", "texture": "emotion_texture_mead",
                         "calibration": "emotion_calibration_mead"}}


@dataclass
class AnimationSettings:
    """The knobs the notebook's sliders turn.

    Attributes:
        keypoints: how many of the 68 landmarks drive the warp (5-68; see ``KEYPOINT_ORDER``).
        filter_strength: keypoint smoothing, 0 (off) to 1.
        filter: ``"one_euro"``, ``"gru"`` (predict-then-correct with the trained GRU) or ``"constant_velocity"``.
        gaussian: post-filter strength, 0 (off) to 1 (sigma 3 px on the moved region).
        refine: run the refinement generator (False: warp only).
        texture: expression texture strength for emotion animation, 0 (geometry only) to 2; 1 is the
            measured CK+ mean. Driving a photo with a video never uses it.
        calibrated: emotion animation with the per-emotion intensity calibration (intensity 1 reads like
            a real apex face of that emotion; :mod:`~faceanim.animate.calibration`); False: intensity 1 is
            the mean measured CK+ apex.
        paste: paste each frame back into the full photo.
        anchors_per_side: fixed points per crop edge.
        refine_window: ``"crop"`` (the generator runs on the whole crop) or ``"face"`` (on the window
            around the face only; :func:`~faceanim.animate.refine.refine_window`).
        generator: emotion animation with the emotion-conditioned generator, where the animator has one (it
            is told the emotion and its intensity per frame and paints the expression's shading itself, so
            the expression texture is not applied on top); False (the default): the refiner and the
            expression texture, which keep the photo sharper (the generator, trained with L1 on MEAD pairs
            that never line up to the pixel, renders a softer face). A driving video always uses the refiner.
        crop_size: the face crop's side, 256 or 512 px (:data:`CROP_SIZES`). At 512 the warp, texture and
            paste-back work at 512, so a large photo's pasted face is as sharp as the photo around it; the
            generator, trained at 256, runs on the frame scaled down and its correction is scaled up.
    """

    keypoints: int = field(default=68, metadata={"help": "landmarks that drive the warp (5-68)", "limit": "keypoints"})
    filter_strength: float = field(default=0.0, metadata={"help": "keypoint smoothing, 0 (off) to 1",
                                                          "limit": "filter_strength"})
    filter: str = field(default="one_euro", metadata={"help": "keypoint filter", "choices": FILTERS})
    gaussian: float = field(default=0.0, metadata={"help": "Gaussian post-filter strength, 0 (off) to 1",
                                                   "limit": "gaussian"})
    refine: bool = field(default=True, metadata={"help": "skip the refinement generator", "flag": "--warp-only"})
    texture: float = field(default=1.0, metadata={
        "help": "expression texture (creases, teeth) with --emotion: 0 (geometry only) to 2, 1 = CK+ mean",
        "limit": "texture"})
    calibrated: bool = field(default=True, metadata={
        "help": "with --emotion: intensity 1 is the mean measured CK+ apex, not the per-emotion calibrated one "
                "that reads like real apex faces", "flag": "--uncalibrated"})
    paste: bool = field(default=True, metadata={
        "help": "write the 256 px face crop instead of the full photo", "flag": "--crop"})
    anchors_per_side: int = field(default=5, metadata={"limit": "anchors_per_side"})
    generator: bool = field(default=False, metadata={
        "help": "with --emotion: the emotion-conditioned generator instead of the refiner and the expression "
                "texture (softer: see the README)", "flag": "--generator"})
    crop_size: int = field(default=256, metadata={
        "help": "face crop side in px: 512 keeps a large photo's detail in the pasted face (slower)",
        "choices": CROP_SIZES, "type": int})
    refine_window: str = field(default="crop", metadata={
        "help": "where the refinement generator runs: the whole crop, or the window around the face (about "
                "half the work; the live default)", "choices": REFINE_WINDOWS})

    def validate(self) -> "AnimationSettings":
        validate_fields(self)
        if self.refine_window not in REFINE_WINDOWS:
            raise SettingError(f"unknown refine_window {self.refine_window!r}; choose one of {', '.join(REFINE_WINDOWS)}")
        if self.crop_size not in CROP_SIZES or isinstance(self.crop_size, bool):
            raise SettingError(f"crop_size must be one of {', '.join(map(str, CROP_SIZES))}, got {self.crop_size!r}")
        if self.filter not in FILTERS:
            raise SettingError(f"unknown keypoint filter {self.filter!r}; choose one of {', '.join(FILTERS)}")
        for name in ("refine", "calibrated", "paste", "generator"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise SettingError(f"{name} must be True or False, got {getattr(self, name)!r}")
        return self


@dataclass
class Apex:
    """:meth:`Animator.apex`'s renders: ``crops (G, S, S, 3)`` and their ``keypoints (G, 68, 2)``, one per gain."""

    emotion: str
    gains: np.ndarray
    crops: np.ndarray = field(repr=False)
    keypoints: np.ndarray = field(repr=False)


@dataclass
class SourceFace:
    """The photo, its 256 px face crop and the crop's 68 landmarks."""

    image: np.ndarray = field(repr=False)
    aligned: "AlignedFace" = field(repr=False)  # noqa: F821
    landmarks: np.ndarray = field(repr=False)

    @property
    def crop(self) -> np.ndarray:
        return self.aligned.image


@dataclass
class Animation:
    """Frames of one animation: ``crops`` (T, 256, 256, 3), ``frames`` (T, H, W, 3) pasted into the photo
    (None when ``paste`` is off), the keypoints used ``(T, 68, 2)`` in crop pixels, and the frame rate."""

    crops: np.ndarray = field(repr=False)
    frames: np.ndarray | None = field(repr=False)
    keypoints: np.ndarray = field(repr=False)
    fps: float
    settings: AnimationSettings
    source: SourceFace = field(repr=False)
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.crops)

    def __repr__(self) -> str:
        size = "x".join(map(str, (self.frames if self.frames is not None else self.crops).shape[1:3]))
        return f"Animation({len(self)} frames, {size}, {self.fps:g} fps, {self.info})"

    def to_arrays(self, full: bool = True) -> np.ndarray:
        return self.frames if full and self.frames is not None else self.crops

    def save(self, path: str | os.PathLike, full: bool = True, fps: float | None = None,
             provenance: bool = True, label: bool = False, sign: bool | str = "auto") -> Path:
        """Write mp4, avi or gif (atomically), each frame marked with faceanim's invisible watermark and
        the file signed (C2PA) when there is a key (``provenance=False``: neither; ``label=True``: a
        visible corner label as well; ``sign`` as :class:`~faceanim.provenance.Marker`)."""
        from ..io import write_video
        from ..provenance import Marker

        mark = Marker(path, provenance, label=label, sign=sign)
        written = write_video(path, [mark(f) for f in self.to_arrays(full)], fps=fps or self.fps,
                              metadata=mark.metadata())
        self.info.update(mark.finish(written))
        return written

    def save_frames(self, folder: str | os.PathLike, suffix: str = ".png", full: bool = True,
                    provenance: bool = True, label: bool = False, sign: bool | str = "auto") -> list[Path]:
        """Write every frame as ``folder/frame_0000.png`` (or ``.jpg``), each marked and signed as
        :meth:`save` marks a video; a frame already there is replaced only when its new file is whole."""
        from .._atomic import check_output
        from ..io import write_image
        from ..provenance import Marker

        if suffix.lower() not in (".png", ".jpg", ".jpeg"):
            raise SettingError(f"frames are written as .png or .jpg, not {suffix!r}")
        mark = Marker(folder, provenance, label=label, sign=sign)
        paths = []
        for i, frame in enumerate(self.to_arrays(full)):
            path = Path(folder) / f"frame_{i:04d}{suffix.lower()}"
            check_output(path, what="frame")
            paths.append(write_image(path, mark(frame)))
            mark.finish(path)
        self.info.update(mark.info())
        return paths

    def strip(self, n: int = 5, full: bool = False) -> np.ndarray:
        """``n`` evenly spaced frames side by side (a key-frame strip for reports)."""
        arr = self.to_arrays(full)
        idx = np.linspace(0, len(arr) - 1, min(n, len(arr))).round().astype(int)
        return np.hstack([arr[i] for i in idx])


@dataclass
class AnimatedFrame:
    """One frame of an animation as :meth:`Animator.frames` makes it: the 256 px ``crop``, the ``frame`` pasted
    into the photo (None when ``paste`` is off) and the ``keypoints (68, 2)`` it was warped to."""

    index: int
    crop: np.ndarray = field(repr=False)
    frame: np.ndarray | None = field(repr=False)
    keypoints: np.ndarray = field(repr=False)


@dataclass
class SavedAnimation:
    """An animation streamed to a file (``output=``): where, how many frames, their size ``(H, W)``."""

    path: Path
    frames: int
    fps: float
    size: tuple[int, int]
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.frames

    def __repr__(self) -> str:
        return f"SavedAnimation({self.path}, {self.frames} frames, {self.size[1]}x{self.size[0]}, {self.fps:g} fps, {self.info})"


def gaussian_post_filter(crop: np.ndarray, mapping: np.ndarray, strength: float) -> np.ndarray:
    """Blur what the warp moved (sigma up to 3 px at strength 1); still pixels stay sharp."""
    import cv2

    if strength <= 0:
        return crop
    sigma = 3.0 * float(strength)
    blurred = cv2.GaussianBlur(crop, (0, 0), sigma)
    moved = np.clip(flow_magnitude(mapping) / 1.5, 0, 1).astype(np.float32)
    mask = cv2.GaussianBlur(moved, (0, 0), 4.0)[..., None]
    return np.clip(crop * (1 - mask) + blurred * mask + 0.5, 0, 255).astype(np.uint8)


def motion_weight(mapping: np.ndarray, full_at: float = 1.0) -> np.ndarray:
    """``(S, S)`` float32 in [0, 1]: 0 where the warp left pixels in place, 1 where it moved them by
    ``full_at`` pixels or more (slightly blurred, so the switch never shows)."""
    import cv2

    w = np.clip(flow_magnitude(mapping) / full_at, 0, 1).astype(np.float32)
    return cv2.GaussianBlur(w, (0, 0), 2.0)


class Paster:
    """Puts animated crops back into one photo (:func:`paste_animated`), with what does not change from
    frame to frame (the crop's footprint, its feathered mask, the source crop and the photo there)
    worked out once: a live stream pastes every frame into the same photo."""

    def __init__(self, image: np.ndarray, source_crop: np.ndarray, aligned, feather: float = 0.08):
        import cv2

        self.image = image
        h, w = image.shape[:2]
        side = source_crop.shape[0]
        inv = aligned.inverse
        # only the crop's footprint in the photo changes: work there (an 8000 px photo costs what its face costs)
        corners = np.array([[0, 0], [side, 0], [0, side], [side, side]], np.float64) @ inv[:, :2].T + inv[:, 2]
        x0, y0 = (max(0, int(np.floor(v)) - 2) for v in corners.min(0))
        x1, y1 = min(w, int(np.ceil(corners[:, 0].max())) + 2), min(h, int(np.ceil(corners[:, 1].max())) + 2)
        self.box = (x0, y0, x1, y1)
        self.empty = x1 <= x0 or y1 <= y0
        if self.empty:
            return
        self._roi = inv.copy()
        self._roi[:, 2] -= (x0, y0)
        border = max(1, int(round(feather * side)))
        inner = np.zeros((side, side), np.float32)
        inner[border // 2 + 1:-(border // 2 + 1), border // 2 + 1:-(border // 2 + 1)] = 1.0
        mask = cv2.GaussianBlur(inner, (2 * border + 1, 2 * border + 1), border / 2.0)
        self._alpha = self._warp(mask)[..., None]
        self._s = self._warp(source_crop).astype(np.float32)
        self._p = image[y0:y1, x0:x1].astype(np.float32)

    def _warp(self, a: np.ndarray) -> np.ndarray:
        import cv2

        x0, y0, x1, y1 = self.box
        return cv2.warpAffine(a, self._roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def __call__(self, crop: np.ndarray, moved: np.ndarray) -> np.ndarray:
        out = self.image.copy()
        if self.empty:
            return out
        x0, y0, x1, y1 = self.box
        a = self._warp(crop).astype(np.float32)
        m = self._warp(np.asarray(moved, np.float32))[..., None]
        s, p = self._s, self._p
        out[y0:y1, x0:x1] = np.clip(p + self._alpha * (a - s + m * (s - p)) + 0.5, 0, 255).astype(np.uint8)
        return out


def paste_animated(image: np.ndarray, crop: np.ndarray, source_crop: np.ndarray, aligned, moved: np.ndarray,
                   feather: float = 0.08) -> np.ndarray:
    """Put an animated crop back into the full-resolution photo without losing the photo's detail.

    Where the warp moved nothing, only the change the animation made is added to the photo
    (``photo + crop - source_crop``), so skin, hair and background keep the photo's own resolution;
    where it moved pixels, the animated crop itself is used. The crop's border fades out over
    ``feather`` x its side; pixels outside the crop are never touched. (:class:`Paster` does the same for
    many frames of one photo.)
    """
    return Paster(image, source_crop, aligned, feather)(crop, moved)


def _load_generator(value):
    """The emotion-conditioned generator: a :class:`Refiner` as given, or the named weights (the default's
    absence means none: a checkout that never trained one animates with the refiner and the texture)."""
    if value is None or not isinstance(value, str):
        return value
    from ..weights import available_weights

    if value == DEFAULT_GENERATOR and value not in available_weights(kind="animator_refiner"):
        return None
    gen = Refiner.load(value)
    if not gen.conditions:
        raise SettingError(f"{value} is not an emotion-conditioned generator; pass it as refiner=")
    return gen


def _load_or(value, loader):
    if value is None or not isinstance(value, str):
        return value
    return loader(value)


class Animator:
    """Animate still faces.

    Args:
        refiner: weights name (default :data:`DEFAULT_REFINER`), a :class:`Refiner`, or None (warp only).
        generator: the emotion-conditioned generator for emotion animation: weights name (default
            :data:`DEFAULT_GENERATOR`; none where those weights were not made), a :class:`Refiner`, or None
            (the refiner and the expression texture).
        motion: weights name of the learned emotion motion, or an :class:`EmotionMotion` (the default learned
            from CK+; :data:`LEARNED_FROM` names the MEAD-pooled set of motion, texture and calibration).
        predictor: weights name of the keypoint GRU, a :class:`KeypointGRU`, or None.
        texture: weights name of the learned expression texture, an :class:`ExpressionTexture`, or None.
        settings: default :class:`AnimationSettings`.
        detector: face detector for the photo and driving videos.
        recognizer: emotion recognizer that reads the photo's own expression (:meth:`read_expression`);
            None: the default one, made when first needed.
        calibration: weights name of the per-emotion intensity calibration, an
            :class:`IntensityCalibration`, or None (intensity 1 = the mean measured apex).
        provenance: mark every file written (MP4, AVI, GIF) with faceanim's invisible watermark and sign it
            (C2PA, when ``faceanim keys init`` made a key) (on by default; :mod:`faceanim.provenance`;
            False turns both off and the output's ``info`` says so).
        label: a small visible "AI-animated" label in the corner of every frame written (off by default).
        sign: "auto" (sign when there is a key), True (a key is required) or False (never sign).

    >>> import tempfile
    >>> from pathlib import Path
    >>> from faceanim.demo import astronaut
    >>> clip = Animator().emotion(astronaut(), "surprise", intensity=0.8, frames=3)   # or a path
    >>> len(clip), clip.frames.shape, clip.crops.shape
    (3, (3, 512, 512, 3), (3, 256, 256, 3))
    >>> clip.save(Path(tempfile.mkdtemp()) / "surprise.mp4").stat().st_size > 0
    True
    """

    def __init__(self, refiner: str | Refiner | None = DEFAULT_REFINER,
                 motion: str | EmotionMotion = "emotion_motion", predictor: str | KeypointGRU | None = "keypoint_gru",
                 settings: AnimationSettings | None = None, detector: str = "mtcnn",
                 texture: str | ExpressionTexture | None = "emotion_texture", recognizer=None,
                 calibration: str | IntensityCalibration | None = "emotion_calibration", provenance: bool = True,
                 label: bool = False, sign: bool | str = "auto", generator: str | Refiner | None = DEFAULT_GENERATOR):
        self.refiner = _load_or(refiner, Refiner.load)
        self.generator = _load_generator(generator)
        self.motion = _load_or(motion, EmotionMotion.load)
        self.predictor = _load_or(predictor, load_keypoint_gru)
        self.texture = _load_or(texture, ExpressionTexture.load)
        self.calibration = _load_or(calibration, IntensityCalibration.load)
        # without texture (calibration) weights the default is geometry only (uncalibrated); asking for it
        # then is an error
        self.settings = (settings or AnimationSettings(texture=1.0 if self.texture is not None else 0.0,
                                                       calibrated=self.calibration is not None)).validate()
        self.detector = detector
        #: mark every file this animator writes with the invisible watermark (:mod:`faceanim.provenance`)
        self.provenance = bool(provenance)
        #: a visible corner label on every frame written; whether written files are signed (C2PA)
        self.label, self.sign = bool(label), sign
        if sign not in (True, False, "auto"):
            raise SettingError(f"sign must be True, False or 'auto', got {sign!r}")
        self._pipe = None
        self._recognizer = recognizer

    @property
    def pipeline(self):
        if self._pipe is None:
            from ..face import FacePipeline

            self._pipe = FacePipeline(self.detector, "dlib68", template=None, max_faces=1)
        return self._pipe

    # -- sources
    def prepare(self, photo, crop_size: int = 256) -> SourceFace:
        """Find the largest face in ``photo`` (path or array) and crop it to ``crop_size`` px
        (:data:`CROP_SIZES`); :class:`NoFaceError` if none."""
        from ..face import align_face
        from ..io import as_rgb, read_image

        name = str(photo) if isinstance(photo, (str, os.PathLike)) else "the image"
        image = read_image(photo) if isinstance(photo, (str, os.PathLike)) else as_rgb(photo)
        faces = self.pipeline(image).faces
        if not faces:
            raise NoFaceError(f"no face found in {name}; use a photo with a clear, roughly frontal face "
                              "(at least about 40 px across)")
        if crop_size not in CROP_SIZES:
            raise SettingError(f"crop_size must be one of {', '.join(map(str, CROP_SIZES))}, got {crop_size!r}")
        aligned = align_face(image, faces[0], "animation", size=int(crop_size))
        # the 68 points are found again in the crop, as the training clips' points were
        found = self.pipeline(aligned.image).faces
        lm = found[0].landmarks if found else aligned.to_crop(faces[0].landmarks)
        return SourceFace(image=image, aligned=aligned, landmarks=np.asarray(lm, np.float64))

    def _settings(self, overrides: dict) -> AnimationSettings:
        return dataclasses.replace(self.settings, **overrides).validate() if overrides else self.settings

    # -- motion sources
    def read_expression(self, source: SourceFace) -> SourceExpression:
        """The expression the photo already shows, read by the emotion recognizer (its label at its learned
        intensity when the face counts as expressive, else neutral)."""
        from ..face.types import Face

        if self._recognizer is None:
            from ..emotion import create_recognizer

            self._recognizer = create_recognizer()
        lm = np.asarray(source.landmarks, np.float32)
        face = Face(box=np.r_[lm.min(0), lm.max(0)], score=1.0, landmarks=lm, detector="landmarks")
        return SourceExpression.from_reading(self._recognizer.recognize_faces(source.crop, [face])[0])

    def _source_expression(self, source: SourceFace, value) -> SourceExpression:
        if isinstance(value, SourceExpression):
            return value
        if value == "auto":
            return self.read_expression(source)
        if value is None or value == "neutral":
            return SourceExpression("neutral", 0.0, "assumed")
        if isinstance(value, str):
            return SourceExpression(value, 1.0)
        if isinstance(value, tuple) and len(value) == 2:
            try:
                amount = float(value[1])
            except (TypeError, ValueError):
                raise SettingError(f"source_expression amount must be a number from 0 to 1, got {value[1]!r}") from None
            return SourceExpression(str(value[0]), amount)
        raise SettingError(f"source_expression must be 'auto', 'neutral', an emotion name or (name, amount), "
                           f"got {value!r}")

    def emotion(self, photo, emotion: str, intensity: float = 1.0, frames: int = 24, fps: float = 25.0,
                easing: str = "smoothstep", hold: int = 0, gain: float = 1.0, source_expression="auto",
                output: str | os.PathLike | None = None, progress: bool = False,
                **overrides) -> Animation | SavedAnimation:
        """From the photo's expression toward ``emotion`` at ``intensity`` over ``frames`` frames (+ ``hold``).

        ``gain`` exaggerates the learned motion and texture (1 = the measured CK+ mean apex, up to 3).
        ``source_expression``: what the photo already shows, taken out along the way so that "angry" from a
        smiling photo does not keep the smile: ``"auto"`` (read by the emotion recognizer; a face it
        reads as neutral, or below its intensity threshold, is left as it is), ``"neutral"`` (take nothing
        out), an emotion name (at its full mean apex) or ``(name, amount)``. ``output``: stream the frames
        into this video file as they are made (memory does not grow with ``frames + hold``) and return a
        :class:`SavedAnimation`; without it the frames are held in an :class:`Animation`."""
        if easing not in EASINGS:
            raise SettingError(f"unknown easing {easing!r}; choose one of {', '.join(EASINGS)}")
        if not isinstance(emotion, str) or emotion not in ("neutral", *self.motion.displacement):
            known = ", ".join(["neutral", *self.motion.displacement])
            raise SettingError(f"unknown emotion {emotion!r}; choose one of {known}")
        intensity, frames, hold, gain = (check("intensity", intensity), check("frames", frames), check("hold", hold),
                                         check("gain", gain))
        fps = check("fps", fps)
        if output is not None:
            self._check_output(output, photo)
        settings = self._settings(overrides)
        source = photo if isinstance(photo, SourceFace) else self.prepare(photo, settings.crop_size)
        undo = self._source_expression(source, source_expression)
        progress_curve = ease(frames, easing, self.motion.onset, hold)
        info = {"emotion": emotion, "intensity": float(intensity)}
        if gain != 1.0:
            info["gain"] = float(gain)
        gain = self.emotion_gain(emotion, gain, settings)
        if settings.calibrated:
            info["calibrated_gain"] = round(gain, 3)
        # the photo's expression is read on the calibrated scale: it is taken out with its emotion's gain
        undo_gain = 1.0 if undo.neutral else self.emotion_gain(undo.emotion, 1.0, settings)
        track = emotion_keypoints(source.landmarks, self.motion, emotion, intensity, progress_curve, gain,
                                  undo=None if undo.neutral else undo, undo_gain=undo_gain)
        if not undo.neutral:
            info["source_expression"] = {"emotion": undo.emotion, "amount": round(undo.amount, 3), "from": undo.source,
                                         "gain": round(undo_gain, 3)}
        moving = (emotion, gain * float(intensity) * progress_curve)
        undoing = None if undo.neutral else (undo.emotion, undo_gain * undo.amount * progress_curve)
        if output is not None:
            frames_ = self.frames(source, track, fps, settings, progress=progress, emotion=moving, undo=undoing)
            return self.write(output, frames_, fps, full=settings.paste, info=info, inputs=self._inputs(photo))
        return self.render(source, track, fps, settings, info=info, progress=progress, emotion=moving, undo=undoing)

    @staticmethod
    def _inputs(*items) -> tuple:
        return tuple(i for i in items if isinstance(i, (str, os.PathLike)))

    def _check_output(self, output, *inputs) -> None:
        from .._atomic import check_output

        check_output(output, inputs=self._inputs(*inputs), suffixes=(".mp4", ".avi", ".gif"), what="animation")

    def apex(self, source: SourceFace, emotion: str, gains, settings: AnimationSettings | None = None) -> "Apex":
        """``emotion`` at full intensity at each of ``gains`` on ``source``: one rendered crop per gain.

        ``settings`` default to the full uncalibrated method (refinement and texture where this animator
        has them, no paste-back): what the intensity calibration measures its gains with.
        """
        gains = np.asarray(gains, np.float64)
        st = settings or AnimationSettings(paste=False, refine=self.refiner is not None,
                                           texture=1.0 if self.texture is not None else 0.0, calibrated=False)
        track = np.stack([emotion_keypoints(source.landmarks, self.motion, emotion, 1.0, gain=g) for g in gains])
        crops = self.render(source, track, settings=st, emotion=(emotion, gains)).crops
        return Apex(emotion=emotion, gains=gains, crops=crops, keypoints=track)

    def emotion_gain(self, emotion: str, gain: float = 1.0, settings: AnimationSettings | None = None) -> float:
        """The gain applied to ``emotion``'s learned motion and texture: the exaggeration ``gain`` times the
        calibrated gain when ``settings.calibrated`` (capped at 3, the exaggeration slider's end)."""
        st = settings or self.settings
        if not st.calibrated or emotion == "neutral":
            return float(gain)
        if self.calibration is None:
            raise SettingError("calibrated=True needs the intensity calibration weights "
                               "(weights/emotion_calibration.pt); pass calibrated=False for the mean measured apex")
        return float(min(3.0, gain * self.calibration.gain_for(emotion)))

    def drive(self, photo, video, mode: str = "relative", reference: str | int = "first",
              max_frames: int | None = None, output: str | os.PathLike | None = None, progress: bool = False,
              tracker: str = "dlib68", **overrides) -> Animation | SavedAnimation:
        """Reproduce the motion of ``video`` (a path, webcam index, iterable of frames or a
        :class:`~faceanim.animate.Clip`).

        A loop over :meth:`stream` (the live path): each driving frame is read, tracked and animated in
        turn, so the driving video is never held in memory. With ``output`` the frames stream into that
        file and a :class:`SavedAnimation` comes back; without it they are held in an :class:`Animation`.
        ``reference``: ``"first"`` (the first face), ``"best"`` (the frame closest to the photo's pose) or a
        frame index; the last two read the video's landmarks once beforehand. ``tracker``: ``"dlib68"``
        (default, the points the animator was trained on) or ``"mediapipe"`` (faster). Frames that cannot
        be read are skipped (``info["skipped"]``); where the face is lost the last pose is held, then eased
        back to the photo's (:class:`~faceanim.animate.live.LiveSettings`)."""
        from .clips import Clip

        if mode not in DRIVING_MODES:
            raise SettingError(f"unknown driving mode {mode!r}; choose one of {', '.join(DRIVING_MODES)}")
        if not (reference in ("first", "best") or (isinstance(reference, (int, np.integer))
                                                   and not isinstance(reference, bool) and reference >= 0)):
            raise SettingError(f"reference must be 'first', 'best' or a frame index (0 or more), got {reference!r}")
        max_frames = check("max_frames", max_frames, optional=True)
        if output is not None:
            self._check_output(output, photo, video if isinstance(video, (str, os.PathLike)) else None)
        settings = self._settings(overrides)
        source = photo if isinstance(photo, SourceFace) else self.prepare(photo, settings.crop_size)
        if isinstance(video, Clip):  # landmarks already known: the track in one go
            track = driving_keypoints(source.landmarks, video.landmarks[:max_frames], mode, reference)
            clip_info = {"driving": video.name, "mode": mode, "reference": reference}
            if output is not None:
                return self.write(output, self.frames(source, track, video.fps, settings, progress=progress),
                                  video.fps, full=settings.paste, info=clip_info, inputs=self._inputs(photo))
            return self.render(source, track, video.fps, settings, info=clip_info, progress=progress)
        from .live import Puppet

        name = Path(video).name if isinstance(video, (str, os.PathLike)) else "driving frames"
        ref = None if reference == "first" else self._reference_landmarks(source, video, reference, max_frames,
                                                                          tracker, name)
        puppet = Puppet(source, self, mode=mode, tracker=tracker, reference_landmarks=ref,
                        **dataclasses.asdict(settings))
        info = {"driving": name, "mode": mode, "reference": reference, "tracker": tracker}
        with puppet:
            if output is not None:
                for _ in puppet.run(video, max_frames=max_frames, output=output, progress=progress,
                                    full=settings.paste, require_face=True):
                    pass
                return self._driven(puppet, name, info, saved=True)
            held = [(f.crop, f.image if settings.paste else None, f.keypoints)
                    for f in puppet.run(video, max_frames=max_frames, progress=progress, require_face=True)]
        self._driven(puppet, name, info, saved=False)
        crops = np.stack([h[0] for h in held])
        frames = np.stack([h[1] for h in held if h[1] is not None]) if settings.paste else None
        return Animation(crops=crops, frames=frames, keypoints=np.stack([h[2] for h in held]), fps=puppet.fps,
                         settings=settings, source=source, info=info)

    @staticmethod
    def _driven(puppet, name: str, info: dict, saved: bool):
        s = puppet.summary
        if not s.frames:
            raise MediaError(f"{name}: no frames could be read")
        if s.lost == s.frames:
            raise NoFaceError(f"{name}: no face in any frame; the driving video must show a face")
        if s.skipped:
            info["skipped"] = s.skipped
        if s.lost:
            info["no_face_frames"] = s.lost
        if "provenance" in s.info:
            info["provenance"] = s.info["provenance"]
        if saved:
            return SavedAnimation(path=s.output, frames=s.frames, fps=puppet.fps,
                                  size=puppet.last_size, info=info)
        return None

    def _reference_landmarks(self, source: SourceFace, video, reference, max_frames, tracker: str,
                             name: str) -> np.ndarray:
        """The driving landmarks of frame ``reference`` (an index) or of the frame closest to the photo's
        pose (``"best"``): one pass over the video, keeping landmarks only."""
        from ..io import frame_source
        from .live import tracker_for
        from .motion import closest_frame

        if not isinstance(video, (str, os.PathLike, int, np.integer)):
            raise SettingError("reference='best' or a frame index reads the driving video twice: give a file "
                               "path, not a stream of frames (or use reference='first')")
        items, _, _, reader = frame_source(video, max_frames=max_frames)
        track = tracker_for(tracker, self)
        best_lm = None
        try:
            for n, (_, _, image) in enumerate(items):
                if image is None:
                    continue
                lm = track(image)
                if lm is None:
                    continue
                if reference == "best":
                    if best_lm is None or closest_frame(source.landmarks, np.stack([best_lm, lm])) == 1:
                        best_lm = lm
                elif n == reference:
                    best_lm = lm
                    break
        finally:
            track.close()
            if reader is not None:
                reader.close()
        if best_lm is None:
            raise SettingError(f"{name}: no face at reference frame {reference!r}; use reference='first'")
        return np.asarray(best_lm, np.float64)

    def stream(self, photo, source, mode: str = "relative", tracker: str = "mediapipe", side_by_side: bool = False,
               max_frames: int | None = None, output: str | os.PathLike | None = None, progress: bool = False,
               **overrides):
        """Animate ``photo`` live from ``source`` (a webcam index, a video path, an iterable of frames): a
        generator of :class:`~faceanim.animate.live.LiveFrame`, one per driving frame, as each arrives
        (see :class:`~faceanim.animate.live.Puppet`, which this makes; a photo without a face fails here,
        before the stream starts). ``output``: also write the shown frames to this video file as they
        come."""
        from .live import Puppet

        puppet = Puppet(photo, self, mode=mode, tracker=tracker, side_by_side=side_by_side, **overrides)
        return puppet.run(source, max_frames=max_frames, output=output, progress=progress)

    # -- frames
    def filter_track(self, track: np.ndarray, settings: AnimationSettings, fps: float) -> np.ndarray:
        s = settings.filter_strength
        if s == 0:
            return np.asarray(track, np.float64)
        if settings.filter == "one_euro":
            return one_euro(track, s, fps)
        if settings.filter == "gru":
            if self.predictor is None:
                raise SettingError("the 'gru' filter needs the keypoint GRU weights (weights/keypoint_gru.pt)")
            return predictive_filter(track, s, self.predictor)
        return predictive_filter(track, s, None)

    def render(self, source: SourceFace, track: np.ndarray, fps: float = 25.0,
               settings: AnimationSettings | None = None, info: dict | None = None, progress: bool = False,
               batch_size: int = 8, emotion: tuple[str, np.ndarray] | None = None,
               undo: tuple[str, np.ndarray] | None = None) -> Animation:
        """Frames for a keypoint track ``(T, 68, 2)`` in crop pixels, held in memory (:meth:`frames` streams them).

        ``emotion``: ``(name, amounts)`` says the track moves toward that emotion: its expression texture is
        added, ``amounts[t]`` (times the ``texture`` setting) strong on frame ``t``, and the generator is kept
        below the brows. None (a driving video, a bare track): neither. ``undo``: ``(name, amounts)``, the
        photo's own expression whose texture is taken out as the track moves (with ``emotion`` only).
        An animation too large for the memory this machine has left is refused before it starts, with the
        size it would need (``output=`` on :meth:`emotion` and :meth:`drive` streams it to a file instead)."""
        st = (settings or self.settings).validate()
        size, n = source.crop.shape[0], len(track)
        check_memory(n * (size * size * 3 + (source.image.nbytes if st.paste else 0)),
                     f"{n} frames of {'x'.join(map(str, source.image.shape[:2]))} held in memory",
                     "pass output='clip.mp4' to stream the frames to a file, or ask for fewer frames")
        crops = np.empty((n, size, size, 3), np.uint8)
        frames = np.empty((n, *source.image.shape), np.uint8) if st.paste else None
        keypoints = np.empty((n, 68, 2), np.float64)
        for f in self.frames(source, track, fps, st, progress=progress, batch_size=batch_size, emotion=emotion,
                             undo=undo):
            crops[f.index], keypoints[f.index] = f.crop, f.keypoints
            if frames is not None:
                frames[f.index] = f.frame
        return Animation(crops=crops, frames=frames, keypoints=keypoints, fps=float(fps), settings=st,
                         source=source, info=info or {})

    def frames(self, source: SourceFace, track: np.ndarray, fps: float = 25.0,
               settings: AnimationSettings | None = None, progress: bool = False, batch_size: int = 8,
               emotion: tuple[str, np.ndarray] | None = None,
               undo: tuple[str, np.ndarray] | None = None) -> Iterator[AnimatedFrame]:
        """:meth:`render`'s frames one at a time, in order (memory does not grow with the track's length)."""
        from tqdm.auto import tqdm

        st = (settings or self.settings).validate()
        if st.refine and self.refiner is None:
            raise SettingError("refine=True needs the refiner weights; pass refine=False for warp only")
        fps = check("fps", fps)
        track = np.asarray(track, np.float64)
        if track.ndim != 3 or track.shape[1:] != (68, 2) or len(track) == 0 or not np.isfinite(track).all():
            raise SettingError(f"a keypoint track is (T, 68, 2) finite crop pixels with T >= 1, got {track.shape}")
        track = self.filter_track(track, st, fps)
        renderer = FrameRenderer(self, source, st, emotion=emotion, undo=undo, frames=len(track))
        pending: list = []
        for t in tqdm(range(len(track)), desc="animating", unit="frame", disable=not progress):
            item = renderer.warp(t, track[t])
            if st.refine:
                pending.append(item)
                if len(pending) == batch_size:
                    yield from renderer.refine(pending)
                    pending.clear()
            else:
                yield renderer.finish(item)
        yield from renderer.refine(pending)

    def write(self, output: str | os.PathLike, frames: Iterable[AnimatedFrame], fps: float, full: bool = True,
              info: dict | None = None, inputs: tuple = ()) -> SavedAnimation:
        """Stream animated frames into a video file as they are made (mp4, avi or gif, atomically: a file
        already at ``output`` is replaced only when every frame is written)."""
        from .._atomic import check_output
        from ..io import VideoWriter

        check_output(output, inputs=inputs, suffixes=(".mp4", ".avi", ".gif"), what="animation")
        mark = self.marker(output)
        n, size = 0, None
        with VideoWriter(output, fps=fps, metadata=mark.metadata()) as out:
            for f in frames:
                image = f.frame if full and f.frame is not None else f.crop
                out.write(mark(image))
                n, size = n + 1, image.shape[:2]
        return SavedAnimation(path=Path(output), frames=n, fps=float(fps), size=size or (0, 0),
                              info={**(info or {}), **mark.finish(output)})

    def marker(self, output) -> "Marker":
        """The :class:`~faceanim.provenance.Marker` for one output, with this animator's settings."""
        from ..provenance import Marker

        return Marker(output, self.provenance, label=self.label, sign=self.sign)


class FrameRenderer:
    """Renders one source face frame by frame: keypoints ``(68, 2)`` in crop pixels -> :class:`AnimatedFrame`.

    :meth:`Animator.frames` runs it over a whole track (refining a few frames per generator call); the
    live path (:class:`~faceanim.animate.live.Puppet`) one frame at a time, as each driving frame comes in.
    ``emotion`` and ``undo`` as in :meth:`Animator.render` (their amounts per frame, ``frames`` long).
    """

    def __init__(self, animator: "Animator", source: SourceFace, settings: AnimationSettings,
                 emotion: tuple[str, np.ndarray] | None = None, undo: tuple[str, np.ndarray] | None = None,
                 frames: int = 1):
        st = settings
        if st.refine and animator.refiner is None:
            raise SettingError("refine=True needs the refiner weights; pass refine=False for warp only")
        self.animator, self.source, self.settings = animator, source, st
        self.emotion = emotion
        size = self.size = source.crop.shape[0]
        # emotion animation with the emotion-conditioned generator (where there is one and the settings want
        # it): it paints the expression's texture itself (told the emotion and its amount per frame), so the
        # learned ratio images are applied only with the plain refiner
        use_generator = emotion is not None and st.refine and st.generator and animator.generator is not None
        self.net = animator.generator if use_generator else animator.refiner
        self.conditions = self.net.conditions if st.refine and self.net is not None else 0
        self.cond_amounts = (np.broadcast_to(np.asarray(emotion[1], np.float64), (frames,))
                             if emotion is not None and self.conditions else None)
        self.textured = (emotion is not None and st.texture > 0 and not self.conditions
                         and (emotion[0] != "neutral" or (undo is not None and undo[0] != "neutral")))
        if self.textured:
            assert emotion is not None  # textured implies an emotion track
            texture = animator.texture
            if texture is None:
                raise SettingError("texture > 0 needs the expression texture weights (weights/emotion_texture.pt); "
                                   "pass texture=0 for geometry only")
            self.name, self.amounts = emotion[0], np.broadcast_to(np.asarray(emotion[1], np.float64), (frames,))
            self.undo_name, undo_level = undo if undo is not None else ("neutral", 0.0)
            self.undo_amounts = np.broadcast_to(np.asarray(undo_level, np.float64), (frames,))
            self.to_canon = texture.source_map(source.landmarks, size, st.anchors_per_side)
            self.keep = forehead_keep(source.crop, source.landmarks)
        self.scale = size / _NET_SIZE  # the generator works at 256 px
        self.idx = select_keypoints(st.keypoints)
        self.anchors = border_anchors(size, st.anchors_per_side)
        self.src_pts = np.vstack([source.landmarks[self.idx], self.anchors])
        self.paster = Paster(source.image, source.crop, source.aligned) if st.paste else None

    def warp(self, t: int, keypoints: np.ndarray) -> tuple:
        """Frame ``t`` warped to ``keypoints``: ``(t, keypoints, mapping, warped, generator input or None)``."""
        mapping = tps_map(self.src_pts, np.vstack([keypoints[self.idx], self.anchors]), self.size, grid=32)
        warped = warp_image(self.source.crop, mapping)
        gin = None
        if self.settings.refine and self.scale == 1:
            gin = generator_input(warped, mapping, self.source.landmarks, keypoints)
        elif self.settings.refine:  # the generator's own scale: the frame, map and points scaled down
            import cv2

            net = (_NET_SIZE, _NET_SIZE)
            gin = generator_input(cv2.resize(warped, net, interpolation=cv2.INTER_AREA),
                                  cv2.resize(mapping, net, interpolation=cv2.INTER_LINEAR) / self.scale,
                                  self.source.landmarks / self.scale, keypoints / self.scale)
        if gin is not None and self.conditions:
            from .networks import condition_planes

            name = self.emotion[0] if self.emotion is not None else None
            amount = float(self.cond_amounts[t]) if self.cond_amounts is not None else 0.0
            gin = np.concatenate([gin, condition_planes(name, amount, gin.shape[1:])])
        return t, keypoints, mapping, warped, gin

    def refine(self, items: list) -> Iterator[AnimatedFrame]:
        """:meth:`warp`'s frames through the refinement generator (one call for all of them), finished."""
        if not items:
            return
        window = refine_window(self.source.landmarks / self.scale, [it[1] / self.scale for it in items],
                               _NET_SIZE if self.scale != 1 else self.size) \
            if self.settings.refine_window == "face" else None
        gins = np.stack([it[4] for it in items])
        if self.scale == 1:
            out = self.net.refine_batch(gins, window=window, warped=np.stack([it[3] for it in items]))
        else:
            out = self._refine_scaled(gins, [it[3] for it in items], window)
        for (t, kp, mapping, warped, _), img in zip(items, out):
            if self.emotion is not None:  # the generator's change is kept below the brows only
                above = above_brows(kp, self.size)[..., None]
                img = np.clip(img * (1.0 - above) + warped * above + 0.5, 0, 255).astype(np.uint8)
            yield self.finish((t, kp, mapping, img, None))

    def _refine_scaled(self, gins: np.ndarray, warped: list, window) -> list:
        """The generator on 256 px inputs; its correction (output minus its input frame) scaled up and added
        to each full-size warped frame."""
        import cv2

        small = self.net.refine_batch(gins, window=window).astype(np.float32)
        base = (np.moveaxis(gins[:, :3], 1, -1) + 1.0) * 127.5
        out = []
        for w, corr in zip(warped, small - base):
            up = cv2.resize(corr, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
            out.append(np.clip(w.astype(np.float32) + up + 0.5, 0, 255).astype(np.uint8))
        return out

    def finish(self, item: tuple) -> AnimatedFrame:
        """Texture, post-filter and paste-back of a warped (or refined) frame."""
        t, kp, mapping, img, _ = item
        st, tex = self.settings, self.animator.texture
        if self.textured and self.undo_amounts[t] > 0:  # the photo's expression out, the requested one in
            img = apply_texture(img, tex.map_through(self.name, self.to_canon, mapping, self.keep,
                                                     (self.undo_name, float(self.undo_amounts[t])),
                                                     weight=float(self.amounts[t])), st.texture)
        elif self.textured and self.amounts[t] > 0:
            img = apply_texture(img, tex.map_through(self.name, self.to_canon, mapping, self.keep),
                                st.texture * self.amounts[t])
        crop = gaussian_post_filter(img, mapping, st.gaussian)
        frame = self.paster(crop, motion_weight(mapping)) if self.paster is not None else None
        return AnimatedFrame(index=t, crop=crop, frame=frame, keypoints=kp)


def load_keypoint_gru(name: str = "keypoint_gru") -> KeypointGRU:
    """The committed keypoint GRU (checksum verified)."""
    from ..weights import load_weights

    state, _ = load_weights(name, kind="keypoint_gru")
    model = KeypointGRU(hidden=state["hidden"])
    model.load_state_dict(state["model"])
    return model.eval()
