"""Every reading into SQLite: one row per face per analysed frame, safe against a killed process.

The file is created on demand. Rows of one frame are written in one transaction and committed before
:meth:`ReadingLog.write` returns (WAL journal), so a process killed at any moment keeps every row
that was reported written, and the file opens cleanly afterwards.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from ..errors import FaceanimError, MediaError
from ..labels import EMOTIONS

__all__ = ["ReadingLog", "read_log", "read_runs", "export_log", "summarize", "READING_COLUMNS"]

READING_COLUMNS = (["run_id", "wall_time", "video_time", "frame", "face_id", "x1", "y1", "x2", "y2", "label",
                    "shown"] + [f"p_{e}" for e in EMOTIONS] + ["intensity"])

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started REAL, finished REAL, source TEXT, fps REAL,
    frames INTEGER, analysed INTEGER, skipped INTEGER, params TEXT
);
CREATE TABLE IF NOT EXISTS readings (
    run_id TEXT NOT NULL, wall_time REAL, video_time REAL, frame INTEGER, face_id INTEGER,
    x1 REAL, y1 REAL, x2 REAL, y2 REAL, label TEXT, shown TEXT,
    {", ".join(f"p_{e} REAL" for e in EMOTIONS)}, intensity REAL
);
CREATE INDEX IF NOT EXISTS readings_run ON readings (run_id, frame);
"""


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    if not create and not path.exists():
        raise MediaError(f"no log at {path}; make one with `faceanim emoji VIDEO --log {path}`")
    if path.is_dir():
        raise MediaError(f"{path} is a folder; give a file name for the log, e.g. run.sqlite")
    try:
        con = sqlite3.connect(path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        if create:
            con.executescript(_SCHEMA)
        else:
            con.execute("SELECT 1 FROM readings LIMIT 1")
    except sqlite3.DatabaseError as exc:
        raise MediaError(f"{path} is not a faceanim log ({exc}); give a new file name or delete it") from None
    return con


class ReadingLog:
    """Append readings of one run to a SQLite file (``with ReadingLog(path, source=...) as log:``)."""

    def __init__(self, path: str | os.PathLike, source: str = "", fps: float | None = None,
                 params: dict | None = None, run_id: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self.rows_written = 0
        self._con = _connect(self.path, create=True)
        with self._con:
            self._con.execute("INSERT INTO runs (run_id, started, source, fps, params) VALUES (?, ?, ?, ?, ?)",
                              (self.run_id, time.time(), str(source), fps, json.dumps(params or {}, default=str)))

    def write(self, rows: Iterable[dict]) -> int:
        """Insert and commit rows (dicts with :data:`READING_COLUMNS` but ``run_id``); returns the count."""
        values = [tuple([self.run_id] + [r.get(c) for c in READING_COLUMNS[1:]]) for r in rows]
        if values:
            with self._con:
                self._con.executemany(f"INSERT INTO readings VALUES ({', '.join('?' * len(READING_COLUMNS))})",
                                      values)
            self.rows_written += len(values)
        return len(values)

    def finish(self, frames: int, analysed: int, skipped: int) -> None:
        with self._con:
            self._con.execute("UPDATE runs SET finished=?, frames=?, analysed=?, skipped=? WHERE run_id=?",
                              (time.time(), frames, analysed, skipped, self.run_id))

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> "ReadingLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_log(path: str | os.PathLike, run_id: str | None = None) -> "pandas.DataFrame":  # noqa: F821
    """The ``readings`` table as a DataFrame (one run, or the last run if ``run_id == "last"``)."""
    import pandas as pd

    con = _connect(Path(path), create=False)
    try:
        if run_id == "last":
            row = con.execute("SELECT run_id FROM runs ORDER BY started DESC LIMIT 1").fetchone()
            run_id = row[0] if row else None
        query, args = "SELECT * FROM readings", ()
        if run_id is not None:
            query, args = query + " WHERE run_id = ?", (run_id,)
        return pd.read_sql_query(query + " ORDER BY rowid", con, params=args)
    finally:
        con.close()


def read_runs(path: str | os.PathLike) -> "pandas.DataFrame":  # noqa: F821
    import pandas as pd

    con = _connect(Path(path), create=False)
    try:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY started", con)
    finally:
        con.close()


def export_log(path: str | os.PathLike, out: str | os.PathLike, run_id: str | None = None) -> Path:
    """Write the readings to ``out`` as CSV (``.csv``) or Parquet (``.parquet``), atomically."""
    from .._atomic import atomic_path

    out = Path(out)
    table = read_log(path, run_id)
    with atomic_path(out) as tmp:
        if out.suffix == ".csv":
            table.to_csv(tmp, index=False)
        elif out.suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            raise FaceanimError(f"export to .csv or .parquet, not {out.suffix or 'no suffix'!r}")
    return out


def summarize(readings: "pandas.DataFrame") -> "pandas.DataFrame":  # noqa: F821
    """Per run and face: readings, seconds seen, dominant emotion, time share per emotion, peak intensity."""
    import pandas as pd

    if readings.empty:
        return pd.DataFrame(columns=["run_id", "face_id", "readings", "dominant", "peak_intensity"])
    rows = []
    for (run, face), g in readings.groupby(["run_id", "face_id"], sort=True):
        share = g["shown"].value_counts(normalize=True)
        peak = g["intensity"].idxmax()
        row = {"run_id": run, "face_id": int(face), "readings": len(g),
               "first_s": float(g["video_time"].min()), "last_s": float(g["video_time"].max()),
               "dominant": share.idxmax(), "peak_intensity": float(g["intensity"].max()),
               "peak_label": g.loc[peak, "label"], "peak_time_s": float(g.loc[peak, "video_time"])}
        row.update({f"share_{e}": float(share.get(e, 0.0)) for e in EMOTIONS})
        rows.append(row)
    return pd.DataFrame(rows)
