"""Headless notebook reports (papermill), per-notebook metrics, and baseline regression checks."""

from .baseline import Regression, compare_metrics, load_baseline, update_baseline
from .runner import NotebookRun, find_notebooks, run_notebook, run_reports
from .writer import ReportWriter

__all__ = ["ReportWriter", "run_reports", "run_notebook", "find_notebooks", "NotebookRun", "Regression",
           "compare_metrics", "load_baseline", "update_baseline"]
