"""Live animation: a stream of driving frames (a webcam, a video file, frames from a browser) moves a still
face, one output frame per input frame, as each arrives.

:class:`Puppet` holds one photo and the stream's state; :meth:`Puppet.step` takes one driving frame and
gives one :class:`LiveFrame`. Everything is causal: the keypoint filters (One-Euro, the GRU
predict-then-correct) see only frames already seen, and the reference pose is the first face found (or
the next one after :meth:`Puppet.reset`, the way a video-call avatar re-centres). :meth:`Puppet.run`
loops over any frame source and can write the output as it goes; :meth:`Animator.drive
<faceanim.animate.Animator.drive>` is a loop over it.

Per frame: track the driver's 68 points (MediaPipe's face mesh in tracking mode, about 4 ms at 640x480;
or dlib-68 inside a fixed crop, the offline path) -> the source keypoints (relative or absolute) -> the
keypoint filter -> lost-face handling -> warp, refine (by default only in the window around the face) and
paste back (:class:`~faceanim.animate.animator.FrameRenderer`).

When the driver's face is lost the last pose is held for ``hold`` frames, then eases back to the photo's
own pose over ``ease_back`` frames; when it returns the output blends into the new pose over ``recover``
frames, and no keypoint ever moves more than ``max_jump`` crop pixels from one frame to the next.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FaceanimError, MediaError, NoFaceError, SettingError
from ..limits import validate_fields
from .animator import Animator, FrameRenderer, SourceFace
from .keypoints import apply_affine
from .motion import DRIVING_MODES, driving_keypoints
from .smooth import OneEuro, PredictiveFilter

__all__ = ["Puppet", "LiveSettings", "LiveFrame", "LiveSummary", "TRACKERS", "LIVE_DEFAULTS", "tracker_for"]

#: what finds the driver's 68 points per frame
TRACKERS = ("mediapipe", "dlib68")
#: the animation settings a live stream starts from (the generator in the face window only: about half
#: its work at 256 px, bench/bench_live_animation.py)
LIVE_DEFAULTS = {"refine_window": "face"}


@dataclass
class LiveSettings:
    """The stream's own knobs (the animation's are :class:`~faceanim.animate.AnimationSettings`)."""

    mode: str = field(default="relative", metadata={
        "help": "relative: the driver's motion added to the photo's face; absolute: the driver's face shape",
        "choices": DRIVING_MODES})
    tracker: str = field(default="mediapipe", metadata={
        "help": "what tracks the driver's face: MediaPipe's mesh (fast) or dlib-68 in a fixed crop", "choices": TRACKERS})
    side_by_side: bool = field(default=False, metadata={"help": "show the driver beside the animated face"})
    hold: int = field(default=5, metadata={"help": "frames the last pose is held when the face is lost",
                                           "limit": "lost_frames"})
    ease_back: int = field(default=15, metadata={"help": "frames to ease back to the photo's pose after that",
                                                 "limit": "lost_frames"})
    recover: int = field(default=6, metadata={"help": "frames to blend into the pose when the face returns",
                                              "limit": "lost_frames"})
    max_jump: float = field(default=16.0, metadata={
        "help": "most crop pixels a keypoint may move from one output frame to the next", "limit": "max_jump"})

    def validate(self) -> "LiveSettings":
        validate_fields(self)
        if self.mode not in DRIVING_MODES:
            raise SettingError(f"unknown driving mode {self.mode!r}; choose one of {', '.join(DRIVING_MODES)}")
        if self.tracker not in TRACKERS:
            raise SettingError(f"unknown tracker {self.tracker!r}; choose one of {', '.join(TRACKERS)}")
        if not isinstance(self.side_by_side, (bool, np.bool_)):
            raise SettingError(f"side_by_side must be True or False, got {self.side_by_side!r}")
        return self


@dataclass
class LiveFrame:
    """One output frame of a live stream.

    Attributes:
        index: the driving frame's index.
        image: what to show: the photo with the animated face pasted in (or the 256 px crop when
            ``paste`` is off), with the driver beside it when ``side_by_side``.
        crop: the animated 256 px face crop.
        keypoints: ``(68, 2)`` crop pixels the face was warped to.
        state: ``"waiting"`` (no face yet: the photo as it is), ``"tracking"``, ``"recovering"`` (the
            face came back), ``"holding"`` or ``"easing"`` (the face is lost).
        ms: time this frame took, from the driving frame to the output (tracking included), in ms.
    """

    index: int
    image: np.ndarray = field(repr=False)
    crop: np.ndarray = field(repr=False)
    keypoints: np.ndarray = field(repr=False)
    state: str
    ms: float

    @property
    def found(self) -> bool:
        return self.state in ("tracking", "recovering")


@dataclass
class LiveSummary:
    """What a stream did: frames made, driving frames skipped (unreadable) and without a face, speed
    (fps over the whole run; per-frame latency median and 95th percentile, ms), why it ended, and the
    output file when one was written."""

    frames: int = 0
    skipped: int = 0
    lost: int = 0
    fps: float = 0.0
    ms_median: float = 0.0
    ms_p95: float = 0.0
    ended: str = "the source ended"
    output: Path | None = None
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["output"] = None if self.output is None else str(self.output)
        return d


class _MeshTrack:
    """The MediaPipe tracker on whole frames; landmarks mapped into the crop fitted on the first face."""

    def __init__(self):
        from ..face.mesh import MeshTracker

        self.tracker = MeshTracker()
        self.matrix: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        from ..face.align import TEMPLATES, similarity_matrix
        from ..face.landmarks import Landmarker

        pts = self.tracker(rgb)
        if pts is None:
            return None
        if self.matrix is None:  # the crop align_face would cut around this face
            template = TEMPLATES["animation"]
            self.matrix = similarity_matrix(Landmarker.points5(pts), template.pixels(template.size))
        return apply_affine(self.matrix, pts)

    def close(self) -> None:
        self.tracker.close()


class _DlibTrack:
    """dlib-68 inside the crop fitted on the first face (the offline driving path, :class:`CropFollower`)."""

    def __init__(self, pipeline):
        from .clips import CropFollower

        self.follower = CropFollower(pipeline=pipeline)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        _, lm = self.follower(rgb)
        return None if lm is None else np.asarray(lm, np.float64)

    def close(self) -> None:
        pass


def tracker_for(name: str, animator: Animator):
    """A per-frame tracker by name (:data:`TRACKERS`): frame -> ``(68, 2)`` crop landmarks or None."""
    if name not in TRACKERS:
        raise SettingError(f"unknown tracker {name!r}; choose one of {', '.join(TRACKERS)}")
    return _MeshTrack() if name == "mediapipe" else _DlibTrack(animator.pipeline)


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


class Puppet:
    """A still face driven live by a stream of frames.

    Args:
        photo: a path, an image array or a prepared :class:`~faceanim.animate.SourceFace`; a photo
            without a face fails here, before any stream starts (:class:`~faceanim.errors.NoFaceError`).
        animator: the :class:`~faceanim.animate.Animator` (default: a new one).
        live: :class:`LiveSettings` (mode, tracker, side by side, lost-face handling).
        fps: the driving stream's frame rate (the One-Euro filter's clock).
        reference_landmarks: ``(68, 2)`` driving landmarks to measure motion from (default: the first
            face found; :meth:`reset` takes the next one).
        **overrides: :class:`~faceanim.animate.AnimationSettings` fields (``keypoints=20``,
            ``refine=False``, ``filter_strength=0.5``...), over the animator's settings and
            :data:`LIVE_DEFAULTS`.

    >>> from faceanim.demo import astronaut
    >>> puppet = Puppet(astronaut(), tracker="dlib68")
    >>> out = puppet.step(astronaut())          # one driving frame in, one animated frame out
    >>> out.state, out.image.shape
    ('tracking', (512, 512, 3))
    """

    def __init__(self, photo, animator: Animator | None = None, live: LiveSettings | None = None, fps: float = 25.0,
                 reference_landmarks: np.ndarray | None = None, **overrides):
        from ..limits import check

        self.animator = animator or Animator()
        live_fields = {f.name for f in dataclasses.fields(LiveSettings)}
        live_over = {k: overrides.pop(k) for k in list(overrides) if k in live_fields}
        self.live = dataclasses.replace(live or LiveSettings(), **live_over).validate()
        self.fps = float(check("fps", fps))
        base = {**LIVE_DEFAULTS, **overrides}
        try:
            self.settings = dataclasses.replace(self.animator.settings, **base).validate()
        except TypeError as exc:
            raise SettingError(f"unknown setting: {exc}") from None
        self.source = photo if isinstance(photo, SourceFace) else self.animator.prepare(photo)
        self._given_reference = None if reference_landmarks is None else np.asarray(reference_landmarks, np.float64)
        self._tracker = None
        self._renderer: FrameRenderer | None = None
        self.summary = LiveSummary()
        self._times: list[float] = []
        #: ``(H, W)`` of the last frame written or shown
        self.last_size: tuple[int, int] = (0, 0)
        self._restart()

    # -- state
    def _restart(self) -> None:
        self._reference = self._given_reference
        self._last: np.ndarray | None = None  # the last output keypoints
        self._held: np.ndarray | None = None  # the pose held when the face was lost
        self._lost = 0
        self._recovering = 0
        self._filter = self._make_filter()

    def _make_filter(self):
        st = self.settings
        if st.filter_strength == 0:
            return None
        if st.filter == "one_euro":
            return OneEuro(st.filter_strength, self.fps)
        if st.filter == "gru" and self.animator.predictor is None:
            raise SettingError("the 'gru' filter needs the keypoint GRU weights (weights/keypoint_gru.pt)")
        return PredictiveFilter(self.animator.predictor if st.filter == "gru" else None, st.filter_strength)

    def _filtered(self, kp: np.ndarray) -> np.ndarray:
        f = self._filter
        if f is None:
            return kp
        return f(kp) if isinstance(f, OneEuro) else f.step(kp)

    @property
    def tracker(self):
        if self._tracker is None:
            self._tracker = tracker_for(self.live.tracker, self.animator)
        return self._tracker

    @property
    def renderer(self) -> FrameRenderer:
        if self._renderer is None:
            self._renderer = FrameRenderer(self.animator, self.source, self.settings)
        return self._renderer

    def reset(self) -> None:
        """Re-centre: the next frame with a face becomes the reference pose (the photo's own pose)."""
        self._reference = None
        self._given_reference = None
        if self._filter is not None:
            self._filter = self._make_filter()

    def configure(self, **changes) -> None:
        """Change settings mid-stream (the notebook's sliders): :class:`LiveSettings` or
        :class:`~faceanim.animate.AnimationSettings` fields. A new tracker starts tracking afresh."""
        live_fields = {f.name for f in dataclasses.fields(LiveSettings)}
        live = {k: v for k, v in changes.items() if k in live_fields}
        anim = {k: v for k, v in changes.items() if k not in live_fields}
        if live:
            new = dataclasses.replace(self.live, **live).validate()
            if new.tracker != self.live.tracker:
                self.close()
                self._tracker = None
                self._reference = None
            self.live = new
        if anim:
            try:
                new_st = dataclasses.replace(self.settings, **anim).validate()
            except TypeError as exc:
                raise SettingError(f"unknown setting: {exc}") from None
            if (new_st.filter, new_st.filter_strength) != (self.settings.filter, self.settings.filter_strength):
                self.settings = new_st
                self._filter = self._make_filter()
            self.settings = new_st
            self._renderer = None

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()

    # -- one frame
    def _pose(self, lm: np.ndarray | None) -> tuple[np.ndarray, str]:
        live, rest = self.live, self.source.landmarks
        if lm is not None and self._reference is None:
            self._reference = np.asarray(lm, np.float64)
        if self._reference is None:  # no face seen yet
            return rest.copy(), "waiting"
        if lm is not None:
            target = driving_keypoints(rest, np.stack([self._reference, lm]), live.mode, 0)[1]
            target = self._filtered(target)
            if self._lost:
                self._recovering, self._lost = live.recover, 0
            if self._recovering and self._last is not None:
                w = 1.0 - (self._recovering - 1) / max(live.recover, 1)
                self._recovering -= 1
                return self._last + _smoothstep(w) * (target - self._last), "recovering"
            return target, "tracking"
        # lost: hold, then ease back to the photo's own pose
        if not self._lost:
            self._held = self._last if self._last is not None else rest.copy()
            if self._filter is not None:
                self._filter = self._make_filter()
        self._lost += 1
        self._recovering = 0
        held = self._held if self._held is not None else rest
        if self._lost <= live.hold:
            return held.copy(), "holding"
        w = _smoothstep((self._lost - live.hold) / max(live.ease_back, 1))
        return held + w * (rest - held), "easing"

    def _bounded(self, kp: np.ndarray) -> np.ndarray:
        if self._last is None:
            return kp
        d = kp - self._last
        m = float(np.linalg.norm(d, axis=1).max())
        return self._last + d * (self.live.max_jump / m) if m > self.live.max_jump else kp

    def step(self, frame, index: int | None = None) -> LiveFrame:
        """One driving frame (RGB array) in, one :class:`LiveFrame` out. An unreadable frame raises
        :class:`~faceanim.errors.MediaError` (:meth:`run` skips and counts them)."""
        from ..io import as_rgb

        t0 = time.perf_counter()
        rgb = as_rgb(frame)
        lm = self.tracker(rgb)
        kp, state = self._pose(lm)
        kp = self._bounded(kp)
        self._last = kp
        r = self.renderer
        item = r.warp(0, kp)
        out = next(r.refine([item])) if self.settings.refine else r.finish(item)
        view = out.frame if out.frame is not None else out.crop
        if self.live.side_by_side:
            view = _side_by_side(rgb, view)
        ms = (time.perf_counter() - t0) * 1000.0
        i = self.summary.frames if index is None else int(index)
        self.summary.frames += 1
        self.summary.lost += state in ("holding", "easing", "waiting")
        self._times.append(ms)
        return LiveFrame(index=i, image=view, crop=out.crop, keypoints=kp, state=state, ms=ms)

    # -- a whole stream
    def run(self, source, max_frames: int | None = None, output: str | os.PathLike | None = None,
            progress: bool = False, full: bool = True, require_face: bool = False) -> Iterator[LiveFrame]:
        """Every frame of ``source`` (a webcam index, a video path, a :class:`~faceanim.io.VideoReader` or an
        iterable of frames) through :meth:`step`, yielded as made; with ``output`` each shown frame (or
        the crop, ``full=False``) also goes into that video file as it is made.

        Unreadable frames are skipped and counted (``summary.skipped``). If the source fails mid-way
        (a camera unplugged, a damaged file) or the loop is stopped (Ctrl-C, ``break``), the file keeps
        every frame made so far, finalised and playable, and ``summary.ended`` says why it stopped; a
        source failure is then raised as a :class:`~faceanim.errors.MediaError` naming the file.
        ``require_face``: a source in which no frame shows a face writes nothing (a file already at
        ``output`` is kept) and raises :class:`~faceanim.errors.NoFaceError` at its end."""
        from tqdm.auto import tqdm

        from .._atomic import check_output
        from ..io import VideoWriter, frame_source

        if output is not None:
            inputs = tuple(i for i in (source,) if isinstance(i, (str, os.PathLike)))
            check_output(output, inputs=inputs, suffixes=(".mp4", ".avi", ".gif"), what="animation")
        items, fps, total, reader = frame_source(source, max_frames=max_frames)
        if reader is not None:
            self.fps = float(fps)
        self._restart()
        mark = self.animator.marker(output)
        writer = VideoWriter(output, fps=self.fps, metadata=mark.metadata()) if output is not None else None
        self.summary = LiveSummary(output=Path(output) if output is not None else None)
        if output is not None:
            self.summary.info.update(mark.info())
        self._times = []
        t_start = time.perf_counter()
        failure: BaseException | None = None
        prefetch = _Prefetch(items) if reader is not None else None
        try:
            bar = tqdm(prefetch if prefetch is not None else items, total=total, desc="animating live", unit="frame",
                       disable=not progress)
            for index, _, image in bar:
                if image is None:
                    self.summary.skipped += 1
                    continue
                try:
                    out = self.step(image, index)
                except MediaError:
                    self.summary.skipped += 1
                    continue
                shown = out.image if full else out.crop
                self.last_size = shown.shape[:2]
                if writer is not None:
                    writer.write(mark(shown))
                yield out
        except KeyboardInterrupt:
            self.summary.ended = "stopped (Ctrl-C)"
            raise
        except GeneratorExit:
            self.summary.ended = "stopped by the caller"
            raise
        except (FaceanimError, OSError) as exc:
            if isinstance(exc, SettingError):
                raise
            failure = exc
            self.summary.ended = f"the source failed: {exc}"
        finally:
            if prefetch is not None:
                prefetch.close()
            if reader is not None:
                self.summary.skipped += reader.skipped
                if getattr(reader, "camera_lost", False):
                    self.summary.ended = f"webcam {reader.source} stopped giving frames"
                reader.close()
            self._finish_summary(time.perf_counter() - t_start)
            faceless = self.summary.lost == self.summary.frames
            if writer is not None:
                if self.summary.frames and not (require_face and faceless):
                    writer.close()
                    if failure is None:
                        self.summary.info.update(mark.finish(output))
                else:
                    writer.abort()
        if require_face and faceless and failure is None:
            name = Path(source).name if isinstance(source, (str, os.PathLike)) else "the driving frames"
            raise NoFaceError(f"{name}: no face in any of its {self.summary.frames} frames; the driving video "
                              "must show a face" + ("" if output is None else f" ({output} was not written)"))
        if failure is not None:
            kept = (f"; {self.summary.output} holds the {self.summary.frames} frames made"
                    if writer is not None and self.summary.frames else "")
            raise MediaError(f"the driving stream stopped after {self.summary.frames} frames "
                             f"({failure}){kept}") from None

    def _finish_summary(self, seconds: float) -> None:
        s, times = self.summary, np.asarray(self._times, np.float64)
        s.fps = round(s.frames / seconds, 2) if seconds > 0 and s.frames else 0.0
        if len(times):
            s.ms_median, s.ms_p95 = round(float(np.median(times)), 2), round(float(np.percentile(times, 95)), 2)
        s.info = {**s.info, "tracker": self.live.tracker, "mode": self.live.mode, "refiner": (
            self.animator.refiner.name if self.settings.refine and self.animator.refiner is not None else "off"),
            "refine_window": self.settings.refine_window, "keypoints": self.settings.keypoints}

    def __enter__(self) -> "Puppet":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Prefetch:
    """Decode ahead in a thread (PyAV and OpenCV release the GIL while decoding), so reading frame
    ``t + 1`` overlaps animating frame ``t``; exceptions come out where the frame would have."""

    _END = object()

    def __init__(self, items, size: int = 4):
        import queue
        import threading

        self._q: queue.Queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(items,), daemon=True, name="faceanim-decode")
        self._thread.start()

    def _fill(self, items) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def _put(self, item) -> bool:
        """Queue ``item``, waiting for room; False when the consumer stopped first."""
        import queue

        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            item = self._q.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _side_by_side(driver: np.ndarray, view: np.ndarray) -> np.ndarray:
    """The driving frame scaled to the output's height, left of it."""
    import cv2

    h = view.shape[0]
    w = max(1, round(driver.shape[1] * h / driver.shape[0]))
    return np.hstack([cv2.resize(driver, (w, h), interpolation=cv2.INTER_AREA), view])
