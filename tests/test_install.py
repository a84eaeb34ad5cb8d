"""pyproject.toml and environment.yml must list the same dependencies."""

import re
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {_norm(r) for r in project["project"]["dependencies"] + project["project"]["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_norm(r) for r in pip if not r.startswith("-e")}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"
    nodeps = project["tool"]["faceanim"]["no-deps"]
    line = next(t for t in (ROOT / "environment.yml").read_text().splitlines() if t.startswith("# no-deps:"))
    assert line.split(":", 1)[1].split() == nodeps


def test_readme_names_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make report" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_weights_are_found_through_faceanim_weights(tmp_path, monkeypatch):
    """A non-editable install has no repo beside it: FACEANIM_WEIGHTS points at a copy of weights/."""
    import shutil

    from faceanim.animate.motion import EmotionMotion
    from faceanim.config import weights_dir
    from faceanim.errors import WeightsError
    from faceanim.weights import available_weights, weights_info

    for name in ("emotion_motion.pt", "emotion_motion.json"):
        shutil.copy(ROOT / "weights" / name, tmp_path / name)
    monkeypatch.setenv("FACEANIM_WEIGHTS", str(tmp_path))
    assert weights_dir() == tmp_path.resolve()
    assert available_weights() == ["emotion_motion"]
    assert EmotionMotion.load().sequences == EmotionMotion.load(root=ROOT / "weights").sequences
    assert weights_info("emotion_motion").kind == "emotion_motion"
    try:
        weights_info("emotion_resnet_ft2")
    except WeightsError as exc:
        assert str(tmp_path) in str(exc) and "faceanim train emotion" in str(exc)
    else:
        raise AssertionError("weights outside FACEANIM_WEIGHTS were found")


@pytest.mark.slow
def test_every_module_imports_on_its_own():
    """No import cycles: each module of the package imports first, in a fresh interpreter (a cycle shows
    up as an ImportError only when the modules are imported in one particular order)."""
    import pkgutil
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import faceanim

    names = [m.name for m in pkgutil.walk_packages(faceanim.__path__, "faceanim.")]

    def imports(name: str) -> str | None:
        r = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, cwd=ROOT)
        return None if r.returncode == 0 else f"{name}: {r.stderr.strip().splitlines()[-1]}"

    with ThreadPoolExecutor(2) as pool:
        failures = [f for f in pool.map(imports, names) if f]
    assert len(names) > 40 and not failures, failures
