"""Compare a notebook's metrics with its committed baseline (``tests/baselines/<notebook>.json``).

A baseline file holds one entry per profile (``quick+demo``, ``quick+data``, ``full+data`` ...)::

    {"tolerance": {"rel": 0.05, "abs": 1e-06},
     "profiles": {"quick+data": {"metrics": {"fer_train_faces": 28709, ...},
                                 "tolerance": {"fer_ferplus_agreement": {"abs": 0.005}}}}}

A number passes when ``|new - old| <= max(abs, rel * |old|)`` (per-metric tolerance first, then the
file's default); strings and bools must match exactly; a metric missing from the new run fails.
Moving in either direction fails: an improvement is recorded on purpose with ``--update-baselines``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._atomic import write_json

__all__ = ["Regression", "compare_metrics", "load_baseline", "update_baseline", "DEFAULT_TOLERANCE"]

DEFAULT_TOLERANCE = {"rel": 0.05, "abs": 1e-6}


@dataclass
class Regression:
    notebook: str
    metric: str
    old: Any
    new: Any
    allowed: str

    def __str__(self) -> str:
        return f"{self.notebook}: {self.metric} was {self.old!r}, now {self.new!r} (allowed: {self.allowed})"


def load_baseline(path: Path) -> dict:
    if not path.exists():
        return {"tolerance": dict(DEFAULT_TOLERANCE), "profiles": {}}
    return json.loads(path.read_text())


def compare_metrics(notebook: str, new: dict[str, Any], baseline: dict, profile: str) -> tuple[list[Regression], bool]:
    """Regressions of ``new`` against ``baseline[profile]``; the bool says whether a baseline existed."""
    entry = baseline.get("profiles", {}).get(profile)
    if entry is None:
        return [], False
    default = {**DEFAULT_TOLERANCE, **baseline.get("tolerance", {})}
    per_metric = entry.get("tolerance", {})
    out = []
    for name, old in entry.get("metrics", {}).items():
        tol = {**default, **per_metric.get(name, {})}
        if name not in new:
            out.append(Regression(notebook, name, old, "<missing>", "present"))
            continue
        value = new[name]
        if isinstance(old, bool) or isinstance(value, bool) or isinstance(old, str) or old is None or value is None:
            if value != old:
                out.append(Regression(notebook, name, old, value, "equal"))
            continue
        allowed = max(float(tol["abs"]), float(tol["rel"]) * abs(float(old)))
        if abs(float(value) - float(old)) > allowed:
            out.append(Regression(notebook, name, old, value, f"+-{allowed:.6g}"))
    return out, True


def update_baseline(path: Path, profile: str, metrics: dict[str, Any]) -> Path:
    """Record ``metrics`` as the baseline of ``profile`` (per-metric tolerances already there are kept)."""
    data = load_baseline(path)
    entry = data.setdefault("profiles", {}).setdefault(profile, {})
    entry["metrics"] = dict(sorted(metrics.items()))
    data.setdefault("tolerance", dict(DEFAULT_TOLERANCE))
    return write_json(path, data)
