"""Live pipeline: end-to-end speed, label flicker with the filter off and on, and a kill test.

    FACEANIM_DATA=../shared/data python bench/bench_live.py

1. Speed: a real face video letterboxed to 640x480 (one face), and three real face videos side by side in
   one 640x480 frame (three faces), written to temporary mp4 files and run end to end by
   ``EmotionStream`` (decode, detect every 5 frames, track, recognise, smooth, draw). Compared with the
   video's own frame rate.
2. Flicker: the raw readings of every face video and of every CK+ sequence (played as a video) are
   replayed through the per-face filter for a grid of settings: label changes per second of the shown
   label on the videos, and CK+ accuracy of the label on the apex frame and over the last third of each
   sequence. "off" is the raw reading; "default" is the stream's default filter.
3. Kill test: a run logging to SQLite is killed (SIGKILL) mid-way; every row it reported written must be
   in the log, which must pass SQLite's integrity check.

Writes reports/bench_live.json and reports/bench_live.png.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from _common import letterbox, write_report

from faceanim._atomic import atomic_path
from faceanim._system import cpu_name
from faceanim.config import REPO_ROOT, has_dataset
from faceanim.emotion.recognizer import DEFAULT_THRESHOLD
from faceanim.io import VideoReader, write_video
from faceanim.temporal import BAND, HYSTERESIS, SMOOTHING, EmotionFilter, label_changes
from faceanim.video import EmotionStream, read_log


def frames_of(path, n):
    with VideoReader(path, max_frames=n) as r:
        return [f.image for f in r], r.fps


def speed(videos, n_frames, tmp: Path, stride: int) -> dict:
    one, fps = frames_of(videos[0], n_frames)
    one_path = write_video(tmp / "one.mp4", [letterbox(f) for f in one], fps=fps)
    parts = [frames_of(v, n_frames)[0] for v in videos[:3]]
    n = min(len(p) for p in parts)
    three = []
    for k in range(n):
        row = np.concatenate([letterbox(p[k], 213, 480) for p in parts], axis=1)
        three.append(letterbox(row))
    three_path = write_video(tmp / "three.mp4", three, fps=fps)
    out = {}
    for name, path, faces in (("one_face", one_path, 1), ("three_faces", three_path, 3)):
        stream = EmotionStream(stride=stride)
        stream.run(path, max_frames=20, progress=False)  # warm-up
        res = stream.run(path, progress=False)
        res_w = stream.run(path, output=tmp / f"{name}_out.mp4", progress=False)
        per_frame = res.readings.groupby("frame")["face_id"].nunique()
        out[name] = {"frames": res.analysed, "fps_end_to_end": round(res.fps, 2),
                     "fps_with_video_output": round(res_w.fps, 2), "video_fps": round(fps, 2),
                     "faster_than_real_time": bool(res.fps > fps),
                     "frames_with_all_faces": round(float((per_frame == faces).reindex(range(res.analysed),
                                                                                   fill_value=False).mean()), 4)}
        print(f"{name}: {res.fps:.1f} fps end to end ({res_w.fps:.1f} fps writing the annotated video); "
              f"the video runs at {fps:.1f} fps")
    return out


def raw_runs(videos, n_frames: int, stride: int):
    """Unfiltered readings (probabilities + intensity per face per frame) of every face video and of
    every CK+ sequence played as a video; the filters are then replayed on exactly these readings."""
    from faceanim.data import load_ckplus_sequences
    from faceanim.labels import EMOTIONS

    stream = EmotionStream(stride=stride, smoothing=0.0, hysteresis=0.0, band=0.0)
    vids = {Path(v).name: stream.run(v, max_frames=n_frames, progress=False).readings for v in videos}
    ck = []
    if has_dataset("ckplus_sequences"):
        for seq in load_ckplus_sequences():
            t = stream.run([np.repeat(f[..., None], 3, axis=2) for f in seq.frames], progress=False).readings
            if len(t):
                ck.append((EMOTIONS[seq.fer_label], len(seq.frames), t[t["face_id"] == t["face_id"].mode()[0]]))
    return vids, ck


def replay(table, filt: EmotionFilter, threshold: float):
    """``(labels, shown)`` of ``table``'s raw readings passed through ``filt`` frame by frame."""
    from faceanim.labels import EMOTIONS

    cols = [f"p_{e}" for e in EMOTIONS] + ["intensity"]
    filt.reset()
    labels, shown = [], []
    for step, (fid, row) in enumerate(zip(table["face_id"], table[cols].to_numpy())):
        f = filt(fid, row[:7], row[7], step, threshold)
        labels.append(f.name)
        shown.append(f.name if f.expressive and f.name != "neutral" else "neutral")
    return labels, shown


def filter_tradeoff(vids, ck, settings: dict, threshold: float) -> dict:
    """Per setting: label changes per second of the shown label on the face videos (mean over faces seen
    for at least 25 frames), and CK+ accuracy of the label on the apex frame and over the last third."""
    out = {}
    for name, (strength, hysteresis, band) in settings.items():
        rates, per_video = [], []
        for video, t in vids.items():
            for fid, g in t.groupby("face_id"):
                if len(g) < 25:
                    continue
                _, shown = replay(g, EmotionFilter(strength, hysteresis, band), threshold)
                rate = label_changes(shown, g["video_time"])[1]
                rates.append(rate)
                per_video.append({"video": video, "face_id": int(fid), "frames": len(g), "changes_per_s": rate})
        apex, late = [], []
        for truth, n, t in ck:
            labels, _ = replay(t, EmotionFilter(strength, hysteresis, band), threshold)
            apex.append(labels[-1] == truth)
            late.append(np.mean([lab == truth for k, lab in zip(t["frame"], labels) if k >= 2 * n / 3]))
        out[name] = {"strength": strength, "hysteresis": hysteresis, "band": band,
                     "changes_per_s": float(np.mean(rates)), "ckplus_apex_accuracy": float(np.mean(apex)) if ck else None,
                     "ckplus_last_third_accuracy": float(np.mean(late)) if ck else None, "per_video": per_video}
        print(f"{name:22s} flicker {out[name]['changes_per_s']:.3f}/s, CK+ apex {out[name]['ckplus_apex_accuracy']:.3f}, "
              f"last third {out[name]['ckplus_last_third_accuracy']:.3f}")
    return out


def kill_test(video: Path, tmp: Path, kill_after_rows: int = 100) -> dict:
    log = tmp / "kill.sqlite"
    script = textwrap.dedent(f"""
        from faceanim.video import EmotionStream
        EmotionStream(stride=5).run({str(video)!r}, log={str(log)!r}, progress=False,
                                    on_frame=lambda f, n: print(n, flush=True))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    reported = 0
    for line in proc.stdout:
        reported = int(line)
        if reported >= kill_after_rows:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    con = sqlite3.connect(log)
    integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    con.close()
    found = len(read_log(log))
    out = {"rows_reported": reported, "rows_in_log": found, "rows_lost": max(0, reported - found),
           "integrity": integrity, "killed_with": "SIGKILL"}
    print(f"kill test: {reported} rows reported, {found} in the log, integrity {integrity}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per video for speed and flicker")
    parser.add_argument("--stride", type=int, default=5)
    parser.add_argument("--out", default=str(REPO_ROOT / "reports" / "bench_live.json"))
    args = parser.parse_args()

    import torch

    if not has_dataset("face_videos"):
        raise SystemExit("bench_live needs the real face videos: set FACEANIM_DATA (see README, 'Data')")
    from faceanim.data import list_face_videos

    videos = list_face_videos()
    order = sorted(videos, key=lambda p: p.name != "liveportrait_d3.mp4")
    from faceanim.runtime import compute

    report = {"cpu": cpu_name(), "precision": compute().precision, "precision_reason": compute().reason,
              "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "torch": torch.__version__, "stride": args.stride,
              "filter_default": {"strength": SMOOTHING, "hysteresis": HYSTERESIS, "band": BAND},
              "detector": "mtcnn", "frame_size": [640, 480],
              "command": "FACEANIM_DATA=../shared/data python bench/bench_live.py"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.time()
        report["speed"] = speed(order, args.frames, tmp, args.stride)
        vids, ck = raw_runs(videos, args.frames, args.stride)
        settings = {"off": (0.0, 0.0, 0.0), "default": (SMOOTHING, HYSTERESIS, BAND)}
        for strength in (0.0, 0.3, 0.5, 0.7):
            for hysteresis in (0.0, 0.1, 0.2):
                settings.setdefault(f"ema{strength}_hyst{hysteresis}", (strength, hysteresis, BAND))
        trade = filter_tradeoff(vids, ck, settings, DEFAULT_THRESHOLD)
        off, on = trade["off"], trade["default"]
        report["flicker"] = {"off": {k: v for k, v in off.items() if k != "per_video"},
                             "default": {k: v for k, v in on.items() if k != "per_video"},
                             "reduction_factor": off["changes_per_s"] / max(on["changes_per_s"], 1e-9),
                             "per_video_off": off["per_video"], "per_video_default": on["per_video"],
                             "grid": {k: {kk: vv for kk, vv in v.items() if kk != "per_video"} for k, v in trade.items()},
                             "ckplus_sequences": len(ck),
                             "note": "the default was picked from this grid, on these same videos and sequences"}
        report["kill_test"] = kill_test(order[0], tmp)
        report["seconds"] = round(time.time() - t0, 1)
    write_report(report, args.out, plot)


def plot(report: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
    sp = report["speed"]
    names = list(sp)
    a.bar([n.replace("_", " ") for n in names], [sp[n]["fps_end_to_end"] for n in names], color=["C0", "C1"])
    a.axhline(sp[names[0]]["video_fps"], color="k", ls="--", lw=1, label="the video's own fps")
    a.axhline(30, color="C3", ls=":", lw=1, label="target 30 fps")
    a.set_ylabel("frames per second, end to end")
    a.legend(fontsize=8)
    grid = report["flicker"]["grid"]
    for name, g in grid.items():
        marker = "*" if name == "default" else ("s" if name == "off" else "o")
        size = 160 if name in ("default", "off") else 40
        b.scatter(g["changes_per_s"], g["ckplus_last_third_accuracy"], marker=marker, s=size,
                  label=name if name in ("default", "off") else None, color="C3" if name == "default" else "C0")
        if name not in ("default", "off"):
            b.annotate(name.replace("ema", "").replace("_hyst", "/"), (g["changes_per_s"], g["ckplus_last_third_accuracy"]),
                       fontsize=6, xytext=(3, 2), textcoords="offset points")
    b.set_xlabel("label changes per second on the face videos (lower: steadier)")
    b.set_ylabel("CK+ accuracy, last third of each sequence")
    b.legend(fontsize=8)
    b.grid(alpha=0.3)
    fig.suptitle(f"live pipeline on this CPU (640x480, detection every {report['stride']} frames)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
