"""What machine a figure was measured on (written next to every benchmark and trained weight)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_string(device=None) -> str:
    """The device a figure was measured on: the GPU's name, or the CPU's with torch's thread count."""
    import torch

    device = torch.device(device or "cpu")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()}, {torch.get_num_threads()} threads"


def available_memory() -> int:
    """Bytes of memory this process can still use without swapping (MemAvailable; psutil elsewhere)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import psutil

    return int(psutil.virtual_memory().available)


#: A result held in memory may use at most this share of the memory available when it starts.
MEMORY_SHARE = 0.6


def check_memory(needed: int, what: str, hint: str) -> None:
    """A :class:`~faceanim.errors.SettingError` before allocating ``needed`` bytes that would not fit."""
    from .errors import SettingError

    free = available_memory()
    if needed > MEMORY_SHARE * free:
        raise SettingError(f"{what} would need {needed / 1024**3:.1f} GB, and this machine has "
                           f"{free / 1024**3:.1f} GB available; {hint}")
