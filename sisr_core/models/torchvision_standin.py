"""A minimal stand-in for the two torchvision imports spandrel 0.4.2 makes at import time.

Why: PyPI's torchvision wheels are CUDA builds that do not import beside the CPU build of torch we pin
(their ``_C.so`` needs ``libc10_cuda.so``), and installing the CUDA stack would add 5.5 GB. spandrel
imports torchvision in two architectures only: LaMa (``rotate``, inpainting) and RestoreFormer
(``normalize``, faces); neither is super-resolution. :func:`install` registers this stand-in only when
``import torchvision`` fails; a working torchvision (e.g. a CUDA install) is always used instead.
When it can go: once a spandrel release imports torchvision lazily, delete this module and its call.
"""
from __future__ import annotations

import enum
import sys
import types

import torch


class InterpolationMode(enum.Enum):
    """The names spandrel's LaMa refers to."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def normalize(tensor: torch.Tensor, mean, std, inplace: bool = False) -> torch.Tensor:
    """torchvision's ``normalize``: (tensor - mean) / std per channel of a (..., C, H, W) tensor."""
    mean = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    std = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device).view(-1, 1, 1)
    return tensor.sub_(mean).div_(std) if inplace else (tensor - mean) / std


def rotate(*_args, **_kwargs):
    """LaMa's rotation, which needs the real torchvision."""
    raise RuntimeError("this model (LaMa inpainting) needs torchvision, which is not installed")


def install() -> None:
    """Register the stand-in as ``torchvision.transforms.functional`` unless a real torchvision imports."""
    try:
        import torchvision  # noqa: F401
        return
    except Exception:  # absent, or a CUDA build that fails to load beside CPU torch
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode, functional.normalize, functional.rotate = InterpolationMode, normalize, rotate
    transforms = types.ModuleType("torchvision.transforms")
    transforms.functional = functional
    package = types.ModuleType("torchvision")
    package.transforms = transforms
    package.__sisr_standin__ = True
    sys.modules.update({"torchvision": package, "torchvision.transforms": transforms,
                        "torchvision.transforms.functional": functional})
