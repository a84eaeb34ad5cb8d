"""Speed of the emotion recognizer on aligned 48 px faces per engine (torch fp32, torch bf16, ONNX Runtime).

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
from faceanim.config import REPO_ROOT, has_dataset
from faceanim.emotion import create_recognizer
from faceanim.emotion.recognizer import DEFAULT_RECOGNIZER
from faceanim.runtime import compute, cpu_bf16_flags


def timed(fn, repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


ENGINES = {"torch fp32": {"precision": "fp32"}, "torch bf16": {"precision": "bf16"},
           "onnx fp32": {"backend": "onnx"}}


def isa_note() -> str:
    """The instruction-set limits set for this run (they make this CPU stand in for an older one)."""
    limits = {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY") if k in os.environ}
    return ", ".join(f"{k}={v}" for k, v in limits.items()) or "none (the CPU as it is)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_RECOGNIZER)
    parser.add_argument("--batches", type=int, nargs="+", default=[4, 16, 64, 256])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=str(REPO_ROOT / "reports" / "bench_emotion.json"))
    args = parser.parse_args()

    import torch

    if has_dataset("fer2013"):
        from faceanim.data import load_fer2013

        faces = load_fer2013(ferplus=False).split("PublicTest").images[:max(args.batches)]
    else:
        faces = np.random.default_rng(0).integers(0, 256, (max(args.batches), 48, 48), dtype=np.uint8)
    auto = compute()
    print(f"auto: {auto.describe()}; ISA limits: {isa_note()}")
    results, reference = {}, None
    for engine, kwargs in ENGINES.items():
        results[engine] = {}
        for tta in (False, True):
            rec = create_recognizer(args.model, flip_tta=tta, **kwargs)
            probs, _ = rec.predict(faces)
            if tta and reference is None:
                reference = probs  # torch fp32 with the mirrored pass: what the others are compared with
            tag = "with_flip" if tta else "single_pass"
            rows = {}
            for bs in args.batches:
                rec.batch_size = bs
                batch = faces[:bs]
                secs = timed(lambda rec=rec, batch=batch: rec.predict(batch), max(3, args.repeats * 64 // bs))
                med = float(np.median(secs))
                rows[str(bs)] = {"faces_per_second": round(bs / med, 1), "median_ms_per_batch": round(med * 1000, 3)}
            one = faces[:1]
            lat = np.array(timed(lambda rec=rec, one=one: rec.predict(one), args.repeats * 5)) * 1000
            res = {"batches": rows, "one_face_ms": {"median": round(float(np.median(lat)), 3),
                                                    "p90": round(float(np.percentile(lat, 90)), 3)}}
            if tta:
                res["vs_torch_fp32"] = {"max_abs_probability_diff": float(np.abs(probs - reference).max()),
                                        "same_label_share": float((probs.argmax(1) == reference.argmax(1)).mean())}
            results[engine][tag] = res
            best = max(rows.values(), key=lambda r: r["faces_per_second"])
            diff = res.get("vs_torch_fp32")
            print(f"{engine:10s} {tag:11s}: best {best['faces_per_second']:.0f} faces/s in batches; one face "
                  f"{np.median(lat):.2f} ms" + (f"; vs torch fp32: max |dp| {diff['max_abs_probability_diff']:.1e}, "
                                                 f"same label {diff['same_label_share']:.3f}" if diff else ""))
    report = {"what": "EmotionRecognizer.predict on aligned 48x48 uint8 faces (probabilities + intensity), "
                      "by engine (torch fp32, torch bf16 autocast, ONNX Runtime fp32)",
              "model": args.model, "cpu": cpu_name(), "cpu_bf16_units": cpu_bf16_flags(), "isa_limits": isa_note(),
              "auto_choice": auto.to_dict(), "cpu_count": os.cpu_count(), "faces": int(len(faces)),
              "torch_threads": torch.get_num_threads(), "torch": torch.__version__, "results": results,
              "command": "FACEANIM_DATA=../shared/data python bench/bench_emotion.py"
                         + ("" if isa_note().startswith("none") else f" (with {isa_note()})")}
    write_report(report, args.out, plot)


def plot(report: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    results = report["results"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    for k, (engine, res) in enumerate(results.items()):
        for tag, ls in (("with_flip", "-"), ("single_pass", ":")):
            sizes = [int(s) for s in res[tag]["batches"]]
            a.plot(sizes, [res[tag]["batches"][str(s)]["faces_per_second"] for s in sizes], "o" + ls, color=f"C{k}",
                   label=f"{engine}, {tag.replace('_', ' ')}")
    a.set_xscale("log", base=2)
    a.set_xlabel("batch size")
    a.set_ylabel("faces per second")
    a.legend(fontsize=7)
    a.grid(alpha=0.3)
    engines = list(results)
    b.bar(engines, [results[e]["with_flip"]["one_face_ms"]["median"] for e in engines],
          color=[f"C{k}" for k in range(len(engines))])
    b.set_ylabel("ms for one face, with flip (median)")
    b.tick_params(axis="x", labelsize=8)
    auto = report["auto_choice"]
    fig.suptitle(f"emotion recognizer on {report['cpu']} ({report['torch_threads']} threads; ISA limits: "
                 f"{report['isa_limits']}); auto picks {auto['precision']}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
