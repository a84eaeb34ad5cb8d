"""Archive-scale batch runs: same results from every engine, resumable, a killed worker loses nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceanim import demo, io
from faceanim.batch import find_inputs, read_results, run_batch
from faceanim.errors import FaceanimError
from faceanim.video.log import READING_COLUMNS
from faceanim.video.stream import StreamSettings

SETTINGS = StreamSettings(detector="haar", stride=3)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Four short clips of the demo face (different lengths and shifts) and a folder of images."""
    root = tmp_path_factory.mktemp("clips")
    face = demo.astronaut()
    for k, n in enumerate((8, 12, 6, 10)):
        io.write_video(root / f"clip{k}.mp4", [np.roll(face, 6 * (t + k), axis=1)[16:496, 16:496] for t in range(n)])
    stills = root / "stills"
    stills.mkdir()
    for t in range(4):
        io.write_image(stills / f"{t:03d}.png", np.roll(face, 8 * t, axis=0))
    return root


def _table(out) -> pd.DataFrame:
    r = read_results(out).readings
    return r.drop(columns=["wall_time"]).sort_values(["video", "frame", "face_id"]).reset_index(drop=True)


def test_inputs_are_found_in_folders_and_lists(clips, tmp_path):
    found = find_inputs([clips])
    assert [k for _, k in found].count("video") == 4 and [k for _, k in found].count("images") == 1
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two of them\n{clips / 'clip0.mp4'}\n{clips / 'clip1.mp4'}\n")
    assert len(find_inputs([listing])) == 2
    with pytest.raises(FaceanimError, match="does not exist"):
        find_inputs([tmp_path / "nope"])


def test_resume_skips_complete_work_by_content_and_records_failures(clips, tmp_path):
    inputs = tmp_path / "in"
    shutil.copytree(clips, inputs)
    (inputs / "broken.mp4").write_bytes(os.urandom(5000))  # a corrupt video: failed, the batch goes on
    out = tmp_path / "results"
    first = run_batch([inputs], out, workers=1, settings=SETTINGS, progress=False)
    assert len(first.done) == 5 and len(first.failed) == 1 and not first.skipped
    res = read_results(out)
    assert set(res.videos["status"]) == {"ok", "failed"}
    bad = res.videos.set_index("status").loc["failed"]
    assert "broken.mp4" in bad["path"] and "MediaError" in bad["error"]
    assert list(res.readings.columns[: len(READING_COLUMNS)]) == READING_COLUMNS
    assert res.readings.groupby("video").size().min() > 0 and len(res.faces) >= 5
    # the same command again: everything skipped, nothing recomputed
    again = run_batch([inputs], out, workers=1, settings=SETTINGS, progress=False)
    assert not again.done and len(again.skipped) == 6
    # a renamed copy is the same content: skipped too; other settings are new work
    shutil.move(inputs / "clip0.mp4", inputs / "renamed.mp4")
    assert not run_batch([inputs], out, workers=1, settings=SETTINGS, progress=False).done
    other = run_batch([inputs / "renamed.mp4"], out, workers=1, settings=StreamSettings(detector="haar", stride=2),
                      progress=False)
    assert len(other.done) == 1
    # a partial video (summary missing: the worker died before it) is done again
    key = first.done[0]
    (out / "videos" / f"{key}.json").unlink()
    redo = run_batch([inputs], out, workers=1, settings=SETTINGS, progress=False)
    assert redo.done == [key]
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["runs"]) >= 4 and all("settings" in r for r in manifest["runs"].values())


@pytest.mark.slow
def test_local_and_dask_engines_give_identical_results(clips, tmp_path):
    if not os.environ.get("CI"):  # `make setup` installs the dask extra; on CI its absence is a failure
        pytest.importorskip("distributed")
    a, b = tmp_path / "local", tmp_path / "dask"
    ra = run_batch([clips], a, engine="local", workers=2, settings=SETTINGS, progress=False)
    rb = run_batch([clips], b, engine="dask", workers=2, settings=SETTINGS, progress=False)
    assert sorted(ra.done) == sorted(rb.done) and len(ra.done) == 5 and rb.dashboard
    pd.testing.assert_frame_equal(_table(a), _table(b))


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(tmp_path):
    """SIGKILL a worker mid-run: the batch re-does its video and ends complete; then the batch process itself
    is killed and re-run: every video's readings equal a clean run's, 0 rows lost."""
    face = demo.astronaut()
    clips = tmp_path / "long"  # long enough that a worker is killed while work remains
    clips.mkdir()
    for k in range(6):
        io.write_video(clips / f"c{k}.mp4", [np.roll(face, 3 * t + k, axis=1)[16:496, 16:496] for t in range(40)])
    clean = tmp_path / "clean"
    run_batch([clips], clean, workers=2, settings=SETTINGS, progress=False)  # the same workers, threads each
    out = tmp_path / "killed"
    script = textwrap.dedent(f"""
        import os, sys
        from faceanim.batch import run_batch
        from faceanim.video.stream import StreamSettings
        if __name__ == "__main__":
            r = run_batch([{str(clips)!r}], {str(out)!r}, workers=2, progress=False,
                          settings=StreamSettings(detector="haar", stride=3),
                          on_video=lambda s: print("done", s["video"], flush=True))
            print("retried", r.retried, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    import psutil

    deadline = time.time() + 120
    killed = False
    while time.time() < deadline and not killed:  # kill a worker as soon as one is analysing
        workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                   if "spawn_main" in " ".join(c.cmdline())]  # a pool worker (not the resource tracker)
        if workers:
            os.kill(workers[0].pid, signal.SIGKILL)
            killed = True
        time.sleep(0.2)
    out_text, _ = proc.communicate(timeout=300)
    assert killed and proc.returncode == 0, out_text
    assert "retried" in out_text and int(out_text.split("retried")[1].split()[0]) >= 1
    pd.testing.assert_frame_equal(_table(clean), _table(out))
    # kill the whole batch part-way, then run it again
    again = tmp_path / "again"
    proc = subprocess.Popen([sys.executable, "-c", script.replace(str(out), str(again))], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().startswith("done")
    proc.kill()
    proc.wait(timeout=30)
    run_batch([clips], again, workers=2, settings=SETTINGS, progress=False)
    pd.testing.assert_frame_equal(_table(clean), _table(again))
    assert len(read_results(again).videos) == 6


@pytest.mark.slow
def test_ctrl_c_keeps_what_is_complete(clips, tmp_path):
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "faceanim", "batch", str(clips), "--out", str(out), "--detector",
                             "haar", "--stride", "3", "--workers", "2"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "videos").glob("*.json")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    res = read_results(out)  # everything written so far is valid
    assert 1 <= len(res.videos) and (res.videos["status"] == "ok").all()
    again = run_batch([clips], out, workers=2, settings=SETTINGS, progress=False)
    assert len(again.skipped) == len(res.videos) and len(again.done) + len(again.skipped) == 5
