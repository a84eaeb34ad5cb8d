"""A corpus of malformed media and a table of bad settings, made small and fresh for every run.

Used by ``tests/test_fuzz.py`` (in-process, fast) and ``bench/fuzz.py`` (the real command line in a
subprocess per case, writing ``reports/fuzz.json``). Every case says what is allowed to come back:

- ``bad``: the input cannot be used; the command must exit 2 with a clear message (API: a FaceanimError);
- ``odd``: unusual but legal (1x1, 16-bit, CMYK, animated GIF, a frame without a face ...); the command may
  succeed or exit 2, but never with a traceback.

Nothing here is copied from a dataset: the faces come from the package's own demo media (public domain).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    kind: str  # "image" or "video"
    expect: str  # "bad" or "odd"


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG that declare ``width x height`` (the pixels are never there)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
            + _png_chunk(b"IEND", b""))


def make_corpus(root: Path) -> list[Case]:
    """Write the corpus under ``root`` and list it (about 60 files, a few MB, a few seconds)."""
    from PIL import Image

    from faceanim import demo, io

    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(name: str, kind: str, expect: str, data: bytes | None = None) -> Path:
        p = root / name
        if data is not None:
            p.write_bytes(data)
        cases.append(Case(name, p, kind, expect))
        return p

    face = demo.astronaut()
    jpg = root / "_face.jpg"
    Image.fromarray(face).save(jpg, quality=90)
    jbytes = jpg.read_bytes()
    png = root / "_face.png"
    Image.fromarray(face[::2, ::2]).save(png)
    pbytes = png.read_bytes()
    rng = np.random.default_rng(0)

    # -- images that cannot be read
    add("empty.jpg", "image", "bad", b"")
    add("empty.png", "image", "bad", b"")
    for frac in (0.02, 0.3, 0.7):
        add(f"truncated_{int(frac * 100)}.jpg", "image", "odd" if frac > 0.5 else "bad", jbytes[: int(len(jbytes) * frac)])
    for frac in (0.05, 0.5):
        add(f"truncated_{int(frac * 100)}.png", "image", "bad", pbytes[: int(len(pbytes) * frac)])
    add("random.jpg", "image", "bad", rng.bytes(5000))
    add("random.png", "image", "bad", rng.bytes(5000))
    add("random.webp", "image", "bad", rng.bytes(2000))
    add("text.jpg", "image", "bad", b"hello, this is not an image\n" * 20)
    add("page.png", "image", "bad", b"<!DOCTYPE html><html><body>404 Not Found</body></html>")
    add("jpeg_header_only.jpg", "image", "bad", jbytes[:2])
    add("png_signature_only.png", "image", "bad", b"\x89PNG\r\n\x1a\n")
    add("bomb_30000.png", "image", "bad", bomb_png(30000, 30000))
    add("bomb_12000.png", "image", "bad", bomb_png(12000, 12000))
    add("bomb_wide.png", "image", "bad", bomb_png(1_000_000, 200))
    add("zero_size.png", "image", "bad", bomb_png(0, 0))
    # -- legal but unusual images
    Image.new("RGB", (1, 1), (128, 128, 128)).save(add("one_pixel.png", "image", "odd"))
    Image.new("RGB", (2, 2)).save(add("two_pixels.jpg", "image", "odd"))
    Image.fromarray((np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)).save(
        add("gray16.png", "image", "odd"))
    Image.fromarray(face).convert("CMYK").save(add("cmyk.jpg", "image", "odd"))
    Image.fromarray(face).convert("L").save(add("gray.png", "image", "odd"))
    rgba = np.dstack([face, np.full(face.shape[:2], 128, np.uint8)])
    Image.fromarray(rgba).save(add("rgba.png", "image", "odd"))
    Image.fromarray(face).convert("P").save(add("palette.png", "image", "odd"))
    Image.fromarray(face).save(add("face.webp", "image", "odd"))
    Image.fromarray(face).save(add("face.tiff", "image", "odd"))
    Image.fromarray(face).save(add("face.bmp", "image", "odd"))
    frames = [Image.fromarray(np.roll(face, 10 * i, axis=1)) for i in range(3)]
    frames[0].save(add("animated.gif", "image", "odd"), save_all=True, append_images=frames[1:])
    Image.fromarray(np.zeros((4000, 3, 3), np.uint8)).save(add("tall_thin.png", "image", "odd"))
    Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(add("noise.png", "image", "odd"))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees": the face lies on its side in the pixels
    Image.fromarray(np.rot90(face)).save(add("exif_rotated.jpg", "image", "odd"), exif=exif)
    Image.fromarray(face).save(add("ünïcödé name ☺.jpg", "image", "odd"))
    Image.fromarray(face).save(add("wrong_suffix.png", "image", "odd"), format="JPEG")
    # a JPEG with a C2PA-like APP11 segment (JUMBF box headers, garbage inside): a damaged manifest
    jumbf = b"JP" + b"\x00\x00" + b"\x00\x00\x00\x01" + b"\x00\x00\x00\x40jumb" + b"\x00\x00\x00\x18jumdc2pa" + rng.bytes(40)
    app11 = b"\xff\xeb" + (len(jumbf) + 2).to_bytes(2, "big") + jumbf
    add("damaged_manifest.jpg", "image", "odd", jbytes[:2] + app11 + jbytes[2:])
    # -- paths that are not files
    (root / "folder.jpg").mkdir(exist_ok=True)
    cases.append(Case("folder.jpg", root / "folder.jpg", "image", "bad"))
    cases.append(Case("missing.jpg", root / "missing.jpg", "image", "bad"))
    link = root / "dangling.jpg"
    if not link.is_symlink():
        link.symlink_to(root / "nowhere.jpg")
    cases.append(Case("dangling.jpg", link, "image", "bad"))

    # -- videos
    clip = Path(demo.demo_video(frames=12))
    vbytes = clip.read_bytes()
    add("empty.mp4", "video", "bad", b"")
    for frac in (0.01, 0.2, 0.6, 0.95):
        add(f"truncated_{int(frac * 100)}.mp4", "video", "bad" if frac < 0.1 else "odd", vbytes[: int(len(vbytes) * frac)])
    add("random.mp4", "video", "bad", rng.bytes(20000))
    add("random.avi", "video", "bad", rng.bytes(20000))
    add("text.mp4", "video", "bad", b"not a video\n" * 100)
    add("jpeg_named.mp4", "video", "odd", jbytes)  # FFmpeg reads it as a one-frame video: fine
    add("header_only.mp4", "video", "bad", vbytes[:64])
    damaged = bytearray(vbytes)
    for i in range(len(damaged) // 3, len(damaged) // 3 + 2000, 7):
        damaged[i] ^= 0xFF
    add("damaged_middle.mp4", "video", "odd", bytes(damaged))
    io.write_video(add("one_frame.mp4", "video", "odd"), [face[:480, :480]], fps=25)
    io.write_video(add("mjpeg.avi", "video", "odd"), [face[:256, :256]] * 3, fps=10)
    io.write_video(add("animated_video.gif", "video", "odd"), [face[::4, ::4]] * 3, fps=10)
    io.write_video(add("no_face.mp4", "video", "odd"),
                   [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(4)], fps=25)
    io.write_video(add("tiny_16x16.mp4", "video", "odd"), [face[::32, ::32]] * 3, fps=25)
    (root / "folder.mp4").mkdir(exist_ok=True)
    cases.append(Case("folder.mp4", root / "folder.mp4", "video", "bad"))
    cases.append(Case("missing.mp4", root / "missing.mp4", "video", "bad"))
    for helper in (jpg, png):
        helper.unlink()
    return cases


def fingerprint(root: Path) -> dict[str, str]:
    """``name -> sha256`` of every file under ``root`` (what must not change), folders and links as markers."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def temp_files(root: Path) -> list[str]:
    """Temporaries an atomic writer left behind (``.NAME.faceanim-PID-XXXX``)."""
    from faceanim._atomic import TEMP_MARK

    return sorted(str(p.relative_to(root)) for p in root.rglob(f"*{TEMP_MARK}*"))


#: CLI entry points: argv templates, ``{input}`` is the corpus file, ``{photo}``/``{video}``/``{out}`` good ones.
ENTRY_POINTS: dict[str, tuple[str, list[str]]] = {
    "detect": ("image", ["detect", "{input}", "--detector", "haar"]),
    "detect_video": ("video", ["detect", "{input}", "--detector", "haar", "--max-frames", "3"]),
    "recognize": ("image", ["recognize", "{input}", "--detector", "haar", "--no-tta"]),
    "recognize_aligned": ("image", ["recognize", "{input}", "--aligned", "--no-tta"]),
    "animate_emotion": ("image", ["animate", "{input}", "--emotion", "happy", "--frames", "2", "--warp-only",
                                  "-o", "{out}"]),
    "animate_driving": ("video", ["animate", "{photo}", "--driving", "{input}", "--max-frames", "3", "--warp-only",
                                  "-o", "{out}"]),
    "puppet": ("video", ["puppet", "{photo}", "--source", "{input}", "--max-frames", "3", "--warp-only",
                         "-o", "{out}"]),
    "emoji": ("video", ["emoji", "{input}", "--detector", "haar", "--max-frames", "3", "-o", "{out}", "--log",
                        "{log}"]),
    "log_show": ("any", ["log", "show", "{input}"]),
    "verify": ("any", ["verify", "{input}", "--frames", "3"]),
    "communicate": ("video", ["communicate", "{input}", "--max-frames", "12"]),
}

#: ``(entry point, extra argv)`` with a bad setting each: every one must exit 2 before any work.
NUMBERS = ["nan", "inf", "-inf", "-1", "1e12", "abc", "", "0x10"]
BAD_SETTINGS: list[tuple[str, list[str]]] = (
    [("animate_emotion", [flag, v]) for flag in ("--fps", "--frames", "--hold", "--intensity", "--gain",
                                                "--keypoints", "--filter-strength", "--gaussian", "--texture")
     for v in NUMBERS]
    + [("animate_emotion", ["--fps", "0"]), ("animate_emotion", ["--frames", "0"]),
       ("animate_emotion", ["--frames", "2.5"]), ("animate_emotion", ["--frames", "100001"]),
       ("animate_emotion", ["--hold", "100001"]), ("animate_emotion", ["--keypoints", "4"]),
       ("animate_emotion", ["--keypoints", "69"]), ("animate_emotion", ["--intensity", "1.01"]),
       ("animate_emotion", ["--gain", "3.5"]), ("animate_emotion", ["--texture", "2.5"])]
    + [("animate_driving", ["--max-frames", v]) for v in ("0", "-1", "nan", "2.5", "1e12")]
    + [("puppet", [flag, v]) for flag in ("--max-jump", "--hold", "--ease-back", "--recover", "--keypoints",
                                          "--filter-strength", "--max-frames", "--status-every")
       for v in ("nan", "inf", "-1", "abc", "1e12")]
    + [("puppet", ["--max-jump", "0"]), ("puppet", ["--keypoints", "4"]), ("puppet", ["--tracker", "kinect"]),
       ("puppet", ["--mode", "sideways"]), ("puppet", ["--refine-window", "half"])]
    + [("emoji", [flag, v]) for flag in ("--every", "--max-frames", "--stride", "--smoothing", "--hysteresis",
                                          "--band", "--threshold", "--max-faces")
       for v in ("nan", "inf", "-1", "abc", "1e12")]
    + [("emoji", ["--max-faces", "0"]), ("emoji", ["--smoothing", "1"]), ("emoji", ["--every", "0"]),
       ("emoji", ["--stride", "0"]), ("emoji", ["--band", "0.6"])]
    + [("detect", [flag, v]) for flag in ("--min-score",) for v in ("nan", "-0.1", "1.5", "abc")]
    + [("detect_video", [flag, v]) for flag in ("--every", "--max-frames") for v in ("0", "-1", "nan", "abc")]
    + [("recognize", ["--threshold", v]) for v in ("nan", "-0.1", "1.5", "inf", "abc")]
    + [("emoji", ["--blur-others", "--subject", v]) for v in ("nan", "-1", "abc", "2.5", "1e12")]
    + [("emoji", ["--subject", "0"])]  # without --blur-others
    + [("communicate", ["--smoothing", v]) for v in ("nan", "-1", "abc", "1e12")]
    + [("communicate", ["--max-frames", v]) for v in ("0", "-1", "2.5")]
    + [("communicate", ["--emotion", "bored"])]
    + [("animate_emotion", ["--readable", v]) for v in ("nan", "-0.1", "1.5", "abc")]
    + [("animate_driving", ["--readable", "0.7"])]  # without --emotion
    + [("animate_emotion", ["--crop-size", v]) for v in ("300", "0", "abc", "nan")]
)


def argv_for(entry: str, input_path, good: dict, extra: list[str] = ()) -> list[str]:
    """The argv of ``entry`` with ``{input}`` and the good paths filled in (``good``: photo, video, out, log)."""
    template = ENTRY_POINTS[entry][1]
    fill = {"input": str(input_path), **{k: str(v) for k, v in good.items()}}
    argv = [part.format(**fill) for part in template]
    return argv + list(extra)


#: Python API inputs: arrays of the wrong dtype, shape or range.
def bad_arrays() -> dict[str, tuple[object, str]]:
    """``name -> (array, expect)``: ``bad`` must raise a FaceanimError, ``odd`` may work."""
    face = np.zeros((64, 64, 3), np.uint8)
    return {
        "empty": (np.zeros((0, 0, 3), np.uint8), "bad"),
        "one_dim": (np.zeros(100, np.uint8), "bad"),
        "four_dim": (np.zeros((2, 64, 64, 3), np.uint8), "bad"),
        "two_channels": (np.zeros((64, 64, 2), np.uint8), "bad"),
        "five_channels": (np.zeros((64, 64, 5), np.uint8), "bad"),
        "complex": (np.zeros((64, 64, 3), np.complex64), "bad"),
        "object": (np.array([[None] * 4] * 4, dtype=object), "bad"),
        "strings": (np.full((8, 8, 3), "a"), "bad"),
        "nan": (np.full((64, 64, 3), np.nan, np.float32), "bad"),
        "inf": (np.full((64, 64, 3), np.inf, np.float32), "bad"),
        "some_nan": (np.where(np.eye(64)[..., None] > 0, np.nan, 0.5).repeat(3, -1).astype(np.float32), "bad"),
        "float_huge": (np.full((64, 64, 3), 1e6, np.float32), "bad"),
        "float_negative": (np.full((64, 64, 3), -0.5, np.float32), "bad"),
        "int_negative": (np.full((64, 64, 3), -5, np.int32), "bad"),
        "float_01": (np.full((64, 64, 3), 0.5, np.float32), "odd"),
        "float_overexposed": (np.full((64, 64, 3), 1.1, np.float32), "odd"),
        "float_0_255": (np.full((64, 64, 3), 200.0), "odd"),
        "bool": (np.ones((64, 64), bool), "odd"),
        "uint16": (np.full((64, 64, 3), 40000, np.uint16), "odd"),
        "gray": (face[..., 0], "odd"),
        "tiny": (np.zeros((1, 1, 3), np.uint8), "odd"),
        "none": (None, "bad"),
        "list": ([[1, 2], [3, 4]], "odd"),
        "string": ("not an image", "bad"),
    }
