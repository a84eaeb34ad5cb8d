"""bench/gpu_emotion.py: the one-call GPU training plan, checked on the CPU (no GPU is needed or used).

The data goes as lossless WebP and must decode to the same pixels; ``slim`` must never take out a file with
uncommitted changes and ``restore`` must bring back every file exactly; ``train`` must leave the best weights
in ``$OUT`` in pieces that join into a checkpoint the export can load.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
from pathlib import Path

import numpy as np
import pytest

from faceanim.data import FER2013

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gpu():
    spec = importlib.util.spec_from_file_location("gpu_emotion", ROOT / "bench" / "gpu_emotion.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fer(n: int = 160, seed: int = 0) -> FER2013:
    rng = np.random.default_rng(seed)
    usage = np.array(["Training"] * (n // 2) + ["PublicTest"] * (n // 4) + ["PrivateTest"] * (n - n // 2 - n // 4))
    # smooth faces and pure noise: both must survive the WebP round trip bit for bit
    ramp = np.add.outer(np.arange(48), np.arange(48))
    images = np.stack([(ramp + k) % 256 if k % 2 else rng.integers(0, 256, (48, 48)) for k in range(n)]).astype(np.uint8)
    votes = rng.integers(0, 5, (n, 10))
    return FER2013(images=images, labels=rng.integers(0, 7, n), usage=usage, ferplus_votes=votes,
                   exact=np.ones(n, bool), source="synthetic")


def test_pack_is_lossless_and_leaves_private_test_out(gpu, tmp):
    fer = _fer()
    path = gpu.pack(tmp, fer=fer)
    back = gpu._decode(path)
    keep = fer.usage != "PrivateTest"
    assert np.array_equal(back["images"], fer.images[keep])
    assert np.array_equal(back["labels"], fer.labels[keep])
    assert np.array_equal(back["ferplus_votes"], fer.ferplus_votes[keep])
    assert "PrivateTest" not in set(back["usage"].tolist())
    target = gpu.assemble(path, tmp / "device")
    from faceanim.data import load_fer2013

    loaded = load_fer2013(target, ferplus=False)
    assert len(loaded) == keep.sum() and np.array_equal(loaded.images, fer.images[keep])


def _repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    for name, size in {"faceanim/__init__.py": 10, "faceanim/emotion/train.py": 20, "bench/gpu_emotion.py": 30,
                       "bench/other.py": 40, "pyproject.toml": 5, "weights/big.pt": 3 * 2**20,
                       "reports/shot.png": 2**20, "README.md": 50}.items():
        f = repo / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    (repo / ".gitignore").write_text("runs/\n")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["add", "-A"], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "init"], cwd=repo, check=True)
    return repo


def test_slim_keeps_what_training_needs_and_restore_brings_back_everything(gpu, tmp):
    repo = _repo(tmp)
    before = {p.relative_to(repo): p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    full = gpu.travelling(repo)
    taken = gpu.slim(repo)
    assert sorted(taken) == ["README.md", "bench/other.py", "reports/shot.png", "weights/big.pt"]
    assert not (repo / "weights/big.pt").exists() and (repo / "faceanim/emotion/train.py").exists()
    assert gpu.travelling(repo) < full - 4 * 2**20  # the big files no longer travel
    with pytest.raises(SystemExit, match="already slimmed"):
        gpu.slim(repo)
    assert gpu.restore(repo) == 4
    after = {p.relative_to(repo): p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert status.strip() == ""
    assert gpu.restore(repo) == 0  # nothing left to restore


def test_slim_refuses_uncommitted_work(gpu, tmp):
    repo = _repo(tmp)
    (repo / "weights/big.pt").write_bytes(b"my new weights")
    with pytest.raises(SystemExit, match="differ from HEAD"):
        gpu.slim(repo)
    assert (repo / "weights/big.pt").read_bytes() == b"my new weights"
    assert not (repo / "runs/gpu/slimmed.txt").exists()


def test_train_leaves_the_best_weights_in_out_and_they_unpack(gpu, tmp, monkeypatch):
    fer = _fer(n=320)
    path = gpu.pack(tmp / "pack", fer=fer)
    monkeypatch.setattr(gpu, "PACK", tmp / "work")
    out = tmp / "out"
    monkeypatch.setenv("OUT", str(out))
    monkeypatch.setenv("FACEANIM_DATA", str(tmp / "data"))  # train() points it at its assembled data: undone after
    args = argparse.Namespace(epochs=3, minutes=5.0, lr=0.05, batch_size=32, net_size="base", mix="both",
                              light_p=0.3, ferplus_mix=0.5, limit=None, device="cpu", pack=str(path))
    report = gpu.train(args)
    assert report["epochs"] == 3 and report["finished"] and report["epochs_done"] == 3
    assert sorted(p.name for p in out.iterdir()) == ["best.part0", "history.json", "run.json"]
    best = gpu.unpack(out, tmp / "runs" / "gpu")
    from faceanim.emotion.train import load_checkpoint

    state = load_checkpoint(best)
    assert state["epoch"] == report["best_epoch"]
    assert abs(state["public_acc"] - report["best_public_acc"]) < 1e-9
    # a budget that fits fewer epochs than asked sizes a shorter schedule, started afresh
    args.epochs, args.minutes = 500, 0.05
    short = gpu.train(args)
    assert 2 <= short["epochs"] < 500 and short["epochs_done"] == short["epochs"]
    args.minutes = 0
    with pytest.raises(SystemExit, match="--minutes must be above 0"):
        gpu.train(args)


def test_a_damaged_pack_says_so(gpu, tmp):
    path = gpu.pack(tmp, fer=_fer(n=40))
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["webp"][arrays["offsets"][3]:arrays["offsets"][4]] = 0  # one face's bytes wiped
    with open(path, "wb") as f:  # a handle: np.savez would add ".npz" to the name
        np.savez(f, **arrays)
    with pytest.raises(SystemExit, match="1 faces do not decode"):
        gpu.assemble(path, tmp / "device")
