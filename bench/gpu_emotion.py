"""Train an emotion recognizer on a lent GPU (the device tool) in one call: issue 18's accuracy push.

Why one call: a device machine goes back after about 30 s idle and takes with it whatever earlier calls left
there, so data carried in one call and trained on in the next is lost whenever the second call comes late.
What one call can take is 64 MiB in all (the working tree and the carried paths together). FER-2013's
Training and PublicTest faces are 71 MiB raw and 51 MiB as lossless WebP (PrivateTest never travels: it is
read only by ``faceanim evaluate emotion``, here); the tracked tree is about 55 MiB (weights, reports,
screenshots), so for that one call the tree is slimmed to what training needs (``faceanim/``, this script,
``pyproject.toml``, ``.gitignore``: about 1 MiB). Every other tracked file is taken out of the working tree
and the index (``git rm``), its list kept in ``runs/gpu/slimmed.txt``, and ``restore`` brings all of them
back from ``HEAD``. ``slim`` refuses while any of them differs from ``HEAD``, so nothing uncommitted is lost.

1. here:   ``python bench/gpu_emotion.py pack``     writes ``runs/gpu/fer.pack`` (checks it decodes exactly);
2. here:   ``python bench/gpu_emotion.py slim``     takes the other tracked files out and prints the call;
3. there:  one device call: ``carry=["runs/gpu/fer.pack"]``, ``timeout_s=600`` and the command
           ``PYTHONUNBUFFERED=1 python3 bench/gpu_emotion.py train --minutes 8``: it trains one schedule sized
           to the minutes from its first epoch's time (``--epochs`` at most), and copies the best (PublicTest)
           weights to ``$OUT`` in pieces of at most 15 MiB at every new best, with the history, so a call
           stopped at its limit still returns the best so far (``run.json`` says whether the schedule ended);
4. here:   ``python bench/gpu_emotion.py restore``  (also after a failed call: the tree comes back from ``HEAD``);
5. here:   ``python bench/gpu_emotion.py unpack <files_at>`` joins the pieces into ``runs/emotion/gpu/best.pt``;
           then the export, e.g.
           ``python -c "from faceanim.emotion import export_emotion_weights as e; e('runs/emotion/gpu', 'emotion_wide')"``
           and ``faceanim evaluate emotion --model emotion_wide --peer fer`` (PrivateTest once).

``status`` prints what would travel now. Every step also runs on the CPU (``train --device cpu --limit 512
--epochs 2 --net-size base``) in a clone, which is how it is tested (``tests/test_gpu_emotion.py``); no GPU
was lent to the sessions that wrote it, so it has not yet run on one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PACK = ROOT / "runs" / "gpu"
#: what one device call may take: the working tree and the carried paths together
TRAVEL_MIB = 64
#: the tracked paths a training call needs (prefixes); ``slim`` takes every other tracked file out
KEEP = ("faceanim/", "bench/gpu_emotion.py", "pyproject.toml", ".gitignore")
PIECE_MIB = 15  # files back from $OUT: at most 16 MiB each, 8 files


def _git(*args: str, root: Path = ROOT, input: str | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=root, input=input, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"git {' '.join(args[:2])} failed: {out.stderr.strip()}")
    return out.stdout


def travelling(root: Path = ROOT, carry: list[Path] = ()) -> int:
    """Bytes a device call would take from ``root``: the tracked and untracked-not-ignored files there, and
    ``carry``."""
    names = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard", root=root).split("\0")
    files = {root / n for n in names if n} | {Path(c) for c in carry}
    return sum(f.stat().st_size for f in files if f.is_file())


def pack(out: Path = PACK, fer=None) -> Path:
    """FER-2013's Training + PublicTest faces (``fer``: a :class:`~faceanim.data.FER2013`, loaded if None) as
    one file of lossless WebP bytes with their labels (and FER+ votes); decoded here once to check that every
    face comes back exactly."""
    import cv2

    from faceanim.data import load_fer2013

    fer = fer if fer is not None else load_fer2013()
    keep = np.flatnonzero(fer.usage != "PrivateTest")
    blobs = []
    for img in fer.images[keep]:
        ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101])  # 101: lossless
        if not ok:
            raise SystemExit("this OpenCV cannot write WebP; install opencv-python-headless")
        blobs.append(buf.ravel())
    arrays = {"webp": np.concatenate(blobs), "offsets": np.cumsum([0] + [len(b) for b in blobs]),
              "labels": fer.labels[keep], "usage": fer.usage[keep].astype("U11")}
    if fer.ferplus_votes is not None:
        arrays["ferplus_votes"] = fer.ferplus_votes[keep]
    if fer.exact is not None:
        arrays["exact"] = fer.exact[keep]
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("fer_part*.npz"):  # the earlier layout (parts carried call by call)
        old.unlink()
    path = out / "fer.pack"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    if not np.array_equal(_decode(tmp)["images"], fer.images[keep]):
        tmp.unlink()
        raise SystemExit("the WebP faces did not decode to the same pixels; nothing written")
    tmp.replace(path)
    return path


def _decode(path: Path) -> dict:
    import cv2

    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    webp, off = arrays.pop("webp"), arrays.pop("offsets")
    faces = [cv2.imdecode(webp[a:b], cv2.IMREAD_GRAYSCALE) for a, b in zip(off[:-1], off[1:])]
    bad = [k for k, f in enumerate(faces) if f is None or f.shape != (48, 48)]
    if bad:
        raise SystemExit(f"{path}: {len(bad)} faces do not decode (first: #{bad[0]}); run `pack` again")
    arrays["images"] = np.stack(faces)
    return arrays


def assemble(pack_path: Path = PACK / "fer.pack", folder: Path = PACK) -> Path:
    """The pack as ``<folder>/data/fer2013/fer2013.npz`` (``FACEANIM_DATA`` then points at ``<folder>/data``)."""
    if not pack_path.is_file():
        raise SystemExit(f"{pack_path} is missing: run `pack` here and name it in the call's carry")
    target = folder / "data" / "fer2013" / "fer2013.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, **_decode(pack_path))
    return target


def _kept(name: str) -> bool:
    return any(name == k or (k.endswith("/") and name.startswith(k)) for k in KEEP)


def slim(root: Path = ROOT) -> list[str]:
    """Take every tracked file outside :data:`KEEP` out of the working tree and the index; refuses while any
    of them (or the index) differs from ``HEAD``. Returns the paths taken out (also in ``runs/gpu/slimmed.txt``)."""
    record = root / "runs" / "gpu" / "slimmed.txt"
    if record.exists():
        raise SystemExit(f"{record} exists: the tree is already slimmed; run `restore` first")
    names = [n for n in _git("ls-files", "-z", root=root).split("\0") if n and not _kept(n)]
    changed = _git("status", "--porcelain", "-z", "--untracked-files=no", "--", *names, root=root) if names else ""
    if changed.strip("\0"):
        first = changed.strip("\0").split("\0")[:5]
        raise SystemExit(f"refusing to slim: tracked files differ from HEAD ({', '.join(first)}); commit or stash first")
    if _git("diff", "--cached", "--name-only", root=root).strip():
        raise SystemExit("refusing to slim: the index holds staged changes; commit or unstage them first")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("\n".join(names) + "\n")
    _git("rm", "-q", "--pathspec-from-file=-", "--pathspec-file-nul", root=root, input="\0".join(names))
    return names


def restore(root: Path = ROOT) -> int:
    """Bring back what :func:`slim` took out, from ``HEAD``; returns how many files."""
    record = root / "runs" / "gpu" / "slimmed.txt"
    if not record.exists():
        print("nothing to restore: the tree was not slimmed (no runs/gpu/slimmed.txt)")
        return 0
    names = [n for n in record.read_text().splitlines() if n]
    _git("restore", "--source=HEAD", "--staged", "--worktree", "--pathspec-from-file=-", "--pathspec-file-nul",
         root=root, input="\0".join(names))
    missing = [n for n in names if not (root / n).exists()]
    if missing:
        raise SystemExit(f"{len(missing)} files did not come back (first: {missing[0]}); "
                         "`git restore --source=HEAD --staged --worktree .` brings back everything")
    record.unlink()
    return len(names)


def split(path: Path, out: Path, mib: int = PIECE_MIB) -> list[Path]:
    """``path`` in pieces ``<stem>.part<k>`` of at most ``mib`` MiB under ``out`` (each written atomically)."""
    data, pieces = path.read_bytes(), []
    out.mkdir(parents=True, exist_ok=True)
    for k, s in enumerate(range(0, len(data), mib * 2**20)):
        piece = out / f"{path.stem}.part{k}"
        tmp = out / f"{path.stem}.tmp"
        tmp.write_bytes(data[s:s + mib * 2**20])
        tmp.replace(piece)
        pieces.append(piece)
    return pieces


def train(args) -> dict:
    """Assemble the pack, size one schedule to ``args.minutes`` from the first epoch's time, train it, and keep
    ``$OUT`` holding the best weights so far; returns what ``run.json`` says."""
    if not args.minutes > 0 or args.epochs < 1:
        raise SystemExit(f"--minutes must be above 0 and --epochs at least 1 (got {args.minutes}, {args.epochs})")
    t_start = time.time()
    budget = args.minutes * 60
    os.environ["FACEANIM_DATA"] = str(assemble(Path(args.pack)).parent.parent)
    import torch

    from faceanim.data import load_fer2013
    from faceanim.emotion.model import NET_SIZES, NetConfig
    from faceanim.emotion.train import TrainConfig, train_emotion

    torch.backends.cudnn.benchmark = True
    fer = load_fer2013()
    out = Path(os.environ.get("OUT", PACK / "out"))
    out.mkdir(parents=True, exist_ok=True)
    size = NET_SIZES[args.net_size]

    def config(epochs: int) -> TrainConfig:
        return TrainConfig(epochs=epochs, lr=args.lr, batch_size=args.batch_size, mix=args.mix,
                           light_p=args.light_p, ferplus_mix=args.ferplus_mix, limit=args.limit, precision="auto",
                           net=NetConfig(widths=size["widths"], blocks=size["blocks"]))

    import shutil

    report = {"net_size": args.net_size, "minutes": args.minutes, "asked_epochs": args.epochs}
    run_dir = PACK / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # each call sizes its own schedule: never resume another's

    def on_epoch(row: dict, is_best: bool) -> None:
        if is_best:
            split(run_dir / "best.pt", out)
        hist.append(row)
        (out / "history.json").write_text(json.dumps(hist))
        report.update(epochs_done=row["epoch"], best_public_acc=max(r["public_acc"] for r in hist),
                      seconds=round(time.time() - t_start, 1))
        (out / "run.json").write_text(json.dumps(report, indent=1))

    hist: list[dict] = []
    first = train_emotion(config(args.epochs), run_dir=run_dir, data=fer, progress=False, stop_after=1,
                          device=args.device, on_epoch=on_epoch)
    per_epoch = float(first.history["seconds"].iloc[-1])  # with the warm-up: later epochs are no slower
    more = int((budget - (time.time() - t_start)) // (per_epoch * 1.05))
    epochs = args.epochs if more + 1 >= args.epochs else max(2, more)
    report.update(first_epoch_seconds=round(per_epoch, 2), epochs=epochs)
    if epochs != args.epochs:  # a shorter schedule, started afresh (its one-cycle shape depends on the length)
        shutil.rmtree(run_dir)
        hist.clear()
    result = train_emotion(config(epochs), run_dir=run_dir, data=fer, progress=False, device=args.device,
                           on_epoch=on_epoch)
    report.update(finished=len(result.history) == epochs, best_epoch=result.best_epoch,
                  best_public_acc=result.best_public_acc, seconds=round(time.time() - t_start, 1),
                  hardware=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    (out / "run.json").write_text(json.dumps(report, indent=1))
    print(result)
    print("wrote", ", ".join(sorted(p.name for p in out.iterdir())), "to", out)
    return report


def unpack(folder: Path, run_dir: Path = ROOT / "runs" / "emotion" / "gpu") -> Path:
    pieces = sorted(folder.glob("best.part*"), key=lambda p: int(p.suffix[len(".part"):]))
    if not pieces:
        raise SystemExit(f"no best.part* in {folder}")
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / "best.pt"
    target.write_bytes(b"".join(p.read_bytes() for p in pieces))
    for extra in ("history.json", "run.json"):
        if (folder / extra).exists():
            (run_dir / f"gpu_{extra}").write_bytes((folder / extra).read_bytes())
    return target


def _status(carry: Path) -> None:
    mib = travelling(ROOT, [carry] if carry.exists() else []) / 2**20
    print(f"a device call with carry=[{carry.relative_to(ROOT)}] would take {mib:.1f} MiB of {TRAVEL_MIB}"
          + ("" if carry.exists() else f" ({carry.name} is not packed yet)"))
    if mib > TRAVEL_MIB:
        print("too much: run `slim` first (and `restore` after the call)")
    else:
        print(f'the call: run(command="PYTHONUNBUFFERED=1 python3 bench/gpu_emotion.py train --minutes 8", '
              f'carry=["{carry.relative_to(ROOT)}"], timeout_s=600); then `restore` here')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    sub.add_parser("pack", help="here: FER-2013 Training + PublicTest as lossless WebP in runs/gpu/fer.pack")
    sub.add_parser("slim", help="here: take tracked files training does not need out of the tree, for the call")
    sub.add_parser("restore", help="here: bring back what slim took out, from HEAD")
    sub.add_parser("status", help="here: what a call would take now")
    t = sub.add_parser("train", help="there: assemble the pack, train, keep the best weights in $OUT")
    t.add_argument("--epochs", type=int, default=120, help="at most this many (fewer where --minutes says)")
    t.add_argument("--minutes", type=float, default=8.0, help="the training's share of the call")
    t.add_argument("--lr", type=float, default=0.1)
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--net-size", default="wide", choices=["base", "wide"])
    t.add_argument("--mix", default="both", choices=["none", "mixup", "cutmix", "both"])
    t.add_argument("--light-p", type=float, default=0.3)
    t.add_argument("--ferplus-mix", type=float, default=0.5)
    t.add_argument("--limit", type=int, default=None)
    t.add_argument("--device", default=None)
    t.add_argument("--pack", default=str(PACK / "fer.pack"))
    u = sub.add_parser("unpack", help="here: join the returned pieces into runs/emotion/gpu/best.pt")
    u.add_argument("folder", type=Path)
    args = ap.parse_args()
    carry = PACK / "fer.pack"
    if args.step == "pack":
        path = pack()
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 2**20:.1f} MiB")
        _status(carry)
    elif args.step == "slim":
        names = slim()
        print(f"took {len(names)} tracked files out (listed in runs/gpu/slimmed.txt); `restore` brings them back")
        _status(carry)
    elif args.step == "restore":
        print(f"restored {restore()} files")
    elif args.step == "status":
        _status(carry)
    elif args.step == "train":
        from faceanim.errors import FaceanimError

        try:
            train(args)
        except FaceanimError as exc:  # a bad setting or missing data: its message, not a traceback
            raise SystemExit(f"gpu_emotion train: {exc}") from None
    else:
        print(unpack(args.folder))


if __name__ == "__main__":
    main()
