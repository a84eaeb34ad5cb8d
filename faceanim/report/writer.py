"""What a notebook uses to leave its results: figures and a ``metrics.json`` in its output folder."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from .._atomic import atomic_path, write_json

__all__ = ["ReportWriter"]


class ReportWriter:
    """Collects one notebook's figures and metrics.

    Args:
        output_dir: the notebook's folder under ``reports/`` (the runner passes it as a parameter).
        quick: whether the notebook ran on its small quick-mode parameters.
        uses_data: whether the figures come from the real datasets (``False``: bundled demo media only).
            Together with ``quick`` this names the baseline profile the metrics are compared with.

    >>> import json, tempfile
    >>> import matplotlib.pyplot as plt
    >>> rep = ReportWriter(tempfile.mkdtemp(), quick=True)   # a notebook passes its output_dir
    >>> rep.add(faces_found=1)
    >>> rep.figure(plt.subplots()[0], "faces").name
    'faces.png'
    >>> json.loads(rep.save().read_text())["metrics"]
    {'faces_found': 1}
    """

    def __init__(self, output_dir: str | os.PathLike, quick: bool = False, uses_data: bool = False):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.quick = bool(quick)
        self.uses_data = bool(uses_data)
        self.metrics: dict[str, Any] = {}
        self.timing: dict[str, float] = {}
        self.figures: list[str] = []

    @property
    def profile(self) -> str:
        return ("quick" if self.quick else "full") + ("+data" if self.uses_data else "+demo")

    def add(self, **metrics: Any) -> None:
        """Record metrics (numbers, bools or short strings). NaN is stored as ``None``."""
        for key, value in metrics.items():
            if hasattr(value, "item"):
                value = value.item()
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            if not isinstance(value, (int, float, bool, str, type(None))):
                raise TypeError(f"metric {key!r} must be a number, bool or string, got {type(value).__name__}")
            self.metrics[key] = value

    def add_timing(self, **seconds_or_rates: float) -> None:
        """Record speed figures (fps, ms): written to ``metrics.json`` under ``"timing"`` with the CPU they
        came from, and never compared with a baseline (they belong to the machine, not the code)."""
        for key, value in seconds_or_rates.items():
            self.timing[key] = round(float(value), 3)

    def figure(self, fig, name: str, dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``<name>.png`` (atomically) and return its path."""
        path = self.output_dir / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        self.figures.append(path.name)
        return path

    def save(self) -> Path:
        """Write ``metrics.json``: ``{"profile", "metrics", "figures"}``."""
        data = {"profile": self.profile, "metrics": self.metrics, "figures": sorted(set(self.figures))}
        if self.timing:
            from .._system import cpu_name

            data["timing"] = {**self.timing, "cpu": cpu_name()}
        return write_json(self.output_dir / "metrics.json", data)
