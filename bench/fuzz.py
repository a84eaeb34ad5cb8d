"""The malformed-media corpus and the bad-settings table through the real command line -> reports/fuzz.json.

Every case runs ``python -m faceanim ...`` in its own process, as a user would, with a time limit (a case
that runs past it is a hang). Counted per entry point: inputs tried, clean errors (exit 2 with a message),
successes (legal unusual input), tracebacks (a Python traceback, or the CLI's "unexpected error" last
resort: both are bugs), hangs, user files changed or destroyed (the corpus, the good inputs and an existing
output, hashed before and after), temporary files left. Then the full-disk cases on a 1 MB tmpfs (when this
machine lets us mount one) and the peak memory of ``animate`` on an 8000x8000 photo at 8 and 36 frames.

    python bench/fuzz.py                 # about 15 minutes on 2 cores
    python bench/fuzz.py --skip-memory   # the corpus only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from _common import write_report  # noqa: E402
from fuzzcorpus import BAD_SETTINGS, ENTRY_POINTS, argv_for, fingerprint, make_corpus, temp_files  # noqa: E402

from faceanim import __version__, demo  # noqa: E402
from faceanim._system import cpu_name  # noqa: E402
from faceanim.cli import UNEXPECTED  # noqa: E402

SENTINEL = b"an older output the user wants to keep"
TIMEOUT = 180


def scrub(obj, roots: dict[str, str]):
    """Strings with this run's machine paths (temporary folders, the working directory) replaced by names,
    so the committed report holds no paths of the machine that made it."""
    import re

    if isinstance(obj, dict):
        return {k: scrub(v, roots) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, roots) for v in obj]
    if isinstance(obj, str):
        for path, name in sorted(roots.items(), key=lambda kv: -len(kv[0])):
            obj = obj.replace(path, name)
        return re.sub(r"/tmp/faceanim-[\w-]+", "<tmp>", obj)
    return obj


def cli(argv: list[str], timeout: float = TIMEOUT, env: dict | None = None) -> dict:
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-m", "faceanim", *argv], capture_output=True, text=True, timeout=timeout,
                           env=env or os.environ.copy())
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, "hang"
    return {"rc": rc, "stderr": err, "seconds": time.perf_counter() - t0}


def run_case(entry: str, input_path: Path, expect: str, good: dict, work: Path, extra=()) -> dict:
    work.mkdir(parents=True)
    out = work / "existing.mp4"
    out.write_bytes(SENTINEL)
    before = fingerprint(input_path.parent) if input_path.exists() and input_path.is_file() else None
    res = cli(argv_for(entry, input_path, {**good, "out": out, "log": work / "run.sqlite"}, extra))
    err = res["stderr"]
    traceback = "Traceback" in err or UNEXPECTED in err or res["rc"] not in (0, 2, None)
    changed = []
    if res["rc"] != 0 and out.read_bytes() != SENTINEL:
        changed.append(str(out))
    if before is not None:
        after = fingerprint(input_path.parent)
        changed += [k for k in before if after.get(k) != before[k]]
    return {"entry": entry, "input": input_path.name, "extra": list(extra), "expect": expect, "rc": res["rc"],
            "hang": res["rc"] is None, "traceback": traceback, "clean_error": res["rc"] == 2 and not traceback
            and bool(err.strip()), "ok": res["rc"] == 0, "changed": changed, "temps": temp_files(work),
            "expected": (res["rc"] == 2) if expect == "bad" else res["rc"] in (0, 2),
            "message": err.strip().splitlines()[-1][:300] if err.strip() else "", "seconds": round(res["seconds"], 2)}


def full_disk_cases(good: dict) -> list[dict]:
    """Writers on a full file system: a clear message, the old file kept, no temporary left."""
    mnt = Path(tempfile.mkdtemp(prefix="faceanim-full-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        shutil.rmtree(mnt, ignore_errors=True)
        return [{"case": "tmpfs", "skipped": "cannot mount a tmpfs here (needs root)"}]
    rows = []
    try:
        cases = {
            "animate -o": ["animate", str(good["photo"]), "--emotion", "happy", "--frames", "6", "--warp-only",
                           "-o", str(mnt / "out.mp4")],
            "emoji -o": ["emoji", str(good["video"]), "--detector", "haar", "-o", str(mnt / "out.mp4")],
            "emoji --log": ["emoji", str(good["video"]), "--detector", "haar", "--log", str(mnt / "run.sqlite")],
            "detect -o": ["detect", str(good["photo"]), "--detector", "haar", "-o", str(mnt / "out.png")],
        }
        for name, argv in cases.items():
            for p in mnt.iterdir():
                p.unlink()
            old = mnt / Path(argv[-1]).name
            if old.suffix == ".sqlite":  # an existing log with one run: it must still open, with that run
                from faceanim.video.log import ReadingLog

                with ReadingLog(old, source="earlier") as log:
                    log.write([{"frame": 0, "label": "happy"}])
                    log.finish(1, 1, 0)
            else:
                old.write_bytes(SENTINEL)
            filler = mnt / "filler"
            try:  # fill the disk to the last block
                with open(filler, "wb", buffering=0) as fh:
                    while True:
                        fh.write(b"\0" * 4096)
            except OSError:
                pass
            res = cli(argv)
            err = res["stderr"]
            if old.suffix == ".sqlite":
                from faceanim.video.log import read_log

                filler.unlink()
                kept = len(read_log(old)) >= 1  # the earlier run's row is still there
            else:
                kept = old.exists() and old.read_bytes() == SENTINEL
            rows.append({"case": name, "rc": res["rc"], "clear": res["rc"] == 2 and "disk is full" in err,
                         "traceback": "Traceback" in err or UNEXPECTED in err, "old_file_kept": kept,
                         "temps_left": temp_files(mnt), "message": err.strip().splitlines()[-1][:300] if err else ""})
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        shutil.rmtree(mnt, ignore_errors=True)
    return rows


def peak_memory(photo: Path, frames: int, out: Path) -> dict:
    """Peak resident memory of one ``animate`` process (the refiner on, pasted into the full photo)."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t); "
            "print(p.stderr[-400:], file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "faceanim", "animate", str(photo),
                        "--emotion", "happy", "--frames", str(frames), "-o", str(out)], capture_output=True, text=True)
    rc, kb, seconds = p.stdout.split()
    return {"frames": frames, "rc": int(rc), "peak_rss_gb": round(int(kb) / 1024**2, 3), "seconds": round(float(seconds), 1),
            "stderr": p.stderr.strip()[-300:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "reports" / "fuzz.json"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="faceanim-fuzz-"))
    cases = make_corpus(root / "in")
    good_dir = root / "good"
    good_dir.mkdir()
    from faceanim import io

    good = {"photo": io.write_image(good_dir / "photo.jpg", demo.astronaut()), "video": good_dir / "clip.mp4"}
    shutil.copy(demo.demo_video(frames=6), good["video"])
    start = fingerprint(root / "in"), fingerprint(good_dir)

    jobs = []
    for entry, (kind, _) in ENTRY_POINTS.items():
        for c in cases:
            if kind in ("any", c.kind):
                jobs.append((entry, c.path, "bad" if entry == "log_show" else c.expect, ()))
    for entry, extra in BAD_SETTINGS:
        jobs.append((entry, good["photo"] if ENTRY_POINTS[entry][0] == "image" else good["video"], "bad", tuple(extra)))
    print(f"{len(jobs)} runs of the CLI, {args.workers} at a time ...", flush=True)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        rows = list(pool.map(lambda ij: run_case(*ij[1][:3], good, root / "work" / str(ij[0]), ij[1][3]),
                             enumerate(jobs)))
    wall = time.perf_counter() - t0
    end = fingerprint(root / "in"), fingerprint(good_dir)
    corpus_changed = [k for k in start[0] if end[0].get(k) != start[0][k]] + \
                     [k for k in start[1] if end[1].get(k) != start[1][k]]

    per_entry = {}
    for entry in ENTRY_POINTS:
        for group, mine in (("corpus", [r for r in rows if r["entry"] == entry and not r["extra"]]),
                            ("settings", [r for r in rows if r["entry"] == entry and r["extra"]])):
            if not mine:
                continue
            per_entry[f"{entry} ({group})"] = {
                "tried": len(mine), "clean_errors": sum(r["clean_error"] for r in mine),
                "succeeded": sum(r["ok"] for r in mine), "tracebacks": sum(r["traceback"] for r in mine),
                "hangs": sum(r["hang"] for r in mine), "user_files_changed": sum(bool(r["changed"]) for r in mine),
                "temp_files_left": sum(bool(r["temps"]) for r in mine),
                "unexpected_outcome": sum(not r["expected"] for r in mine)}
    totals = {k: sum(v[k] for v in per_entry.values()) for k in next(iter(per_entry.values()))}
    disk = full_disk_cases(good)
    report = {
        "command": "python bench/fuzz.py", "faceanim": __version__, "cpu": cpu_name(), "cores": os.cpu_count(),
        "runs": len(rows), "wall_seconds": round(wall, 1), "per_entry_point": per_entry, "totals": totals,
        "corpus_files_changed_at_the_end": corpus_changed, "full_disk": disk,
        "bad": [r for r in rows if r["traceback"] or r["hang"] or r["changed"] or r["temps"] or not r["expected"]],
        "targets": {"tracebacks == 0": totals["tracebacks"] == 0, "hangs == 0": totals["hangs"] == 0,
                    "user files changed == 0": totals["user_files_changed"] == 0 and not corpus_changed,
                    "temp files left == 0": totals["temp_files_left"] == 0,
                    "full disk: clear message, old file kept": all(d.get("clear") and d.get("old_file_kept")
                                                                   and not d.get("temps_left") for d in disk
                                                                   if "skipped" not in d)},
        "messages": sorted({r["message"] for r in rows if r["clean_error"]})[:400],
    }
    if not args.skip_memory:
        import cv2

        big = root / "photo_8000.jpg"
        io.write_image(big, cv2.resize(demo.astronaut(), (8000, 8000), interpolation=cv2.INTER_CUBIC), quality=90)
        mem = [peak_memory(big, n, root / f"big_{n}.mp4") for n in (8, 36)]
        ratio = mem[1]["peak_rss_gb"] / mem[0]["peak_rss_gb"]
        report["animate_8000px"] = {"runs": mem, "ratio_36_to_8": round(ratio, 3)}
        report["targets"]["animate 8000 px: peak memory at 36 frames within 10% of 8"] = bool(
            all(m["rc"] == 0 for m in mem) and abs(ratio - 1) <= 0.10)
    shutil.rmtree(root, ignore_errors=True)
    report = scrub(report, {str(root / "in"): "<corpus>", str(root): "<run>", str(Path.cwd()): "<cwd>"})
    write_report(report, args.out, _plot)
    print(json.dumps({"totals": totals, "targets": report["targets"]}, indent=1))


def _plot(report: dict, path: Path) -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(report["per_entry_point"])
    data = report["per_entry_point"]
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(names) + 1.6))
    y = np.arange(len(names))
    left = np.zeros(len(names))
    for key, colour in (("clean_errors", "#4c72b0"), ("succeeded", "#55a868"), ("tracebacks", "#c44e52"),
                        ("hangs", "#8172b2")):
        vals = np.array([data[n][key] for n in names], float)
        ax.barh(y, vals, left=left, color=colour, label=key.replace("_", " "))
        left += vals
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("CLI runs")
    t = report["totals"]
    ax.set_title(f"{report['runs']} runs: {t['tracebacks']} tracebacks, {t['hangs']} hangs, "
                 f"{t['user_files_changed']} user files changed, {t['temp_files_left']} temp files left "
                 f"({report['cpu']})", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
