"""The invisible watermark: embedded, read back after what people do to images, absent from real faces,
on every file the animator writes, and `faceanim verify`'s verdicts (bad files included)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceanim.errors import MediaError
from faceanim.io import VideoReader, write_image
from faceanim.provenance import (
    Watermark,
    embed_watermark,
    parse_payload,
    payload_bits,
    read_watermark,
    verify_file,
)


def test_payload_round_trip():
    bits = payload_bits("0.1", 0xBEEF)
    assert bits.shape == (48,) and parse_payload(bits) == {"tool": "faceanim", "version": "0.1",
                                                            "output_id": "beef"}
    bits[3] ^= 1  # a damaged sync word is no payload
    assert parse_payload(bits) is None
    with pytest.raises(MediaError):
        Watermark(np.zeros(10, np.uint8))


def test_mark_is_invisible_and_survives_common_edits(astronaut):
    marked = embed_watermark(astronaut, "0.1", 0x1234)
    assert cv2.PSNR(astronaut, marked) > 38
    assert not read_watermark(astronaut).found
    ok, buf = cv2.imencode(".jpg", marked[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 75])
    edits = {
        "as is": marked,
        "jpeg 75": cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1],
        "half size": cv2.resize(marked, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
        "cropped 10%": marked[26:-25, 25:-26],
        "cropped at odd offsets": marked[37:, 51:],
    }
    for name, img in edits.items():
        r = read_watermark(np.ascontiguousarray(img))
        assert r.found and r.payload["output_id"] == "1234", name


def test_small_and_bad_frames(astronaut):
    tiny = astronaut[:40, :40]
    assert np.array_equal(embed_watermark(tiny, "0.1", 1), tiny)  # too small to carry it: unchanged
    assert not read_watermark(tiny).found
    with pytest.raises(MediaError):
        embed_watermark(astronaut.astype(np.float32), "0.1", 1)
    with pytest.raises(MediaError):
        read_watermark(astronaut[..., 0])


def test_every_animator_output_is_marked_unless_turned_off(tmp, astronaut, monkeypatch):
    import faceanim.io
    from faceanim.animate import Animator

    anim = Animator()
    saved = anim.emotion(astronaut, "happy", frames=4, refine=False, output=tmp / "a.mp4")
    verdict = verify_file(saved.path, frames=4)
    assert verdict.found and verdict.share >= 0.5
    assert verdict.payload["output_id"] == saved.info["provenance"]["output_id"]
    held = anim.emotion(astronaut, "happy", frames=3, refine=False)
    written = []  # what Animation.save hands the encoder (what survives which encoder: bench_provenance.py)
    monkeypatch.setattr(faceanim.io, "write_video", lambda path, frames, fps, metadata=None: written.extend(frames) or path)
    held.save(tmp / "b.mp4")
    assert len(written) == 3 and all(read_watermark(f).found for f in written)
    written.clear()
    held.save(tmp / "c.mp4", provenance=False)
    assert not any(read_watermark(f).found for f in written)
    monkeypatch.undo()
    off = Animator(provenance=False).emotion(astronaut, "happy", frames=3, refine=False, output=tmp / "c.mp4")
    assert "off" in off.info["provenance"] and not verify_file(off.path, frames=3).found
    import av
    from PIL import Image

    with av.open(str(saved.path)) as c:  # the container says what the file is, and what marks it carries
        assert "made by faceanim" in c.metadata.get("comment", "") and "invisible watermark" in c.metadata["comment"]
    with av.open(str(off.path)) as c:
        assert "provenance turned off by the user" in c.metadata.get("comment", "")
    gif = anim.emotion(astronaut, "happy", frames=2, refine=False, output=tmp / "g.gif")
    with Image.open(gif.path) as im:
        assert b"made by faceanim" in im.info.get("comment", b"")


def test_verify_gives_verdicts_never_tracebacks(tmp, astronaut, capsys):
    from faceanim.cli import main

    (tmp / "notes.mp4").write_text("not a video")
    (tmp / "empty.mp4").write_bytes(b"")
    write_image(tmp / "real.png", astronaut)
    write_image(tmp / "marked.png", embed_watermark(astronaut, "0.1", 7))
    assert main(["verify", str(tmp / "real.png"), str(tmp / "marked.png")]) == 0
    out = capsys.readouterr().out
    assert "real.png: no faceanim watermark" in out and "marked.png: faceanim watermark found" in out
    assert main(["verify", str(tmp / "notes.mp4"), str(tmp / "empty.mp4"), str(tmp / "missing.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and err.count("cannot read") == 3 and "Traceback" not in err
    truncated = tmp / "cut.mp4"
    from faceanim.io import write_video

    write_video(tmp / "whole.mp4", [embed_watermark(astronaut, "0.1", 9)] * 6, fps=25)
    data = (tmp / "whole.mp4").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    v = verify_file(truncated)  # a verdict either way (an error, or the frames that could be read), no exception
    assert bool(v.error) != (0 < v.frames <= 6), v
    with VideoReader(tmp / "whole.mp4") as r:
        assert sum(read_watermark(f.image).found for f in r) == 6
