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

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
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
        finite = arr[np.isfinite(arr)]
        hi = float(finite.max()) if finite.size else 1.0
        scale = 255.0 if hi <= 1.0 + 1e-6 else (255.0 / 65535.0 if hi > 255.0 else 1.0)
        return np.clip(np.nan_to_num(arr) * scale + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype.itemsize >= 2 and arr.max(initial=0) > 255:
            # 16-bit (or wider) data: keep the top 8 of 16 bits, as image viewers do.
            return np.clip(arr.astype(np.int64) >> 8, 0, 255).astype(np.uint8)
        return np.clip(arr, 0, 255).astype(np.uint8)
    raise MediaError(f"cannot turn an array of dtype {arr.dtype} into an image")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file (jpg, png, bmp, webp, tiff; gray, RGBA, 16-bit, EXIF-rotated) as RGB uint8.

    Raises :class:`MediaError` for a missing, empty, truncated or non-image file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = _existing_file(path, "image")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)  # phone photos store "rotate me" in EXIF, not in pixels
            im.load()
            return _pil_to_rgb(im)
    except UnidentifiedImageError:
        head = path.read_bytes()[:16]
        raise MediaError(
            f"{path} is not an image that can be read (its first bytes are {head!r}). "
            f"Check that it really is one of {', '.join(IMAGE_SUFFIXES)} and not renamed text or HTML."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
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
        if step < 1:
            raise MediaError(f"step must be >= 1, got {step}")
        self.source = source
        self.step = int(step)
        self.max_frames = max_frames
        self._container = None
        self._capture = None
        self._first: np.ndarray | None = None
        #: damaged packets skipped so far (a damaged file is read past them, not stopped)
        self.skipped = 0
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
        count = int(stream.frames or 0)
        if count <= 0 and stream.duration is not None and stream.time_base is not None:
            count = int(round(float(stream.duration * stream.time_base) * self.fps))
        self._iter = self._decode_file()
        try:
            self._first = next(self._iter)
        except StopIteration:
            self.close()
            raise MediaError(f"{path} contains no decodable video frames; the file is empty or truncated.") from None
        self.frame_count: int | None = count if count > 0 else None

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
                if not ok:
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


class VideoWriter:
    """Write frames to mp4 (H.264), avi (MPEG-4) or gif, atomically: the file appears only on close.

    Frames must all have the same size; odd sizes are padded by one pixel for H.264.

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

    def __init__(self, path: str | os.PathLike, fps: float = 25.0, quality: int = 20):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".mp4", ".avi", ".gif"):
            raise MediaError(f"cannot write video {self.path}: use .mp4, .avi or .gif")
        if not fps or fps <= 0:
            raise MediaError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.quality = quality
        self._suffix = suffix
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._size: tuple[int, int] | None = None
        self._gif_frames: list = []
        self._container = None
        self._stream = None
        self.frames_written = 0

    def write(self, image: np.ndarray) -> None:
        rgb = as_rgb(image)
        h, w = rgb.shape[:2]
        if self._size is None:
            self._size = (h, w)
            if self._suffix != ".gif":
                self._open_av(w + (w % 2), h + (h % 2))
        elif (h, w) != self._size:
            raise MediaError(f"frame {self.frames_written} is {w}x{h}, the video is {self._size[1]}x{self._size[0]}")
        if self._suffix == ".gif":
            from PIL import Image

            self._gif_frames.append(Image.fromarray(rgb))
        else:
            import av

            if h % 2 or w % 2:
                rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            for packet in self._stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                self._container.mux(packet)
        self.frames_written += 1

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
        if codec == "libx264":
            self._stream.options = {"crf": str(self.quality), "preset": "veryfast"}
        else:
            self._stream.bit_rate = 4_000_000

    def close(self) -> Path:
        """Finish the file and move it into place. Writing no frame at all is an error."""
        if self._ctx is None:
            return self.path
        try:
            if self.frames_written == 0:
                raise MediaError(f"no frames were written to {self.path}; nothing to save")
            if self._suffix == ".gif":
                first, *rest = self._gif_frames
                first.save(self._tmp, save_all=True, append_images=rest, loop=0,
                           duration=max(20, int(round(1000 / self.fps))), optimize=False)
            else:
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._container.close()
                self._container = None
        except BaseException as exc:
            ctx, self._ctx = self._ctx, None
            if self._container is not None:
                self._container.close()
            ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        ctx, self._ctx = self._ctx, None
        ctx.__exit__(None, None, None)
        return self.path

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._ctx is not None:  # an error inside the block: discard the partial file
            if self._container is not None:
                try:
                    self._container.close()
                except Exception:
                    pass
            ctx, self._ctx = self._ctx, None
            ctx.__exit__(exc_type, exc, tb)


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 25.0) -> Path:
    """Write an iterable of RGB frames to mp4, avi or gif (atomically)."""
    with VideoWriter(path, fps=fps) as out:
        for image in frames:
            out.write(image)
    return Path(path)


def frame_source(source, step: int = 1, max_frames: int | None = None):
    """``(iterator of (index, time, image-or-None), fps, total, reader)`` for a path, webcam index,
    :class:`~faceanim.io.VideoReader` or an iterable of frames (arrays or :class:`~faceanim.io.Frame`)."""
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
