"""Emotions per face over a video stream: detect every N frames, track between them, read, smooth.

>>> from faceanim.demo import demo_video
>>> stream = EmotionStream(detector="haar", stride=5, smoothing=0.7)
>>> result = stream.run(demo_video(frames=10), progress=False)   # also output="annotated.mp4", log="run.sqlite"
>>> result.analysed, result.readings["face_id"].nunique()
(10, 1)

Frames are processed one at a time (the video is never held in memory). A frame that cannot be read
is skipped and counted. Every reading can go to a :class:`~faceanim.video.log.ReadingLog`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..emotion.recognizer import EmotionReading
from ..errors import MediaError, SettingError
from ..face.detect import DETECTOR_NAMES
from ..face.landmarks import LANDMARKER_NAMES
from ..face.types import Face
from ..io import frame_source
from ..labels import EMOTIONS
from ..limits import validate_fields
from ..temporal import BAND, HYSTERESIS, SMOOTHING
from ..viz import annotate_readings, blur_faces

if TYPE_CHECKING:  # used in annotations only
    import pandas

__all__ = ["EmotionStream", "StreamSettings", "check_run_paths", "StreamFrame", "FaceReading", "StreamResult"]




@dataclass
class FaceReading:
    """One face in one analysed frame: its stable id, the smoothed reading and the raw (unfiltered) one."""

    face_id: int
    face: Face
    reading: EmotionReading
    raw: EmotionReading = field(repr=False)

    def to_row(self) -> dict:
        r = self.reading
        row = {"face_id": self.face_id, "x1": float(self.face.box[0]), "y1": float(self.face.box[1]),
               "x2": float(self.face.box[2]), "y2": float(self.face.box[3]), "label": r.label, "shown": r.shown,
               "intensity": float(r.intensity), "raw_label": self.raw.label, "raw_shown": self.raw.shown,
               "raw_intensity": float(self.raw.intensity), "tracked": bool(self.face.extra.get("tracked", False))}
        row.update({f"p_{e}": float(p) for e, p in zip(EMOTIONS, r.probabilities)})
        return row


@dataclass
class StreamFrame:
    index: int
    time: float
    image: np.ndarray = field(repr=False)
    faces: list[FaceReading]
    detected: bool  # whether the detector ran on this frame (else faces were tracked)

    def rows(self, wall_time: float | None = None) -> list[dict]:
        wall = time.time() if wall_time is None else wall_time
        return [{"wall_time": wall, "video_time": self.time, "frame": self.index, **f.to_row()} for f in self.faces]

    def annotate(self, emoji: bool = True, blur_others: bool = False, subject: int | None = None) -> np.ndarray:
        """The frame with each face's box, label, intensity bar and emoji; ``blur_others``: every face but
        ``subject`` (a face id) pixelated and blurred, and only the subject annotated."""
        if not blur_others:
            return annotate_readings(self.image, self.faces, emoji=emoji)
        others = [f.face.box for f in self.faces if f.face_id != subject]
        return annotate_readings(blur_faces(self.image, others), [f for f in self.faces if f.face_id == subject],
                                 emoji=emoji)


@dataclass
class StreamResult:
    readings: "pandas.DataFrame"  # noqa: F821
    frames_read: int
    analysed: int
    skipped: int
    seconds: float
    source_fps: float | None
    run_id: str | None = None
    log_path: Path | None = None
    output: Path | None = None
    key_frames: list = field(default_factory=list, repr=False)  # (face_id, time, label, intensity, thumbnail)

    @property
    def fps(self) -> float:
        """Analysed frames per second of wall time, end to end (decode, faces, emotions, drawing, writing)."""
        return self.analysed / self.seconds if self.seconds > 0 else float("nan")

    def flicker(self) -> "pandas.DataFrame":  # noqa: F821
        """Label changes per face of the shown label, with the filter off (the raw readings every row keeps)
        and on: ``face_id, filter, changes, per_second``."""
        import pandas as pd

        from ..temporal import label_changes

        rows = []
        for fid, g in self.readings.groupby("face_id"):
            for col, name in (("raw_shown", "off"), ("shown", "on")):
                n, per_s = label_changes(g[col], g["video_time"])
                rows.append({"face_id": fid, "filter": name, "changes": n, "per_second": per_s})
        return pd.DataFrame(rows, columns=["face_id", "filter", "changes", "per_second"])

    def summary(self) -> "pandas.DataFrame":  # noqa: F821
        from .log import summarize

        return summarize(self.readings.assign(run_id=self.run_id or "run"))

    def __repr__(self) -> str:
        faces = self.readings["face_id"].nunique() if len(self.readings) else 0
        return (f"StreamResult({self.analysed} frames analysed at {self.fps:.1f} fps, {faces} face id(s), "
                f"{len(self.readings)} readings, {self.skipped} skipped)")


@dataclass
class StreamSettings:
    """The live pipeline's knobs: ``faceanim emoji``'s flags and notebook 06's sliders take their defaults
    (and their help) from here."""

    detector: str = field(default="mtcnn", metadata={"help": "face detector", "choices": DETECTOR_NAMES})
    landmarker: str = field(default="dlib68", metadata={
        "help": "68 points for tracking and alignment: dlib-68, or MediaPipe's mesh (faster, steadier on video)",
        "choices": LANDMARKER_NAMES})
    stride: int = field(default=5, metadata={"help": "run the detector every N analysed frames (track between)",
                                             "limit": "stride"})
    smoothing: float = field(default=SMOOTHING, metadata={"help": "per-face EMA strength in [0, 1) (0 = off)",
                                                          "limit": "smoothing"})
    hysteresis: float = field(default=HYSTERESIS, metadata={
        "help": "a new label must beat the current one's probability by this much (0 = off)", "limit": "hysteresis"})
    band: float = field(default=BAND, metadata={"help": "hysteresis band around the intensity threshold",
                                                "limit": "band"})
    threshold: float | None = field(default=None, metadata={
        "help": "intensity from which a face shows an emotion (default: the recognizer's)", "limit": "threshold"})
    max_faces: int | None = field(default=None, metadata={"help": "keep the largest N faces only",
                                                          "limit": "max_faces"})
    reid: bool = field(default=True, metadata={"help": "give a face that comes back its old id (dlib descriptors)"})
    flip_tta: bool = field(default=False, metadata={
        "help": "the recognizer's mirrored second pass (half the speed)"})

    def validate(self) -> "StreamSettings":
        validate_fields(self)
        if self.landmarker not in LANDMARKER_NAMES:
            raise SettingError(f"unknown landmarker {self.landmarker!r}; choose one of {', '.join(LANDMARKER_NAMES)}")
        for name in ("reid", "flip_tta"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise SettingError(f"{name} must be True or False, got {getattr(self, name)!r}")
        return self


class EmotionStream:
    """The live pipeline: frames -> faces (detected every ``stride`` frames, tracked between) -> stable
    ids -> emotion and intensity -> per-face smoothing -> annotated frames, log rows.

    Args:
        recognizer: an :class:`~faceanim.emotion.EmotionRecognizer` (the committed weights if None). It is
            not changed: the stream's threshold applies to its own readings only.
        settings: a :class:`StreamSettings` (the defaults if None); keyword ``overrides`` replace its
            fields (``stride=3``), and any other keyword goes to the detector. ``detector`` may also be a
            detector object. ``smoothing=0, hysteresis=0, band=0`` is the raw reading (also kept in every
            row as ``raw_*``).
    """

    def __init__(self, recognizer=None, settings: StreamSettings | None = None, **overrides):
        from ..emotion import create_recognizer
        from ..face import create_detector, create_landmarker
        from ..temporal import EmotionFilter

        names = {f.name for f in fields(StreamSettings)}
        detector = overrides.pop("detector", None)
        detector_kwargs = {k: overrides.pop(k) for k in list(overrides) if k not in names}
        st = replace(settings or StreamSettings(), **overrides)
        if detector is not None and isinstance(detector, str):
            st = replace(st, detector=detector)
        self.settings = st.validate()
        self.recognizer = recognizer or create_recognizer(flip_tta=st.flip_tta)
        self._threshold = float(st.threshold) if st.threshold is not None else float(self.recognizer.threshold)
        if detector is not None and not isinstance(detector, str):
            self.detector = detector
        else:
            self.detector = create_detector(st.detector, **detector_kwargs)
        self.landmarker = create_landmarker(st.landmarker)
        self.stride, self.max_faces, self.reid = int(st.stride), st.max_faces, st.reid
        self.smoothing = float(st.smoothing)
        self.filter = EmotionFilter(st.smoothing, hysteresis=st.hysteresis, band=st.band)
        self.reset()

    def reset(self) -> None:
        from ..face.track import FaceTracker

        self.tracker = FaceTracker(lost_after=max(15, 3 * self.stride), reid=self.reid)
        self.filter.reset()
        self._analysed = 0
        self._last_index: int | None = None

    @property
    def threshold(self) -> float:
        """Intensity from which a face counts as expressive in this stream's readings."""
        return self._threshold

    def _faces(self, image: np.ndarray, index: int) -> tuple[list[Face], list[int], bool]:
        from ..face.track import follow

        following = [t for t in self.tracker.tracks.values() if t.last_frame == self._last_index]
        if self._analysed % self.stride == 0 or not following:
            faces = self.detector.detect(image)
            if self.max_faces is not None:
                faces = sorted(faces, key=lambda f: -f.size)[: self.max_faces]
            if faces:
                self.landmarker.fit(image, faces)
            ids = self.tracker.update(faces, index, image)
            self.tracker.describe_new(image, faces, ids)
            return faces, ids, True
        faces, ids = [], []
        for track in following:
            moved = follow(image, track.face, self.landmarker)
            if moved is not None:
                track.face, track.last_frame, track.hits = moved, index, track.hits + 1
                faces.append(moved)
                ids.append(track.id)
        return faces, ids, False

    def process(self, image: np.ndarray, index: int | None = None, time_s: float | None = None) -> StreamFrame:
        """Analyse one frame (frames must come in order)."""
        from ..face.align import align_face
        from ..io import as_rgb

        rgb = as_rgb(image)
        index = self._analysed if index is None else int(index)
        time_s = index / 25.0 if time_s is None else float(time_s)
        faces, ids, detected = self._faces(rgb, index)
        readings: list[FaceReading] = []
        if faces:
            crops = [align_face(rgb, f, "fer", size=self.recognizer.input_size).image for f in faces]
            probs, inten = self.recognizer.predict(np.stack(crops))
            thr = self.threshold
            for face, fid, p, v in zip(faces, ids, probs, inten):
                raw = EmotionReading(EMOTIONS[int(p.argmax())], p, float(v), face, thr)
                f = self.filter(fid, p, float(v), self._analysed, thr)
                smooth = EmotionReading(f.name, f.probabilities.astype(np.float32), f.intensity, face, thr,
                                        hold=f.expressive)
                readings.append(FaceReading(fid, face, smooth, raw))
        self._analysed += 1
        self._last_index = index
        return StreamFrame(index=index, time=time_s, image=rgb, faces=readings, detected=detected)

    def frames(self, source, step: int = 1, max_frames: int | None = None, progress: bool = True,
               stats: dict | None = None) -> Iterator[StreamFrame]:
        """Analyse a source frame by frame (a path, webcam index, VideoReader or iterable of frames).
        Unreadable frames are skipped and counted in ``stats["skipped"]``."""
        from tqdm.auto import tqdm

        from ..io import as_rgb

        items, fps, total, reader = frame_source(source, step=step, max_frames=max_frames)
        stats = stats if stats is not None else {}
        stats.update(fps=fps, read=0, skipped=0)
        try:
            for index, t, image in tqdm(items, total=total, desc="emotions", unit="frame", disable=not progress,
                                        mininterval=1.0):
                stats["read"] += 1
                try:
                    rgb = as_rgb(image)
                    if rgb.ndim != 3 or min(rgb.shape[:2]) < 16:
                        raise MediaError(f"frame of shape {rgb.shape}")
                except (MediaError, ValueError, TypeError, AttributeError):
                    stats["skipped"] += 1
                    continue
                yield self.process(rgb, index, t)
        finally:
            if reader is not None:
                stats["skipped"] += reader.skipped
                if reader is not source:
                    reader.close()

    def run(self, source, output: str | os.PathLike | None = None, log: str | os.PathLike | None = None,
            step: int = 1, max_frames: int | None = None, progress: bool = True, emoji: bool = True,
            key_frames: int = 6, on_frame: Callable[[StreamFrame, int], None] | None = None,
            blur_others: bool = False, subject: int | None = None) -> StreamResult:
        """Analyse a whole source: optional annotated video ``output`` (.mp4/.avi/.gif) and SQLite ``log``.

        The log holds readings only (ids, boxes, labels, intensities, probabilities), never pixels.
        ``blur_others``: in the annotated video every face but the subject's is pixelated and blurred, and
        key frames are kept of the subject only; ``subject`` is a face id, by default the largest face of
        the first frame that shows one.

        ``on_frame(frame, rows_written_so_far)`` is called after each frame's rows are committed. Both
        paths are checked before the first frame (not an input, writable, the log a faceanim log). If the
        run fails or is interrupted part-way, every logged row stays, the frames annotated so far are
        finished as a playable ``NAME.partial.mp4`` beside ``output`` and a file already at ``output`` is
        left as it was.
        """
        import logging

        import pandas as pd

        from ..io import VideoWriter
        from .log import ReadingLog

        check_run_paths(source, output, log)
        self.reset()
        stats: dict = {}
        rows: list[dict] = []
        keys: dict[int, list] = {}
        writer = None
        logger = None
        written: Path | None = None
        t0 = time.perf_counter()
        params = {"stride": self.stride, "smoothing": self.smoothing, "hysteresis": self.filter.hysteresis,
                  "band": self.filter.band, "threshold": self.threshold,
                  "detector": getattr(self.detector, "name", str(self.detector)), "recognizer": self.recognizer.name,
                  "step": step, **({"blur_others": True} if blur_others else {})}
        try:
            for sf in self.frames(source, step=step, max_frames=max_frames, progress=progress, stats=stats):
                frame_rows = sf.rows()
                if log is not None:
                    if logger is None:
                        logger = ReadingLog(log, source=str(source), fps=stats["fps"] / step, params=params)
                    logger.write(frame_rows)
                rows.extend(frame_rows)
                if blur_others and subject is None and sf.faces:
                    subject = max(sf.faces, key=lambda f: (f.face.box[2] - f.face.box[0]) *
                                  (f.face.box[3] - f.face.box[1])).face_id
                if output is not None:
                    if writer is None:
                        writer = VideoWriter(output, fps=stats["fps"] / step)
                    writer.write(_fit(sf.annotate(emoji=emoji, blur_others=blur_others, subject=subject), writer))
                for f in sf.faces:
                    if not blur_others or f.face_id == subject:
                        _keep_key_frame(keys, f, sf, key_frames)
                if on_frame is not None:
                    on_frame(sf, logger.rows_written if logger else len(rows))
            if log is not None and logger is None:  # nothing analysed: still record the run
                logger = ReadingLog(log, source=str(source), fps=stats.get("fps"), params=params)
            if writer is not None:
                written = writer.close()
        except BaseException as exc:
            if writer is not None:
                partial = writer.close_partial()
                if partial is not None:
                    why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped by an error ({exc})"
                    logging.getLogger(__name__).warning(
                        "%s: the %d frames annotated so far are in %s; %s was not changed", why,
                        writer.frames_written, partial, output)
            raise
        finally:
            if logger is not None:
                logger.finish(frames=stats.get("read", 0), analysed=self._analysed, skipped=stats.get("skipped", 0))
                logger.close()
        seconds = time.perf_counter() - t0
        table = pd.DataFrame(rows)
        kf = sorted((k for v in keys.values() for k in v), key=lambda k: (k[0], k[1]))
        return StreamResult(readings=table, frames_read=stats.get("read", 0), analysed=self._analysed,
                            skipped=stats.get("skipped", 0), seconds=seconds,
                            source_fps=stats.get("fps"), run_id=logger.run_id if logger else None,
                            log_path=Path(log) if log else None, output=written,
                            key_frames=kf)


def check_run_paths(source, output=None, log=None) -> None:
    """Before a run: a path source exists, the annotated video and the log can be written, neither is an
    input (or each other), and the log is empty, missing or a faceanim log. Nothing is created."""
    from .._atomic import check_output
    from .log import check_log

    inputs = [source] if isinstance(source, (str, os.PathLike)) else []
    if inputs and not Path(source).exists():
        raise MediaError(f"video file {source} does not exist (working directory: {Path.cwd()}). Check the path.")
    if output is not None:
        check_output(output, inputs=inputs, suffixes=(".mp4", ".avi", ".gif"), what="annotated video")
    if log is not None:
        check_log(log, inputs=inputs + ([output] if output is not None else []))


def _fit(image: np.ndarray, writer) -> np.ndarray:
    """A frame resized to the video being written (a source that changes resolution part-way)."""
    import cv2

    size = writer.size
    if size is None or image.shape[:2] == size:
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _keep_key_frame(keys: dict, f: FaceReading, sf: StreamFrame, k: int) -> None:
    """Keep, per face, the ``k`` most intense moments (at least a second apart) as small thumbnails."""
    import cv2

    if k <= 0 or not f.reading.expressive:
        return
    lst = keys.setdefault(f.face_id, [])
    v = f.reading.intensity
    near = [i for i, e in enumerate(lst) if abs(e[1] - sf.time) < 1.0]
    if near:
        i = near[0]
        if v <= lst[i][3]:
            return
        lst.pop(i)
    elif len(lst) >= k and v <= min(e[3] for e in lst):
        return
    x1, y1, x2, y2 = (int(round(c)) for c in f.face.box)
    pad = int(0.25 * (x2 - x1))
    h, w = sf.image.shape[:2]
    crop = sf.image[max(0, y1 - pad):min(h, y2 + pad), max(0, x1 - pad):min(w, x2 + pad)]
    if crop.size == 0:
        return
    thumb = cv2.resize(crop, (128, int(128 * crop.shape[0] / crop.shape[1])), interpolation=cv2.INTER_AREA)
    lst.append((f.face_id, sf.time, f.reading.label, v, thumb))
    if len(lst) > k:
        lst.remove(min(lst, key=lambda e: e[3]))
