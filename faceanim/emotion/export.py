"""Turn a finished training run into committed weights: pick the PublicTest-best epoch, fit the
intensity head on CK+ (all subjects) and FER+ anchors, and write ``weights/<name>.pt`` + ``.json``."""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from pathlib import Path

from ..config import has_dataset
from ..data import load_fer2013
from ..errors import SettingError, WeightsError
from ..labels import EMOTIONS
from ..weights import save_weights, weights_paths
from .intensity import align_ckplus, fit_final_head
from .model import EmotionNet, NetConfig
from .recognizer import DEFAULT_THRESHOLD
from .train import load_checkpoint

logger = logging.getLogger(__name__)

__all__ = ["export_emotion_weights", "write_recognizer", "refuse_overwrite"]


def refuse_overwrite(name: str, root: str | os.PathLike | None = None, overwrite: bool = False) -> None:
    """Raise :class:`SettingError` where weights ``name`` exist already and ``overwrite`` is off (the committed
    recognizers are not replaced by a run that forgot ``--name``)."""
    _, meta = weights_paths(name, root)
    if meta.exists() and not overwrite:
        raise SettingError(f"weights {name!r} exist already ({meta}); choose another name (--name) or pass "
                           "--overwrite to replace them")


def export_emotion_weights(run_dir: str | os.PathLike, name: str = "emotion_resnet", ck=None, fer=None,
                           root: str | os.PathLike | None = None, command: str | None = None,
                           progress: bool = True, overwrite: bool = False) -> Path:
    """Write ``<root>/<name>.pt`` from ``run_dir/best.pt`` with a fitted intensity head; returns its path.

    ``training_seconds`` is the time until the chosen epoch; ``training_seconds_all_epochs`` the whole run.
    Existing weights of that name are replaced only with ``overwrite``.
    """

    refuse_overwrite(name, root, overwrite)
    best = Path(run_dir) / "best.pt"
    if not best.exists():
        raise WeightsError(f"{best} does not exist: train first (`faceanim train emotion --run-dir {run_dir}`)")
    state = load_checkpoint(best)
    cfg = state["config"]
    model = EmotionNet(NetConfig.from_dict(cfg["net"]))
    model.load_state_dict(state["model"])
    record = {
        "train_config": {k: v for k, v in cfg.items() if k != "net"},
        "epoch": state["epoch"], "public_test_accuracy": state["public_acc"],
        "history": state["history"], "training_seconds": round(state["seconds"], 1),
        "training_seconds_all_epochs": round(sum(r["seconds"] for r in _full_history(Path(run_dir), state)), 1),
        "hardware": state["hardware"], "torch": state["torch"],
        "protocol": "FER-2013 Training fits, PublicTest picks the epoch; PrivateTest is only read by "
                    "`faceanim evaluate emotion`." + (
                        f" Also fitted on the training people of {cfg['extra']} (their held-out people, "
                        "faceanim.emotion.crossdata.heldout_mask, never)." if cfg.get("extra") else ""),
    }
    if cfg.get("init_from"):  # a warm restart: count the run it started from too
        base = _init_record(Path(cfg["init_from"]))
        record["init_from"] = {"path": cfg["init_from"], **base}
        if base.get("seconds") is not None:
            record["training_seconds_including_init"] = round(state["seconds"] + base["seconds"], 1)
    return write_recognizer(model, name, record, ck=ck, fer=fer, root=root, command=command, progress=progress)


def write_recognizer(model: EmotionNet, name: str, record: dict, ck=None, fer=None,
                     root: str | os.PathLike | None = None, command: str | None = None,
                     progress: bool = True) -> Path:
    """Fit ``model``'s intensity head on CK+ (all subjects) and FER+ anchors, then write it as weights ``name``
    with ``record`` (how it was made) in its metadata; returns the ``.pt`` path."""
    model.eval()
    t0 = time.time()
    head: dict = {"trained_on": "none (no CK+ sequences found): intensity is untrained"}
    if ck is None and has_dataset("ckplus_sequences"):
        ck = align_ckplus(progress=progress)
    if ck is not None:
        w, b = fit_final_head(model, ck, fer if fer is not None else load_fer2013())
        head = {"trained_on": f"CK+ {len(ck)} sequences / {len(set(ck.subjects))} subjects (pairwise order, "
                              "neutral/apex anchors, position as ordinal soft target) and FER+ consensus faces "
                              "of FER-2013 Training (ranking)",
                "seconds": round(time.time() - t0, 1)}
        logger.info(f"intensity head fitted on {len(ck)} CK+ sequences ({head['seconds']} s)")
    metadata = {
        "kind": "emotion",
        "classes": list(EMOTIONS),
        "input": "48x48 gray face aligned with faceanim's 'fer' template (FER-2013 framing)",
        "net": model.config.to_dict(), **record,
        "parameters": sum(p.numel() for p in model.parameters()),
        "intensity_head": head, "default_threshold": DEFAULT_THRESHOLD,
        "command": command or " ".join(shlex.quote(a) for a in ["faceanim", *sys.argv[1:]]),
    }
    path = save_weights({"model": model.state_dict()}, name, metadata, root=root)
    logger.info(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


def _init_record(init: Path) -> dict:
    """Epochs and seconds of what a warm restart started from: a run's checkpoint, or committed weights (whose
    .json beside them has their history)."""
    import json

    base = load_checkpoint(init)
    if "history" in base:
        return {"epochs": len(base["history"]), "seconds": round(base["seconds"], 1)}
    meta_path = init.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    seconds = meta.get("training_seconds_including_init", meta.get("training_seconds"))
    return {"weights": init.stem, "epochs": len(meta.get("history", [])) or None,
            "seconds": None if seconds is None else round(float(seconds), 1)}


def _full_history(run_dir: Path, best_state: dict) -> list[dict]:
    """Every epoch of the run (``best.pt`` stops at the chosen epoch; ``checkpoint.pt`` has them all)."""

    last = run_dir / "checkpoint.pt"
    return load_checkpoint(last)["history"] if last.exists() else best_state["history"]
