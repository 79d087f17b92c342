"""Which device runs the networks, and what follows from it: one policy for `sisr train`, `upscale`,
`eval`, `bench`, the training wizard and the window.

``auto`` takes a CUDA GPU, then Apple's Metal (MPS), then the CPU. On a GPU the training data is made in
DataLoader worker processes (the CPU's main process only feeds the GPU) and the networks' tiles may use
half of the GPU's free memory, while the host's own budget still bounds the images held in RAM.
"""
from __future__ import annotations

import os
import platform

import torch

from sisr_core import DEVICES


def mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()


def available_devices() -> list[str]:
    """The accelerators this computer has (``cuda``, ``mps``), for pickers."""
    return (["cuda"] if torch.cuda.is_available() else []) + (["mps"] if mps_available() else [])


def select_device(device: str | torch.device = "auto") -> torch.device:
    """The device named (``auto``: CUDA, then MPS, then the CPU); a ``RuntimeError`` of one line when the
    named accelerator is not available here."""
    name = str(device)
    if name == "auto":
        return torch.device((available_devices() or ["cpu"])[0])
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"device {name!r}: choose one of {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was asked for but no CUDA GPU is available (torch {torch.__version__})")
    if kind == "mps" and not mps_available():
        raise RuntimeError(f"device {name!r} was asked for but Apple's Metal (MPS) is not available here")
    return torch.device(name)


def cpu_vendor() -> str:
    """The CPU's vendor id (``GenuineIntel``, ``AuthenticAMD``), or '' where the system does not say."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return next((v for v in ("AuthenticAMD", "GenuineIntel") if v in platform.processor()), "")


def data_workers(device: torch.device) -> int:
    """DataLoader worker processes for training: none on the CPU (the cores train; the wizard may ask for
    more), and enough on a GPU to make patches as fast as it trains on them (up to 8, one core left)."""
    if device.type == "cpu":
        return 0
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def network_memory_budget(device: torch.device, host_budget: int) -> int:
    """Bytes a network's tiles may take: ``host_budget`` on the CPU and MPS (whose memory is the host's),
    half of the free memory on a CUDA GPU."""
    if device.type != "cuda":
        return host_budget
    free, _total = torch.cuda.mem_get_info(device)
    return free // 2
