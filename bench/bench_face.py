"""Time detection + 68 landmarks + alignment per 640x480 frame of a real video, for each detector.

    FACEANIM_DATA=../shared/data python bench/bench_face.py [--frames 150] [--video PATH]

Frames are decoded first (not timed), letterboxed to 640x480, then each detector runs on every frame:
detect, fit 68 landmarks, and crop both canonical faces (256 px animation, 48 px FER). Writes the median
and 90th-percentile milliseconds per stage and the frames per second of the median frame to
reports/bench_face.json, and a plot to reports/bench_face.png.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _common import letterbox, write_report

from faceanim import demo
from faceanim._atomic import atomic_path
from faceanim._system import cpu_name
from faceanim.config import REPO_ROOT, has_dataset
from faceanim.face import align_face, create_detector, create_landmarker
from faceanim.io import VideoReader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="frames to time (at least 100 for the report)")
    parser.add_argument("--video", default=None, help="default: liveportrait_d3.mp4 from FACEANIM_DATA, else the demo clip")
    parser.add_argument("--detectors", nargs="+", default=["haar", "mtcnn"])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default=str(REPO_ROOT / "reports" / "bench_face.json"))
    args = parser.parse_args()

    import torch
    from tqdm import tqdm

    if args.video:
        video = Path(args.video)
    elif has_dataset("face_videos"):
        from faceanim.data import list_face_videos

        video = next(p for p in list_face_videos() if p.name == "liveportrait_d3.mp4")
    else:
        video = demo.demo_video(frames=max(args.frames + args.warmup, 120))
    with VideoReader(video, max_frames=args.frames + args.warmup) as reader:
        frames = [letterbox(f.image) for f in reader]
    if len(frames) < args.frames + args.warmup:
        raise SystemExit(f"{video} has only {len(frames)} frames; need {args.frames + args.warmup}")

    landmarker = create_landmarker("dlib68")
    results = {}
    for name in args.detectors:
        det = create_detector(name)
        stages = {"detect": [], "landmarks": [], "align": [], "total": []}
        faces_found = []
        for i, frame in enumerate(tqdm(frames, desc=name, unit="frame")):
            t0 = time.perf_counter()
            faces = det.detect(frame)
            t1 = time.perf_counter()
            landmarker.fit(frame, faces)
            t2 = time.perf_counter()
            for f in faces:
                align_face(frame, f, "animation")
                align_face(frame, f, "fer")
            t3 = time.perf_counter()
            if i < args.warmup:
                continue
            for key, value in (("detect", t1 - t0), ("landmarks", t2 - t1), ("align", t3 - t2), ("total", t3 - t0)):
                stages[key].append(value * 1000)
            faces_found.append(len(faces))
        med = {k: float(np.median(v)) for k, v in stages.items()}
        results[name] = {
            "median_ms": {k: round(v, 3) for k, v in med.items()},
            "p90_ms": {k: round(float(np.percentile(v, 90)), 3) for k, v in stages.items()},
            "fps": round(1000.0 / med["total"], 2),
            "frames_with_a_face": round(float(np.mean(np.array(faces_found) >= 1)), 4),
        }
        print(f"{name:6s} median {med['total']:.1f} ms/frame ({results[name]['fps']:.1f} fps): "
              f"detect {med['detect']:.1f}, landmarks {med['landmarks']:.2f}, align {med['align']:.2f} ms; "
              f"face found in {results[name]['frames_with_a_face']:.0%} of frames")

    report = {
        "what": "detection + 68 landmarks + two alignments per 640x480 frame (median over frames)",
        "video": video.name, "frames_timed": args.frames, "warmup_frames": args.warmup, "frame_size": [640, 480],
        "cpu": cpu_name(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__, "results": results,
        "command": "FACEANIM_DATA=../shared/data python bench/bench_face.py",
    }
    write_report(report, args.out, lambda rep, path: plot(rep["results"], path))


def plot(results: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    names = list(results)
    stages = ["detect", "landmarks", "align"]
    fig, ax = plt.subplots(figsize=(7, 2.2 + 0.4 * len(names)))
    left = np.zeros(len(names))
    for stage in stages:
        vals = np.array([results[n]["median_ms"][stage] for n in names])
        ax.barh(names, vals, left=left, label=stage)
        left += vals
    for i, n in enumerate(names):
        ax.text(left[i], i, f"  {results[n]['fps']:.0f} fps", va="center")
    ax.set_xlabel("median ms per 640x480 frame")
    ax.set_xlim(0, left.max() * 1.25)
    ax.legend(loc="lower right")
    ax.set_title("face pipeline on this CPU")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)


if __name__ == "__main__":
    main()
