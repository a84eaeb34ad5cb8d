import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from faceanim import RegressionError, ReportError
from faceanim.report import ReportWriter, compare_metrics, run_reports, update_baseline
from faceanim.report.baseline import load_baseline

ROOT = Path(__file__).resolve().parent.parent


def _notebook(path: Path, *cells: str, requires=None) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("quick = False\ninteractive = True\noutput_dir = 'out'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if requires:
        nb.metadata["faceanim"] = {"requires": requires}
    nbformat.write(nb, path)


def test_writer_and_baseline_compare(tmp):
    rep = ReportWriter(tmp / "nb", quick=True)
    rep.add(count=3, rate=0.5, name="x", nan=float("nan"))
    saved = json.loads(rep.save().read_text())
    assert saved["profile"] == "quick+demo" and saved["metrics"]["nan"] is None
    with pytest.raises(TypeError):
        rep.add(bad=[1, 2])

    base = tmp / "b.json"
    update_baseline(base, "quick+demo", {"count": 3, "rate": 0.5, "name": "x", "gone": 1})
    data = load_baseline(base)
    data["profiles"]["quick+demo"]["tolerance"] = {"rate": {"abs": 0.1}}
    base.write_text(json.dumps(data))
    regs, found = compare_metrics("nb", {"count": 3, "rate": 0.58, "name": "x"}, load_baseline(base), "quick+demo")
    assert found and [r.metric for r in regs] == ["gone"]  # rate within its own tolerance; gone is missing
    regs, _ = compare_metrics("nb", {"count": 4, "rate": 0.7, "name": "y", "gone": 1}, load_baseline(base), "quick+demo")
    assert {r.metric for r in regs} == {"count", "rate", "name"}
    assert any("count was 3, now 4" in str(r) for r in regs)
    assert compare_metrics("nb", {}, load_baseline(base), "full+data") == ([], False)


def test_runner_reports_failures_regressions_and_skips(tmp):
    books, baselines, out = tmp / "nbs", tmp / "baselines", tmp / "reports"
    books.mkdir()
    ok_cell = ("from faceanim.report import ReportWriter\n"
               "rep = ReportWriter(output_dir, quick=quick)\nrep.add(value=41 + int(bump))\nrep.save()")
    _notebook(books / "00_fine.ipynb", "import os\nbump = os.environ.get('FACEANIM_TEST_BUMP', '0')", ok_cell)
    _notebook(books / "01_broken.ipynb", "x = 1", "raise ValueError('boom in the second cell')")
    _notebook(books / "02_needs_data.ipynb", "x = 1", requires=["no_such_dataset_anywhere"])

    with pytest.raises(ReportError) as err:
        run_reports(quick=True, output_root=out, baselines_dir=baselines, notebooks_dir=books, update_baselines=True)
    msg = str(err.value)
    assert "01_broken" in msg and "cell 3 (`raise ValueError" in msg and "boom in the second cell" in msg and "00_fine" not in msg
    assert (out / "00_fine" / "00_fine.ipynb").exists() and (out / "00_fine" / "00_fine.html").exists()
    assert (out / "01_broken" / "01_broken.ipynb").exists()  # the traceback is kept for reading
    summary = json.loads((out / "summary.json").read_text())
    assert [n["status"] for n in summary["notebooks"]] == ["ok", "failed", "skipped"]
    assert json.loads((baselines / "00_fine.json").read_text())["profiles"]["quick+demo"]["metrics"] == {"value": 41}

    runs = run_reports(only=["00"], quick=True, output_root=out, baselines_dir=baselines, notebooks_dir=books)
    assert runs[0].status == "ok" and runs[0].baseline_found
    os.environ["FACEANIM_TEST_BUMP"] = "9"
    try:
        with pytest.raises(RegressionError, match="value was 41, now 50"):
            run_reports(only=["00_fine"], quick=True, output_root=out, baselines_dir=baselines, notebooks_dir=books)
    finally:
        del os.environ["FACEANIM_TEST_BUMP"]


def test_committed_notebooks_are_clean():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: {len(tagged)} parameters cells"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{path.name} has outputs"
        src = tagged[0].source
        assert "quick" in src and "interactive" in src and "output_dir" in src


@pytest.mark.slow
def test_notebooks_run_headless_and_match_baselines(tmp):
    """The real notebooks in quick mode, through papermill, compared with tests/baselines/ (CLI exit code)."""
    proc = subprocess.run([sys.executable, "-m", "faceanim", "report", "--quick", "--output", str(tmp)],
                          capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((tmp / "summary.json").read_text())
    for nb in summary["notebooks"]:
        if nb["status"] == "skipped":
            continue  # only where a dataset is absent (never on CI, see conftest)
        assert nb["status"] == "ok" and nb["baseline_found"], nb
        metrics = json.loads((tmp / nb["notebook"] / "metrics.json").read_text())
        assert metrics["metrics"] and metrics["figures"]
        for fig in metrics["figures"]:
            assert (tmp / nb["notebook"] / fig).stat().st_size > 1000
    assert "[1/" in proc.stdout
