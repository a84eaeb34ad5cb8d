"""Trained weights under ``weights/``: each ``<name>.pt`` has a ``<name>.json`` beside it with its
SHA-256, the command that made it and what it measured. Loading verifies the checksum first, so a
truncated download or a Git LFS pointer gives a clear :class:`~faceanim.errors.WeightsError`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._atomic import atomic_path, write_json
from .config import weights_dir
from .errors import WeightsError

__all__ = ["sha256", "save_weights", "load_weights", "weights_metadata", "weights_info", "available_weights",
           "weights_paths", "WeightsInfo", "StateWeights"]


@dataclass(frozen=True)
class WeightsInfo:
    """What a weights file's metadata (``<name>.json``) says, typed; anything else is in :attr:`extra`.

    Attributes:
        name, kind: the file's name in ``weights/`` and what it holds (``emotion``, ``animator_refiner`` ...).
        sha256, bytes: the checksum loading verifies, and the size.
        command: the command that made it (empty where unknown).
        hardware, torch: where and with which torch it was made.
    """

    name: str
    kind: str
    sha256: str
    bytes: int = 0
    command: str = ""
    hardware: str = ""
    torch: str = ""
    extra: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, meta: dict) -> "WeightsInfo":
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(**{k: meta.get(k, "" if k != "bytes" else 0) for k in known},
                   extra={k: v for k, v in meta.items() if k not in known})


class StateWeights:
    """Mixin for parts saved as a plain state dict: ``Part.load(name, root)`` = checked file -> ``from_state``.
    A subclass sets ``weights_kind`` (also its default file name) and implements ``from_state``."""

    weights_kind: str = ""

    @classmethod
    def from_state(cls, state: dict):
        raise NotImplementedError

    @classmethod
    def load(cls, name: str | None = None, root: str | os.PathLike | None = None):
        state, _ = load_weights(name or cls.weights_kind, root=root, kind=cls.weights_kind)
        return cls.from_state(state)


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_paths(name: str, root: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """``(<root>/<name>.pt, <root>/<name>.json)``; ``root`` defaults to the repository's ``weights/``."""
    root = Path(root) if root is not None else weights_dir()
    return root / f"{name}.pt", root / f"{name}.json"


def save_weights(state: dict, name: str, metadata: dict, root: str | os.PathLike | None = None) -> Path:
    """Write ``state`` (a dict for ``torch.save``) as ``<root>/<name>.pt`` plus its checksummed metadata."""
    import torch

    pt, meta = weights_paths(name, root)
    with atomic_path(pt) as tmp:
        torch.save(state, tmp)
    write_json(meta, {**metadata, "name": name, "file": pt.name, "sha256": sha256(pt),
                      "bytes": pt.stat().st_size})
    return pt


def weights_metadata(name: str, root: str | os.PathLike | None = None) -> dict:
    pt, meta = weights_paths(name, root)
    if not meta.exists():
        known = ", ".join(available_weights(root=root)) or "none"
        raise WeightsError(f"no weights named {name!r} in {meta.parent} (found: {known}). Train them with "
                           f"`faceanim train emotion` (recognizers) or `faceanim train animator` (the animator's "
                           f"parts), or check out the repository's weights/ folder.")
    return json.loads(meta.read_text())


def weights_info(name: str, root: str | os.PathLike | None = None) -> WeightsInfo:
    """The typed metadata of weights ``name`` (no checksum check: see :func:`load_weights`)."""
    return WeightsInfo.from_dict(weights_metadata(name, root))


def load_weights(name: str, root: str | os.PathLike | None = None, kind: str | None = None) -> tuple[dict, dict]:
    """``(state, metadata)`` for ``name``, after checking the file's SHA-256 against its metadata."""
    import torch

    meta = weights_metadata(name, root)
    pt, _ = weights_paths(name, root)
    if kind is not None and meta.get("kind") != kind:
        raise WeightsError(f"weights {name!r} are {meta.get('kind')!r} weights, not {kind!r}")
    if not pt.exists():
        raise WeightsError(f"{pt} is missing (its metadata {pt.with_suffix('.json').name} is there). "
                           "Restore it from the repository (git checkout weights/) or retrain.")
    digest = sha256(pt)
    if digest != meta["sha256"]:
        raise WeightsError(f"{pt} is damaged or not the file its metadata describes (sha256 {digest[:12]}..., "
                           f"expected {meta['sha256'][:12]}...). If it is a Git LFS pointer run `git lfs pull`; "
                           "otherwise restore it with git checkout or retrain.")
    return torch.load(pt, map_location="cpu", weights_only=False), meta


def available_weights(kind: str | None = None, root: str | os.PathLike | None = None) -> list[str]:
    root = Path(root) if root is not None else weights_dir()
    out = []
    for meta in sorted(root.glob("*.json")):
        try:
            info = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if "sha256" in info and (kind is None or info.get("kind") == kind):
            out.append(meta.stem)
    return out
