"""Train an emotion recognizer on a lent GPU (the device tool), in one short run: issue 18's accuracy push.

The device machine receives the working tree and nothing of ``../shared`` (64 MiB at most, of which the
tracked files take about 47), so FER-2013's Training and PublicTest faces (PrivateTest never travels: it is
read only by ``faceanim evaluate emotion``, here) go in parts small enough to carry one per call; a warm
machine keeps the ignored files of earlier calls (it goes back after about 30 s idle, so make the calls one
right after another).

1. here:   ``python bench/gpu_emotion.py pack`` writes ``runs/gpu/fer_part<k>.npz`` and prints the calls;
2. there:  one device call per part with ``carry=["runs/gpu/fer_part<k>.npz"]`` and the command ``true``
           (the machine must stay warm between them), then the training call, e.g.
           ``python3 bench/gpu_emotion.py train --epochs 120 --net-size wide --mix both`` with
           ``carry=["runs/gpu/fer_part<last>.npz"]``: it joins the parts, trains in ``runs/gpu/run`` there and
           writes the chosen weights to ``$OUT`` in pieces of at most 15 MiB, with the history;
3. here:   ``python bench/gpu_emotion.py unpack <files_at>`` joins the pieces into
           ``runs/emotion/gpu/best.pt``; then ``faceanim train emotion``'s export, e.g.
           ``python -c "from faceanim.emotion import export_emotion_weights as e; e('runs/emotion/gpu', 'emotion_wide')"``
           and ``faceanim evaluate emotion --model emotion_wide --peer fer`` (PrivateTest once).

Every step also runs on the CPU (``train --device cpu --limit 512 --epochs 1 --net-size base``), which is how it
was checked end to end; no GPU was lent to the session that wrote it, so it has not yet run on one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PACK = ROOT / "runs" / "gpu"
PART_MIB = 13  # the tracked tree (~47 MiB) + one part stays under the device tool's 64 MiB


def pack(out: Path = PACK) -> list[Path]:
    from faceanim.data import load_fer2013

    fer = load_fer2013()
    keep = np.flatnonzero(fer.usage != "PrivateTest")
    arrays = {"images": fer.images[keep], "labels": fer.labels[keep], "usage": fer.usage[keep].astype("U11")}
    if fer.ferplus_votes is not None:
        arrays["ferplus_votes"] = fer.ferplus_votes[keep]
    if fer.exact is not None:
        arrays["exact"] = fer.exact[keep]
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("fer_part*.npz"):
        old.unlink()
    per_part = max(1, int(len(keep) * PART_MIB * 2**20 * 0.9 / (fer.images[keep].nbytes * 0.85)))
    paths = []
    for k, s in enumerate(range(0, len(keep), per_part)):
        path = out / f"fer_part{k}.npz"
        np.savez_compressed(path, **{n: a[s:s + per_part] for n, a in arrays.items()})
        paths.append(path)
    return paths


def assemble(folder: Path = PACK) -> Path:
    """Join the parts into ``<folder>/data/fer2013/fer2013.npz`` (FACEANIM_DATA points at ``<folder>/data``)."""
    parts = sorted(folder.glob("fer_part*.npz"), key=lambda p: int(p.stem[len("fer_part"):]))
    if not parts:
        raise SystemExit(f"no fer_part*.npz in {folder}: carry them first (see this file's docstring)")
    loaded = [dict(np.load(p)) for p in parts]
    joined = {n: np.concatenate([d[n] for d in loaded]) for n in loaded[0]}
    target = folder / "data" / "fer2013" / "fer2013.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, **joined)
    return target


def split(path: Path, out: Path, mib: int = 15) -> list[Path]:
    data, pieces = path.read_bytes(), []
    for k, s in enumerate(range(0, len(data), mib * 2**20)):
        piece = out / f"{path.stem}.part{k}"
        piece.write_bytes(data[s:s + mib * 2**20])
        pieces.append(piece)
    return pieces


def train(args) -> None:
    os.environ["FACEANIM_DATA"] = str(assemble().parent.parent)
    from faceanim.emotion.model import NET_SIZES, NetConfig
    from faceanim.emotion.train import TrainConfig, train_emotion

    size = NET_SIZES[args.net_size]
    cfg = TrainConfig(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, mix=args.mix, light_p=args.light_p,
                      ferplus_mix=args.ferplus_mix, limit=args.limit, precision="auto",
                      net=NetConfig(widths=size["widths"], blocks=size["blocks"]))
    run_dir = PACK / "run"
    result = train_emotion(cfg, run_dir=run_dir, progress=False, device=args.device)
    print(result)
    out = Path(os.environ.get("OUT", PACK / "out"))
    out.mkdir(parents=True, exist_ok=True)
    pieces = split(result.best_path, out)
    (out / "history.json").write_text(json.dumps(result.history.to_dict("records")))
    print("wrote", ", ".join(p.name for p in pieces), "and history.json to", out)


def unpack(folder: Path, run_dir: Path = ROOT / "runs" / "emotion" / "gpu") -> Path:
    pieces = sorted(folder.glob("best.part*"), key=lambda p: int(p.suffix[len(".part"):]))
    if not pieces:
        raise SystemExit(f"no best.part* in {folder}")
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / "best.pt"
    target.write_bytes(b"".join(p.read_bytes() for p in pieces))
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    sub.add_parser("pack", help="here: FER-2013 Training + PublicTest in parts under runs/gpu/")
    t = sub.add_parser("train", help="there: assemble the parts, train, write the chosen weights to $OUT")
    t.add_argument("--epochs", type=int, default=120)
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--net-size", default="wide", choices=["base", "wide"])
    t.add_argument("--mix", default="both", choices=["none", "mixup", "cutmix", "both"])
    t.add_argument("--light-p", type=float, default=0.3)
    t.add_argument("--ferplus-mix", type=float, default=0.5)
    t.add_argument("--limit", type=int, default=None)
    t.add_argument("--device", default=None)
    u = sub.add_parser("unpack", help="here: join the returned pieces into runs/emotion/gpu/best.pt")
    u.add_argument("folder", type=Path)
    args = ap.parse_args()
    if args.step == "pack":
        paths = pack()
        for p in paths:
            print(f"{p.relative_to(ROOT)}: {p.stat().st_size / 2**20:.1f} MiB")
        print("device calls: one per part, carry=[that part], command 'true'; the last with the train command")
    elif args.step == "train":
        train(args)
    else:
        print(unpack(args.folder))


if __name__ == "__main__":
    main()
