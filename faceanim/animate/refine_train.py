"""Training the refinement GAN (:mod:`faceanim.animate.networks`) on frame pairs of the same person.

A random source and target frame of one training clip; the source is warped onto the target's 68 landmarks
(with a random keypoint count, as the slider allows) and the generator must produce the real target.
Losses: L1 reconstruction, a hinge PatchGAN adversarial term and discriminator feature matching
(pix2pixHD), on random 128 px patches that favour the face. Whole videos and CK+ subjects are held out
(:mod:`faceanim.animate.clips`); the last 20% of every training video is kept for the validation curve,
which also picks the exported step (``best.pt``: the lowest validation L1 once the discriminator has
joined). Checkpoints are written atomically, so a killed run resumes.

The emotion-conditioned generator (``conditions=7``, ``faceanim train animator --parts generator``) is the
same network told which expression, at what intensity, each target shows (:func:`condition_planes`), and
trained on pairs where that is known as well:

- MEAD: one actor's neutral clip as the source and a frame of their clip of an emotion as the target
  (MEAD's level 3 taken as intensity 1), the target frame first put on the source crop by the similarity of
  their stable points (each clip was cropped on its own first frame). The actors speak, so the targets
  have open mouths, teeth and tongues, and the furrows and creases of real level-3 expressions.
- CK+: the first frame as the source, a later frame as the target, its intensity the frame's place in the
  neutral-to-apex sequence.
- the training face videos, with no emotion asked for (all condition planes 0).

It starts from the committed refiner's weights (``init_from``; the condition planes' input weights start
at zero, so step 0 is that refiner), and ``exclude`` keeps MEAD actors out (the leave-one-actor-out
evaluation trains one per held-out actor).
"""

from __future__ import annotations

import dataclasses
import json
import logging
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
from ..weights import save_weights
from .clips import HELDOUT_SUBJECTS, HELDOUT_VIDEOS
from .keypoints import border_anchors, select_keypoints
from .networks import CONDITIONS, Discriminator, Generator, condition_planes, generator_input
from .warp import tps_map, warp_image

logger = logging.getLogger(__name__)

__all__ = ["RefinerConfig", "train_refiner", "make_pair", "export_refiner"]


@dataclass
class RefinerConfig:
    """Everything that decides a refiner training run (saved with each checkpoint)."""

    steps: int = field(default=7000, metadata={"help": "refiner training steps"})
    batch_size: int = field(default=8, metadata={"help": "pairs per step"})
    patch: int = 128
    lr: float = 2e-4
    width: int = 16
    l1_weight: float = 10.0
    fm_weight: float = 2.0
    adv_weight: float = 0.05
    #: steps of reconstruction only before the discriminator joins
    warmup: int = 1500
    ckplus_share: float = 0.4
    #: condition planes (0: the plain refiner; len(CONDITIONS): emotion-conditioned)
    conditions: int = 0
    #: share of MEAD pairs (the conditioned generator; the rest split as ckplus_share says)
    mead_share: float = 0.0
    #: weights name (or path) of a generator to start from ("" starts from scratch)
    init_from: str = ""
    #: MEAD actors kept out of training
    exclude: tuple = ()
    seed: int = 0
    #: "auto" (bf16 where the machine runs it fast, see faceanim.runtime), "fp32" or "bf16"
    precision: str = "auto"
    threads: int | None = field(default=None, metadata={"help": "CPU threads (default: torch's)", "type": int})
    checkpoint_every: int = 200

    def validate(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.patch < 32 or self.patch % 8:
            raise SettingError("steps and batch_size must be >= 1 and patch a multiple of 8 from 32 "
                               f"(got {self.steps}, {self.batch_size}, {self.patch})")
        if not 0 <= self.ckplus_share <= 1 or not 0 <= self.mead_share <= 1:
            raise SettingError(f"ckplus_share and mead_share must be in [0, 1], got {self.ckplus_share}, "
                               f"{self.mead_share}")
        if self.conditions not in (0, len(CONDITIONS)):
            raise SettingError(f"conditions must be 0 or {len(CONDITIONS)}, got {self.conditions}")
        if self.precision not in PRECISIONS:
            raise SettingError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


def make_pair(clip, s: int, t: int, n_keypoints: int = 68, anchors: np.ndarray | None = None,
              target=None, condition: tuple[str | None, float] | None = None):
    """``(generator input (6 [+ 7], S, S), target (3, S, S) in [-1, 1])`` for source frame ``s`` -> target
    ``t``; ``target``: another clip of the same person whose frame ``t`` is the target, put on this clip's
    crop by the similarity of the stable points first; ``condition``: ``(emotion, amount)`` planes appended."""
    import cv2

    from ..face.align import similarity_matrix
    from .keypoints import STABLE_POINTS, apply_affine

    size = clip.frames.shape[1]
    anchors = border_anchors(size) if anchors is None else anchors
    idx = select_keypoints(n_keypoints)
    src_lm = clip.landmarks[s]
    if target is None:
        dst_lm, real = clip.landmarks[t], clip.frames[t]
    else:
        mat = similarity_matrix(target.landmarks[t][STABLE_POINTS], src_lm[STABLE_POINTS])
        dst_lm = apply_affine(mat, target.landmarks[t])
        real = cv2.warpAffine(target.frames[t], mat, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT101)
    mapping = tps_map(np.vstack([src_lm[idx], anchors]), np.vstack([dst_lm[idx], anchors]), size, grid=32)
    warped = warp_image(clip.frames[s], mapping)
    x = generator_input(warped, mapping, src_lm, dst_lm)
    if condition is not None:
        x = np.concatenate([x, condition_planes(condition[0], condition[1], size)])
    y = real.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    return x, y, dst_lm


class _Sampler:
    def __init__(self, clips, cfg: RefinerConfig, rng: np.random.Generator):
        self.videos = [c for c in clips if c.kind == "video" and not c.heldout]
        self.cks = [c for c in clips if c.kind == "ckplus" and not c.heldout]
        mead = [c for c in clips if c.kind == "mead" and c.person not in cfg.exclude] if cfg.mead_share else []
        self.neutral = {c.person: c for c in mead if c.emotion == "neutral"}
        self.meads = [c for c in mead if c.person in self.neutral]
        if not self.videos and not self.cks:
            raise SettingError("no training clips (all are held out?)")
        self.cfg, self.rng = cfg, rng
        self.anchors = border_anchors(clips[0].frames.shape[1])

    def _condition(self, emotion: str | None, amount: float):
        return (emotion, amount) if self.cfg.conditions else None

    def _train_range(self, clip) -> int:
        return max(2, int(len(clip) * 0.8)) if clip.kind == "video" else len(clip)

    def pair(self, validation: bool = False):
        from ..labels import to_emotion

        rng = self.rng
        n = 68 if rng.random() < 0.5 else int(rng.integers(20, 69))
        if self.meads and not validation and rng.random() < self.cfg.mead_share:
            target = self.meads[rng.integers(len(self.meads))]
            source = self.neutral[target.person]
            s, t = int(rng.integers(len(source))), int(rng.integers(len(target)))
            amount = 0.0 if target.emotion == "neutral" else 1.0
            x, y, lm = make_pair(source, s, t, n, self.anchors, target=target,
                                 condition=self._condition(target.emotion, amount))
            return x, y, lm
        use_ck = self.cks and (not self.videos or rng.random() < self.cfg.ckplus_share) and not validation
        if use_ck:
            clip = self.cks[rng.integers(len(self.cks))]
            s = 0 if rng.random() < 0.7 else int(rng.integers(len(clip)))
            t = int(rng.integers(len(clip)))
            # CK+ runs from neutral to apex: the target's intensity is its place in the sequence (from the source's)
            amount = max(0.0, (t - s) / max(len(clip) - 1, 1))
            condition = self._condition(to_emotion(clip.emotion), amount)
        else:
            clip = self.videos[rng.integers(len(self.videos))]
            lo, hi = (self._train_range(clip), len(clip)) if validation else (0, self._train_range(clip))
            s, t = int(rng.integers(lo, hi)), int(rng.integers(lo, hi))
            condition = self._condition(None, 0.0)
        x, y, lm = make_pair(clip, s, t, n, self.anchors, condition=condition)
        return x, y, lm

    def batch(self, n: int, patch: int, validation: bool = False):
        xs, ys = [], []
        for _ in range(n):
            x, y, lm = self.pair(validation)
            size = x.shape[-1]
            if patch < size:
                if self.rng.random() < 0.6:  # centred near the mouth / face
                    c = lm[48:68].mean(0) if self.rng.random() < 0.6 else lm.mean(0)
                    c = c + self.rng.normal(0, patch / 6, 2)
                else:
                    c = self.rng.uniform(patch / 2, size - patch / 2, 2)
                x0 = int(np.clip(round(c[0] - patch / 2), 0, size - patch))
                y0 = int(np.clip(round(c[1] - patch / 2), 0, size - patch))
                x, y = x[:, y0:y0 + patch, x0:x0 + patch], y[:, y0:y0 + patch, x0:x0 + patch]
            if self.rng.random() < 0.5:
                x, y = x[:, :, ::-1], y[:, :, ::-1]
            xs.append(np.ascontiguousarray(x))
            ys.append(np.ascontiguousarray(y))
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def _init_generator(gen: Generator, name: str) -> None:
    """Start from a trained generator: every weight copied, the condition planes' input weights at zero."""
    from ..weights import load_weights

    state, _ = load_weights(name, kind="animator_refiner")
    own = gen.state_dict()
    for k, v in state["generator"].items():
        if k not in own:
            raise SettingError(f"{name} is not a generator of this shape (no {k}); init_from another one")
        if own[k].shape == v.shape:
            own[k] = v
        elif k.endswith("weight") and own[k].shape[1] > v.shape[1] and own[k].shape[2:] == v.shape[2:]:
            w = torch.zeros_like(own[k])
            w[:, :v.shape[1]] = v
            own[k] = w
        else:
            raise SettingError(f"{name}'s {k} is {tuple(v.shape)}, this generator's {tuple(own[k].shape)}")
    gen.load_state_dict(own)


def _save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def train_refiner(clips, config: RefinerConfig | None = None, run_dir: str | os.PathLike = "runs/animator",
                  progress: bool = True, stop_after: int | None = None) -> dict:
    """Train (or resume) the refinement GAN in ``run_dir``; returns the final checkpoint dict.

    ``run_dir/checkpoint.pt`` is rewritten atomically every ``checkpoint_every`` steps; calling again with
    the same settings resumes. ``stop_after`` ends this call after that many steps (still resumable).
    """
    from tqdm.auto import tqdm

    cfg = config or RefinerConfig()
    cfg.validate()
    settings = compute(cfg.precision, device="cpu", threads=cfg.threads)
    logger.info("training the refiner with %s", settings.describe())
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.pt"
    torch.manual_seed(cfg.seed)
    gen, disc = Generator(cfg.width, cfg.conditions), Discriminator()
    if cfg.init_from and not ckpt_path.exists():
        _init_generator(gen, cfg.init_from)
    gen, disc = gen.to(memory_format=settings.memory_format()), disc.to(memory_format=settings.memory_format())
    opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
    step, history, spent = 0, [], 0.0
    rng_state = None
    best_val = float("inf")
    if ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if state["config"] != dataclasses.asdict(cfg):
            raise SettingError(f"{ckpt_path} was made with other settings; use a new run_dir or the same "
                               f"settings (saved: {json.dumps(state['config'], sort_keys=True)})")
        gen.load_state_dict(state["generator"])
        disc.load_state_dict(state["discriminator"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        step, history, spent, rng_state = state["step"], state["history"], state["seconds"], state["rng"]
        best_val = min([h["val_l1"] for h in history if h["step"] > cfg.warmup] or [float("inf")])
        logger.info(f"resuming {run_dir} at step {step}/{cfg.steps}")
    rng = np.random.default_rng(cfg.seed)
    if rng_state is not None:
        rng.bit_generator.state = rng_state
    sampler = _Sampler(clips, cfg, rng)
    val_rng = np.random.default_rng(12345)
    val_sampler = _Sampler(clips, cfg, val_rng)
    val = [val_sampler.batch(8, 256, validation=True) for _ in range(2)] if val_sampler.videos else []

    def validate() -> float:
        gen.eval()
        with torch.no_grad(), settings.autocast():
            errs = [F.l1_loss(gen(x.contiguous(memory_format=settings.memory_format())).float(), y).item() / 2
                    for x, y in val]
        gen.train()
        return float(np.mean(errs)) if errs else float("nan")

    def checkpoint() -> dict:
        state = {"generator": gen.state_dict(), "discriminator": disc.state_dict(), "opt_g": opt_g.state_dict(),
                 "opt_d": opt_d.state_dict(), "config": dataclasses.asdict(cfg), "step": step,
                 "history": history, "seconds": spent, "rng": rng.bit_generator.state,
                 "hardware": hardware_string("cpu"), "precision": settings.precision, "torch": torch.__version__}
        _save(state, ckpt_path)
        write_json(run_dir / "history.json", history)
        return state

    if step == 0:
        history.append({"step": 0, "val_l1": validate(), "val_l1_warp": float(np.mean(
            [(x[:, :3] - y).abs().mean().item() / 2 for x, y in val])) if val else float("nan")})
    done_now, sums, t0 = 0, {}, time.time()
    bar = tqdm(total=cfg.steps, initial=step, desc="refiner", unit="step", disable=not progress, mininterval=5.0)
    state = None
    while step < cfg.steps and (stop_after is None or done_now < stop_after):
        x, y = sampler.batch(cfg.batch_size, cfg.patch)
        x, y = x.contiguous(memory_format=settings.memory_format()), y.contiguous(memory_format=settings.memory_format())
        cond = x[:, 3:4]
        gan_on = step >= cfg.warmup
        with settings.autocast():
            fake = gen(x)
            if gan_on:
                d_real = disc(y, cond)
                d_fake = disc(fake.detach(), cond)
                loss_d = F.relu(1 - d_real[-1].float()).mean() + F.relu(1 + d_fake[-1].float()).mean()
        if gan_on:
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        l1 = F.l1_loss(fake, y)
        loss_g = cfg.l1_weight * l1
        if gan_on:
            with settings.autocast():
                f_fake = disc(fake, cond)
                with torch.no_grad():
                    f_real = disc(y, cond)
            adv = -f_fake[-1].float().mean()
            fm = sum(F.l1_loss(a.float(), b.float()) for a, b in zip(f_fake[:-1], f_real[:-1])) / (len(f_fake) - 1)
            loss_g = loss_g + cfg.adv_weight * adv + cfg.fm_weight * fm
            sums["adv"] = sums.get("adv", 0.0) + adv.item()
            sums["fm"] = sums.get("fm", 0.0) + fm.item()
            sums["d"] = sums.get("d", 0.0) + loss_d.item()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        sums["l1"] = sums.get("l1", 0.0) + l1.item() / 2
        sums["n"] = sums.get("n", 0) + 1
        step += 1
        done_now += 1
        bar.update()
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            spent += time.time() - t0
            t0 = time.time()
            n = sums.pop("n")
            row = {"step": step, **{f"train_{k}": v / n for k, v in sums.items()}, "val_l1": validate(),
                   "seconds": spent}
            history.append(row)
            sums = {}
            if step > cfg.warmup and row["val_l1"] < best_val:  # adversarially trained, best on validation
                best_val = row["val_l1"]
                _save({"generator": gen.state_dict(), "step": step, "val_l1": best_val,
                       "config": dataclasses.asdict(cfg)}, run_dir / "best.pt")
            state = checkpoint()
            bar.set_postfix(l1=f"{row['train_l1']:.4f}", val=f"{row['val_l1']:.4f}")
            logger.info(f"step {step}/{cfg.steps}: train L1 {row['train_l1']:.4f} val L1 {row['val_l1']:.4f} "
                f"[{spent / 60:.1f} min]")
    bar.close()
    return state if state is not None else torch.load(ckpt_path, map_location="cpu", weights_only=False)


def export_refiner(checkpoint: dict, name: str = "animator_refiner", command: str = "", root=None,
                   best: dict | None = None, extra: dict | None = None) -> Path:
    """Write a generator to ``weights/<name>.pt`` with its metadata: the one in ``best`` (``run_dir/best.pt``:
    the lowest validation L1 after the discriminator joined) when given, else the checkpoint's last one."""
    chosen = best if best is not None else checkpoint
    state = {"generator": chosen["generator"], "config": checkpoint["config"]}
    params = sum(v.numel() for k, v in checkpoint["generator"].items())
    meta = {"kind": "animator_refiner", "steps": checkpoint["step"], "config": checkpoint["config"],
            "training_seconds": round(checkpoint["seconds"], 1), "hardware": checkpoint["hardware"],
            "torch": checkpoint["torch"], "parameters": int(params), "command": command,
            "heldout_videos": list(HELDOUT_VIDEOS), "heldout_subjects": list(HELDOUT_SUBJECTS),
            "chosen_step": int(chosen["step"]),
            "selection": ("lowest validation L1 after the discriminator joined (validation: the last 20% of "
                          "every training video; held-out clips are never read)") if best is not None
            else "last step",
            "history": checkpoint["history"], **(extra or {})}
    return save_weights(state, name, meta, root=root)
