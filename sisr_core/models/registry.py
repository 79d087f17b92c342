"""A tiny model registry: each network file registers a builder under a name.

Networks are built from a plain config (``build_model("edsr-baseline", scale=2, num_feat=64)``);
the :class:`ModelSpec` says what a caller needs to know to run one (scales, colour handling,
whether its input is pre-upsampled, whether tiling is exact).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of the library needs to know about a registered network."""

    name: str
    builder: Callable[..., nn.Module] | None  # None for a community architecture (spandrel builds it)
    description: str
    paper: str = ""
    scales: tuple[int, ...] = (2, 3, 4)
    pre_upsample: bool = False  # input is bicubic-upsampled to the output size first
    multi_scale: bool = False  # one set of weights serves every scale (pre-upsampling nets)
    joint_scales: tuple[int, ...] = ()  # scales one network can be trained for at once: built for the
    # largest, its forward takes ``scale`` (FD-SRCNN's x2 and x4 share their first stage)
    default_config: dict = field(default_factory=dict)
    tile_exact: bool = True  # False where a global operation (non-local attention) sees the whole image
    min_size: int = 1  # smallest input side the network accepts; smaller inputs are padded
    size_multiple: int = 1  # internal pooling grid: tiles are aligned to it so patch mode stays exact
    shipped_weights: bool = True  # False where we ship no trained file of our own (official weights instead)
    precisions: tuple[str, ...] = ("fp32", "bf16", "fp16")  # what the network may run in
    context: int | None = None  # tile context in input px when known up front (community models); None:
    # read from the network's layers (``LoadedModel.receptive_radius``)

    def config(self, **overrides) -> dict:
        """The default config with ``overrides`` applied."""
        cfg = dict(self.default_config)
        cfg.update(overrides)
        return cfg


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, **spec_fields) -> Callable:
    """Decorator: register ``builder(scale, **config) -> nn.Module`` under ``name``."""

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelSpec(name=name, builder=builder, **spec_fields)
        return builder

    return wrap


class UnknownModelError(KeyError):
    """Raised for a model name that is not registered."""

    def __str__(self) -> str:
        return self.args[0]


def get_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``; a clear error lists the known names otherwise."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}") from None


def list_models() -> list[str]:
    """Names of all registered networks, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def build_model(name: str, scale: int, **config) -> nn.Module:
    """Build network ``name`` for ``scale`` from its default config updated with ``config``."""
    spec = get_spec(name)
    if not spec.pre_upsample and scale not in spec.scales:
        raise ValueError(
            f"model {name!r} has no x{scale} variant; its scales are "
            + ", ".join(f"x{s}" for s in spec.scales)
        )
    if spec.pre_upsample and scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    return spec.builder(scale=scale, **spec.config(**config))


def _load_all() -> None:
    """Import every network module so that each registers itself."""
    from sisr_core import models  # noqa: F401  (the package imports its modules)


def fold_for_inference(module: nn.Module) -> nn.Module:
    """``module`` with every part that has a ``folded()`` form (a weight-normalised conv, FSRCNN)
    replaced by that equivalent faster form, for inference only; training keeps the original layers
    and their weight names."""
    if hasattr(module, "folded"):
        return module.folded()
    for name, child in module.named_children():
        setattr(module, name, fold_for_inference(child))
    return module
