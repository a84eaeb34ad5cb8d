"""Archive scale: the emotion stream over thousands of videos, on every core or a cluster, resumable.

    from faceanim import batch
    result = batch.run_batch(["recordings/"], "results/", workers=2)     # or engine="dask"
    batch.read_results("results/").readings.groupby("video").size()

Each input (a video, or a folder of images read as one sequence in name order) is one task. A task runs
the same :class:`~faceanim.video.EmotionStream` as ``faceanim emoji`` and writes, when it is complete:

- ``readings/video=<id>/part-0.parquet``: its readings (the SQLite log's columns, ``run_id`` = the id);
- ``videos/<id>.json``: its summary (status ``ok`` or ``failed`` with the error, frames read / analysed /
  skipped, seconds, and per face the dominant emotion, time shares and peak intensity).

The id is the input's **content** hash and the settings' hash, so re-running the same command skips what is
complete (a renamed copy too) and re-does what is not. Both files are written atomically, the summary
last: a worker killed mid-video leaves nothing of it but a temporary, and that video is done again.
``manifest.json`` records the inputs, settings, package version and weight checksums of every run.
Engines, by name: ``local`` (a process pool sized to the machine) and ``dask`` (``dask.distributed``: a
local cluster, or the scheduler at ``scheduler=``, so the same command runs on a real cluster).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ._atomic import atomic_path, check_output, write_json
from .errors import FaceanimError, SettingError
from .io import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .limits import check

if TYPE_CHECKING:
    import pandas

__all__ = ["ENGINES", "BatchItem", "BatchResult", "BatchResults", "find_inputs", "run_batch", "read_results",
           "analyse_item"]

ENGINES = ("local", "dask")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class BatchItem:
    """One task: a video file or a folder of images, and its id (content hash + settings hash)."""

    path: str
    kind: str  # "video" or "images"
    content: str
    key: str


@dataclass
class BatchResult:
    """What one :func:`run_batch` call did: ids done now, skipped (already complete) and failed."""

    out: Path
    done: list[str]
    skipped: list[str]
    failed: list[str]
    seconds: float
    video_seconds: float
    engine: str
    workers: int
    retried: int = 0
    dashboard: str | None = None

    @property
    def throughput(self) -> float:
        """Video-seconds analysed per wall-second in this call."""
        return self.video_seconds / self.seconds if self.seconds > 0 else float("nan")

    def __repr__(self) -> str:
        return (f"BatchResult({len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed, "
                f"{self.video_seconds:.0f} video-s in {self.seconds:.1f} s = {self.throughput:.1f}x real time, "
                f"{self.engine} x{self.workers}{f', {self.retried} retried' if self.retried else ''})")


@dataclass
class BatchResults:
    """A results folder read back: every reading, one row per video, one row per face, the manifest."""

    readings: "pandas.DataFrame" = field(repr=False)
    videos: "pandas.DataFrame" = field(repr=False)
    faces: "pandas.DataFrame" = field(repr=False)
    manifest: dict = field(repr=False)

    def __repr__(self) -> str:
        ok = int((self.videos["status"] == "ok").sum()) if len(self.videos) else 0
        return f"BatchResults({len(self.videos)} videos ({ok} ok), {len(self.readings)} readings, {len(self.faces)} faces)"


# ------------------------------------------------------------------------------------------------ inputs
def _file_hash(path: Path, h=None):
    h = h or hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, or of a folder's image names and bytes (name order)."""
    p = Path(path)
    if p.is_dir():
        h = hashlib.sha256()
        for img in _images_in(p):
            h.update(img.name.encode() + b"\0")
            _file_hash(img, h)
        return h.hexdigest()
    return _file_hash(p).hexdigest()


def _images_in(folder: Path) -> list[Path]:
    return sorted(q for q in folder.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)


def find_inputs(inputs: Iterable[str | os.PathLike]) -> list[tuple[Path, str]]:
    """``(path, kind)`` for every task: video files as given; in a folder, its videos (recursively) and, for
    each folder that holds images, that folder as one image sequence. A list file (``.txt``, one path a line)
    is read as those paths."""
    found: list[tuple[Path, str]] = []
    for item in inputs:
        p = Path(item).expanduser()
        if not p.exists():
            raise FaceanimError(f"batch input {p} does not exist (working directory: {Path.cwd()})")
        if p.is_file() and p.suffix.lower() == ".txt":
            lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
            found += find_inputs([Path(ln) if Path(ln).is_absolute() else p.parent / ln for ln in lines])
        elif p.is_file():
            found.append((p, "video"))
        else:
            for folder in sorted([p, *(q for q in p.rglob("*") if q.is_dir())]):
                found += [(v, "video") for v in sorted(folder.iterdir())
                          if v.is_file() and v.suffix.lower() in VIDEO_SUFFIXES]
                if _images_in(folder):
                    found.append((folder, "images"))
    unique = list(dict.fromkeys((q.resolve(), k) for q, k in found))
    if not unique:
        raise FaceanimError(f"no videos or image folders in {', '.join(map(str, inputs))} "
                            f"(videos: {', '.join(VIDEO_SUFFIXES)}; images: {', '.join(IMAGE_SUFFIXES)})")
    return unique


# ---------------------------------------------------------------------------------------------- the task
@dataclass(frozen=True)
class TaskSettings:
    """What a task needs to run, and what its id depends on (the stream's settings, the frame selection and
    the recognizer's weights)."""

    stream: dict
    step: int = 1
    max_frames: int | None = None
    weights: dict = field(default_factory=dict)
    precision: str | None = None  # decided once by the caller, so every worker computes alike (not in the id)

    def digest(self) -> str:
        what = {k: v for k, v in dataclasses.asdict(self).items() if k != "precision"}
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


_STREAM: dict = {}  # per worker process: the stream for a settings digest (models load once per process)


def _stream_for(ts: TaskSettings):
    from .video.stream import EmotionStream, StreamSettings

    key = ts.digest()
    if ts.precision:
        os.environ["FACEANIM_PRECISION"] = ts.precision  # what the caller's machine chose, for every worker
    if key not in _STREAM:
        _STREAM.clear()
        _STREAM[key] = EmotionStream(settings=StreamSettings(**ts.stream))
    return _STREAM[key]


def _frames(item: BatchItem) -> Iterator:
    from .io import read_image

    for img in _images_in(Path(item.path)):
        try:
            yield read_image(img)
        except FaceanimError:
            yield None  # unreadable: the stream skips and counts it


def analyse_item(item: BatchItem, ts: TaskSettings, out: str) -> dict:
    """Run one task and write its readings and summary (atomically, summary last); returns the summary.
    A video that cannot be read is a ``failed`` summary with its error, not an exception."""
    from .video.log import summarize

    out_dir = Path(out)
    started = time.time()
    summary: dict = {"video": item.key, "path": item.path, "kind": item.kind, "content_sha256": item.content,
                     "settings_sha256": ts.digest(), "started": started}
    try:
        stream = _stream_for(ts)
        source = _frames(item) if item.kind == "images" else item.path
        result = stream.run(source, step=ts.step, max_frames=ts.max_frames, progress=False, key_frames=0)
        table = result.readings
        fps = (result.source_fps or 25.0) / ts.step
        summary.update(status="ok", error=None, frames_read=result.frames_read, analysed=result.analysed,
                       skipped=result.skipped, seconds=round(result.seconds, 3), video_seconds=result.frames_read / fps
                       if item.kind == "video" else result.analysed / 25.0, readings=len(table))
        _write_readings(out_dir, item.key, table)
        faces = summarize(table.assign(run_id=item.key)) if len(table) else None
        summary["faces"] = [] if faces is None else json.loads(faces.drop(columns=["run_id"]).to_json(orient="records"))
    except FaceanimError as exc:
        summary.update(status="failed", error=f"{type(exc).__name__}: {exc}", frames_read=0, analysed=0, skipped=0,
                       seconds=round(time.time() - started, 3), video_seconds=0.0, readings=0, faces=[])
    summary["finished"] = time.time()
    write_json(out_dir / "videos" / f"{item.key}.json", summary)
    return summary


def _write_readings(out_dir: Path, key: str, table) -> None:
    """The readings of one video as one Parquet partition, moved into place whole."""
    import pandas as pd

    from .video.log import READING_COLUMNS

    part = out_dir / "readings" / f"video={key}"
    cols = [c for c in READING_COLUMNS if c != "run_id"]
    frame = pd.DataFrame({c: table[c] if c in table else pd.Series(dtype="float64") for c in cols})
    frame.insert(0, "run_id", key)
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp = part.parent / f".{part.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with atomic_path(tmp / "part-0.parquet") as f:
        frame.to_parquet(f, index=False)
    if part.exists():
        shutil.rmtree(part)
    os.replace(tmp, part)


# ----------------------------------------------------------------------------------------------- engines
def _local(tasks, ts, out, workers, threads, on_done) -> int:
    """A process pool; a worker that dies (SIGKILL, out of memory) breaks the pool: it is made again and the
    unfinished tasks are submitted again (each at most twice more). Returns how many were retried."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    pending = {t.key: t for t in tasks}
    attempts = dict.fromkeys(pending, 0)
    retried = 0
    ctx = multiprocessing.get_context("spawn")  # torch and forked threads do not mix
    while pending:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(threads,))
        try:
            futures = {pool.submit(analyse_item, t, ts, out): k for k, t in pending.items()}
            for fut in as_completed(futures):
                key = futures[fut]
                on_done(fut.result())
                pending.pop(key, None)
        except BrokenProcessPool:
            for key in list(pending):
                attempts[key] += 1
                if attempts[key] > 2:
                    raise FaceanimError(f"a worker died three times on {pending[key].path}; it may need more "
                                        "memory than a worker has (try --workers 1)") from None
            retried += len(pending)
        except BaseException:  # Ctrl-C or an error: stop now; what is complete stays, partial work is discarded
            _stop(pool)
            raise
        pool.shutdown(wait=True)
    return retried


def _stop(pool) -> None:
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate()


def _threads(workers: int, threads: int | None) -> int:
    """Threads per worker: ``threads``, or the worker's share of the cores."""
    return int(threads) if threads else max(1, (os.cpu_count() or 1) // max(1, workers))


def _init_worker(per: int) -> None:
    """Each worker gets ``per`` threads in every library that runs threads (torch, OpenMP/BLAS, OpenCV), so
    that two workers on two cores do not each start two threads."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(per))  # before torch is imported in a fresh worker
    import cv2
    import torch

    torch.set_num_threads(per)
    cv2.setNumThreads(per)


def _dask(tasks, ts, out, workers, threads, scheduler, on_done, on_dashboard) -> int:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise FaceanimError("the dask engine needs dask.distributed: pip install 'faceanim[dask]' "
                            "(or pip install 'dask[distributed]')") from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        import dask

        # dask starts workers with OMP/MKL/OpenBLAS at 1 thread and MALLOC_TRIM_THRESHOLD_=65536; the latter
        # made the stream 1.6x slower (every frame's arrays mapped and unmapped: 150.6 s vs 90.1 s of stream
        # time on 24 clips). Workers get their share of the cores, as in the local pool, and glibc's default.
        per = str(threads)
        environ = {"OMP_NUM_THREADS": per, "MKL_NUM_THREADS": per,
                   "OPENBLAS_NUM_THREADS": per}
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    try:
        on_dashboard(client.dashboard_link)
        if scheduler:  # someone else's workers: their share of their machine's cores
            threads = _threads(len(client.scheduler_info()["workers"]) or 1, None)
        client.run(_init_worker, threads)
        futures = client.map(analyse_item, tasks, ts=ts, out=out, pure=False, retries=2)
        for fut in as_completed(futures):
            on_done(fut.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return 0


# --------------------------------------------------------------------------------------------------- run
def run_batch(inputs: Iterable[str | os.PathLike], out: str | os.PathLike, engine: str = "local",
              workers: int | None = None, scheduler: str | None = None, settings=None, step: int = 1,
              max_frames: int | None = None, retry_failed: bool = False, progress: bool = True,
              on_video: Callable[[dict], None] | None = None, threads: int | None = None) -> BatchResult:
    """Analyse every video (and image folder) in ``inputs`` into the results folder ``out``.

    ``settings``: a :class:`~faceanim.video.StreamSettings` (defaults if None). ``workers``: processes
    (default: one per core for ``local``; the cluster's for ``dask`` with a ``scheduler``). Complete videos
    are skipped (``failed`` ones too, unless ``retry_failed``); ``on_video(summary)`` is called as each
    finishes. ``threads``: per worker (default: the worker's share of the cores)."""
    from tqdm.auto import tqdm

    from . import __version__
    from .video.stream import StreamSettings

    if engine not in ENGINES:
        raise SettingError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    workers = check("workers", workers if workers is not None else (os.cpu_count() or 1))
    threads = check("workers", threads, optional=True, what="threads")
    step, max_frames = check("every", step, what="step"), check("max_frames", max_frames, optional=True)
    st = (settings or StreamSettings()).validate()
    out_dir = Path(out).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise FaceanimError(f"the results folder {out_dir} is a file; give a folder (made if missing)")
    check_output(out_dir / "manifest.json", what="results folder")
    found = find_inputs(inputs)
    from .runtime import compute

    ts = TaskSettings(stream=dataclasses.asdict(st), step=step, max_frames=max_frames, weights=_weights_digest(),
                      precision=compute().precision)
    sdig = ts.digest()
    t0 = time.perf_counter()
    items = []
    for path, kind in tqdm(found, desc="hashing inputs", unit="input", disable=not progress or len(found) < 50):
        content = content_hash(path)
        items.append(BatchItem(path=str(path), kind=kind, content=content, key=f"{content[:16]}-{sdig[:8]}"))
    items = list({i.key: i for i in items}.values())  # the same content twice is one task
    done_before = {i.key: _summary(out_dir, i.key) for i in items}
    todo = [i for i in items if (before := done_before[i.key]) is None
            or (retry_failed and before.get("status") == "failed")]
    skipped = [i.key for i in items if i not in todo]
    run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    _update_manifest(out_dir, run_id, {"started": time.time(), "engine": engine, "workers": workers,
                                       "threads_per_worker": _threads(workers, threads),
                                       "scheduler": scheduler, "inputs": [str(i) for i in inputs],
                                       "tasks": len(items), "skipped": len(skipped), "faceanim": __version__,
                                       "settings": dataclasses.asdict(ts), "settings_sha256": sdig})
    done: list[str] = []
    failed: list[str] = []
    vsec = 0.0
    bar = tqdm(total=len(todo), desc=f"videos ({engine} x{workers})", unit="video", disable=not progress)
    dashboard: list[str] = []
    frames = [0]

    def on_done(summary: dict) -> None:
        nonlocal vsec
        (done if summary["status"] == "ok" else failed).append(summary["video"])
        vsec += float(summary.get("video_seconds") or 0.0)
        frames[0] += int(summary.get("analysed") or 0)
        bar.update(1)
        el = time.perf_counter() - t0
        bar.set_postfix_str(f"{frames[0]} frames, {vsec / el:.1f} video-s/s" if el > 0 else "")
        if on_video is not None:
            on_video(summary)

    retried = 0
    try:
        if todo and engine == "local":
            retried = _local(todo, ts, str(out_dir), workers, _threads(workers, threads), on_done)
        elif todo:
            import logging

            def show(link: str) -> None:
                dashboard.append(link)
                logging.getLogger(__name__).warning("dask dashboard: %s", link)

            retried = _dask(todo, ts, str(out_dir), workers, _threads(workers, threads), scheduler, on_done, show)
    finally:
        bar.close()
        _update_manifest(out_dir, run_id, {"finished": time.time(), "done": len(done), "failed": len(failed)})
    return BatchResult(out=out_dir, done=done, skipped=skipped, failed=failed, seconds=time.perf_counter() - t0,
                       video_seconds=vsec, engine=engine, workers=workers, retried=retried,
                       dashboard=dashboard[0] if dashboard else None)


def _summary(out_dir: Path, key: str) -> dict | None:
    p = out_dir / "videos" / f"{key}.json"
    if not p.exists():
        return None
    try:
        s = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if s.get("status") == "ok" and not (out_dir / "readings" / f"video={key}" / "part-0.parquet").exists():
        return None  # the readings went missing: do it again
    return s


def _weights_digest() -> dict:
    from .emotion.recognizer import DEFAULT_RECOGNIZER
    from .weights import weights_info

    try:
        return {DEFAULT_RECOGNIZER: weights_info(DEFAULT_RECOGNIZER).sha256}
    except FaceanimError:
        return {}


def _update_manifest(out_dir: Path, run_id: str, fields: dict) -> None:
    path = out_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        manifest = {}
    manifest.setdefault("format", "faceanim-batch-1")
    manifest.setdefault("runs", {}).setdefault(run_id, {}).update(fields)
    write_json(path, manifest)


def read_results(out: str | os.PathLike) -> BatchResults:
    """A results folder as DataFrames: ``readings`` (with a ``video`` column), ``videos``, ``faces``."""
    import pandas as pd

    out_dir = Path(out)
    if not (out_dir / "manifest.json").exists():
        raise FaceanimError(f"{out_dir} is not a faceanim batch results folder (no manifest.json); "
                            "make one with `faceanim batch VIDEOS... --out FOLDER`")
    summaries = []
    for p in sorted((out_dir / "videos").glob("*.json")):
        try:
            summaries.append(json.loads(p.read_text()))
        except ValueError:
            continue
    videos = pd.DataFrame([{k: v for k, v in s.items() if k != "faces"} for s in summaries])
    faces = pd.DataFrame([{"video": s["video"], "path": s["path"], **f} for s in summaries for f in s.get("faces", [])])
    ok = [s["video"] for s in summaries if s.get("status") == "ok"]
    parts = [pd.read_parquet(out_dir / "readings" / f"video={k}" / "part-0.parquet").assign(video=k) for k in ok
             if (out_dir / "readings" / f"video={k}" / "part-0.parquet").exists()]
    readings = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return BatchResults(readings=readings, videos=videos, faces=faces,
                        manifest=json.loads((out_dir / "manifest.json").read_text()))
