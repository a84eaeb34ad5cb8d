"""Speed of the emotion recognizer on aligned 48 px faces: faces per second in batches, one-face latency.

    FACEANIM_DATA=../shared/data python bench/bench_emotion.py [--model NAME]   (default: the default recognizer)

Faces are real FER-2013 PublicTest crops when FACEANIM_DATA has them (else random pixels: the network's
cost does not depend on the content). Each setting is timed over repeated runs after a warm-up; the
median is reported. "with flip" is the default recognizer (the face and its mirror image); "single pass"
skips the mirror. Writes reports/bench_emotion.json and reports/bench_emotion.png.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from _common import write_report

from faceanim._atomic import atomic_path
from faceanim._system import cpu_name
from faceanim.emotion.recognizer import DEFAULT_RECOGNIZER
from faceanim.config import REPO_ROOT, has_dataset
from faceanim.emotion import create_recognizer


def timed(fn, repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_RECOGNIZER)
    parser.add_argument("--batches", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128, 256])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=str(REPO_ROOT / "reports" / "bench_emotion.json"))
    args = parser.parse_args()

    import torch

    if has_dataset("fer2013"):
        from faceanim.data import load_fer2013

        faces = load_fer2013(ferplus=False).split("PublicTest").images[:max(args.batches)]
    else:
        faces = np.random.default_rng(0).integers(0, 256, (max(args.batches), 48, 48), dtype=np.uint8)
    results = {}
    for tta in (False, True):
        rec = create_recognizer(args.model, flip_tta=tta)
        tag = "with_flip" if tta else "single_pass"
        rows = {}
        for bs in args.batches:
            rec.batch_size = bs
            batch = faces[:bs]
            secs = timed(lambda: rec.predict(batch), max(3, args.repeats * 64 // bs))
            med = float(np.median(secs))
            rows[str(bs)] = {"faces_per_second": round(bs / med, 1), "median_ms_per_batch": round(med * 1000, 3)}
        one = faces[:1]
        lat = np.array(timed(lambda: rec.predict(one), args.repeats * 5)) * 1000
        results[tag] = {"batches": rows, "one_face_ms": {"median": round(float(np.median(lat)), 3),
                                                         "p90": round(float(np.percentile(lat, 90)), 3)}}
        best = max(rows.values(), key=lambda r: r["faces_per_second"])
        print(f"{tag:11s}: best {best['faces_per_second']:.0f} faces/s in batches; one face "
              f"{np.median(lat):.2f} ms (p90 {np.percentile(lat, 90):.2f})")
    report = {"what": "EmotionRecognizer.predict on aligned 48x48 uint8 faces (probabilities + intensity)",
              "model": args.model, "cpu": cpu_name(), "cpu_count": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "results": results,
              "command": "FACEANIM_DATA=../shared/data python bench/bench_emotion.py"}
    write_report(report, args.out, lambda rep, path: plot(rep["results"], path))


def plot(results: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    for tag, res in results.items():
        sizes = [int(k) for k in res["batches"]]
        a.plot(sizes, [res["batches"][str(s)]["faces_per_second"] for s in sizes], "o-", label=tag.replace("_", " "))
    a.axhline(1000, color="k", ls="--", lw=1, label="target 1,000 faces/s")
    a.set_xscale("log", base=2)
    a.set_xlabel("batch size")
    a.set_ylabel("faces per second")
    a.legend()
    a.grid(alpha=0.3)
    tags = list(results)
    b.bar([t.replace("_", " ") for t in tags], [results[t]["one_face_ms"]["median"] for t in tags], color=["C0", "C1"])
    b.axhline(5, color="k", ls="--", lw=1, label="target 5 ms")
    b.set_ylabel("ms for one face (median)")
    b.legend()
    fig.suptitle("emotion recognizer on this CPU")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
