"""An invisible watermark that marks images and video frames as made by faceanim, and reads it back.

The mark lives in the luma (brightness) channel, where video codecs keep the most: the frame is cut in
16x16 px blocks, and each block carries one bit three times, on three smooth zero-mean patterns (a
sine wave across the block under a half-sine window, horizontally, vertically and both: they vanish at
the block's edges, so no block edge shows, and being zero-mean a change of brightness or contrast
leaves them alone). The bit is written by quantisation (QIM, with a per-cell dither from a fixed key)
of the block's projection on each pattern, and read back softly (how far each projection sits from
the lattice of either bit, averaged over the three patterns and every repeat of the tile). The 48
bits form a 6x8-block tile repeated over the frame, led by a 16-bit sync word, so
:func:`read_watermark` finds the mark again after a crop (it tries every pixel offset of the block
grid, from one correlation map per pattern) or a resize (it tries the scales a frame is commonly
resized by), and says how sure it is. ``bench/bench_provenance.py`` measures what it survives (H.264
re-encoding, half size, a 10% crop, JPEG 75, a GIF palette), how often it fires on real faces and
what it costs (ms and PSNR); an earlier version in the colour channel U (invisible-watermark's
``dwtDctSvd``, vectorised) is what it replaced: H.264 and JPEG 75 erased that one.

Payload (48 bits, :func:`payload_bits`): the sync word, a format number, the faceanim version (major,
minor) and a 16-bit output id, so a found mark names the tool, its version and which output it came from.
Every file the animator writes is marked (``Animator(provenance=False)`` or ``--no-watermark`` turns it
off, and the output's record says so); :func:`verify_file` (``faceanim verify``) reads it back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from .errors import MediaError

__all__ = ["WATERMARK_STEP", "SYNC", "FOUND_AT", "Watermark", "WatermarkReading", "Marker", "embed_watermark",
           "read_watermark", "payload_bits", "parse_payload", "output_id", "verify_file", "FileVerdict",
           "add_label", "LABEL_TEXT", "CONSENT"]

#: QIM step on each block's projections (luma units of a unit-norm 16x16 pattern): about 42 dB PSNR.
#: Larger steps survived H.264 CRF 35 better but began to show on flat skin, in scratch runs that are not
#: a committed bench; bench/bench_provenance.py measures this step
WATERMARK_STEP = 64.0
#: the sync word every mark starts with (16 bits)
SYNC = 0xFA2C
_FORMAT = 2  # 1 was the colour-channel (U) mark
_TILE = (6, 8)  # rows x columns of blocks per tile: 48 bits
_BITS = _TILE[0] * _TILE[1]
_N = 16  # block side, px
#: how sure a reading must be to count as found (mean |soft bit| over the 48 bits, 0 = noise, 1 = every
#: block on its lattice point). In bench/bench_provenance.py no real face frame matched the sync word at
#: all (confidence 0.0 on 478 frames); our frames read 0.89 on average as written, 0.62 after H.264 CRF 28
#: and 0.30 after CRF 35 (where about half the frames fall below this threshold)
FOUND_AT = 0.35
_SCALES = (1.0, 2.0, 1.5, 4.0 / 3.0, 1.25, 0.5)
_SURE = 0.6  # a reading this clear ends the search
_MIN_SIDE = 96  # a tile is 96 x 128 px


def _patterns() -> np.ndarray:
    n = np.arange(_N) + 0.5
    window, wave = np.sin(np.pi * n / _N), np.sin(2 * np.pi * n / _N)
    p = np.stack([np.outer(window, wave), np.outer(wave, window), np.outer(wave, wave)]).astype(np.float32)
    return p / np.sqrt((p ** 2).sum((1, 2), keepdims=True))


_PATTERNS = _patterns()
_K = len(_PATTERNS)
_DITHER = np.random.default_rng(0xFACE).random((*_TILE, _K)).astype(np.float32)
_SYNC_BITS = np.array([(SYNC >> (15 - i)) & 1 for i in range(16)], bool)
_PHASES = [(ty, tx) for ty in range(_TILE[0]) for tx in range(_TILE[1])]
# for each tile phase: the read cells in payload order, and the dither each read cell then carries
_PERM = np.stack([np.roll(np.arange(_BITS).reshape(_TILE), (-ty, -tx), (0, 1)).reshape(-1) for ty, tx in _PHASES])
_COS = np.stack([np.roll(np.cos(2 * np.pi * _DITHER), p, (0, 1)) for p in _PHASES])
_SIN = np.stack([np.roll(np.sin(2 * np.pi * _DITHER), p, (0, 1)) for p in _PHASES])


def output_id(text: str) -> int:
    """A 16-bit id for an output (from its name and time): what the mark says it is."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=2).digest(), "big")


def payload_bits(version: str, out_id: int) -> np.ndarray:
    """48 bits: sync (16), format (4), version major (4), minor (8), output id (16)."""
    parts = [int(p) for p in (version.split(".") + ["0", "0"])[:2] if p.isdigit()] + [0, 0]
    major, minor = parts[0] & 0xF, parts[1] & 0xFF
    word = (SYNC << 32) | (_FORMAT << 28) | (major << 24) | (minor << 16) | (int(out_id) & 0xFFFF)
    return np.array([(word >> (47 - i)) & 1 for i in range(_BITS)], np.uint8)


def parse_payload(bits: np.ndarray) -> dict | None:
    """The fields of a 48-bit payload, or None when the sync word or the format does not match."""
    word = 0
    for b in np.asarray(bits, np.uint8)[:_BITS]:
        word = (word << 1) | int(b)
    if word >> 32 != SYNC or (word >> 28) & 0xF != _FORMAT:
        return None
    return {"tool": "faceanim", "version": f"{(word >> 24) & 0xF}.{(word >> 16) & 0xFF}",
            "output_id": f"{word & 0xFFFF:04x}"}


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 Y (as OpenCV computes it, rounded to integers: a +-0.5 error, far below the QIM step)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _tiled(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    reps = (-(-rows // _TILE[0]), -(-cols // _TILE[1])) + (1,) * (a.ndim - 2)
    return np.tile(a, reps)[:rows, :cols]


@dataclass
class WatermarkReading:
    """What :func:`read_watermark` found: ``found`` when the sync word matched and ``confidence``
    (0 = noise, 1 = every block agrees) reached :data:`FOUND_AT`; ``payload`` its fields (tool,
    version, output id); where the block grid started (``offset``, px of the frame as resized by
    ``scale``)."""

    found: bool
    confidence: float
    payload: dict | None
    offset: tuple[int, int] = (0, 0)
    scale: float = 1.0


class Watermark:
    """Embed and read the mark with one payload (``bits``, 48 of them: :func:`payload_bits`)."""

    def __init__(self, bits: np.ndarray, step: float = WATERMARK_STEP):
        bits = np.asarray(bits, np.uint8)
        if bits.shape != (_BITS,):
            raise MediaError(f"a watermark payload is {_BITS} bits, got {bits.shape}")
        self.bits, self.step = bits, float(step)
        self._tile = bits.reshape(_TILE).astype(np.float32)[..., None]

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb (H, W, 3)`` uint8 with the mark in its brightness; frames under 96 px a side are too
        small to carry it and come back unchanged."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise MediaError(f"the watermark goes on RGB uint8 frames, got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        if min(h, w) < _MIN_SIDE:
            return rgb.copy()
        rows, cols = h // _N, w // _N
        flat = _PATTERNS.reshape(_K, _N * _N)
        blocks = _luma(rgb[:rows * _N, :cols * _N]).reshape(rows, _N, cols, _N).transpose(0, 2, 1, 3)
        # einsum, not @: numpy's BLAS would wake its own threads, which then spin against torch's
        # (seen in a scratch run of the bench's live loop: the refiner at about half speed)
        v = np.einsum("nk,jk->nj", blocks.reshape(rows * cols, _N * _N), flat).reshape(rows, cols, _K) / self.step
        v -= _tiled(_DITHER, rows, cols)
        target = np.floor(v) + 0.25 + 0.5 * _tiled(self._tile, rows, cols)  # the bit's lattice point
        target = np.where(target - v > 0.5, target - 1, np.where(v - target > 0.5, target + 1, target))
        change = np.einsum("nj,jk->nk", ((target - v) * self.step).reshape(rows * cols, _K), flat)
        change = change.reshape(rows, cols, _N, _N)
        # one whole-number change on R, G and B alike (Y moves by it, U and V do not), added and taken
        # away with OpenCV's saturating uint8 arithmetic (a tenth of numpy's int16 round trip)
        import cv2

        change = change.transpose(0, 2, 1, 3).reshape(rows * _N, cols * _N)
        up = cv2.cvtColor(np.clip(change + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
        down = cv2.cvtColor(np.clip(0.5 - change, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
        out = rgb.copy()
        region = out[:rows * _N, :cols * _N]
        region[...] = cv2.subtract(cv2.add(np.ascontiguousarray(region), up), down)
        return out

    @staticmethod
    def soft_maps(rgb: np.ndarray, step: float = WATERMARK_STEP) -> tuple[np.ndarray, np.ndarray]:
        """``sin`` and ``cos`` of 2 pi times every pixel's projection (block at that top-left corner)
        on each pattern, over the step: ``(H, W, 3)`` each; a block's soft bit is read off them."""
        import cv2

        y = _luma(np.asarray(rgb))
        r = np.stack([cv2.filter2D(y, -1, k, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
                      for k in _PATTERNS], -1) * (2 * np.pi / step)
        return np.sin(r), np.cos(r)

    @staticmethod
    def cells(sin_map: np.ndarray, cos_map: np.ndarray, p: int, q: int) -> np.ndarray | None:
        """For the block grid starting at pixel (p, q): the tile's soft bits at each of the 48 phases,
        in payload order, ``(48, 48)``; None when the frame holds no whole tile from there."""
        h, w = sin_map.shape[:2]
        r6 = (h - p) // _N // _TILE[0] * _TILE[0]
        c8 = (w - q) // _N // _TILE[1] * _TILE[1]
        if r6 == 0 or c8 == 0:
            return None
        shape = (r6 // _TILE[0], _TILE[0], c8 // _TILE[1], _TILE[1], _K)
        a = sin_map[p:p + _N * r6:_N, q:q + _N * c8:_N].reshape(shape).mean((0, 2))
        b = cos_map[p:p + _N * r6:_N, q:q + _N * c8:_N].reshape(shape).mean((0, 2))
        acc = (b[None] * _SIN - a[None] * _COS).mean(-1)  # -sin(2 pi (c - d)), per cell and phase
        return acc.reshape(len(_PHASES), _BITS)[np.arange(len(_PHASES))[:, None], _PERM]


def embed_watermark(rgb: np.ndarray, version: str, out_id: int) -> np.ndarray:
    """``rgb`` marked with faceanim's payload for ``version`` and output id ``out_id``."""
    return Watermark(payload_bits(version, out_id)).embed(rgb)


def read_watermark(rgb: np.ndarray, scales=_SCALES) -> WatermarkReading:
    """Look for the mark in a frame (RGB uint8) that may have been re-encoded, resized or cropped since.

    For each scale tried (the frame resized back by it) and each of the 256 pixel offsets of the block
    grid, the tile is read at each of its 48 phases; the phase whose bits start with the sync word and
    agree most is the reading."""
    import cv2

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MediaError(f"a watermark is read from RGB frames, got shape {rgb.shape}")
    best = WatermarkReading(False, 0.0, None)
    for scale in scales:
        if min(rgb.shape[:2]) * scale < _MIN_SIDE:
            continue
        img = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale,
                                                  interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
        sin_map, cos_map = Watermark.soft_maps(img)
        for p in range(_N):
            for q in range(_N):
                soft = Watermark.cells(sin_map, cos_map, p, q)
                if soft is None:
                    continue
                for k in np.nonzero(((soft[:, :16] > 0) == _SYNC_BITS).all(1))[0]:
                    payload = parse_payload((soft[k] > 0).astype(np.uint8))
                    conf = float(np.abs(soft[k]).mean())
                    if payload is not None and conf > best.confidence:
                        best = WatermarkReading(conf >= FOUND_AT, conf, payload, offset=(p, q), scale=scale)
                if best.confidence >= _SURE:  # no other offset or scale can read it better
                    return best
        if best.found:
            return best
    return best


#: the two lines on consent and on the marks, in the README and atop every notebook that animates a photo
CONSENT = ('**Consent and marks.** Animate only your own face, or a face whose owner has agreed to be animated ('
           "a child's guardian for a child), and never to deceive anyone. Every file faceanim writes carries an "
           'invisible watermark and, once `faceanim keys init` has made a key, signed C2PA credentials saying a '
           'model made it (`faceanim verify FILE` reads both); `--label` adds a visible corner label.')
#: the visible label's text (``label=True``): what the frame is, in the fewest words
LABEL_TEXT = "AI-animated (faceanim)"


def add_label(rgb: np.ndarray, text: str = LABEL_TEXT) -> np.ndarray:
    """``rgb`` with a small visible label in its lower right corner (white text on a dark band, sized
    to the frame: about 3% of its height)."""
    import cv2

    out = np.ascontiguousarray(np.asarray(rgb)).copy()
    h, w = out.shape[:2]
    scale = max(0.3, h / 900)
    thick = max(1, int(round(scale * 1.5)))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = max(2, int(4 * scale))
    x0, y0 = max(0, w - tw - 3 * pad), max(0, h - th - base - 3 * pad)
    band = out[y0:h - pad, x0:w - pad]
    band[...] = (0.35 * band).astype(np.uint8)
    cv2.putText(out, text, (x0 + pad, h - base - 2 * pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick,
                cv2.LINE_AA)
    return out


class Marker:
    """Marks every frame written to one output with the same payload (this faceanim version and an id
    made from the output's name and the time), adds the visible label when asked, and signs the
    finished file (:meth:`finish`): ``marker(frame) -> marked frame``.

    ``sign``: "auto" signs with the key from ``faceanim keys init`` when there is one, True requires it,
    False never signs."""

    def __init__(self, output, enabled: bool = True, label: bool = False, sign: bool | str = "auto"):
        import time

        from . import __version__
        from .credentials import load_keys

        if sign not in (True, False, "auto"):
            raise MediaError(f"sign must be True, False or 'auto', got {sign!r}")
        self.enabled, self.label = bool(enabled), bool(label)
        self.id = output_id(f"{output}:{time.time_ns()}")
        self._mark = Watermark(payload_bits(__version__, self.id))
        self.keys = load_keys() if enabled and sign else None
        if sign is True and enabled and self.keys is None:
            from .credentials import key_dir

            raise MediaError(f"signing was asked for but there is no signing key in {key_dir()}; make one with "
                             "`faceanim keys init`, or leave signing on auto")
        self._signed: dict = {}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        if self.label:
            rgb = add_label(rgb)
        return self._mark.embed(rgb) if self.enabled else rgb

    def finish(self, path) -> dict:
        """Sign the finished file at ``path`` (when there is a key and provenance is on); the record."""
        if self.keys is not None:
            from .credentials import sign_file

            self._signed = sign_file(path, self.keys, {"output_id": f"{self.id:04x}"})
        return self.info()

    def metadata(self) -> dict[str, str]:
        """The container's ``comment`` tag: what was made and which marks it carries (or that they are off)."""
        from . import __version__

        if not self.enabled:
            return {"comment": f"made by faceanim {__version__} (an animated face); provenance turned off by the user"}
        signed = "signed (C2PA)" if self.keys is not None else "not signed"
        return {"comment": f"made by faceanim {__version__} (an animated face); invisible watermark, output "
                           f"{self.id:04x}; {signed}"}

    def info(self) -> dict:
        """What goes in the output's record (``SavedAnimation.info``)."""
        if not self.enabled:
            return {"provenance": "off (watermark and credentials turned off by the user)",
                    **({"label": LABEL_TEXT} if self.label else {})}
        record: dict = {"watermark": "faceanim luma QIM", "output_id": f"{self.id:04x}"}
        if self.label:
            record["label"] = LABEL_TEXT
        record.update(self._signed or {"credentials": "not signed (no key: `faceanim keys init` makes one)"
                                       if self.keys is None else "pending"})
        return {"provenance": record}


@dataclass
class FileVerdict:
    """:func:`verify_file`'s answer for one file: frames read and marked, the payload found (the most
    common), the share of frames carrying it, the C2PA ``credentials``
    (:class:`~faceanim.credentials.CredentialVerdict`), and ``error`` when the file could not be read
    at all."""

    path: str
    kind: str = ""
    frames: int = 0
    marked: int = 0
    payload: dict | None = None
    confidence: float = 0.0
    error: str = ""
    credentials: object = None
    #: with ``verify_file(detect=True)``: the animated-face detector's mean P(animated) over the frames
    #: that show a face (None: not asked, or no face)
    animated: float | None = None

    @property
    def share(self) -> float:
        return self.marked / self.frames if self.frames else 0.0

    @property
    def found(self) -> bool:
        return self.marked > 0 and (self.kind == "image" or self.share >= 0.5)

    def to_dict(self) -> dict:
        return {"file": self.path, "kind": self.kind, "watermark": self.found, "frames": self.frames,
                "marked_frames": self.marked, "share": round(self.share, 3), "payload": self.payload,
                "confidence": round(self.confidence, 3), "error": self.error or None,
                "credentials": self.credentials.to_dict() if self.credentials is not None else None,
                "animated_score": None if self.animated is None else round(self.animated, 3)}

    def line(self) -> str:
        creds = f"; {self.credentials.line()}" if self.credentials is not None else ""
        if self.animated is not None:
            creds += (f"; the pixels {'look' if self.animated >= 0.5 else 'do not look'} animated "
                      f"(detector {self.animated:.2f})")
        if self.error:
            return f"{self.path}: cannot read: {self.error}{creds}"
        if not self.found:
            extra = f" ({self.marked} of {self.frames} frames)" if self.kind == "video" and self.marked else ""
            return f"{self.path}: no faceanim watermark found{extra}{creds}"
        p = self.payload or {}
        where = f" in {self.marked} of {self.frames} frames ({self.share:.0%})" if self.kind == "video" else ""
        return (f"{self.path}: faceanim watermark found{where}: made by {p.get('tool')} {p.get('version')}, "
                f"output {p.get('output_id')} (confidence {self.confidence:.2f}){creds}")


def verify_file(path, frames: int = 24, credentials: bool = True, detect=None) -> FileVerdict:
    """Read the watermark from an image, or from ``frames`` evenly spaced frames of a video, and (with
    ``credentials``) its C2PA manifest. A file that is not media, empty or truncated, or whose
    manifest is damaged, gives a verdict (``error`` set, credentials ``invalid`` / ``unreadable``),
    never an exception. ``detect``: an :class:`~faceanim.forensics.AnimatedFaceDetector` (or True for
    the shipped one) also scores the frames' faces from their pixels alone."""
    from collections import Counter
    from pathlib import Path

    from .errors import FaceanimError
    from .io import VideoReader, is_video_path, read_image

    verdict = FileVerdict(path=str(path))
    if credentials and Path(path).is_file():
        from .credentials import read_credentials

        verdict.credentials = read_credentials(path)
    try:
        if is_video_path(path) or Path(path).suffix.lower() == ".gif":
            verdict.kind = "video"
            with VideoReader(path) as reader:
                total = reader.frame_count
            step = max(1, (total or frames) // frames)
            with VideoReader(path, step=step, max_frames=frames) as reader:
                images = [f.image for f in reader]
        else:
            verdict.kind = "image"
            images = [read_image(path)]
        readings = [read_watermark(img) for img in images]
    except (FaceanimError, OSError, ValueError) as exc:
        verdict.error = str(exc)
        return verdict
    if detect:
        from .forensics import AnimatedFaceDetector

        detector = AnimatedFaceDetector.load() if detect is True else detect
        scores = [s for s in (detector.score(img) for img in images) if s is not None]
        verdict.animated = float(np.mean(scores)) if scores else None
    verdict.frames = len(readings)
    found = [r for r in readings if r.found]
    verdict.marked = len(found)
    if found:
        common = Counter(tuple(sorted(r.payload.items())) for r in found if r.payload).most_common(1)[0][0]
        verdict.payload = dict(common)
        verdict.confidence = float(np.mean([r.confidence for r in found]))
    return verdict
