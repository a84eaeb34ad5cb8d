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
from typing import TYPE_CHECKING

from ..errors import FaceanimError, MediaError
from ..labels import EMOTIONS

if TYPE_CHECKING:  # annotations only
    import pandas

__all__ = ["ReadingLog", "read_log", "read_runs", "export_log", "summarize", "check_log", "READING_COLUMNS",
           "APPLICATION_ID"]

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


#: ``PRAGMA application_id`` of every faceanim log ("FANM"): how a log is told from another program's database.
APPLICATION_ID = 0x46414E4D
_SQLITE_HEADER = b"SQLite format 3\x00"
_RETRIES = 20


def _retry(fn, path: Path):
    """Run ``fn`` with retries while another writer holds the database (WAL lets readers through, but two
    writers take turns); a full disk becomes a clear :class:`MediaError`."""
    from .._atomic import disk_error

    delay = 0.05
    for attempt in range(_RETRIES):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            clear = disk_error(exc, path)
            if clear is not None:
                raise clear from None
            if ("locked" not in text and "busy" not in text) or attempt == _RETRIES - 1:
                raise MediaError(f"the log {path} could not be written ({text})") from None
            time.sleep(delay)
            delay = min(1.0, delay * 2)
    raise AssertionError("unreachable")


def _tables(con: sqlite3.Connection) -> dict[str, list[str]]:
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {n: [r[1] for r in con.execute(f"PRAGMA table_info({n!r})")] for n in names}


def _check_ours(con: sqlite3.Connection, path: Path) -> bool:
    """True for a faceanim log (marked, or made by an older faceanim with exactly our tables); a
    :class:`MediaError` for any other database. Nothing is written."""
    try:
        app = con.execute("PRAGMA application_id").fetchone()[0]
        tables = _tables(con)
    except sqlite3.DatabaseError as exc:
        raise _open_error(exc, path) from None
    if app == APPLICATION_ID:
        return True
    legacy = (app == 0 and set(tables) == {"runs", "readings"} and tables["readings"] == list(READING_COLUMNS)
              and tables["runs"][:1] == ["run_id"])
    if legacy:
        return True
    what = f"tables {', '.join(sorted(tables))}" if tables else "no tables"
    raise MediaError(f"{path} is another program's SQLite database ({what}), not a faceanim log; faceanim "
                     "does not write into it. Give the log a new file name.")


def _connect(path: Path, create: bool) -> sqlite3.Connection:
    """A connection to the log at ``path``: read-only when not ``create``; ``create`` makes the file if it
    is missing or empty and refuses anything that is not a faceanim log."""
    if path.is_dir():
        raise MediaError(f"{path} is a folder; give a file name for the log, e.g. run.sqlite")
    size = path.stat().st_size if path.exists() else None
    if not create:
        if size is None:
            raise MediaError(f"no log at {path}; make one with `faceanim emoji VIDEO --log {path}`")
        if size == 0:
            raise MediaError(f"{path} is empty (0 bytes), not a faceanim log; make one with "
                             f"`faceanim emoji VIDEO --log {path}`")
    if size:
        with open(path, "rb") as fh:
            head = fh.read(16)
        if head != _SQLITE_HEADER:
            raise MediaError(f"{path} is not a faceanim log (not an SQLite file: it starts with {head[:8]!r}); "
                             "faceanim does not write into it. Give the log a new file name.")
    try:
        if not create:
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
            _check_ours(con, path)
            return con
        con = sqlite3.connect(path, timeout=30)
        con.execute("PRAGMA busy_timeout=30000")
        if size:
            _check_ours(con, path)

        def setup():
            if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.executescript(_SCHEMA)
            con.execute(f"PRAGMA application_id={APPLICATION_ID}")

        _retry(setup, path)
    except sqlite3.DatabaseError as exc:
        raise _open_error(exc, path) from None
    return con


def _open_error(exc: sqlite3.DatabaseError, path: Path) -> MediaError:
    import shutil

    from .._atomic import disk_error

    clear = disk_error(exc, path)
    if clear is not None:
        return clear
    if "disk I/O error" in str(exc) or "unable to open" in str(exc):
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            free = None
        if free is not None and free < 1024**2:
            return MediaError(f"the disk is full: the log {path} cannot be opened or written (its rows so far are "
                              "kept). Free some space or write the log somewhere else.")
        return MediaError(f"the log {path} cannot be opened ({exc}); check that its folder is writable")
    return MediaError(f"{path} is not a faceanim log ({exc}); give a new file name or delete it")


def check_log(path: str | os.PathLike, inputs=()) -> Path:
    """Before a run starts: the log path can be written, is not one of ``inputs`` (the video, the annotated
    output) and is empty, missing or a faceanim log; nothing is created or changed."""
    from .._atomic import check_output

    p = check_output(path, inputs=inputs, what="log")
    if p.exists() and p.stat().st_size:
        con = _connect(p, create=False)
        con.close()
    return p


class ReadingLog:
    """Append readings of one run to a SQLite file (``with ReadingLog(path, source=...) as log:``)."""

    def __init__(self, path: str | os.PathLike, source: str = "", fps: float | None = None,
                 params: dict | None = None, run_id: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self.rows_written = 0
        self._con: sqlite3.Connection | None = _connect(self.path, create=True)
        self._exec("INSERT INTO runs (run_id, started, source, fps, params) VALUES (?, ?, ?, ?, ?)",
                   [(self.run_id, time.time(), str(source), fps, json.dumps(params or {}, default=str))])

    def _exec(self, sql: str, values: list) -> None:
        con = self._con
        if con is None:
            raise FaceanimError(f"the log {self.path} is closed; open a new ReadingLog to write more")

        def run():
            with con:
                con.executemany(sql, values)

        _retry(run, self.path)

    def write(self, rows: Iterable[dict]) -> int:
        """Insert and commit rows (dicts with :data:`READING_COLUMNS` but ``run_id``); returns the count."""
        values = [tuple([self.run_id] + [r.get(c) for c in READING_COLUMNS[1:]]) for r in rows]
        if values:
            self._exec(f"INSERT INTO readings VALUES ({', '.join('?' * len(READING_COLUMNS))})", values)
            self.rows_written += len(values)
        return len(values)

    def finish(self, frames: int, analysed: int, skipped: int) -> None:
        self._exec("UPDATE runs SET finished=?, frames=?, analysed=?, skipped=? WHERE run_id=?",
                   [(time.time(), frames, analysed, skipped, self.run_id)])

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> "ReadingLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_log(path: str | os.PathLike, run_id: str | None = None) -> "pandas.DataFrame":
    """The ``readings`` table as a DataFrame (one run, or the last run if ``run_id == "last"``)."""
    import pandas as pd

    con = _connect(Path(path), create=False)
    try:
        if run_id == "last":
            row = con.execute("SELECT run_id FROM runs ORDER BY started DESC LIMIT 1").fetchone()
            run_id = row[0] if row else None
        query, args = "SELECT * FROM readings", ()  # type: tuple[str, tuple[str, ...]]
        if run_id is not None:
            runs = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started")]
            if run_id not in runs:
                listed = ", ".join(runs[-5:]) if runs else "none"
                raise FaceanimError(f"{path} has no run {run_id!r} (its {len(runs)} run(s), latest last: {listed}); "
                                    "`faceanim log show PATH` lists them")
            query, args = query + " WHERE run_id = ?", (run_id,)
        return pd.read_sql_query(query + " ORDER BY rowid", con, params=args)
    finally:
        con.close()


def read_runs(path: str | os.PathLike) -> "pandas.DataFrame":
    import pandas as pd

    con = _connect(Path(path), create=False)
    try:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY started", con)
    finally:
        con.close()


def export_log(path: str | os.PathLike, out: str | os.PathLike, run_id: str | None = None) -> Path:
    """Write the readings to ``out`` as CSV (``.csv``) or Parquet (``.parquet``), atomically."""
    from .._atomic import atomic_path, check_output

    out = Path(out)
    if out.suffix not in (".csv", ".parquet"):
        raise FaceanimError(f"export to .csv or .parquet, not {out.suffix or 'no suffix'!r}")
    check_output(out, inputs=[path], what="export")
    table = read_log(path, run_id)
    with atomic_path(out) as tmp:
        if out.suffix == ".csv":
            table.to_csv(tmp, index=False)
        else:
            table.to_parquet(tmp, index=False)
    return out


def summarize(readings: "pandas.DataFrame") -> "pandas.DataFrame":
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
