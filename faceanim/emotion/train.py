"""Train the emotion network on FER-2013: resumable, seeded, on a GPU when there is one, bf16 where it is fast.

Protocol: FER-2013 ``Training`` fits the weights, ``PublicTest`` picks the epoch, ``PrivateTest`` is
never read here (``faceanim.emotion.evaluate`` measures it once, on the chosen weights).

Recipe (what is known to work on this dataset, sized for a CPU): batched on-the-fly augmentation
(flip, rotation, zoom, shift, occasional downscale blur, random erasing), targets that mix the FER-2013
label with the FER+ crowd votes (a data-driven label smoothing), SGD with Nesterov momentum and a
one-cycle schedule, flip test-time augmentation.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .._atomic import atomic_path, write_json
from ..errors import SettingError
from ..runtime import PRECISIONS, compute, hardware_string
from .model import EmotionNet, NetConfig, predict_logits, to_tensor

logger = logging.getLogger(__name__)

__all__ = ["TrainConfig", "TrainResult", "train_emotion", "soft_targets", "augment_batch", "mix_batch", "MIXES",
           "augmentation_preview",
           "load_checkpoint"]


#: the batch-mixing choices of :attr:`TrainConfig.mix`
MIXES = ("none", "mixup", "cutmix", "both")
#: the other datasets whose training people :attr:`TrainConfig.extra` may add (faceanim.emotion.crossdata)
EXTRA_SETS = ("ckplus48", "mead")


@dataclass
class TrainConfig:
    """Everything that decides a training run (saved with every checkpoint)."""

    epochs: int = field(default=50, metadata={"help": "epochs of the one-cycle schedule"})
    batch_size: int = field(default=128, metadata={"help": "faces per step"})
    lr: float = field(default=0.1, metadata={"help": "peak learning rate of the one-cycle schedule"})
    weight_decay: float = 5e-4
    momentum: float = 0.9
    #: weight of the FER+ vote distribution in the target (0 = one-hot FER-2013 labels)
    ferplus_mix: float = field(default=0.2, metadata={"help": "weight of FER+ votes in the targets (0-1)"})
    seed: int = field(default=0, metadata={"help": "random seed (initialisation, order, augmentation)"})
    rotation: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    shift: float = 0.1
    erase_p: float = 0.5
    blur_p: float = 0.15
    #: share of faces shown in a cartoon-like style (faceanim.style: cartoon, painted or sketch, strength 1-3,
    #: one styled copy per face drawn at random once per run), so the network reads drawn faces too
    style_p: float = field(default=0.0, metadata={"help": "share of faces shown in a cartoon-like style (0-1)"})
    #: faces of other datasets added to Training (faceanim.emotion.crossdata.training_faces: "ckplus48", "mead",
    #: comma-separated), their held-out people never included; each is shown ``extra_repeat`` times an epoch
    extra: str = field(default="", metadata={"help": "add these sets' training people: ckplus48, mead (comma-separated)"})
    extra_repeat: int = 3
    #: share of faces lit anew: a random gamma and a light falling off across the face in a random direction
    #: (studio video and phone photos are lit unlike FER's web images; brightness and contrast alone are
    #: taken out by the network's per-image standardisation)
    light_p: float = field(default=0.0, metadata={"help": "share of faces relit (gamma, a light gradient) (0-1)"})
    #: batch mixing (Zhang et al. 2018 mixup; Yun et al. 2019 cutmix): "none", "mixup", "cutmix" or "both"
    #: (each mixed batch picks one); images and targets are mixed with a Beta(mix_alpha, mix_alpha) share
    mix: str = field(default="none", metadata={"help": "batch mixing: none, mixup, cutmix or both"})
    mix_p: float = field(default=0.5, metadata={"help": "share of batches mixed (with --mix)"})
    mix_alpha: float = 1.0
    #: "auto" (bf16 where the machine runs it fast, see faceanim.runtime), "fp32" or "bf16"
    precision: str = "auto"
    threads: int | None = field(default=None, metadata={"help": "CPU threads (default: torch's)", "type": int})
    #: use at most this many Training faces (quick runs and tests); None = all
    limit: int | None = field(default=None, metadata={
        "help": "use at most this many Training faces (smoke runs)", "type": int})
    #: start from the weights of another run (its best.pt or checkpoint.pt) with a fresh schedule: a warm
    #: restart that continues an under-trained model; None = random initialisation
    init_from: str | None = field(default=None, metadata={
        "help": "start from another run's best.pt / checkpoint.pt with a fresh schedule (warm restart)", "type": str})
    net: NetConfig = field(default_factory=NetConfig)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["net"] = self.net.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        d["net"] = NetConfig.from_dict(d.get("net", {}))
        d["scale"] = tuple(d["scale"])
        if "bf16" in d:  # checkpoints from before the precision setting: bf16 was always on
            d["precision"] = "bf16" if d.pop("bf16") else "fp32"
        return cls(**d)

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise SettingError(f"epochs must be >= 1 and batch_size >= 2 (got {self.epochs}, {self.batch_size})")
        if not 0.0 <= self.style_p <= 1.0:
            raise SettingError(f"style_p must be in [0, 1], got {self.style_p}")
        if not 0.0 <= self.ferplus_mix <= 1.0:
            raise SettingError(f"ferplus_mix must be in [0, 1], got {self.ferplus_mix}")
        unknown = [n for n in (x.strip() for x in self.extra.split(",")) if n and n not in EXTRA_SETS]
        if unknown:
            raise SettingError(f"unknown training set(s) {', '.join(unknown)} in extra; choose from {', '.join(EXTRA_SETS)}")
        if not 0.0 <= self.light_p <= 1.0 or self.extra_repeat < 1:
            raise SettingError(f"light_p must be in [0, 1] and extra_repeat >= 1 (got {self.light_p}, {self.extra_repeat})")
        if self.mix not in MIXES:
            raise SettingError(f"mix must be one of {', '.join(MIXES)}, got {self.mix!r}")
        if not 0.0 <= self.mix_p <= 1.0 or self.mix_alpha <= 0:
            raise SettingError(f"mix_p must be in [0, 1] and mix_alpha positive (got {self.mix_p}, {self.mix_alpha})")
        if self.lr <= 0:
            raise SettingError(f"lr must be positive, got {self.lr}")
        if self.precision not in PRECISIONS:
            raise SettingError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


@dataclass
class TrainResult:
    run_dir: Path
    best_path: Path
    history: "pandas.DataFrame"  # noqa: F821
    best_epoch: int
    best_public_acc: float
    seconds: float

    def __repr__(self) -> str:
        return (f"TrainResult(best epoch {self.best_epoch}, PublicTest {self.best_public_acc:.4f}, "
                f"{len(self.history)} epochs, {self.seconds / 60:.1f} min, {self.run_dir})")


def soft_targets(labels: np.ndarray, ferplus: np.ndarray | None, mix: float, n_classes: int = 7) -> np.ndarray:
    """``(1 - mix) * one_hot(label) + mix * q``: ``q`` is the ``(N, 7)`` FER+ vote share, uniform where NaN/None."""
    onehot = np.eye(n_classes, dtype=np.float32)[labels]
    if mix == 0:
        return onehot
    q = np.full_like(onehot, 1.0 / n_classes)
    if ferplus is not None:
        dist = np.asarray(ferplus, np.float32)
        has = ~np.isnan(dist).any(1)
        q[has] = dist[has]
    return (1 - mix) * onehot + mix * q


def augment_batch(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Augment a ``(N, 1, H, W)`` batch in [0, 1] in a few tensor ops (cheap next to the network)."""
    n, _, h, w = x.shape
    dev = x.device

    def u(lo, hi, size=(n,)):
        return torch.rand(size, generator=gen).to(dev) * (hi - lo) + lo

    angle = u(-cfg.rotation, cfg.rotation) * math.pi / 180
    zoom = u(*cfg.scale)
    flip = (torch.rand(n, generator=gen) < 0.5).to(dev).float() * -2 + 1
    tx, ty = u(-cfg.shift, cfg.shift) * 2, u(-cfg.shift, cfg.shift) * 2
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if cfg.blur_p > 0:
        pick = torch.rand(n, generator=gen) < cfg.blur_p
        if pick.any():
            idx = pick.nonzero().squeeze(1).to(dev)
            small = F.interpolate(x[idx], size=(h // 2, w // 2), mode="area")
            x = x.clone()
            x[idx] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    if cfg.light_p > 0:
        on = (torch.rand(n, generator=gen) < cfg.light_p).to(dev).view(n, 1, 1, 1)
        gamma = torch.exp(u(math.log(0.6), math.log(1.6))).view(n, 1, 1, 1)
        direction = u(0, 2 * math.pi)
        ys = torch.linspace(-1, 1, h, device=dev).view(1, 1, h, 1)
        xs = torch.linspace(-1, 1, w, device=dev).view(1, 1, 1, w)
        ramp = torch.cos(direction).view(n, 1, 1, 1) * xs + torch.sin(direction).view(n, 1, 1, 1) * ys
        light = 1 + u(0.0, 0.6).view(n, 1, 1, 1) * ramp
        x = torch.where(on, (x.clamp_min(0) ** gamma * light).clamp(0, 1), x)
    if cfg.erase_p > 0:
        area = u(0.02, 0.2)
        aspect = torch.exp(u(math.log(0.3), math.log(3.3)))
        eh = (torch.sqrt(area * aspect) * h).clamp(1, h - 1)
        ew = (torch.sqrt(area / aspect) * w).clamp(1, w - 1)
        y0 = torch.rand(n, generator=gen).to(dev) * (h - eh)
        x0 = torch.rand(n, generator=gen).to(dev) * (w - ew)
        ys = torch.arange(h, device=dev).view(1, h, 1)
        xs = torch.arange(w, device=dev).view(1, 1, w)
        box = ((ys >= y0.view(n, 1, 1)) & (ys < (y0 + eh).view(n, 1, 1))
               & (xs >= x0.view(n, 1, 1)) & (xs < (x0 + ew).view(n, 1, 1)))
        on = (torch.rand(n, generator=gen) < cfg.erase_p).to(dev).view(n, 1, 1)
        noise = torch.rand((n, h, w), generator=gen).to(dev)
        x = torch.where((box & on).unsqueeze(1), noise.unsqueeze(1), x)
    return x


def mix_batch(x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, gen: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix a batch with a shuffled copy of itself (``cfg.mix``), the targets in the same share as the pixels;
    unchanged when the batch is not drawn (``cfg.mix_p``) or mixing is off."""
    if cfg.mix == "none" or torch.rand(1, generator=gen).item() >= cfg.mix_p:
        return x, y
    kind = cfg.mix if cfg.mix != "both" else ("mixup" if torch.rand(1, generator=gen).item() < 0.5 else "cutmix")
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))  # the Beta draw follows the run's generator
    lam = float(np.random.default_rng(seed).beta(cfg.mix_alpha, cfg.mix_alpha))
    perm = torch.randperm(len(x), generator=gen).to(x.device)
    if kind == "mixup":
        return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]
    h, w = x.shape[2:]
    ch, cw = int(round(h * math.sqrt(1 - lam))), int(round(w * math.sqrt(1 - lam)))
    cy, cx = int(torch.randint(0, h, (1,), generator=gen)), int(torch.randint(0, w, (1,), generator=gen))
    y0, y1, x0, x1 = max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)
    x = x.clone()
    x[:, :, y0:y1, x0:x1] = x[perm][:, :, y0:y1, x0:x1]
    share = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the share of the pixels that stayed
    return x, share * y + (1 - share) * y[perm]


def augmentation_preview(images: np.ndarray, cfg: TrainConfig | None = None, seed: int = 0) -> list[np.ndarray]:
    """``(N, 48, 48)`` uint8 faces as :func:`augment_batch` (and :func:`mix_batch`, where ``cfg.mix`` is set)
    hand them to the network during training."""
    cfg = cfg or TrainConfig()
    gen = torch.Generator().manual_seed(seed)
    out = augment_batch(to_tensor(images), cfg, gen)
    out, _ = mix_batch(out, torch.zeros((len(out), 7)), cfg, gen)
    return [(o[0].numpy() * 255).round().astype(np.uint8) for o in out]


def styled_copies(images: np.ndarray, seed: int, cache: Path | None = None, progress: bool = True) -> torch.Tensor:
    """One styled copy of every face (style and strength drawn at random, seeded), as a tensor like
    :func:`~faceanim.emotion.model.to_tensor`'s; kept in ``cache`` (a .npy in the run folder) for resuming."""
    from tqdm.auto import tqdm

    from ..style import STRENGTHS, STYLES, stylize

    if cache is not None and cache.exists():
        styled = np.load(cache)
        if styled.shape == images.shape:
            return to_tensor(styled, torch.device("cpu"))
    rng = np.random.default_rng(seed + 7)
    picks = rng.integers(0, len(STYLES) * len(STRENGTHS), len(images))
    styled = np.stack([stylize(im, STYLES[k // len(STRENGTHS)], STRENGTHS[k % len(STRENGTHS)])
                       for im, k in zip(tqdm(images, desc="styling faces", disable=not progress), picks)])
    if cache is not None:
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, styled)
    return to_tensor(styled, torch.device("cpu"))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=False)


def _save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def train_emotion(config: TrainConfig | None = None, run_dir: str | os.PathLike = "runs/emotion",
                  data=None, progress: bool = True, stop_after: int | None = None,
                  device: str | None = None, on_epoch=None) -> TrainResult:
    """Train (or resume) a run in ``run_dir``; returns the history and the best (PublicTest) checkpoint.

    ``run_dir/checkpoint.pt`` is rewritten atomically after every epoch, so a killed run resumes where
    it stopped, losing at most the epoch in progress. ``stop_after`` ends this call after that many
    epochs (the run stays resumable). ``data`` is a :class:`~faceanim.data.FER2013` (loaded if None).
    ``on_epoch(row, is_best)`` is called after each epoch's files are written (``row``: its history entry;
    ``is_best``: ``best.pt`` was just rewritten), e.g. to copy the best weights somewhere as the run goes.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from ..data import load_fer2013

    cfg = config or TrainConfig()
    cfg.validate()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, best_path = run_dir / "checkpoint.pt", run_dir / "best.pt"
    settings = compute(cfg.precision, device=device, threads=cfg.threads)
    dev = settings.torch_device
    logger.info("training with %s", settings.describe())

    fer = data if data is not None else load_fer2013()
    train = fer.split("Training")
    if cfg.limit:
        train = train.subset(np.random.default_rng(cfg.seed).permutation(len(train))[: cfg.limit])
    public = fer.split("PublicTest")
    if cfg.limit:
        public = public.subset(np.arange(min(len(public), max(cfg.limit // 4, 64))))
    targets = torch.from_numpy(soft_targets(
        train.labels, train.ferplus_distribution() if train.ferplus_votes is not None else None, cfg.ferplus_mix))
    x_all = to_tensor(train.images, torch.device("cpu"))
    n_fer = len(x_all)
    if cfg.extra:
        from .crossdata import training_faces

        extra = training_faces(cfg.extra, progress=progress)
        logger.info(f"adding {len(extra)} faces of {cfg.extra} ({len(set(extra.people.tolist()))} people), "
                    f"each {cfg.extra_repeat} times an epoch")
        x_all = torch.cat([x_all] + [to_tensor(extra.images, torch.device("cpu"))] * cfg.extra_repeat)
        targets = torch.cat([targets] + [torch.from_numpy(soft_targets(extra.labels, None, cfg.ferplus_mix))]
                            * cfg.extra_repeat)
    x_style = styled_copies(train.images, cfg.seed, run_dir / "styled.npy", progress) if cfg.style_p > 0 else None

    torch.manual_seed(cfg.seed)
    model = EmotionNet(cfg.net).to(dev).to(memory_format=settings.memory_format())
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    steps_per_epoch = len(x_all) // cfg.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, epochs=cfg.epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.2)
    history: list[dict] = []
    start_epoch, best_acc, best_epoch, spent = 0, -1.0, -1, 0.0
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        if TrainConfig.from_dict(state["config"]).to_dict() != cfg.to_dict():
            raise SettingError(f"{ckpt_path} was made with another configuration; use a new run_dir or the "
                               f"same settings (saved: {json.dumps(state['config'], sort_keys=True)})")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, start_epoch = state["history"], state["epoch"] + 1
        best_acc, best_epoch, spent = state["best_acc"], state["best_epoch"], state["seconds"]
        logger.info(f"resuming {run_dir} at epoch {start_epoch + 1}/{cfg.epochs} (best PublicTest {best_acc:.4f})")
    elif cfg.init_from:
        init = Path(cfg.init_from)
        if not init.exists():
            raise SettingError(f"init_from {init} does not exist; point it at a run's best.pt or checkpoint.pt")
        try:
            model.load_state_dict(load_checkpoint(init)["model"])
        except (KeyError, RuntimeError) as exc:
            raise SettingError(f"{init} holds no weights for this network ({str(exc)[:120]}); use a run of the "
                               "same architecture") from None
        logger.info(f"starting from the weights in {init}")

    done_now = 0
    for epoch in range(start_epoch, cfg.epochs):
        if stop_after is not None and done_now >= stop_after:
            break
        t0 = time.time()
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        order = torch.randperm(len(x_all), generator=gen)
        model.train()
        tot_loss, tot_correct, seen = 0.0, 0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                   disable=not progress, mininterval=5.0, leave=False)
        for b in bar:
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            x = x_all[idx]
            if x_style is not None:  # styled copies exist for the FER faces only
                fer_idx = idx.clamp_max(n_fer - 1)
                pick = ((torch.rand(len(idx), generator=gen) < cfg.style_p) & (idx < n_fer)).view(-1, 1, 1, 1)
                x = torch.where(pick, x_style[fer_idx], x)
            x = augment_batch(x.to(dev), cfg, gen)
            x, y = mix_batch(x, targets[idx].to(dev), cfg, gen)
            x = x.contiguous(memory_format=settings.memory_format())
            with settings.autocast():
                logits = model(x)
            loss = torch.sum(-y * F.log_softmax(logits.float(), 1), 1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += loss.item() * len(idx)
            tot_correct += (logits.argmax(1) == y.argmax(1)).sum().item()
            seen += len(idx)
            if b % 20 == 0:
                bar.set_postfix(loss=f"{tot_loss / seen:.3f}", acc=f"{tot_correct / seen:.3f}")
        logits = predict_logits(model, public.images, flip_tta=True, settings=settings).logits
        acc = float((logits.argmax(1).numpy() == public.labels).mean())
        secs = time.time() - t0
        spent += secs
        row = {"epoch": epoch + 1, "train_loss": tot_loss / seen, "train_acc": tot_correct / seen,
               "public_acc": acc, "lr": opt.param_groups[0]["lr"], "seconds": secs}
        history.append(row)
        is_best = acc > best_acc
        if is_best:
            best_acc, best_epoch = acc, epoch + 1
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "config": cfg.to_dict(), "epoch": epoch, "history": history, "best_acc": best_acc,
                 "best_epoch": best_epoch, "seconds": spent, "hardware": hardware_string(dev),
                 "precision": settings.precision, "torch": torch.__version__}
        if is_best:
            _save({"model": model.state_dict(), "config": cfg.to_dict(), "epoch": epoch + 1,
                   "public_acc": acc, "history": history, "seconds": spent,
                   "hardware": hardware_string(dev), "precision": settings.precision, "torch": torch.__version__}, best_path)
        _save(state, ckpt_path)
        write_json(run_dir / "history.json", history)
        if on_epoch is not None:
            on_epoch(row, is_best)
        logger.info(f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f} train {row['train_acc']:.4f} "
            f"PublicTest {acc:.4f}{' (best)' if is_best else ''} [{secs:.0f} s]")
        done_now += 1
    return TrainResult(run_dir=run_dir, best_path=best_path, history=pd.DataFrame(history),
                       best_epoch=best_epoch, best_public_acc=best_acc, seconds=spent)
