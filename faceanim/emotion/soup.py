"""One network from several: the weights of recognizers fine-tuned from one another, averaged.

A *model soup* (Wortsman et al., ICML 2022, "Model soups: averaging weights of multiple fine-tuned models
improves accuracy without increasing inference time") averages the weights of networks that share a
starting point. Where they stay in one basin of the loss, the average reads like their ensemble at the cost
of one network: the same speed, the same file size, a single model. Every recognizer shipped here descends
from ``emotion_resnet`` (warm restarts, cartoon styles, other datasets' training people), so they can be
mixed this way.

:func:`greedy_soup` is the paper's greedy recipe, chosen on PublicTest only: the candidates in order of
their own PublicTest accuracy, each kept if the average with it does not read PublicTest worse than the
soup without it. PrivateTest is never read here. BatchNorm's running statistics are averaged with the
rest of the weights.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import SettingError
from ..runtime import Compute, compute, hardware_string
from .model import EmotionNet, NetConfig, predict_logits

logger = logging.getLogger(__name__)

__all__ = ["SoupResult", "Ingredient", "load_ingredient", "average_states", "greedy_soup", "export_soup"]


@dataclass
class SoupResult:
    """What :func:`greedy_soup` chose.

    Attributes:
        ingredients: the networks averaged, in the order they were added.
        tried: one row per candidate: its PublicTest accuracy alone, the soup's with it added, whether it was kept.
        public_acc: the soup's PublicTest accuracy (flip TTA).
        net: the architecture shared by every ingredient (:class:`NetConfig` as a dict).
        state: the averaged ``state_dict``.
    """

    ingredients: list[Ingredient]
    tried: "pandas.DataFrame"  # noqa: F821
    public_acc: float
    net: dict
    state: dict = field(repr=False)

    def model(self) -> EmotionNet:
        net = EmotionNet(NetConfig.from_dict(self.net))
        net.load_state_dict(self.state)
        return net.eval()

    def __repr__(self) -> str:
        return (f"SoupResult({len(self.ingredients)} of {len(self.tried)} kept: "
                f"{', '.join(x.label for x in self.ingredients)}; "
                f"PublicTest {self.public_acc:.4f})")


@dataclass
class Ingredient:
    """A candidate network: ``label`` (weights name or checkpoint path), its ``state`` and architecture
    (``net``), and what it was fitted on beyond FER-2013 Training (``extra``, :attr:`TrainConfig.extra`)."""

    label: str
    state: dict = field(repr=False)
    net: dict = field(repr=False)
    extra: str = ""
    command: str | None = None


def load_ingredient(ref: str | os.PathLike, root: str | os.PathLike | None = None) -> Ingredient:
    """A candidate by the name of weights in ``weights/`` (or ``root``) or the path of a training run's
    ``best.pt`` / ``checkpoint.pt``."""
    from ..weights import available_weights, load_weights
    from .train import load_checkpoint

    ref = str(ref)
    if ref in available_weights(kind="emotion", root=root):
        state, meta = load_weights(ref, root=root, kind="emotion")
        return Ingredient(ref, state["model"], dict(meta["net"]), meta.get("train_config", {}).get("extra", ""),
                          meta.get("command"))
    path = Path(ref)
    if not path.is_file():
        known = ", ".join(available_weights(kind="emotion", root=root)) or "none"
        raise SettingError(f"{ref!r} is neither emotion weights (found: {known}) nor a training run's best.pt / "
                           "checkpoint.pt")
    try:
        state = load_checkpoint(path)
    except Exception as exc:  # not a torch file, truncated, another pickle
        raise SettingError(f"{path} could not be read as a training checkpoint ({type(exc).__name__}); give a "
                           "run's best.pt or checkpoint.pt") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise SettingError(f"{path} holds no emotion network; give a run's best.pt or checkpoint.pt")
    return Ingredient(str(path), state["model"], dict(state["config"]["net"]), state["config"].get("extra", ""))


def average_states(states: list[dict], weights: list[float] | None = None) -> dict:
    """The weighted mean of ``state_dict``s of one architecture (counters such as BatchNorm's
    ``num_batches_tracked`` are taken from the first)."""
    if not states:
        raise SettingError("nothing to average: give at least one network")
    weights = [1.0 / len(states)] * len(states) if weights is None else list(weights)
    if len(weights) != len(states) or abs(sum(weights) - 1.0) > 1e-6 or min(weights) < 0:
        raise SettingError(f"soup weights must be one per network, non-negative, summing to 1 (got {weights})")
    keys = set(states[0])
    for s in states[1:]:
        if set(s) != keys or any(s[k].shape != states[0][k].shape for k in keys):
            raise SettingError("these networks have different architectures and cannot be averaged")
    out = {}
    for k, first in states[0].items():
        if first.is_floating_point():
            out[k] = sum(w * s[k].float() for w, s in zip(weights, states)).to(first.dtype)
        else:
            out[k] = first.clone()
    return out


def _public_acc(state: dict, net: dict, public, settings: Compute) -> float:
    model = EmotionNet(NetConfig.from_dict(net))
    model.load_state_dict(state)
    logits = predict_logits(model, public.images, flip_tta=True, settings=settings).logits
    return float((logits.argmax(1).numpy() == public.labels).mean())


def greedy_soup(candidates: list[str | os.PathLike], fer=None, settings: Compute | None = None,
                root: str | os.PathLike | None = None, progress: bool = True) -> SoupResult:
    """Average as many of ``candidates`` (weights names or runs' checkpoints, one architecture) as help on
    PublicTest: best alone first, then each in turn kept if the soup reads PublicTest at least as well
    with it (Wortsman et al.'s greedy soup)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from ..data import load_fer2013

    if len(candidates) < 1:
        raise SettingError("give at least one candidate network")
    settings = settings or compute()
    fer = fer if fer is not None else load_fer2013()
    public = fer.split("PublicTest")
    loaded = [load_ingredient(c, root) for c in candidates]
    if any(NetConfig.from_dict(x.net) != NetConfig.from_dict(loaded[0].net) for x in loaded[1:]):
        raise SettingError("the candidates have different architectures (net configs); a soup needs one")
    net = loaded[0].net
    alone = [_public_acc(x.state, net, public, settings)
             for x in tqdm(loaded, desc="candidates on PublicTest", disable=not progress)]
    order = sorted(range(len(loaded)), key=lambda i: -alone[i])
    kept = [order[0]]
    best_acc, best_state = alone[order[0]], loaded[order[0]].state
    rows = [{"candidate": loaded[order[0]].label, "alone": alone[order[0]], "soup_with_it": best_acc, "kept": True}]
    for i in tqdm(order[1:], desc="greedy soup", disable=not progress):
        state = average_states([loaded[j].state for j in kept + [i]])
        acc = _public_acc(state, net, public, settings)
        keep = acc >= best_acc
        rows.append({"candidate": loaded[i].label, "alone": alone[i], "soup_with_it": acc, "kept": keep})
        if keep:
            kept.append(i)
            best_acc, best_state = acc, state
        logger.info(f"soup + {loaded[i].label}: PublicTest {acc:.4f} ({'kept' if keep else 'left out'})")
    return SoupResult(ingredients=[loaded[j] for j in kept], tried=pd.DataFrame(rows), public_acc=best_acc,
                      net=net, state=best_state)


def export_soup(result: SoupResult, name: str, root: str | os.PathLike | None = None, command: str | None = None,
                overwrite: bool = False, ck=None, fer=None, progress: bool = True) -> Path:
    """Write the soup as recognizer weights ``name``, its CK+ intensity head fitted as for a training run
    (:func:`~faceanim.emotion.export.write_recognizer`; ``ck`` / ``fer`` as there)."""
    from .export import refuse_overwrite, write_recognizer

    refuse_overwrite(name, root, overwrite)
    parts = [{"name": x.label, "extra": x.extra, "command": x.command} for x in result.ingredients]
    extra = sorted({e.strip() for x in result.ingredients for e in x.extra.split(",") if e.strip()})
    record = {
        # what any ingredient was fitted on beyond FER-2013 Training (their held-out people never)
        "train_config": {"extra": ",".join(extra)},
        "public_test_accuracy": result.public_acc,
        "soup": {"method": "greedy soup (Wortsman et al. 2022): candidates by PublicTest accuracy, each kept if "
                           "the uniform average with it reads PublicTest at least as well",
                 "ingredients": parts,
                 "tried": result.tried.to_dict(orient="records")},
        "hardware": hardware_string(torch.device("cpu")), "torch": torch.__version__,
        "protocol": "PublicTest chose the ingredients; PrivateTest is only read by `faceanim evaluate emotion`." + (
            f" Ingredients were also fitted on the training people of {', '.join(extra)} (their held-out people, "
            "faceanim.emotion.crossdata.heldout_mask, never)." if extra else ""),
    }
    return write_recognizer(result.model(), name, record, ck=ck, fer=fer, root=root, command=command, progress=progress)
