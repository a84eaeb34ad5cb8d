"""Animator speed at 256 px on this CPU: the warp path and the full path (with the refinement GAN).

    python bench/bench_animate.py

The face is scikit-image's astronaut (bundled, no data needed). Per frame of a 48-frame "happy" animation:
keypoints -> thin-plate spline map -> remap -> Gaussian post-filter (warp path), plus the generator and
the expression texture (full path), one frame at a time as the notebook's live preview runs them, and
with paste-back into the 512 px photo. Also the time of each stage, and the fps for 5, 20 and 68 keypoints.

Writes reports/bench_animate.json and reports/bench_animate.png.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import write_report

from faceanim._system import cpu_name
from faceanim.config import REPO_ROOT


def _ms(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeats)
    return 1000.0 * best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO_ROOT / "reports" / "bench_animate.json"))
    ap.add_argument("--frames", type=int, default=48)
    args = ap.parse_args()

    import torch

    from faceanim.animate.animator import Animator, gaussian_post_filter
    from faceanim.animate.evaluate import time_paths
    from faceanim.animate.keypoints import border_anchors
    from faceanim.animate.motion import emotion_keypoints
    from faceanim.animate.networks import generator_input
    from faceanim.animate.texture import apply_texture
    from faceanim.animate.warp import tps_map, warp_image
    from faceanim.demo import astronaut
    from faceanim.face import paste_back

    anim = Animator()
    source = anim.prepare(astronaut())
    target = emotion_keypoints(source.landmarks, anim.motion, "happy", 1.0)
    anchors = border_anchors(256)
    src_pts, dst_pts = np.vstack([source.landmarks, anchors]), np.vstack([target, anchors])
    mapping = tps_map(src_pts, dst_pts, 256, grid=32)
    warped = warp_image(source.crop, mapping)
    x = generator_input(warped, mapping, source.landmarks, target)[None]
    refined = anim.refiner.refine_batch(x)[0]
    to_canon = anim.texture.source_map(source.landmarks, 256)
    stages = {
        "tps_map": _ms(lambda: tps_map(src_pts, dst_pts, 256, grid=32), 20),
        "remap": _ms(lambda: warp_image(source.crop, mapping), 50),
        "generator_input": _ms(lambda: generator_input(warped, mapping, source.landmarks, target), 20),
        "generator": _ms(lambda: anim.refiner.refine_batch(x), 10),
        "texture": _ms(lambda: apply_texture(refined, anim.texture.map_through("happy", to_canon, mapping), 1.0), 20),
        "gaussian": _ms(lambda: gaussian_post_filter(refined, mapping, 0.3), 20),
        "paste_back_512px": _ms(lambda: paste_back(source.image, refined, source.aligned), 20),
    }
    paths = time_paths(anim, source, frames=args.frames, repeats=3)
    per_kp = {}
    from faceanim.animate.animator import AnimationSettings
    from faceanim.animate.motion import ease

    track = emotion_keypoints(source.landmarks, anim.motion, "happy", 1.0, ease(args.frames))
    for n in (5, 20, 68):
        st = AnimationSettings(keypoints=n, paste=False, refine=False, gaussian=0.3)
        t0 = time.perf_counter()
        anim.render(source, track, settings=st, batch_size=1)
        per_kp[str(n)] = round(args.frames / (time.perf_counter() - t0), 1)
    # the refiner in each precision on the same input (auto picked anim.refiner's); full path fps for each
    from faceanim.animate.refine import Refiner

    default_refiner = anim.refiner
    by_precision = {}
    for precision in ("fp32", "bf16"):
        anim.refiner = Refiner.load(precision=precision)
        out = anim.refiner.refine_batch(x)[0]
        by_precision[precision] = {
            "generator_ms": round(_ms(lambda: anim.refiner.refine_batch(x), 10), 2),
            "full_fps": time_paths(anim, source, frames=args.frames, repeats=2).get("full_fps"),
            "max_abs_diff_vs_auto": int(np.abs(out.astype(int) - refined.astype(int)).max())}
    anim.refiner = default_refiner
    report = {
        "hardware": f"{cpu_name()}, {torch.get_num_threads()} threads", "torch": torch.__version__,
        "precision": default_refiner.compute.precision, "precision_reason": default_refiner.compute.reason,
        "isa_limits": ", ".join(f"{k}={os.environ[k]}" for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")
                                if k in os.environ) or "none (the CPU as it is)",
        "refiner_by_precision": by_precision,
        "size": 256, "frames": args.frames, "stage_ms": {k: round(v, 2) for k, v in stages.items()},
        **{k: v for k, v in paths.items() if k.endswith("fps")},
        "warp_fps_by_keypoints": per_kp,
        "refiner_parameters": int(sum(p.numel() for p in anim.refiner.net.parameters())),
        "targets": {"warp_fps": 30, "full_fps": 10},
        "reached": {"warp_30fps": paths["warp_fps"] >= 30, "full_10fps": paths.get("full_fps", 0) >= 10},
    }
    print(report)

    def plot(rep, path):
        import matplotlib.pyplot as plt

        from faceanim._atomic import atomic_path

        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        names = list(rep["stage_ms"])
        axes[0].barh(names, [rep["stage_ms"][n] for n in names], color="#4c72b0")
        axes[0].set_xlabel("ms per frame")
        axes[0].set_title("Stages at 256 px")
        axes[0].invert_yaxis()
        keys = ["warp_fps", "warp_pasted_fps", "full_fps", "full_pasted_fps"]
        vals = [rep.get(k, 0) for k in keys]
        axes[1].bar(keys, vals, color=["#55a868", "#55a868", "#c44e52", "#c44e52"])
        axes[1].axhline(30, color="#55a868", ls=":", lw=1, label="warp target 30 fps")
        axes[1].axhline(10, color="#c44e52", ls=":", lw=1, label="full target 10 fps")
        axes[1].set_ylabel("frames per second")
        axes[1].tick_params(axis="x", rotation=15)
        axes[1].legend(fontsize=8)
        axes[1].set_title(f"{rep['hardware'][:50]}, {rep['precision']}", fontsize=9)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)

    write_report(report, args.out, plot)


if __name__ == "__main__":
    main()
