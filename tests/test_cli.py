import json
import subprocess
import sys
from pathlib import Path

from faceanim import io
from faceanim.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_help_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "faceanim", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and "detect" in proc.stdout and "report" in proc.stdout


def test_detect_json_table_and_annotated_image(tmp, astronaut, capsys):
    path = io.write_image(tmp / "a.png", astronaut)
    assert main(["detect", str(path), "--json", "--detector", "haar", "-o", str(tmp / "ann.png")]) == 0
    lines = [json.loads(row) for row in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1 and lines[0]["path"] == str(path) and len(lines[0]["points5"]) == 5
    assert "landmarks" not in lines[0]
    ann = io.read_image(tmp / "ann.png")
    assert ann.shape == astronaut.shape and (ann != astronaut).any()
    assert main(["detect", str(tmp), "--detector", "haar"]) == 0  # a folder
    out = capsys.readouterr().out
    assert "a.png" in out and "score" in out


def test_detect_bad_path_exits_2_with_a_message(tmp, capsys):
    assert main(["detect", str(tmp / "missing.jpg")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
    assert main(["detect", str(tmp / "missing.jpg"), "--min-score", "2"]) == 2
    assert "--min-score: must be a finite number from 0 to 1, got 2" in capsys.readouterr().err
    (tmp / "notes.png").write_text("hello")
    assert main(["detect", str(tmp / "notes.png")]) == 2
    assert "not an image" in capsys.readouterr().err


def test_cli_defaults_are_the_librarys_own():
    """The CLI's flags are built from the settings dataclasses: with no flags given, each command's
    settings equal the library's defaults (the committed weights were made with them)."""
    import inspect

    from faceanim.animate import Animator
    from faceanim.animate.animator import AnimationSettings
    from faceanim.animate.refine_train import RefinerConfig
    from faceanim.animate.train import PARTS
    from faceanim.cli import _settings, build_parser
    from faceanim.emotion.train import TrainConfig
    from faceanim.video.stream import StreamSettings

    parser = build_parser()
    args = parser.parse_args(["train", "emotion"])
    assert _settings(args, TrainConfig) == TrainConfig()
    assert TrainConfig().epochs == 50 and RefinerConfig().steps == 7000  # as the committed weights' commands
    args = parser.parse_args(["train", "animator"])
    assert _settings(args, RefinerConfig) == RefinerConfig() and tuple(args.parts) == PARTS
    args = parser.parse_args(["emoji", "clip.mp4"])
    assert _settings(args, StreamSettings) == StreamSettings()
    args = parser.parse_args(["animate", "photo.jpg", "--emotion", "happy", "-o", "x.mp4"])
    assert _settings(args, AnimationSettings) == AnimationSettings()
    sig = inspect.signature(Animator.emotion).parameters
    assert (args.hold, args.frames, args.gain, args.easing) == tuple(
        sig[k].default for k in ("hold", "frames", "gain", "easing"))
    flipped = parser.parse_args(["animate", "p.jpg", "--emotion", "sad", "-o", "x.mp4", "--warp-only", "--crop",
                                 "--uncalibrated", "--keypoints", "20"])
    st = _settings(flipped, AnimationSettings)
    assert (st.refine, st.paste, st.calibrated, st.keypoints) == (False, False, False, 20)
    assert parser.parse_args(["emoji", "0", "--no-reid", "--threshold", "0.6"]).reid is False


def test_precision_flag_reaches_every_model(monkeypatch):
    from faceanim.cli import main
    from faceanim.runtime import compute

    monkeypatch.setenv("FACEANIM_PRECISION", "auto")  # main() sets it for the run; monkeypatch restores it
    assert main(["--precision", "fp32", "info"]) == 0
    assert compute().precision == "fp32" and compute().reason == "asked for fp32"
