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
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
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
    assert "min_score must be in [0, 1]" in capsys.readouterr().err
    (tmp / "notes.png").write_text("hello")
    assert main(["detect", str(tmp / "notes.png")]) == 2
    assert "not an image" in capsys.readouterr().err
