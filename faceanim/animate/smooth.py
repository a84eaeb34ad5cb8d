"""Steady keypoint motion: a One-Euro filter with one strength knob, and a small GRU that predicts the
next frame's keypoints (the seeds' RNN), used inside a predict-then-correct filter.

The GRU is trained on real landmark trajectories (the training clips' 68 points, in each clip's unit face
frame) to predict the next frame from the past; :func:`prediction_errors` measures it against the
constant-velocity and constant-position predictors on held-out clips, and :class:`PredictiveFilter`
blends each new measurement with the prediction (``gain`` from the same strength knob).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn as nn

from ..errors import SettingError
from ..limits import check
from .keypoints import apply_affine, normalizing_transform

__all__ = ["OneEuro", "one_euro", "KeypointGRU", "train_keypoint_gru", "PredictiveFilter", "predictive_filter",
           "prediction_errors", "jitter", "lag_frames", "check_strength"]


def check_strength(strength) -> float:
    return float(check("filter_strength", strength))


class OneEuro:
    """One-Euro filter (Casiez et al. 2012) on arrays of any shape.

    ``strength`` 0 passes the input through; 1 is the steadiest. It sets the minimum cut-off frequency
    from 10 Hz down to 0.1 Hz (log scale); ``beta`` lets fast motion through with less lag.
    """

    def __init__(self, strength: float = 0.5, fps: float = 25.0, beta: float = 0.01, d_cutoff: float = 1.0):
        self.strength = check_strength(strength)
        self.min_cutoff = 10.0 ** (1.0 - 2.0 * self.strength)
        self.fps, self.beta, self.d_cutoff = float(fps), float(beta), float(d_cutoff)
        self.x = self.dx = None

    @staticmethod
    def _alpha(cutoff, dt):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, value: np.ndarray) -> np.ndarray:
        z = np.asarray(value, np.float64)
        if self.strength == 0.0 or self.x is None:
            self.dx = np.zeros_like(z) if self.x is None else (z - self.x) * self.fps
            self.x = z.copy()
            return z
        dt = 1.0 / self.fps
        dz = (z - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dz + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x = a * z + (1 - a) * self.x
        return self.x.copy()


def one_euro(track: np.ndarray, strength: float, fps: float = 25.0, **kwargs) -> np.ndarray:
    """A whole ``(T, ...)`` track through a fresh :class:`OneEuro` (causal)."""
    f = OneEuro(strength, fps, **kwargs)
    return np.stack([f(x) for x in np.asarray(track, np.float64)])


class KeypointGRU(nn.Module):
    """Predicts the next frame's 68 points from the past (inputs: velocity and offset from the first frame,
    in the clip's unit face frame; output: the move from the current frame, which starts at zero, i.e.
    at the constant-position predictor, and learns how much of the motion carries on)."""

    def __init__(self, n_points: int = 68, hidden: int = 128):
        super().__init__()
        self.n = n_points
        self.gru = nn.GRU(4 * n_points, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2 * n_points)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, unit: torch.Tensor, h=None):
        """``unit (B, T, n, 2)`` -> predicted ``(B, T, n, 2)`` positions for frames 1..T (from frames ..t)."""
        b, t = unit.shape[:2]
        vel = torch.diff(unit, dim=1, prepend=unit[:, :1])
        off = unit - unit[:, :1]
        feats = torch.cat([vel * 20.0, off * 5.0], -1).reshape(b, t, -1)
        out, h = self.gru(feats, h)
        nxt_vel = self.head(out).reshape(b, t, self.n, 2) / 20.0
        return unit + nxt_vel, h  # constant position plus a learned move (zero at start)


def _unit_track(track: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mat = normalizing_transform(track[0])
    return apply_affine(mat, track), mat


def train_keypoint_gru(clips, steps: int = 1500, window: int = 16, batch_size: int = 32, seed: int = 0,
                       progress: bool = True) -> tuple[KeypointGRU, dict]:
    """Fit :class:`KeypointGRU` on the training clips' landmark tracks (held-out clips never used)."""
    from tqdm.auto import tqdm

    tracks = [_unit_track(c.landmarks)[0].astype(np.float32) for c in clips if not c.heldout and len(c) > window + 1]
    if not tracks:
        raise SettingError("no training clips long enough for the keypoint GRU")
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model = KeypointGRU()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    lengths = np.array([len(t) for t in tracks], float)
    t0, losses = time.time(), []
    for _ in tqdm(range(steps), desc="keypoint GRU", disable=not progress, mininterval=5.0):
        idx = rng.choice(len(tracks), batch_size, p=lengths / lengths.sum())
        batch = []
        for i in idx:
            s = rng.integers(0, len(tracks[i]) - window)
            w = tracks[i][s:s + window + 1]
            if rng.random() < 0.5:  # mirror (left/right symmetric task; point order kept is fine for velocity)
                w = w * np.array([-1.0, 1.0], np.float32)
            batch.append(w)
        x = torch.from_numpy(np.stack(batch))
        pred, _ = model(x[:, :-1])
        loss = (pred[:, 4:] - x[:, 5:]).abs().mean()  # skip the first frames (no history yet)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return model.eval(), {"steps": steps, "window": window, "batch_size": batch_size, "seed": seed,
                          "final_loss": float(np.mean(losses[-50:])), "seconds": round(time.time() - t0, 1),
                          "tracks": len(tracks)}


@torch.no_grad()
def _gru_predictions(model: KeypointGRU, unit: np.ndarray) -> np.ndarray:
    pred, _ = model(torch.from_numpy(unit.astype(np.float32))[None])
    return pred[0].numpy().astype(np.float64)


def prediction_errors(model: KeypointGRU, tracks, scales=None) -> dict:
    """Mean next-frame error (pixels) of the GRU, constant velocity and constant position on ``tracks``."""
    errs = {"gru": [], "constant_velocity": [], "constant_position": []}
    for track in tracks:
        track = np.asarray(track, np.float64)
        unit, mat = _unit_track(track)
        px = 1.0 / np.sqrt(abs(np.linalg.det(mat[:, :2])))  # unit -> pixels
        gru = _gru_predictions(model, unit)[1:-1]
        cv = unit[1:-1] + (unit[1:-1] - unit[:-2])
        hold = unit[1:-1]
        truth = unit[2:]
        for k, p in (("gru", gru), ("constant_velocity", cv), ("constant_position", hold)):
            errs[k].append(np.linalg.norm(p - truth, axis=-1).mean() * px)
    return {k: float(np.mean(v)) for k, v in errs.items()}


class PredictiveFilter:
    """Predict-then-correct: ``x_t = p_t + gain * (z_t - p_t)``, ``p_t`` from the GRU (or constant velocity
    when ``model`` is None) run on the filtered past; ``strength`` 0 gives gain 1 (no smoothing).

    Call it on a whole ``(T, 68, 2)`` track, or :meth:`step` it one frame at a time (a live stream: the
    same numbers, frame by frame; :meth:`reset` starts over)."""

    def __init__(self, model: KeypointGRU | None, strength: float = 0.5):
        self.model = model
        self.gain = 1.0 - 0.9 * check_strength(strength)
        self.reset()

    def reset(self) -> None:
        self._mat = self._inv = None
        self._out: list[np.ndarray] = []  # the filtered frames in the unit face frame: the first and last two
        self._h = None

    def step(self, value: np.ndarray) -> np.ndarray:
        """The next frame's filtered points (causal: frames seen so far only)."""
        z = np.asarray(value, np.float64)
        if self.gain >= 1.0:
            return z.copy()
        import cv2

        if self._mat is None:
            self._mat = normalizing_transform(z)
            self._inv = cv2.invertAffineTransform(self._mat)
        unit = apply_affine(self._mat, z)
        out = self._out
        if not out:
            out.append(unit)  # frame 0 stays first: the GRU reads offsets from it
            if self.model is not None:
                with torch.no_grad():
                    _, self._h = self.model(torch.from_numpy(unit[None].astype(np.float32))[None])
            return z.copy()
        if len(out) == 1:
            out.append(unit)
            return z.copy()
        first, prev, last = out[0], out[-2], out[-1]
        if self.model is None:
            p = last + (last - prev)
        else:
            p, self._h = self._predict(first, prev, last, self._h)
        x = p + self.gain * (unit - p)
        out[:] = [first, last, x]
        return apply_affine(self._inv, x)

    def __call__(self, track: np.ndarray) -> np.ndarray:
        track = np.asarray(track, np.float64)
        if self.gain >= 1.0 or len(track) < 3:
            return track.copy()
        self.reset()
        out = np.stack([self.step(z) for z in track])
        self.reset()
        return out

    @torch.no_grad()
    def _predict(self, first: np.ndarray, prev: np.ndarray, last: np.ndarray, h):
        """One GRU step on the last filtered frame: the prediction for the next one."""
        m = self.model
        x, p0, f0 = (torch.from_numpy(a.astype(np.float32)) for a in (last, prev, first))
        feats = torch.cat([(x - p0) * 20.0, (x - f0) * 5.0], -1).reshape(1, 1, -1)
        o, h = m.gru(feats, h)
        nxt = m.head(o).reshape(m.n, 2) / 20.0
        return (x + nxt).numpy().astype(np.float64), h


def predictive_filter(track: np.ndarray, strength: float, model: KeypointGRU | None = None) -> np.ndarray:
    return PredictiveFilter(model, strength)(track)


def jitter(track: np.ndarray) -> float:
    """Mean length of the frame-to-frame acceleration of every point (pixels per frame squared)."""
    track = np.asarray(track, np.float64)
    if len(track) < 3:
        return 0.0
    return float(np.linalg.norm(np.diff(track, 2, axis=0), axis=-1).mean())


def lag_frames(filtered: np.ndarray, raw: np.ndarray, max_lag: int = 12) -> float:
    """Delay (frames, sub-frame by a parabola) that best lines the filtered track up with the raw one."""
    f, r = np.asarray(filtered, np.float64), np.asarray(raw, np.float64)
    errs = np.array([np.abs(f[k:] - r[:len(r) - k]).mean() for k in range(max_lag + 1)])
    k = int(np.argmin(errs))
    if 0 < k < max_lag:
        a, b, c = errs[k - 1], errs[k], errs[k + 1]
        den = a - 2 * b + c
        if den > 1e-12:
            return float(k + 0.5 * (a - c) / den)
    return float(k)
