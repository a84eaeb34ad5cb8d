"""An invisible watermark that marks images and video frames as made by faceanim, and reads it back.

The method is the one ``invisible-watermark`` calls ``dwtDctSvd`` (a Haar wavelet's low band of the
colour channel U, cut in 4x4 blocks; each block's DCT's largest singular value quantised to carry one
bit), written here vectorised (one batched SVD per frame instead of a Python loop per block: a few ms
for a 512 px frame instead of about 100) and with what a video needs on top: the bits are laid out in a
2-D tile repeated over the frame, led by a 16-bit sync word, so :func:`read_watermark` finds the mark
again after a crop (any offset) or a resize (it tries the scales a frame is commonly resized by), and
says how sure it is. ``bench/bench_provenance.py`` measures what it survives and what it costs.

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
           "read_watermark", "payload_bits", "parse_payload", "output_id", "verify_file", "FileVerdict"]

#: QIM step on the blocks' largest singular value (invisible-watermark's default for U: 36)
WATERMARK_STEP = 36.0
#: the sync word every mark starts with (16 bits)
SYNC = 0xFA2C
_FORMAT = 1
_TILE = (6, 8)  # rows x columns of blocks per tile: 48 bits
_BITS = _TILE[0] * _TILE[1]
_BLOCK = 4  # block side in the low band (8 px of the frame)
#: how sure a reading must be to count as found (mean |2 * vote - 1| over the 48 bits). In
#: bench/bench_provenance.py no real face frame matched the sync word at all (confidence 0.0), and our
#: frames as written read 0.81 on average, but 0.5 or less after JPEG 75 or H.264 re-encoding
FOUND_AT = 0.5
_SCALES = (1.0, 2.0, 1.5, 4.0 / 3.0, 1.25, 0.5)
_SURE = 0.75  # a reading this clear ends the search


def _dct_matrix(n: int = _BLOCK) -> np.ndarray:
    k = np.arange(n)[:, None]
    m = np.cos(np.pi * (2 * np.arange(n)[None] + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_D = _dct_matrix()


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


def _top_singular(c: np.ndarray, iterations: int = 6):
    """Largest singular value and its vectors of every ``(..., 4, 4)`` block, by power iteration on
    ``C^T C`` (the DC term dominates a low-band block, so a few steps converge; a full batched SVD costs
    ten times as much)."""
    ctc = np.swapaxes(c, -1, -2) @ c
    v = np.full((*c.shape[:-1], 1), 0.5, np.float32)
    for _ in range(iterations):
        v = ctc @ v
        v /= np.sqrt((v * v).sum(-2, keepdims=True)) + 1e-12
    cv = (c @ v)[..., 0]
    v = v[..., 0]
    s0 = np.linalg.norm(cv, axis=-1)
    return s0, cv / (s0[..., None] + 1e-12), v


def _u_channel(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    return -0.14713 * r - 0.28886 * g + 0.436 * b + 128.0  # BT.601 U, as OpenCV's RGB2YUV


def _blocks(low: np.ndarray, oy: int = 0, ox: int = 0):
    """``(rows, cols, 4, 4)`` blocks of the low band from offset (oy, ox)."""
    h, w = low.shape
    rows, cols = (h - oy) // _BLOCK, (w - ox) // _BLOCK
    sub = low[oy:oy + rows * _BLOCK, ox:ox + cols * _BLOCK]
    return sub.reshape(rows, _BLOCK, cols, _BLOCK).transpose(0, 2, 1, 3), rows, cols


def _low_band(u: np.ndarray) -> np.ndarray:
    """Haar LL band (orthonormal: the sum of each 2x2 over 2) of an even-sized array."""
    h, w = u.shape[0] // 2 * 2, u.shape[1] // 2 * 2
    x = u[:h, :w]
    return (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]) / 2.0


@dataclass
class WatermarkReading:
    """What :func:`read_watermark` found: ``found`` when the sync word matched and ``confidence``
    (0 = noise, 1 = every block agrees) reached :data:`FOUND_AT`; ``payload`` its fields (tool,
    version, output id); where the tile started (``offset``, frame pixels) and the scale tried."""

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
        self._tile = bits.reshape(_TILE)

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb (H, W, 3)`` uint8 with the mark in its colour (U) channel; at least 64 px a side."""
        rgb = np.asarray(rgb)
        h, w = rgb.shape[:2]
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise MediaError(f"the watermark goes on RGB uint8 frames, got {rgb.dtype} {rgb.shape}")
        if min(h, w) < 64:
            return rgb.copy()  # too small to carry 48 bits: left as it is (read_watermark finds nothing)
        low = _low_band(_u_channel(rgb)).astype(np.float32)
        blocks, rows, cols = _blocks(low)
        c = _D @ blocks @ _D.T  # DCT of every block
        s0, u1, v1 = _top_singular(c)
        tile = np.tile(self._tile, (-(-rows // _TILE[0]), -(-cols // _TILE[1])))[:rows, :cols]
        target = (np.floor(s0 / self.step) + 0.25 + 0.5 * tile) * self.step
        delta = (target - s0)[..., None, None] * (u1[..., :, None] * v1[..., None, :])  # rank-1 change of s0
        d_blocks = (_D.T @ delta @ _D).astype(np.float32)  # back from the DCT
        rb, cb = rows * _BLOCK, cols * _BLOCK
        d_low = d_blocks.transpose(0, 2, 1, 3).reshape(rb, cb) / 2.0
        # the LL change spread over each 2x2 (inverse orthonormal Haar); only U changes: G and B move by
        # -0.395 and +2.032 times dU (BT.601, so Y and V stay as they were)
        du = np.broadcast_to(d_low[:, None, :, None], (rb, 2, cb, 2)).reshape(2 * rb, 2 * cb)
        out = rgb.copy()
        for ch, k in ((1, -0.39465), (2, 2.03211)):
            region = out[:2 * rb, :2 * cb, ch]
            region[...] = np.clip(region + k * du + 0.5, 0, 255).astype(np.uint8)
        return out

    @staticmethod
    def votes(rgb: np.ndarray, offsets=None) -> list[tuple[np.ndarray, tuple[int, int]]]:
        """Per tile position, the share of blocks reading 1 (``(6, 8)``), for each low-band offset and
        tile phase: the raw material :func:`read_watermark` searches."""
        u = _low_band(_u_channel(np.asarray(rgb)))
        out = []
        for oy, ox in offsets or [(y, x) for y in range(_BLOCK) for x in range(_BLOCK)]:
            blocks, rows, cols = _blocks(u, oy, ox)
            if rows < _TILE[0] or cols < _TILE[1]:
                continue
            s0 = _top_singular((_D @ blocks.astype(np.float32) @ _D.T).astype(np.float32))[0]
            bit = ((s0 % WATERMARK_STEP) > WATERMARK_STEP * 0.5).astype(np.float32)
            r6, c8 = rows // _TILE[0] * _TILE[0], cols // _TILE[1] * _TILE[1]
            acc = bit[:r6, :c8].reshape(r6 // _TILE[0], _TILE[0], c8 // _TILE[1], _TILE[1]).mean((0, 2))
            out.append((acc, (oy, ox)))
        return out


def embed_watermark(rgb: np.ndarray, version: str, out_id: int) -> np.ndarray:
    """``rgb`` marked with faceanim's payload for ``version`` and output id ``out_id``."""
    return Watermark(payload_bits(version, out_id)).embed(rgb)


def read_watermark(rgb: np.ndarray, scales=_SCALES) -> WatermarkReading:
    """Look for the mark in a frame (RGB uint8) that may have been re-encoded, resized or cropped since.

    For each scale tried (the frame resized back by it) and each block offset, the tile is read at each
    of its 48 phases; the phase whose bits start with the sync word and agree most is the reading."""
    import cv2

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MediaError(f"a watermark is read from RGB frames, got shape {rgb.shape}")
    best = WatermarkReading(False, 0.0, None)
    for scale in scales:
        if min(rgb.shape[:2]) * scale < 64:  # too small at this scale to hold a tile
            continue
        img = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale,
                                                  interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
        if min(img.shape[:2]) < 64:
            continue
        for acc, (oy, ox) in Watermark.votes(img):
            for py in range(_TILE[0]):
                for px in range(_TILE[1]):
                    tile = np.roll(acc, (-py, -px), (0, 1)).reshape(-1)
                    bits = (tile > 0.5).astype(np.uint8)
                    payload = parse_payload(bits)
                    if payload is None:
                        continue
                    conf = float(np.abs(2.0 * tile - 1.0).mean())
                    if conf > best.confidence:
                        best = WatermarkReading(conf >= FOUND_AT, conf, payload,
                                                offset=(2 * oy, 2 * ox), scale=scale)
            if best.confidence >= _SURE:  # no other offset or scale can read it better
                return best
        if best.found:
            return best
    return best


class Marker:
    """Marks every frame written to one output with the same payload (this faceanim version and an id
    made from the output's name and the time): ``marker(frame) -> marked frame``."""

    def __init__(self, output, enabled: bool = True):
        import time

        from . import __version__

        self.enabled = bool(enabled)
        self.id = output_id(f"{output}:{time.time_ns()}")
        self._mark = Watermark(payload_bits(__version__, self.id))

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self._mark.embed(rgb) if self.enabled else rgb

    def info(self) -> dict:
        """What goes in the output's record (``SavedAnimation.info``)."""
        if not self.enabled:
            return {"provenance": "off (watermark turned off by the user)"}
        return {"provenance": {"watermark": "faceanim dwt-dct-svd", "output_id": f"{self.id:04x}"}}


@dataclass
class FileVerdict:
    """:func:`verify_file`'s answer for one file: frames read and marked, the payload found (the most
    common), the share of frames carrying it, and ``error`` when the file could not be read at all."""

    path: str
    kind: str = ""
    frames: int = 0
    marked: int = 0
    payload: dict | None = None
    confidence: float = 0.0
    error: str = ""

    @property
    def share(self) -> float:
        return self.marked / self.frames if self.frames else 0.0

    @property
    def found(self) -> bool:
        return self.marked > 0 and (self.kind == "image" or self.share >= 0.5)

    def to_dict(self) -> dict:
        return {"file": self.path, "kind": self.kind, "watermark": self.found, "frames": self.frames,
                "marked_frames": self.marked, "share": round(self.share, 3), "payload": self.payload,
                "confidence": round(self.confidence, 3), "error": self.error or None}

    def line(self) -> str:
        if self.error:
            return f"{self.path}: cannot read: {self.error}"
        if not self.found:
            extra = f" ({self.marked} of {self.frames} frames)" if self.kind == "video" and self.marked else ""
            return f"{self.path}: no faceanim watermark found{extra}"
        p = self.payload or {}
        where = f" in {self.marked} of {self.frames} frames ({self.share:.0%})" if self.kind == "video" else ""
        return (f"{self.path}: faceanim watermark found{where}: made by {p.get('tool')} {p.get('version')}, "
                f"output {p.get('output_id')} (confidence {self.confidence:.2f})")


def verify_file(path, frames: int = 24) -> FileVerdict:
    """Read the watermark from an image, or from ``frames`` evenly spaced frames of a video. A file that
    is not media, empty or truncated gives a verdict with ``error`` set, never an exception."""
    from collections import Counter
    from pathlib import Path

    from .errors import FaceanimError
    from .io import VideoReader, is_video_path, read_image

    verdict = FileVerdict(path=str(path))
    try:
        if is_video_path(path) or Path(path).suffix.lower() == ".gif":
            verdict.kind = "video"
            with VideoReader(path) as reader:
                total = reader.frame_count
            step = max(1, (total or frames) // frames)
            with VideoReader(path, step=step, max_frames=frames) as reader:
                images = (f.image for f in reader)
                readings = [read_watermark(img) for img in images]
        else:
            verdict.kind = "image"
            readings = [read_watermark(read_image(path))]
    except (FaceanimError, OSError, ValueError) as exc:
        verdict.error = str(exc)
        return verdict
    verdict.frames = len(readings)
    found = [r for r in readings if r.found]
    verdict.marked = len(found)
    if found:
        common = Counter(tuple(sorted(r.payload.items())) for r in found if r.payload).most_common(1)[0][0]
        verdict.payload = dict(common)
        verdict.confidence = float(np.mean([r.confidence for r in found]))
    return verdict
