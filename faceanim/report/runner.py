"""Run the numbered notebooks headless with papermill: the project's report and regression harness.

For each ``notebooks/NN_*.ipynb`` this writes ``reports/NN_*/``: the executed notebook, an HTML copy,
the figures and ``metrics.json``; then compares the metrics with ``tests/baselines/NN_*.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .._atomic import atomic_path, write_json
from ..config import REPO_ROOT, dataset_path, reports_dir
from ..errors import DataNotFoundError, RegressionError, ReportError
from .baseline import Regression, compare_metrics, load_baseline, update_baseline

__all__ = ["NotebookRun", "find_notebooks", "run_notebook", "run_reports"]

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
BASELINES_DIR = REPO_ROOT / "tests" / "baselines"


@dataclass
class NotebookRun:
    """How one notebook's headless run went."""

    notebook: str
    status: str  # "ok", "failed", "skipped", "regressed"
    seconds: float = 0.0
    message: str = ""
    output_dir: Path | None = None
    metrics: dict = field(default_factory=dict)
    profile: str | None = None
    regressions: list[Regression] = field(default_factory=list)
    baseline_found: bool = False


def find_notebooks(only: list[str] | None = None, folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``), in order; ``only`` filters by stem or number prefix."""
    books = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        books = [p for p in books if any(p.stem == o or p.stem.startswith(o) for o in only)]
        if not books:
            raise ReportError(f"no notebook in {folder} matches {only}")
    return books


def _requirements(path: Path) -> list[str]:
    meta = json.loads(path.read_text()).get("metadata", {})
    return list(meta.get("faceanim", {}).get("requires", []))


def run_notebook(path: Path, output_root: Path, quick: bool, kernel: str = "python3",
                 extra_parameters: dict | None = None) -> NotebookRun:
    """Execute one notebook into ``output_root/<stem>/``; never raises for a failing cell."""
    import papermill as pm

    stem = path.stem
    out_dir = output_root / stem
    for name in _requirements(path):
        try:
            dataset_path(name)
        except DataNotFoundError as exc:
            return NotebookRun(stem, "skipped", message=f"needs dataset {name!r}: {exc}", output_dir=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{stem}.ipynb"
    params = {"quick": bool(quick), "interactive": False, "output_dir": str(out_dir)}
    params.update(extra_parameters or {})
    start = time.perf_counter()
    failure = None
    with atomic_path(executed) as tmp:
        try:
            pm.execute_notebook(str(path), str(tmp), parameters=params, kernel_name=kernel, cwd=str(path.parent),
                                progress_bar=False, log_output=False, report_mode=False,
                                # keep the kernel's start-up chatter out of the progress lines
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        except pm.PapermillExecutionError as exc:
            failure = (f"{_cell_name(path, tmp, exc.cell_index)} raised {exc.ename}: "
                       f"{str(exc.evalue).strip()[:500]}")
        except Exception as exc:  # kernel died, bad notebook JSON ...
            failure = f"could not run: {type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    _export_html(executed)
    if failure:
        return NotebookRun(stem, "failed", seconds, f"{failure}; executed copy: {executed}", out_dir)
    metrics_path = out_dir / "metrics.json"
    if not metrics_path.exists():
        return NotebookRun(stem, "failed", seconds, f"wrote no {metrics_path} (it must call ReportWriter.save())", out_dir)
    data = json.loads(metrics_path.read_text())
    return NotebookRun(stem, "ok", seconds, output_dir=out_dir, metrics=data.get("metrics", {}),
                       profile=data.get("profile"))


def _cell_name(source: Path, executed: Path, index: int) -> str:
    """'cell 3 (`first line`)': the failing cell as numbered (from 1) in the user's notebook.

    The executed copy has papermill's injected-parameters cell in it, so its index is mapped back
    through the cell ids.
    """
    try:
        import nbformat

        cells = nbformat.read(executed, as_version=4).cells
        # papermill adds an injected-parameters cell and an error banner: find the cell holding the error
        failed = [c for c in cells if c.cell_type == "code"
                  and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        cell = failed[0] if failed else cells[index]
        original = nbformat.read(source, as_version=4).cells
        ids = [c.get("id") for c in original]
        pos = ids.index(cell.get("id")) + 1 if cell.get("id") in ids else index + 1
        first = next((line for line in cell.source.splitlines() if line.strip()), "")[:80]
        return f"cell {pos} (`{first}`)"
    except Exception:
        return f"cell {index + 1}"


def _export_html(executed: Path) -> None:
    if not executed.exists():
        return
    try:
        import nbformat
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
        with atomic_path(executed.with_suffix(".html")) as tmp:
            tmp.write_text(body)
    except Exception as exc:  # HTML is a convenience: never fail a report over it
        print(f"  (HTML export of {executed.name} failed: {exc})", file=sys.stderr)


def run_reports(only: list[str] | None = None, quick: bool = False, output_root: Path | None = None,
                baselines_dir: Path = BASELINES_DIR, update_baselines: bool = False, check_baselines: bool = True,
                notebooks_dir: Path = NOTEBOOKS_DIR, out=sys.stdout) -> list[NotebookRun]:
    """Run every numbered notebook, compare with baselines, write ``summary.json``; raise on failure.

    Raises:
        ReportError: a notebook failed (the message names it and the cell).
        RegressionError: a metric moved outside its tolerance (the message has the metric, old and new).
    """
    output_root = Path(output_root).resolve() if output_root else reports_dir()
    if "FACEANIM_DATA" in os.environ:  # kernels run in notebooks/: hand them an absolute path
        os.environ["FACEANIM_DATA"] = str(Path(os.environ["FACEANIM_DATA"]).expanduser().resolve())
    output_root.mkdir(parents=True, exist_ok=True)
    books = find_notebooks(only, notebooks_dir)
    runs: list[NotebookRun] = []
    mode = "quick" if quick else "full"
    print(f"faceanim report ({mode}): {len(books)} notebook(s) -> {output_root}", file=out, flush=True)
    for i, path in enumerate(books, 1):
        print(f"[{i}/{len(books)}] {path.stem}: running", file=out, flush=True)
        run = run_notebook(path, output_root, quick)
        if run.status == "ok" and (check_baselines or update_baselines):
            base_path = baselines_dir / f"{path.stem}.json"
            if update_baselines:
                update_baseline(base_path, run.profile, run.metrics)
                run.baseline_found = True
                run.message = f"baseline {run.profile} updated"
            else:
                run.regressions, run.baseline_found = compare_metrics(path.stem, run.metrics, load_baseline(base_path),
                                                                      run.profile)
                if run.regressions:
                    run.status = "regressed"
                elif not run.baseline_found:
                    run.message = f"no baseline for profile {run.profile}; record one with --update-baselines"
        detail = {"ok": f"ok ({run.seconds:.1f} s, {len(run.metrics)} metrics{', ' + run.message if run.message else ''})",
                  "skipped": f"skipped: {run.message}",
                  "failed": f"FAILED after {run.seconds:.1f} s: {run.message}",
                  "regressed": f"REGRESSED ({len(run.regressions)} metric(s))"}[run.status]
        print(f"[{i}/{len(books)}] {path.stem}: {detail}", file=out, flush=True)
        for reg in run.regressions:
            print(f"    {reg}", file=out, flush=True)
        runs.append(run)
    write_json(output_root / "summary.json", {
        "mode": mode,
        "notebooks": [{"notebook": r.notebook, "status": r.status, "seconds": round(r.seconds, 2),
                       "profile": r.profile, "message": r.message, "baseline_found": r.baseline_found,
                       "regressions": [str(x) for x in r.regressions]} for r in runs],
    })
    failed = [r for r in runs if r.status == "failed"]
    regressed = [r for r in runs if r.status == "regressed"]
    if failed:
        raise ReportError("; ".join(f"{r.notebook} failed: {r.message}" for r in failed))
    if regressed:
        raise RegressionError("metrics moved outside the baseline tolerance: " +
                              "; ".join(str(x) for r in regressed for x in r.regressions))
    return runs
