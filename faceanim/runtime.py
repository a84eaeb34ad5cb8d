"""Compute settings chosen from what the machine reports: device, precision, threads, memory format.

bf16 autocast is fast only where the CPU has bf16 units (Intel AMX, AVX-512-BF16). Elsewhere oneDNN
emulates it and it runs several times slower than fp32 (measured: 39 vs 219 faces/s for the recognizer
with oneDNN held to AVX2). So ``"auto"`` takes bf16 on a CPU only when the CPU reports bf16 support
*and* a short timed probe confirms that bf16 is faster there; fp32 otherwise. Every recognizer, refiner,
trainer and benchmark takes its defaults from :func:`compute`.

A user forces a setting with an argument (``precision="fp32"``) or the environment:

- ``FACEANIM_PRECISION``: ``auto`` (default), ``fp32`` or ``bf16``;
- ``FACEANIM_DEVICE``: ``cpu``, ``cuda`` or ``cuda:N`` (default: CUDA when present);
- ``FACEANIM_THREADS``: torch's intra-op thread count (default: torch's own choice).

>>> from faceanim.runtime import compute
>>> c = compute("fp32", device="cpu")
>>> c.precision, c.device, c.bf16
('fp32', 'cpu', False)
>>> c.reason
'asked for fp32'
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._system import cpu_name, hardware_string
from .errors import SettingError

__all__ = ["PRECISIONS", "INFERENCE_BACKENDS", "Compute", "compute", "cpu_flags", "cpu_bf16_flags", "probe_bf16",
           "hardware_string"]

log = logging.getLogger(__name__)

#: what ``precision`` (and ``FACEANIM_PRECISION``) accept
PRECISIONS = ("auto", "fp32", "bf16")
#: what can run a network (the recognizer's ``backend=``, ``$FACEANIM_BACKEND``; the animator's refiner):
#: torch (fp32 or bf16) or ONNX Runtime (fp32, CPU)
INFERENCE_BACKENDS = ("torch", "onnx")
#: bf16 is chosen by the probe only when it takes at most this share of fp32's time
PROBE_MARGIN = 0.8
_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Compute:
    """The settings a model runs with, and why they were chosen.

    Attributes:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        precision: ``"fp32"`` or ``"bf16"`` (autocast; weights stay fp32).
        threads: torch's intra-op thread count.
        channels_last: whether convolutions use the NHWC memory format (faster with oneDNN and cuDNN).
        reason: one sentence on why this precision was chosen.
        cpu: the CPU's model name.
        probe: the timed probe's milliseconds per call (``fp32_ms``, ``bf16_ms``), when one ran.
    """

    device: str
    precision: str
    threads: int
    channels_last: bool = True
    reason: str = ""
    cpu: str = ""
    probe: dict = field(default_factory=dict)

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    @property
    def torch_device(self):
        import torch

        return torch.device(self.device)

    def autocast(self):
        """The autocast context for this precision (a no-op context for fp32)."""
        import torch

        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.torch_device.type, dtype=torch.bfloat16)

    def memory_format(self):
        import torch

        return torch.channels_last if self.channels_last else torch.contiguous_format

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One line for ``faceanim info`` and benchmark reports."""
        return f"{self.precision} on {self.device} ({self.cpu}, {self.threads} threads): {self.reason}"


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_bf16_flags() -> list[str]:
    """Which bf16 units the CPU reports (``amx_bf16``, ``avx512_bf16``), as oneDNN will use them.

    oneDNN's own view wins over the flags: with ``ONEDNN_MAX_CPU_ISA=AVX2`` it will not use them, and
    then this is empty even on a CPU that has them.
    """
    import torch

    try:
        usable = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        usable = torch.backends.mkldnn.is_available()
    if not usable:
        return []
    flags = cpu_flags()
    if not flags:  # no /proc/cpuinfo (macOS, Windows): oneDNN said yes, the probe decides
        return ["onednn"]
    return [f for f in _BF16_FLAGS if f in flags]


def probe_bf16(rounds: int = 5) -> dict:
    """Milliseconds per call of a small convolution stack (the recognizer's kind of work) in fp32 and in
    bf16 autocast on the CPU (about 0.3 s where bf16 is fast).

    It runs on one thread (bf16 units are per core) and times the two in alternation, keeping the fastest
    call of each, so a busy machine (another process on the cores) slows both alike and does not flip the
    choice.
    """
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(64, 128, 3, stride=2, padding=1)).eval().to(memory_format=torch.channels_last)
    x = torch.rand(32, 32, 24, 24).contiguous(memory_format=torch.channels_last)
    best = {False: float("inf"), True: float("inf")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _alternate(net, x, rounds, best)
    finally:
        torch.set_num_threads(threads)
    return {"fp32_ms": round(best[False] * 1000, 3), "bf16_ms": round(best[True] * 1000, 3)}


def _alternate(net, x, rounds: int, best: dict) -> None:
    import torch

    with torch.inference_mode():
        for i in range(rounds + 2):
            for bf16 in (False, True):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    t = time.perf_counter()
                    net(x)
                    dt = time.perf_counter() - t
                if i >= 2:  # the first rounds build oneDNN's kernels
                    best[bf16] = min(best[bf16], dt)


def _env(name: str, choices: tuple[str, ...] | None = None) -> str | None:
    value = os.environ.get(name, "").strip().lower() or None
    if value is not None and choices is not None and value not in choices:
        raise SettingError(f"{name}={os.environ[name]!r} is not one of {', '.join(choices)}; unset it or pick one")
    return value


def compute(precision: str | None = None, device: str | None = None, threads: int | None = None) -> Compute:
    """The compute settings to use: arguments first, then ``FACEANIM_*`` variables, then the machine.

    The bf16 probe runs once per process and settings (cached).
    """
    precision = (precision or _env("FACEANIM_PRECISION", PRECISIONS) or "auto").lower()
    if precision not in PRECISIONS:
        raise SettingError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device = (device or _env("FACEANIM_DEVICE") or "").lower() or None
    if threads is None and os.environ.get("FACEANIM_THREADS"):
        try:
            threads = int(os.environ["FACEANIM_THREADS"])
        except ValueError:
            raise SettingError(f"FACEANIM_THREADS={os.environ['FACEANIM_THREADS']!r} is not a whole number") from None
    if threads is not None and threads < 1:
        raise SettingError(f"threads must be at least 1, got {threads}")
    return _compute(precision, device, threads)


@functools.cache
def _compute(precision: str, device: str | None, threads: int | None) -> Compute:
    import torch

    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SettingError(f"device {device!r} was asked for, but this machine has no usable GPU (torch sees no "
                          "CUDA device); use device='cpu'")
    if device != "cpu" and not device.startswith("cuda"):
        raise SettingError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    common: dict[str, Any] = dict(device=device, threads=torch.get_num_threads(), cpu=cpu_name())
    if precision != "auto":
        if precision == "bf16" and device == "cpu" and not cpu_bf16_flags():
            log.warning("bf16 was asked for, but this CPU (%s) has no bf16 units: expect it to be several "
                        "times slower than fp32", common["cpu"])
        return Compute(precision=precision, reason=f"asked for {precision}", **common)
    if device.startswith("cuda"):
        if torch.cuda.is_bf16_supported():
            return Compute(precision="bf16", reason=f"{torch.cuda.get_device_name(device)} supports bf16", **common)
        return Compute(precision="fp32", reason=f"{torch.cuda.get_device_name(device)} has no bf16", **common)
    units = cpu_bf16_flags()
    if not units:
        return Compute(precision="fp32", reason="the CPU reports no bf16 units (no amx_bf16 or avx512_bf16 "
                       "that oneDNN uses), so bf16 would be emulated and slow", **common)
    probe = probe_bf16()
    ratio = probe["bf16_ms"] / max(probe["fp32_ms"], 1e-9)
    if ratio <= PROBE_MARGIN:
        return Compute(precision="bf16", probe=probe, reason=f"the CPU reports {'+'.join(units)} and the probe "
                       f"ran bf16 in {ratio:.2f}x fp32's time", **common)
    return Compute(precision="fp32", probe=probe, reason=f"the CPU reports {'+'.join(units)}, but the probe ran "
                   f"bf16 in {ratio:.2f}x fp32's time (bf16 is chosen from {PROBE_MARGIN}x down)", **common)

