"""Command line: ``python -m faceanim`` (or ``faceanim``). Holds no logic of its own."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import FaceanimError

__all__ = ["main"]


def _detect(args: argparse.Namespace) -> int:
    import pandas as pd

    from .face import FacePipeline
    from .io import IMAGE_SUFFIXES, is_video_path, read_image, write_image
    from .viz import draw_faces

    pipe = FacePipeline(args.detector, landmarker="dlib68" if (args.landmarks or args.output) else None,
                        template=None, min_score=args.min_score)
    paths: list[Path] = []
    for p in map(Path, args.paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FaceanimError(f"folder {p} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        else:
            paths.append(p)
    if args.output and len(paths) != 1:
        raise FaceanimError("-o/--output writes one annotated image: pass exactly one image path")
    tables = []
    for path in paths:
        if is_video_path(path):
            table = pipe.video_table(path, step=args.every, max_frames=args.max_frames, progress=sys.stderr.isatty())
            table.insert(0, "path", str(path))
            if args.json:
                for row in table.to_dict("records"):
                    print(json.dumps({k: v for k, v in row.items() if not (isinstance(v, float) and v != v)}))
            tables.append(table)
            continue
        result = pipe(read_image(path))
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
        if table.empty or "x1" not in table:
            print("no faces found")
        else:
            cols = [c for c in ("path", "frame", "face", "x1", "y1", "x2", "y2", "score", "size") if c in table]
            print(table[table["face"] >= 0][cols].round(2).to_string(index=False))
    return 0


def _report(args: argparse.Namespace) -> int:
    from .report import run_reports

    run_reports(only=args.only or None, quick=args.quick, output_root=Path(args.output) if args.output else None,
                update_baselines=args.update_baselines, check_baselines=not args.no_baseline)
    return 0


def _info(args: argparse.Namespace) -> int:
    from . import __version__
    from .config import DATASETS, data_dir, has_dataset
    from .face import available_detectors, available_landmarkers

    print(f"faceanim {__version__}")
    print(f"data folder: {data_dir()}  (set FACEANIM_DATA to change it)")
    for name in DATASETS:
        print(f"  {'ok     ' if has_dataset(name) else 'missing'} {name}")
    print("detectors:")
    for name, text in available_detectors().items():
        print(f"  {name:8s} {text}")
    print("landmarkers:")
    for name, text in available_landmarkers().items():
        print(f"  {name:8s} {text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceanim", description="Read emotions on faces and animate still faces.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("detect", help="find faces in images, folders or videos; print a table or JSON lines")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image, folder of images, or video")
    p.add_argument("--detector", default="mtcnn", choices=["mtcnn", "haar"], help="face detector (default: mtcnn)")
    p.add_argument("--min-score", type=float, default=None, help="drop faces scoring below this (0-1)")
    p.add_argument("--landmarks", action="store_true", help="also fit 68 landmarks (and print them with --json)")
    p.add_argument("--json", action="store_true", help="one JSON object per face per line")
    p.add_argument("-o", "--output", help="write the image with faces drawn on it here")
    p.add_argument("--every", type=int, default=1, help="videos: every N-th frame")
    p.add_argument("--max-frames", type=int, default=None, help="videos: stop after this many frames")
    p.set_defaults(func=_detect)

    p = sub.add_parser("report", help="run the numbered notebooks headless into reports/ and check baselines")
    p.add_argument("--quick", action="store_true", help="small parameters (what the tests run)")
    p.add_argument("--only", nargs="*", metavar="NB", help="notebook stems or number prefixes, e.g. 00 01_data_prep")
    p.add_argument("--output", help="report folder (default: reports/ or $FACEANIM_REPORTS)")
    p.add_argument("--update-baselines", action="store_true", help="record these metrics as the new baselines")
    p.add_argument("--no-baseline", action="store_true", help="do not compare with tests/baselines/")
    p.set_defaults(func=_report)

    p = sub.add_parser("info", help="version, data folder and datasets found, backends")
    p.set_defaults(func=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if getattr(args, "min_score", "absent") is None:
        args.min_score = {"mtcnn": 0.9, "haar": 0.3}[args.detector]
    try:
        return args.func(args)
    except FaceanimError as exc:
        print(f"faceanim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
