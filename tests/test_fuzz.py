"""Bad input never reaches the user as a traceback, and never costs them a file.

Every command-line entry point gets every file of the malformed-media corpus (``tests/fuzzcorpus.py``) and
every bad setting; the main Python entry points get arrays of the wrong dtype, shape and range. Each case
must end in exit status 2 (API: a ``FaceanimError``) with a message, or succeed where the input is legal;
the inputs must be unchanged, an existing output untouched by a failed run, and no temporary file left.
``bench/fuzz.py`` runs the same corpus through real subprocesses into ``reports/fuzz.json``.
"""

from __future__ import annotations

import contextlib
import io as _io
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from fuzzcorpus import BAD_SETTINGS, ENTRY_POINTS, argv_for, bad_arrays, fingerprint, make_corpus, temp_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceanim import demo
from faceanim.cli import UNEXPECTED, main
from faceanim.errors import FaceanimError, SettingError
from faceanim.limits import LIMITS, argtype, check

SENTINEL = b"an older output the user wants to keep"

CORPUS_ROOT: dict = {}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    cases = make_corpus(root / "in")
    good = root / "good"
    good.mkdir()
    photo = good / "photo.jpg"
    from faceanim import io

    io.write_image(photo, demo.astronaut())
    video = good / "clip.mp4"
    shutil.copy(demo.demo_video(frames=6), video)
    return {"root": root, "cases": cases, "photo": photo, "video": video, "print": fingerprint(root / "in"),
            "good_print": fingerprint(good)}


def run_cli(argv: list[str]) -> tuple[int, str]:
    err = _io.StringIO()
    out = _io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse: usage error
            rc = int(exc.code or 0)
    return rc, err.getvalue()


def _check_case(corpus, entry: str, path: Path, expect: str, tmp_path: Path, extra=()) -> None:
    out = tmp_path / "existing.mp4"
    out.write_bytes(SENTINEL)
    log = tmp_path / "run.sqlite"
    good = {"photo": corpus["photo"], "video": corpus["video"], "out": out, "log": log}
    rc, err = run_cli(argv_for(entry, path, good, extra))
    assert "Traceback" not in err and UNEXPECTED not in err, err
    allowed = {2} if expect == "bad" else {0, 2}
    assert rc in allowed, f"exit {rc} for {expect} input; stderr: {err[-500:]}"
    if rc == 2:
        assert "error" in err or "no face" in err or "no frame" in err, err  # a message, not silence
        assert out.read_bytes() == SENTINEL, "a failed run changed the existing output"
    assert fingerprint(corpus["root"] / "in") == corpus["print"], "an input changed"
    assert fingerprint(corpus["root"] / "good") == corpus["good_print"], "an input changed"
    assert not temp_files(corpus["root"]) and not temp_files(tmp_path), "temporary files left behind"


def _cases(kind: str):
    # the names only: the corpus is made by the fixture; the parametrization must not need it
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="faceanim-corpus-names-"))
    try:
        return [(c.name, c.expect) for c in make_corpus(root) if kind in ("any", c.kind)]
    finally:
        shutil.rmtree(root, ignore_errors=True)


_PARAMS = [pytest.param(_entry, _name, _expect, id=f"{_entry}-{_name}")
           for _entry, (_kind, _) in ENTRY_POINTS.items() for _name, _expect in _cases(_kind)]


@pytest.mark.parametrize(("entry", "name", "expect"), _PARAMS)
def test_corpus_through_every_entry_point(corpus, entry, name, expect, tmp_path):
    path = next(c.path for c in corpus["cases"] if c.name == name)
    if entry == "log_show":
        expect = "bad"  # no media file is a log
    _check_case(corpus, entry, path, expect, tmp_path)


@pytest.mark.parametrize(("entry", "extra"), BAD_SETTINGS, ids=[f"{e}{''.join(x)}" for e, x in BAD_SETTINGS])
def test_bad_settings_exit_2(corpus, entry, extra, tmp_path):
    good_input = corpus["photo"] if ENTRY_POINTS[entry][0] == "image" else corpus["video"]
    _check_case(corpus, entry, good_input, "bad", tmp_path, extra)


def test_output_equal_to_an_input_is_refused(corpus, tmp_path):
    photo = tmp_path / "p.jpg"
    shutil.copy(corpus["photo"], photo)
    clip = tmp_path / "c.mp4"
    shutil.copy(corpus["video"], clip)
    same = tmp_path / "sub" / ".." / "c.mp4"  # another spelling of the same file
    (tmp_path / "sub").mkdir()
    link = tmp_path / "hard.mp4"
    link.hardlink_to(clip)  # another name for the same inode
    before = fingerprint(tmp_path)
    for argv in (["emoji", str(clip), "--max-frames", "2", "-o", str(clip)],
                 ["emoji", str(clip), "--max-frames", "2", "-o", str(same)],
                 ["emoji", str(clip), "--max-frames", "2", "-o", str(link)],
                 ["emoji", str(clip), "--max-frames", "2", "-o", str(tmp_path / "x.mp4"), "--log", str(tmp_path / "x.mp4")],
                 ["emoji", str(clip), "--max-frames", "2", "--log", str(clip)],
                 ["detect", str(photo), "-o", str(photo)],
                 ["animate", str(photo), "--driving", str(clip), "-o", str(clip)],
                 ["log", "show", str(clip)]):
        rc, err = run_cli(argv)
        assert rc == 2 and ("same file" in err or "not a faceanim log" in err), (argv, err)
    assert fingerprint(tmp_path) == before


def test_the_log_never_writes_into_another_database(tmp_path):
    import sqlite3

    from faceanim.video.log import ReadingLog, read_runs

    other = tmp_path / "contacts.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE contacts (name TEXT)")
    con.execute("INSERT INTO contacts VALUES ('Ada')")
    con.commit()
    con.close()
    theirs = tmp_path / "theirs.db"  # a readings table but no runs table (the traceback)
    con = sqlite3.connect(theirs)
    con.execute("CREATE TABLE readings (x)")
    con.commit()
    con.close()
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    before = fingerprint(tmp_path)
    for path in (other, theirs):
        with pytest.raises(FaceanimError, match="another program"):
            ReadingLog(path)
        with pytest.raises(FaceanimError, match="another program"):
            read_runs(path)
        assert run_cli(["log", "show", str(path)])[0] == 2
    with pytest.raises(FaceanimError, match="empty"):
        read_runs(empty)
    assert fingerprint(tmp_path) == before  # not a byte written, no journal mode switched
    ReadingLog(empty).close()  # an empty file may become a log
    assert len(read_runs(empty)) == 1


def test_unknown_run_exits_2(tmp_path):
    from faceanim.video.log import ReadingLog

    log = tmp_path / "run.sqlite"
    ReadingLog(log, source="x").close()
    rc, err = run_cli(["log", "show", str(log), "--run", "nope"])
    assert rc == 2 and "no run 'nope'" in err


def test_unwritable_output_folder_is_a_clear_error_before_any_work(corpus, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker / "out.mp4", "/proc/faceanim/out.mp4"):
        rc, err = run_cli(["animate", str(corpus["photo"]), "--emotion", "happy", "--frames", "2", "-o", str(out)])
        assert rc == 2 and "cannot write" in err, err


def test_outputs_get_normal_permissions(tmp_path):
    import os

    from faceanim import io

    old = os.umask(0o022)
    try:
        path = io.write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o664)
        io.write_image(path, np.ones((8, 8, 3), np.uint8))  # replacing a file keeps its mode
        assert path.stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    import subprocess
    import sys

    from faceanim import io

    target = tmp_path / "out.png"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".out.png.faceanim-{int(dead.stdout)}-abcd.png"
    stale.write_bytes(b"left by a SIGKILL")
    io.write_image(target, np.zeros((8, 8, 3), np.uint8))
    assert not stale.exists() and target.exists()


def test_full_disk_is_a_clear_error(tmp_path, monkeypatch):
    import errno

    from faceanim import io
    from faceanim.errors import MediaError

    target = tmp_path / "out.mp4"
    target.write_bytes(SENTINEL)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    writer = io.VideoWriter(target, fps=25)
    writer.write(np.zeros((32, 32, 3), np.uint8))
    monkeypatch.setattr(writer, "_finish_file", lambda: writer._guard(full))
    with pytest.raises(MediaError, match="disk is full"):
        writer.close()
    assert target.read_bytes() == SENTINEL and not temp_files(tmp_path)


# ------------------------------------------------------------------------------------------------ Python API
@pytest.mark.parametrize("name", list(bad_arrays()))
def test_bad_arrays_through_the_api(name, haar):
    from faceanim import io
    from faceanim.face import FacePipeline

    array, expect = bad_arrays()[name]
    calls = [lambda: io.as_rgb(array), lambda: FacePipeline(haar, landmarker=None)(array)]
    for call in calls:
        try:
            out = call()
        except FaceanimError as exc:
            assert str(exc)
            continue
        assert expect == "odd", f"{name} was accepted"
        if hasattr(out, "dtype"):
            assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    if name == "float_overexposed":  # a 0-1 image pushed a little past 1 reads as near-white, not near-black
        assert io.as_rgb(array).min() == 255
    if name == "float_01":
        assert io.as_rgb(array).mean() == pytest.approx(128, abs=1)


def test_bad_arrays_through_recognizer_and_animator():
    from faceanim.animate import Animator
    from faceanim.emotion import create_recognizer

    rec = create_recognizer(detector="haar")
    anim = Animator(refiner=None)
    for name, (array, expect) in bad_arrays().items():
        calls = [lambda a=array: rec.recognize(a), lambda a=array: anim.emotion(a, "happy", frames=2, refine=False)]
        if expect == "bad":
            calls.append(lambda a=array: rec.predict(a))
        for call in calls:
            try:
                call()
            except FaceanimError:
                continue
            except (TypeError, ValueError, AttributeError, IndexError, ZeroDivisionError) as exc:
                pytest.fail(f"{name}: raw {type(exc).__name__}: {exc}")


def test_api_settings_are_checked_at_the_boundary(astronaut):
    from faceanim.animate import Animator

    anim = Animator(refiner=None)
    source = anim.prepare(astronaut)
    for kwargs in ({"frames": "8"}, {"frames": 2.5}, {"fps": 0}, {"fps": math.nan}, {"hold": -1},
                   {"intensity": math.inf}, {"gain": None}, {"frames": 10**9}, {"keypoints": 3},
                   {"filter_strength": "0.5"}, {"refine": "yes"}):
        with pytest.raises(SettingError):
            anim.emotion(source, "happy", **{"frames": 2, "refine": False, **kwargs})
    with pytest.raises(SettingError, match="unknown emotion"):
        anim.emotion(source, "joy", frames=2)
    with pytest.raises(FaceanimError):
        anim.drive(source, [astronaut], max_frames=0)
    from faceanim import io

    with pytest.raises(FaceanimError, match="path"):
        io.read_image(None)


def test_in_memory_animation_that_would_not_fit_is_refused(astronaut, monkeypatch):
    from faceanim import _system
    from faceanim.animate import Animator

    anim = Animator(refiner=None)
    source = anim.prepare(astronaut)
    monkeypatch.setattr(_system, "available_memory", lambda: 2 * 1024**3)
    with pytest.raises(SettingError, match="output="):
        anim.emotion(source, "happy", frames=100, hold=10_000, refine=False)


# ------------------------------------------------------------------------------------------ property-based
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(LIMITS)),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**15, 10**15),
                       st.booleans(), st.none(), st.text(max_size=5)))
def test_every_limit_accepts_in_range_and_refuses_the_rest(name, value):
    limit = LIMITS[name]
    try:
        got = check(name, value)
    except SettingError as exc:
        assert limit.what in str(exc)
        return
    assert isinstance(got, int) if limit.integer else isinstance(got, float)
    assert math.isfinite(got)
    assert (got > limit.low if limit.low_open else got >= limit.low)
    assert (got < limit.high if limit.high_open else got <= limit.high)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(LIMITS)), text=st.text(max_size=12))
def test_the_cli_parses_like_the_api(name, text):
    import argparse

    try:
        got = argtype(name)(text)
    except argparse.ArgumentTypeError as exc:
        assert "must be" in str(exc)
        return
    assert got == check(name, got)


@settings(max_examples=150, deadline=None)
@given(keypoints=st.one_of(st.integers(-5, 80), st.floats()), strength=st.floats(-1, 2),
       gaussian=st.one_of(st.floats(), st.none()), texture=st.floats(-1, 3))
def test_animation_settings_validate_or_raise_setting_error(keypoints, strength, gaussian, texture):
    from faceanim.animate import AnimationSettings

    try:
        s = AnimationSettings(keypoints=keypoints, filter_strength=strength, gaussian=gaussian,
                              texture=texture).validate()
    except SettingError:
        return
    assert 5 <= s.keypoints <= 68 and 0 <= s.filter_strength <= 1 and 0 <= s.gaussian <= 1 and 0 <= s.texture <= 2
