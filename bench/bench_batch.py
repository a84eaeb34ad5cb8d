"""Batch throughput on real clips, 1 and 2 workers, local and dask engines -> reports/bench_batch.json.

Video-seconds analysed per wall-second (start-up included: the pool or cluster, every worker loading its
models), the scaling from 1 to 2 workers, and the kill test: a worker SIGKILLed mid-run, the batch
re-doing its video, and the rows of every video compared with a clean run (rows lost must be 0).

    FACEANIM_DATA=../shared/data python bench/bench_batch.py [--clips 24] [--max-frames 150]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _common import write_report  # noqa: E402

from faceanim import __version__  # noqa: E402
from faceanim._system import cpu_name  # noqa: E402
from faceanim.batch import _threads as r_threads  # noqa: E402
from faceanim.batch import read_results, run_batch  # noqa: E402
from faceanim.config import data_dir  # noqa: E402
from faceanim.runtime import compute  # noqa: E402
from faceanim.video.stream import StreamSettings  # noqa: E402


def real_clips(n: int) -> list[Path]:
    root = data_dir()
    clips = sorted((root / "face_videos" / "videos").glob("*.mp4")) + sorted((root / "mead" / "clips").glob("*.mp4"))
    if len(clips) < n:
        raise SystemExit(f"need {n} real clips under {root} (face_videos/videos, mead/clips), found {len(clips)}")
    return clips[:n]


def rows_of(out: Path):
    r = read_results(out).readings
    return r.drop(columns=["wall_time"]).sort_values(["video", "frame", "face_id"]).reset_index(drop=True)


def kill_test(clips: list[Path], settings: StreamSettings, max_frames: int, clean: Path, root: Path) -> dict:
    import pandas as pd
    import psutil

    out = root / "killed"
    script = textwrap.dedent(f"""
        from faceanim.batch import run_batch
        from faceanim.video.stream import StreamSettings
        if __name__ == "__main__":
            r = run_batch({[str(c) for c in clips]!r}, {str(out)!r}, workers=2, progress=False, max_frames={max_frames},
                          settings=StreamSettings(**{settings.__dict__!r}))
            print("resubmitted after the kill:", r.retried, "of", len(r.done) + len(r.failed), flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    killed = []

    def killer():
        deadline = time.time() + 600
        while time.time() < deadline and len(list((out / "videos").glob("*.json"))) < 4:
            time.sleep(0.2)  # some videos complete, others in progress
        for c in psutil.Process(proc.pid).children(recursive=True):
            if "spawn_main" in " ".join(c.cmdline()):
                os.kill(c.pid, signal.SIGKILL)
                killed.append(c.pid)
                return

    threading.Thread(target=killer, daemon=True).start()
    text, _ = proc.communicate(timeout=3600)
    a, b = rows_of(clean), rows_of(out)
    keys = ["video", "frame", "face_id"]
    merged = a[keys].merge(b[keys], how="left", on=keys, indicator=True)
    lost = int((merged["_merge"] == "left_only").sum())
    try:
        pd.testing.assert_frame_equal(a, b)
        equal = True
    except AssertionError:
        equal = False
    return {"workers_killed": len(killed), "exit": proc.returncode, "resubmitted": text.strip(),
            "rows_clean": len(a), "rows_after_kill": len(b), "rows_lost": lost, "equal_to_clean_run": equal}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--max-frames", type=int, default=150)
    ap.add_argument("--out", default=str(ROOT / "reports" / "bench_batch.json"))
    args = ap.parse_args()

    clips = real_clips(args.clips)
    settings = StreamSettings(detector="mtcnn", stride=5)
    root = Path(tempfile.mkdtemp(prefix="faceanim-bench-batch-"))
    runs = []
    # 1 worker gets both cores' threads (what a user of --workers 1 gets); "local, 1 worker, 1 thread" shows
    # the process pool's own scaling apart from what torch's threads already gave the single worker
    for engine, workers, threads in (("local", 1, None), ("local", 2, None), ("dask", 1, None), ("dask", 2, None),
                                     ("local", 1, 1)):
        out = root / f"{engine}{workers}{'' if threads is None else f'-t{threads}'}"
        r = run_batch(clips, out, engine=engine, workers=workers, settings=settings, max_frames=args.max_frames,
                      progress=False, threads=threads)
        runs.append({"engine": engine, "workers": workers, "threads_per_worker": r_threads(workers, threads),
                     "videos": len(r.done), "failed": len(r.failed), "video_seconds": round(r.video_seconds, 1),
                     "wall_seconds": round(r.seconds, 1), "throughput_video_s_per_s": round(r.throughput, 3)})
        print(runs[-1], flush=True)
    by = {(r["engine"], r["workers"], r["threads_per_worker"]): r["throughput_video_s_per_s"] for r in runs}
    scaling = {e: round(by[(e, 2, r_threads(2, None))] / by[(e, 1, r_threads(1, None))], 3) for e in ("local", "dask")}
    scaling["local, against 1 worker at 1 thread"] = round(by[("local", 2, r_threads(2, None))] / by[("local", 1, 1)], 3)
    kill = kill_test(clips, settings, args.max_frames, root / "local2", root)  # the same 2 workers, killed
    identical = rows_of(root / "local2").equals(rows_of(root / "dask2"))
    c = compute()
    report = {
        "command": "FACEANIM_DATA=../shared/data python bench/bench_batch.py", "faceanim": __version__,
        "cpu": cpu_name(), "cores": os.cpu_count(), "precision": c.precision, "clips": [p.name for p in clips],
        "max_frames_per_clip": args.max_frames, "stream": settings.__dict__, "runs": runs, "scaling_1_to_2": scaling,
        "local_equals_dask": identical, "kill_test": kill,
        "targets": {"scaling >= 1.7 (local)": scaling["local"] >= 1.7, "scaling >= 1.7 (dask)": scaling["dask"] >= 1.7,
                    "rows lost after a killed worker == 0": kill["rows_lost"] == 0 and kill["equal_to_clean_run"],
                    "local and dask identical": identical},
    }
    shutil.rmtree(root, ignore_errors=True)
    write_report(report, args.out, _plot)


def _plot(report: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    labels = [f"{r['engine']} x{r['workers']}\n{r['threads_per_worker']} thr" for r in report["runs"]]
    ax.bar(labels, [r["throughput_video_s_per_s"] for r in report["runs"]],
           color=["#4c72b0" if r["engine"] == "local" else "#dd8452" for r in report["runs"]])
    ax.set_ylabel("video-seconds per second")
    sc = report["scaling_1_to_2"]
    ax.set_title(f"{len(report['clips'])} real clips, scaling 1->2 workers: local {sc['local']}x, dask {sc['dask']}x "
                 f"(local vs 1 thread: {sc['local, against 1 worker at 1 thread']}x)\n{report['cpu']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
