"""Reading and writing media: images, videos, webcams.

Everything comes back as RGB ``uint8`` arrays of shape ``(H, W, 3)``. Videos are read as a stream of
:class:`Frame` objects and are never held in memory whole.

>>> import tempfile
>>> from pathlib import Path
>>> from faceanim import demo, io
>>> path = io.write_image(Path(tempfile.mkdtemp()) / "astronaut.png", demo.astronaut())
>>> io.read_image(path).shape, io.read_image(path).dtype          # any image file: RGB uint8
((512, 512, 3), dtype('uint8'))
>>> with io.VideoReader(demo.demo_video(frames=4)) as video:   # a file, or a webcam index
...     print(video.fps, [frame.image.shape for frame in video])
25.0 [(480, 640, 3), (480, 640, 3), (480, 640, 3), (480, 640, 3)]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from struct import error as struct_error

import numpy as np

from ._atomic import atomic_path, check_output, disk_error
from .errors import MediaError

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Frame",
    "VideoReader",
    "VideoWriter",
    "frame_source",
    "as_rgb",
    "read_image",
    "write_image",
    "read_video",
    "write_video",
    "is_image_path",
    "is_video_path",
    "check_output",
    "partial_path",
    "check_pixels",
    "pixel_budget",
    "MAX_PIXELS",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".m4v")


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


# --------------------------------------------------------------------------------------------- images
def as_rgb(image: np.ndarray) -> np.ndarray:
    """Any image array (gray, RGB, RGBA, 16-bit, float in 0-1) -> RGB ``uint8`` ``(H, W, 3)``.

    Alpha is composited over white, since a transparent background is almost always meant to be paper.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or arr.size == 0:
        raise MediaError(
            f"expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}; "
            "pass one image at a time (for a batch, loop over the first axis)"
        )
    arr = _to_uint8(arr)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        arr = (arr[:, :, :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        return _float_to_uint8(arr)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.min(initial=0) < 0:
            raise MediaError(f"an integer image cannot have negative values (its lowest is {arr.min()}); "
                             "shift or clip it into 0-255 (or 0-65535) first")
        if arr.dtype.itemsize >= 2 and arr.max(initial=0) > 255:
            # 16-bit (or wider) data: keep the top 8 of 16 bits, as image viewers do.
            return np.clip(arr.astype(np.int64) >> 8, 0, 255).astype(np.uint8)
        return arr.astype(np.uint8)
    raise MediaError(f"cannot turn an array of dtype {arr.dtype} into an image; pass uint8 (0-255), "
                     "uint16 or float (0-1)")


#: A float image is 0-1; values up to this far past 1 (an overexposed or contrast-stretched 0-1 image)
#: are clipped to white. Above it, an image whose values reach 255 at most is read as 0-255.
FLOAT_OVERSHOOT = 1.5


def _float_to_uint8(arr: np.ndarray) -> np.ndarray:
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - finite.sum())
        raise MediaError(f"the image holds {bad} NaN or infinite value(s) of {arr.size}; replace them first "
                         "(e.g. np.nan_to_num(image)) rather than have them read as black or white")
    lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
    if hi <= FLOAT_OVERSHOOT:
        scale, nominal = 255.0, "0-1"
    elif hi <= 255.0 + 1e-3:
        scale, nominal = 1.0, "0-255"
    else:
        raise MediaError(f"a float image must hold values in 0-1 (or 0-255); this one reaches {hi:g}. Scale it "
                         "into 0-1 first (e.g. image / image.max())")
    if lo * scale < -0.5:
        raise MediaError(f"a float image must not go below 0 (its lowest value is {lo:g}; read as {nominal}); "
                         "clip or shift it first")
    return np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8)


#: Images above this many pixels are refused before they are decoded (a "decompression bomb" declares
#: 30000x30000 in a few bytes); ``FACEANIM_MAX_PIXELS`` or ``read_image(..., max_pixels=)`` raises it.
MAX_PIXELS = 120_000_000


def pixel_budget() -> int:
    """The pixel budget: ``$FACEANIM_MAX_PIXELS`` if set, else :data:`MAX_PIXELS`."""
    env = os.environ.get("FACEANIM_MAX_PIXELS")
    if env:
        try:
            value = int(float(env))
        except ValueError:
            raise MediaError(f"FACEANIM_MAX_PIXELS must be a whole number of pixels, got {env!r}") from None
        if value < 1:
            raise MediaError(f"FACEANIM_MAX_PIXELS must be positive, got {env!r}")
        return value
    return MAX_PIXELS


def check_pixels(what, width: int, height: int, budget: int | None = None) -> None:
    """A :class:`MediaError` when a ``width x height`` image or frame is above the pixel budget."""
    budget = pixel_budget() if budget is None else int(budget)
    if width * height > budget:
        raise MediaError(
            f"{what} is {width}x{height} ({width * height / 1e6:.0f} million pixels), above the budget of "
            f"{budget / 1e6:.0f} million (a small file that declares that much may be a decompression bomb). If "
            f"it is real, raise the budget with FACEANIM_MAX_PIXELS={width * height} (or max_pixels=) or shrink it."
        )


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file (jpg, png, bmp, webp, tiff; gray, RGBA, 16-bit, EXIF-rotated) as RGB uint8.

    Raises :class:`MediaError` for a missing, empty, truncated or non-image file, and for one above the
    pixel budget (:func:`pixel_budget`, or ``max_pixels``) before decoding it.
    """
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    path = _existing_file(path, "image")
    budget = pixel_budget() if max_pixels is None else int(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Pillow refuses twice its MAX_IMAGE_PIXELS while reading the header: make that our budget
            Image.MAX_IMAGE_PIXELS = max(1, budget // 2)
            with Image.open(path) as im:
                check_pixels(path, *im.size, budget)
                im = ImageOps.exif_transpose(im)  # phone photos store "rotate me" in EXIF, not in pixels
                im.load()
                return _pil_to_rgb(im)
    except Image.DecompressionBombError as exc:
        import re

        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(declared.group(1)) / 1e6:.0f} million pixels" if declared else "more pixels than the budget"
        raise MediaError(
            f"{path} declares {size}, above the budget of {budget / 1e6:.0f} million (a small file that declares "
            "that much may be a decompression bomb). If it is real, raise the budget with FACEANIM_MAX_PIXELS "
            "(or max_pixels=) or shrink it first.") from None
    except UnidentifiedImageError:
        head = path.read_bytes()[:16]
        raise MediaError(
            f"{path} is not an image that can be read (its first bytes are {head!r}). "
            f"Check that it really is one of {', '.join(IMAGE_SUFFIXES)} and not renamed text or HTML."
        ) from None
    except MediaError:
        raise
    except MemoryError:
        raise MediaError(f"{path} is too large to decode in the memory this machine has left; shrink it first") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct_error, IndexError) as exc:
        raise MediaError(
            f"{path} could not be decoded ({exc}); the file is probably truncated or corrupt. "
            "Re-export or re-download it."
        ) from None


def _pil_to_rgb(im) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return as_rgb(np.asarray(im))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        return as_rgb(np.asarray(im.convert("RGBA")))
    if mode == "L":
        return as_rgb(np.asarray(im))
    return as_rgb(np.asarray(im.convert("RGB")))


def write_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> Path:
    """Write an RGB (or gray) image; the format follows the suffix. Written atomically."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise MediaError(f"cannot write {path}: use one of {', '.join(IMAGE_SUFFIXES)}")
    rgb = as_rgb(image)
    kwargs = {"quality": quality} if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else {}
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, **kwargs)
    return path


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise MediaError(f"expected the path of a {what} file (str or pathlib.Path), got {type(path).__name__}"
                         + (" (for an array already in memory, use it directly)" if isinstance(path, np.ndarray) else ""))
    if isinstance(path, str) and not path.strip():
        raise MediaError(f"the {what} path is empty; give a file name")
    path = Path(path).expanduser()
    if not path.exists():
        raise MediaError(f"{what} file {path} does not exist (working directory: {Path.cwd()}). Check the path.")
    if path.is_dir():
        raise MediaError(f"{path} is a folder, not a {what} file; pass one file (or use the folder helpers)")
    if path.stat().st_size == 0:
        raise MediaError(f"{what} file {path} is empty (0 bytes); the copy or download probably failed.")
    return path


# --------------------------------------------------------------------------------------------- videos
@dataclass(frozen=True)
class Frame:
    """One decoded video frame."""

    index: int
    """0-based position in the source (counting every frame, also skipped ones)."""
    time: float
    """Seconds from the start of the video."""
    image: np.ndarray
    """RGB uint8, ``(H, W, 3)``."""


class VideoReader:
    """Stream frames from a video file (mp4, avi, gif, ...) or a webcam index.

    Frames are decoded one at a time; ``fps``, ``frame_count`` (``None`` for a live camera), ``width`` and
    ``height`` are known after opening. The first frame is decoded on open, so a file that holds no frames
    fails at once with a :class:`MediaError` rather than yielding nothing.

    Args:
        source: a path, or an ``int`` webcam index (read through OpenCV).
        step: yield every ``step``-th frame.
        max_frames: stop after this many yielded frames.
    """

    def __init__(self, source: str | os.PathLike | int, step: int = 1, max_frames: int | None = None):
        from .limits import check

        self.source = source
        self.step = check("every", step, what="step")
        self.max_frames = check("max_frames", max_frames, optional=True)
        self._container = None
        self._capture = None
        self._first: np.ndarray | None = None
        #: damaged packets skipped so far (a damaged file is read past them, not stopped)
        self.skipped = 0
        #: a webcam that stopped giving frames (the stream then ends)
        self.camera_lost = False
        if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
            self._open_camera(int(source))
        else:
            self._open_file(_existing_file(source, "video"))

    # -- opening
    def _open_file(self, path: Path) -> None:
        import av

        self.path = path
        try:
            self._container = av.open(str(path))
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"{path} cannot be opened as a video ({exc.strerror or exc}). Use mp4 (H.264), avi or gif, "
                "or convert it, e.g. `ffmpeg -i in.xyz out.mp4`."
            ) from None
        if not self._container.streams.video:
            self._container.close()
            raise MediaError(f"{path} has no video stream (audio-only or not a video); pass a video file.")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate else 25.0
        self.width, self.height = int(stream.codec_context.width), int(stream.codec_context.height)
        try:
            check_pixels(f"{path}'s frame size", self.width, self.height)
        except MediaError:
            self._container.close()
            raise
        count = int(stream.frames or 0)
        if count <= 0 and stream.duration is not None and stream.time_base is not None:
            count = int(round(float(stream.duration * stream.time_base) * self.fps))
        self._iter = self._decode_file()
        try:
            self._first = next(self._iter)
        except StopIteration:
            self.close()
            raise MediaError(f"{path} contains no decodable video frames; the file is empty or truncated.") from None
        # a damaged header can declare any count: past MAX_DECLARED_FRAMES it is treated as unknown
        self.frame_count: int | None = count if 0 < count <= MAX_DECLARED_FRAMES else None

    def _decode_file(self) -> Iterator[np.ndarray]:
        import logging

        import av

        log = logging.getLogger(__name__)
        bad_run = 0
        try:
            for packet in self._container.demux(self._stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    # A damaged packet: count it and go on with the next one (a long run of them ends it).
                    self.skipped += 1
                    bad_run += 1
                    if bad_run > 100:
                        log.warning("%s: %d damaged packets in a row, stopping: %s", self.path, bad_run, exc)
                        return
                    continue
                bad_run = 0
                for frame in frames:
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            # A demuxer error mid-stream (truncated file): stop cleanly at the last good frame.
            log.warning("%s: decoding stopped early: %s", self.path, exc)
        except ValueError as exc:  # PyAV raises ValueError for unknown pixel formats
            raise MediaError(f"{self.path}: frames cannot be converted to RGB ({exc})") from None

    def _open_camera(self, index: int) -> None:
        import cv2

        self.path = None
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            raise MediaError(
                f"webcam {index} cannot be opened: no camera at that index, or it is in use. "
                "On a server or in CI there is no camera; pass a video file instead."
            )
        ok, bgr = cap.read()
        if not ok:
            cap.release()
            raise MediaError(f"webcam {index} opened but gave no frame; check permissions and that it is free.")
        self._capture = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 30.0) or 30.0
        self.height, self.width = bgr.shape[:2]
        self.frame_count = None
        self._first = np.ascontiguousarray(bgr[:, :, ::-1])

        def frames() -> Iterator[np.ndarray]:
            while True:
                ok, bgr = cap.read()
                if not ok:  # a live camera has no end: it was unplugged, or its driver stopped
                    self.camera_lost = True
                    return
                yield np.ascontiguousarray(bgr[:, :, ::-1])

        self._iter = frames()

    # -- reading
    def __iter__(self) -> Iterator[Frame]:
        if self._first is None and self._container is None and self._capture is None:
            raise MediaError("this VideoReader is closed; open a new one to read again")
        yielded = 0
        index = 0
        raw = self._raw()
        for image in raw:
            if index % self.step == 0:
                yield Frame(index=index, time=index / self.fps, image=image)
                yielded += 1
                if self.max_frames is not None and yielded >= self.max_frames:
                    break
            index += 1

    def _raw(self) -> Iterator[np.ndarray]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
        elif getattr(self, "_consumed", False):
            raise MediaError("a VideoReader can be iterated once; open a new one to read the video again")
        self._consumed = True
        yield from self._iter

    def __len__(self) -> int:
        if self.frame_count is None:
            raise TypeError("a live camera has no length")
        n = -(-self.frame_count // self.step)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def duration(self) -> float | None:
        """Length in seconds, when known."""
        return None if self.frame_count is None else self.frame_count / self.fps

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        src = self.path if self.path is not None else f"webcam {self.source}"
        return f"VideoReader({src}, {self.width}x{self.height}, {self.fps:.2f} fps, {self.frame_count} frames)"


def read_video(source: str | os.PathLike | int, step: int = 1, max_frames: int | None = None) -> Iterator[Frame]:
    """Iterate over the frames of a video (a convenience over :class:`VideoReader`)."""
    with VideoReader(source, step=step, max_frames=max_frames) as reader:
        yield from reader


#: A video that declares more frames than this (a month at 30 fps) has a damaged header: its count is unknown.
MAX_DECLARED_FRAMES = 80_000_000

#: Frames above this many pixels (about 4K) are H.264-encoded without look-ahead or B-frames, so that the
#: encoder does not queue a dozen of them (measured at 8000x8000: 2.2 GB for 4 frames, 4.4 GB for 16 with the
#: queue, 2.0 GB for both without).
LOOKAHEAD_MAX_PIXELS = 3840 * 2160

#: A GIF holds every frame in memory until it is closed (Pillow writes it in one go): past this many bytes
#: of palette frames the writer stops with a clear error instead of filling the machine's memory.
GIF_MAX_BYTES = 2 * 1024**3


def partial_path(path: str | os.PathLike) -> Path:
    """Where an interrupted stream's frames go: ``out.mp4`` -> ``out.partial.mp4`` (``out.mp4`` is left alone)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


class VideoWriter:
    """Write frames to mp4 (H.264), avi (MPEG-4) or gif, atomically: the file appears only on close.

    Frames must all have the same size; odd sizes are padded by one pixel for H.264. If the block fails,
    nothing is written and a file already at ``path`` is left as it was; :meth:`close_partial` instead
    finishes what was written as a playable ``NAME.partial.SUFFIX`` (what a live stream does when it is
    interrupted).

    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> path = Path(tempfile.mkdtemp()) / "out.mp4"
    >>> with VideoWriter(path, fps=25) as out:
    ...     for level in range(0, 250, 50):
    ...         out.write(np.full((64, 64, 3), level, np.uint8))
    >>> path.stat().st_size > 0
    True
    """

    def __init__(self, path: str | os.PathLike, fps: float = 25.0, quality: int = 20,
                 metadata: dict[str, str] | None = None):
        from .limits import check

        self.path = Path(path)
        #: container tags (MP4/AVI: ``comment``, ``title`` ...; GIF: ``comment``), written with the file
        self.metadata = dict(metadata or {})
        suffix = self.path.suffix.lower()
        if suffix not in (".mp4", ".avi", ".gif"):
            raise MediaError(f"cannot write video {self.path}: use .mp4, .avi or .gif")
        self.fps = float(check("fps", fps))
        self.quality = quality
        self._suffix = suffix
        check_output(self.path, what="video")
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._size: tuple[int, int] | None = None
        self._gif_frames: list = []
        self._gif_bytes = 0
        self._container = None
        self._stream = None
        self.frames_written = 0

    @property
    def size(self) -> tuple[int, int] | None:
        """``(height, width)`` of the frames, once the first one is written."""
        return self._size

    def write(self, image: np.ndarray) -> None:
        if self._ctx is None:
            raise MediaError(f"{self.path} is already closed; open a new VideoWriter to write more")
        rgb = as_rgb(image)
        h, w = rgb.shape[:2]
        if self._size is None:
            check_pixels("a video frame", w, h)
            self._size = (h, w)
            if self._suffix != ".gif":
                self._guard(self._open_av, w + (w % 2), h + (h % 2))
        elif (h, w) != self._size:
            raise MediaError(f"frame {self.frames_written} is {w}x{h}, the video is {self._size[1]}x{self._size[0]}; "
                             "every frame of one video must have the same size")
        if self._suffix == ".gif":
            from PIL import Image

            # what Pillow's GIF writer does to each frame anyway, done now: 1 byte a pixel while waiting
            self._gif_frames.append(Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE))
            self._gif_bytes += h * w
            if self._gif_bytes > GIF_MAX_BYTES:
                raise MediaError(f"a GIF keeps every frame in memory until the end, and {self.path} passed "
                                 f"{GIF_MAX_BYTES / 1024**3:.0f} GB at frame {self.frames_written}; write .mp4 instead "
                                 "(it streams to disk) or fewer / smaller frames")
        else:
            import av

            if h % 2 or w % 2:
                rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            self._guard(lambda: [self._container.mux(p) for p in self._stream.encode(frame)])
        self.frames_written += 1

    def _guard(self, fn, *args):
        """Run a write step; a full disk or unwritable file becomes a clear :class:`MediaError`."""
        try:
            return fn(*args)
        except OSError as exc:
            clear = disk_error(exc, self.path)
            if clear is None:
                raise MediaError(f"writing {self.path} failed: {exc}") from None
            raise clear from None

    def _open_av(self, w: int, h: int) -> None:
        from fractions import Fraction

        import av

        fmt = "mp4" if self._suffix == ".mp4" else "avi"
        self._container = av.open(str(self._tmp), mode="w", format=fmt)
        codec = "libx264" if self._suffix == ".mp4" else "mpeg4"
        rate = Fraction(self.fps).limit_denominator(1001)
        self._stream = self._container.add_stream(codec, rate=rate)
        self._stream.width, self._stream.height = w, h
        self._stream.pix_fmt = "yuv420p"
        self._container.metadata.update(self.metadata)
        if codec == "libx264":
            self._stream.options = {"crf": str(self.quality), "preset": "veryfast"}
            if w * h > LOOKAHEAD_MAX_PIXELS:
                # x264 keeps ~10 frames for look-ahead and B-frames: 1 GB at 8000x8000, more with each frame
                # until its queue is full. Large frames are encoded one at a time instead (memory stays flat).
                self._stream.options["x264-params"] = "rc-lookahead=0:sync-lookahead=0:bframes=0"
        else:
            self._stream.bit_rate = 4_000_000

    def _finish_file(self) -> None:
        """Finish the temporary file (encoder flushed, container closed)."""
        if self._suffix == ".gif":
            first, *rest = self._gif_frames
            extra = {"comment": self.metadata["comment"]} if self.metadata.get("comment") else {}
            self._guard(lambda: first.save(self._tmp, save_all=True, append_images=rest, loop=0,
                                           duration=max(20, int(round(1000 / self.fps))), optimize=False,
                                           **extra))
            self._gif_frames = []
        else:
            def flush():
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._container.close()

            self._guard(flush)
            self._container = None

    def close(self) -> Path:
        """Finish the file and move it into place. Writing no frame at all is an error."""
        if self._ctx is None:
            return self.path
        try:
            if self.frames_written == 0:
                raise MediaError(f"no frames were written to {self.path}; nothing to save")
            self._finish_file()
        except BaseException as exc:
            self._discard(exc)
            raise
        ctx, self._ctx = self._ctx, None
        ctx.__exit__(None, None, None)
        return self.path

    def close_partial(self) -> Path | None:
        """Finish the frames written so far as a playable :func:`partial_path` file (the final name is not
        touched); None when no frame was written (then nothing is left behind)."""
        if self._ctx is None:
            return None
        if self.frames_written == 0:
            self.abort()
            return None
        target = partial_path(self.path)
        try:
            self._finish_file()
            with atomic_path(target) as tmp:
                os.replace(self._tmp, tmp)
        except BaseException as exc:
            self._discard(exc)
            raise
        self._discard(None)
        return target

    def abort(self) -> None:
        """Drop everything written; the file at ``path`` (if any) is left as it was."""
        if self._ctx is not None:
            self._discard(None)

    def _discard(self, exc: BaseException | None) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass
            self._container = None
        self._gif_frames = []
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            err = exc or MediaError("discarded")
            with contextlib.suppress(BaseException):
                ctx.__exit__(type(err), err, None)
            if self._tmp.exists():
                with contextlib.suppress(OSError):
                    self._tmp.unlink()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._ctx is not None:  # an error inside the block: discard the partial file
            self._discard(exc)

    def __del__(self):  # a writer dropped unclosed (an exception elsewhere) leaves no temporary file
        with contextlib.suppress(Exception):
            self.abort()


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25.0,
                metadata: dict[str, str] | None = None) -> Path:
    """Write an iterable of RGB frames to mp4, avi or gif (atomically), with container ``metadata``."""
    with VideoWriter(path, fps=fps, metadata=metadata) as out:
        for image in frames:
            out.write(image)
    return Path(path)


def frame_source(source, step: int = 1, max_frames: int | None = None):
    """``(iterator of (index, time, image-or-None), fps, total, reader)`` for a path, webcam index,
    :class:`~faceanim.io.VideoReader` or an iterable of frames (arrays or :class:`~faceanim.io.Frame`)."""
    from .limits import check

    step, max_frames = check("every", step, what="step"), check("max_frames", max_frames, optional=True)
    if isinstance(source, (str, os.PathLike)) and not str(source).strip():
        raise MediaError("the video path is empty; give a file name or a webcam index such as 0")
    if not isinstance(source, (str, os.PathLike, int, np.integer, VideoReader)) and not hasattr(source, "__iter__"):
        raise MediaError(f"a frame source is a path, a webcam index, a VideoReader or an iterable of frames; "
                         f"got {type(source).__name__}")
    if isinstance(source, (str, os.PathLike, int, np.integer)) and not isinstance(source, bool):
        source = VideoReader(int(source) if isinstance(source, np.integer) else source, step=step, max_frames=max_frames)
    if isinstance(source, VideoReader):
        reader = source
        total = len(reader) if reader.frame_count is not None else None
        return ((f.index, f.time, f.image) for f in reader), reader.fps, total, reader
    fps = 25.0

    def items() -> Iterator:
        n = 0
        for i, item in enumerate(source):
            if i % step:
                continue
            if max_frames is not None and n >= max_frames:
                return
            n += 1
            if isinstance(item, Frame):
                yield item.index, item.time, item.image
            else:
                yield i, i / fps, item

    total = None
    if hasattr(source, "__len__"):
        total = -(-len(source) // step)
        total = min(total, max_frames) if max_frames is not None else total
    return items(), fps, total, None
