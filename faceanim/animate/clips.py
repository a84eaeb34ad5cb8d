"""Training and evaluation clips for the animator: fixed 256 px crops of real videos, with 68 landmarks.

Each video (and each CK+ sequence) is cropped once, with the ``animation`` template fitted to its first
frame, and that crop is kept for every frame, as FOMM/TPSMM prepare their data: the head moves inside a
still frame. Landmarks are found in every crop (MTCNN every few frames, dlib's 68 points followed in
between). Whole videos and whole CK+ subjects are held out for evaluation (:data:`HELDOUT_VIDEOS`,
:data:`HELDOUT_SUBJECTS`). The cache lives in ``runs/`` (git-ignored), never in the repository, since the
source data may not be redistributed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import cache_dir
from ..errors import DataNotFoundError, FaceanimError, NoFaceError

__all__ = ["Clip", "prepare_clips", "load_clips", "prepare_mead_clips", "load_mead_clips", "mead_cache", "crop_clip",
           "follow_crops", "fill_landmarks", "HELDOUT_VIDEOS",
           "HELDOUT_SUBJECTS",
           "default_cache", "CROP_SIZE"]

CROP_SIZE = 256
#: Face videos kept out of training (stems of the files in ``face_videos/videos``).
HELDOUT_VIDEOS = ("liveportrait_d0", "liveportrait_d12", "tpsmm_driving", "sadtalker_WDA_KatieHill_000")
#: CK+ subjects kept out of training and out of the learned emotion motion.
HELDOUT_SUBJECTS = ("S052", "S111", "S130")


@dataclass
class Clip:
    """One video or CK+ sequence as fixed crops.

    Attributes:
        frames: ``(T, S, S, 3)`` RGB uint8 crops.
        landmarks: ``(T, 68, 2)`` in crop pixels.
        found: ``(T,)`` True where landmarks were fitted on that frame (else carried from the last one).
        kind: ``"video"``, ``"ckplus"`` or ``"mead"``; person: video stem, CK+ subject or MEAD actor; emotion:
            CK+'s or MEAD's emotion, or "" (a face video).
    """

    name: str
    kind: str
    person: str
    emotion: str
    fps: float
    frames: np.ndarray = field(repr=False)
    landmarks: np.ndarray = field(repr=False)
    found: np.ndarray = field(repr=False)

    @property
    def heldout(self) -> bool:
        return self.person in HELDOUT_VIDEOS or self.person in HELDOUT_SUBJECTS

    def __len__(self) -> int:
        return len(self.frames)


def default_cache() -> Path:
    return cache_dir() / f"animator_clips_{CROP_SIZE}.npz"


class CropFollower:
    """A driving video's face, frame by frame: each frame cropped with the template fitted on the first
    face found, its 68 landmarks detected every ``detect_every`` frames and followed between (dlib-68).
    :meth:`__call__` gives ``(crop, landmarks or None)``; before the first face, ``(None, None)``. Only the
    last face is kept, so a stream of any length goes through."""

    def __init__(self, detect_every: int = 10, pipeline=None, require_first: str | None = None):
        from ..face import FacePipeline

        self.pipe = pipeline or FacePipeline("mtcnn", "dlib68", template=None, max_faces=1)
        self.detect_every = detect_every
        self.require_first = require_first  # a name: the first frame must hold a face (else NoFaceError)
        self.matrix: np.ndarray | None = None
        self.face = None
        self.t = 0

    def __call__(self, rgb: np.ndarray) -> tuple:
        import cv2

        from ..face import align_face
        from ..face.track import follow

        if self.matrix is None:
            faces = self.pipe(rgb).faces
            if not faces:
                if self.require_first is not None:
                    raise NoFaceError(f"{self.require_first}: no face in the first frame; the driving video must "
                                      "start on a face")
                return None, None
            self.matrix = align_face(rgb, faces[0], "animation").matrix
        crop = cv2.warpAffine(rgb, self.matrix, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT101)
        new = None
        if self.face is None or self.t % self.detect_every == 0:
            got = self.pipe(crop).faces
            new = got[0] if got else None
        if new is None and self.face is not None:
            new = follow(crop, self.face, self.pipe.landmarker)
        found = new is not None and new.landmarks is not None
        if found:
            self.face = new
        self.t += 1
        return crop, (np.asarray(self.face.landmarks, np.float32) if found else None)


def follow_crops(images: Iterable, name: str, detect_every: int = 10, pipeline=None) -> Iterator[tuple]:
    """``(crop, landmarks or None)`` per frame, one frame at a time (:class:`CropFollower`; the first frame
    must hold a face). Unreadable frames are given as ``(None, None)``."""
    from ..io import as_rgb

    follower = CropFollower(detect_every, pipeline, require_first=name)
    for img in images:
        try:
            rgb = as_rgb(img)
        except FaceanimError:
            yield None, None
            continue
        yield follower(rgb)


def fill_landmarks(landmarks: list, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 68, 2)`` landmarks from a per-frame list with ``None`` where none were found (the last found
    ones carried forward, the first found ones back to the start) and the ``(T,)`` found mask."""
    found = np.array([lm is not None for lm in landmarks], bool)
    if not found.any():
        raise NoFaceError(f"{name}: no landmarks in any frame")
    out = np.zeros((len(landmarks), 68, 2), np.float32)
    last = landmarks[int(np.argmax(found))]
    for t, lm in enumerate(landmarks):
        last = lm if lm is not None else last
        out[t] = last
    return out, found


def crop_clip(images, name: str, kind: str = "video", person: str | None = None, emotion: str = "",
              fps: float = 25.0, detect_every: int = 10, pipeline=None) -> Clip:
    """Crop a sequence of frames with the template fitted on its first face, and track its landmarks."""
    crops, lms = [], []
    for crop, lm in follow_crops(images, name, detect_every, pipeline):
        if crop is not None:
            crops.append(crop)
            lms.append(lm)
    if not crops:
        raise FaceanimError(f"{name}: no frames")
    landmarks, found = fill_landmarks(lms, name)
    return Clip(name=name, kind=kind, person=person or name, emotion=emotion, fps=float(fps), frames=np.stack(crops),
                landmarks=landmarks, found=found)


def prepare_clips(max_frames: int = 300, cache: str | os.PathLike | None = None, progress: bool = True,
                  max_videos: int | None = None, max_sequences: int | None = None) -> Path:
    """Crop every face video (first ``max_frames`` frames) and every CK+ sequence; save them to ``cache``.

    ``max_videos`` / ``max_sequences`` keep only the first few (quick runs and tests)."""
    from tqdm.auto import tqdm

    from ..data import list_face_videos, load_ckplus_sequences
    from ..face import FacePipeline
    from ..io import VideoReader

    cache = Path(cache) if cache else default_cache()
    pipe = FacePipeline("mtcnn", "dlib68", template=None, max_faces=1)
    clips: list[Clip] = []
    videos = list_face_videos()[:max_videos]
    seqs = list(load_ckplus_sequences())[:max_sequences]
    for path in tqdm(videos, desc="videos", disable=not progress):
        with VideoReader(path, max_frames=max_frames) as reader:
            images = [f.image for f in reader]
            fps = reader.fps
        clips.append(crop_clip(images, path.stem, "video", path.stem, "", fps, pipeline=pipe))
    for s in tqdm(seqs, desc="CK+ sequences", disable=not progress):
        clips.append(crop_clip(s.frames, s.name, "ckplus", s.subject, s.emotion, 30.0, detect_every=1, pipeline=pipe))
    _save_clips(clips, cache)
    return cache


def load_clips(cache: str | os.PathLike | None = None, prepare: bool = True, progress: bool = True) -> list[Clip]:
    """The cached clips (made with :func:`prepare_clips` first when missing and ``prepare``)."""
    cache = Path(cache) if cache else default_cache()
    if not cache.exists():
        if not prepare:
            raise DataNotFoundError(f"no animator clips at {cache}; run `faceanim train animator` or "
                                    "faceanim.animate.prepare_clips() first")
        prepare_clips(cache=cache, progress=progress)
    return _read_clips(cache)


def _save_clips(clips: list[Clip], cache: Path) -> None:
    from .._atomic import atomic_path

    arrays = {"names": np.array([c.name for c in clips]), "kinds": np.array([c.kind for c in clips]),
              "persons": np.array([c.person for c in clips]), "emotions": np.array([c.emotion for c in clips]),
              "fps": np.array([c.fps for c in clips]), "lengths": np.array([len(c) for c in clips]),
              "frames": np.concatenate([c.frames for c in clips]),
              "landmarks": np.concatenate([c.landmarks for c in clips]),
              "found": np.concatenate([c.found for c in clips])}
    with atomic_path(cache) as tmp:
        np.savez(tmp, **arrays)


def _read_clips(cache: Path) -> list[Clip]:
    z = np.load(cache)
    ends = np.cumsum(z["lengths"])
    starts = ends - z["lengths"]
    frames, lms, found = z["frames"], z["landmarks"], z["found"]
    return [Clip(name=str(n), kind=str(k), person=str(p), emotion=str(e), fps=float(f), frames=frames[a:b],
                 landmarks=lms[a:b], found=found[a:b])
            for n, k, p, e, f, a, b in zip(z["names"], z["kinds"], z["persons"], z["emotions"], z["fps"], starts, ends)]


def mead_cache() -> Path:
    """Where :func:`prepare_mead_clips` keeps the MEAD crops (beside :func:`default_cache`)."""
    return default_cache().with_name(f"mead_clips_{CROP_SIZE}.npz")


def prepare_mead_clips(cache: str | os.PathLike | None = None, progress: bool = True,
                       max_frames: int | None = None, actors: Iterable[str] | None = None) -> Path:
    """Crop every MEAD clip (``$FACEANIM_DATA/mead/clips``, :func:`~faceanim.data.list_mead_clips`) as the
    animator's clips are cropped, landmarks fitted on every frame (the actors speak: the mouth moves fast),
    and save them to ``cache``. Each becomes a :class:`Clip` of ``kind="mead"`` whose ``person`` is the
    actor and ``emotion`` ours (contempt keeps its name). The 1080p original of M030's sad clip is the
    same recording as ``M030_front_sad_level3_001`` and is left out. ``max_frames`` / ``actors``: only
    the first frames / these actors' clips (quick runs and tests)."""
    from tqdm.auto import tqdm

    from ..data import list_mead_clips
    from ..face import FacePipeline
    from ..io import VideoReader

    cache = Path(cache) if cache else mead_cache()
    table = list_mead_clips()
    table = table[~table.name.str.endswith("_1080p")]
    if actors is not None:
        table = table[table.actor.isin(list(actors))]
    if not len(table):
        raise DataNotFoundError("no MEAD clips in $FACEANIM_DATA/mead/clips (see SOURCES.md, section 5)")
    pipe = FacePipeline("mtcnn", "dlib68", template=None, max_faces=1)
    clips = []
    for row in tqdm(list(table.itertuples()), desc="MEAD clips", disable=not progress):
        with VideoReader(row.path, max_frames=max_frames) as reader:
            images = [f.image for f in reader]
            fps = reader.fps
        clips.append(crop_clip(images, row.name, "mead", row.actor, row.emotion, fps, detect_every=1,
                               pipeline=pipe))
    _save_clips(clips, cache)
    return cache


def load_mead_clips(cache: str | os.PathLike | None = None, prepare: bool = True,
                    progress: bool = True) -> list[Clip]:
    """The cached MEAD clips (made with :func:`prepare_mead_clips` first when missing and ``prepare``)."""
    cache = Path(cache) if cache else mead_cache()
    if not cache.exists():
        if not prepare:
            raise DataNotFoundError(f"no MEAD clips at {cache}; run faceanim.animate.prepare_mead_clips() first")
        prepare_mead_clips(cache=cache, progress=progress)
    return _read_clips(cache)
