"""Everything that turns a model name or a weight file into a network ready to run, and the user's models.

One layer for every kind of file: our safetensors files (metadata name the network), official
EDSR/WDSR state dicts and the Keras project's HDF5 files (``importers`` converts them), and community
files (ESRGAN, Real-ESRGAN, SwinIR, HAT, SPAN, OmniSR, DAT, ...) whose architecture spandrel detects
from the tensor names and shapes. Every file is read by ``weights.read_weights`` (``torch.load`` with
``weights_only=True``, wrappers unwrapped there), so no code from a file ever runs; spandrel is only
given the tensors. The result is a :class:`LoadedModel` whose ``spec`` is the descriptor the engine
reads (scales, size requirements, tile context), whichever kind of file it came from.

A user's model is one file in the user model folder under its own name (``4x-ultrasharp.safetensors``).
A registered network's name is never a user model's name, so a user model can never shadow the weights
we ship; ``sisr remove-model`` and the window's File › Remove model… remove it again.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from sisr_core.atomic import atomic_file
from sisr_core.importers import INFERABLE_MODELS, KERAS_MODELS, import_keras, import_weights, state_dict_metadata
from sisr_core.inference.color import rgb_to_ycbcr, ycbcr_to_rgb
from sisr_core.models.registry import ModelSpec, build_model, fold_for_inference, get_spec, list_models
from sisr_core.resize import imresize
from sisr_core.weights import (
    WeightsCard,
    WeightsError,
    count_parameters,
    load_state,
    read_metadata,
    read_weights,
    save_weights,
    shipped_weights_dir,
    user_models_dir,
    weights_filename,
)


class NoWeightsError(LookupError):
    """A network has no trained weights for the requested scale."""

    def __str__(self) -> str:
        return self.args[0]


@dataclass
class LoadedModel:
    """A network ready to run, with what its weights say about it."""

    name: str
    spec: ModelSpec
    network: nn.Module
    scale: int | None  # native scale; None for a multi-scale pre-upsampling network
    meta: dict = field(default_factory=dict)
    source: str = ""
    bf16: bool = False  # run the network's convolutions in bfloat16 (CPU autocast), returning fp32

    @property
    def color(self) -> str:
        """``"y"`` for a network on luma only, ``"rgb"`` otherwise (from its config)."""
        return "y" if self.meta.get("config", {}).get("num_in_ch", 3) == 1 else "rgb"

    @property
    def receptive_radius(self) -> int:
        """Context in input pixels a tile needs so patch mode equals whole-image mode (upper bound)."""
        if self.spec.context is not None:
            return self.spec.context
        radius = conv_radius(self.network)
        multiple = self.spec.size_multiple
        if self.spec.pre_upsample:
            return radius * multiple // max(self.scale or 1, 1) + 3 + multiple
        return radius * multiple + 1

    def forward_rgb(self, rgb: torch.Tensor, scale: int) -> torch.Tensor:
        """RGB (1, 3, h, w) in [0, 1] to RGB at ``scale``, handling Y-only and pre-upsampling networks."""
        x = imresize(rgb, scale) if self.spec.pre_upsample else rgb
        if self.color == "y":
            ycbcr = rgb_to_ycbcr(x)
            y = self.run_network(ycbcr[:, :1], scale)
            cbcr = ycbcr[:, 1:] if self.spec.pre_upsample else imresize(ycbcr[:, 1:], scale)
            return ycbcr_to_rgb(torch.cat([y, cbcr], dim=1))
        return self.run_network(x, scale)

    def run_network(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        """The bare network on its own input; a network serving several scales is told which."""
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.network(x, scale=scale) if self.spec.joint_scales else self.network(x)
        return out.to(x.dtype)


def conv_radius(network: nn.Module) -> int:
    """How far, in its own input pixels, the convolutions of ``network`` see: the sum of their kernel radii."""
    radius = 0
    for m in network.modules():  # every convolution-like layer: a 4-D weight of its own
        kernels = [p.shape[-1] for p in m.parameters(recurse=False) if p.ndim == 4]
        if kernels:
            radius += getattr(m, "dilation", (1,))[0] * (max(kernels) - 1) // 2
    return radius


def prepare_network(network: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """Ready a network for inference: layers folded into faster equivalents, eval mode, no gradients,
    channels-last (oneDNN's convolutions run 1.1-1.7x faster on CPUs in that layout; `sisr bench`)."""
    network = fold_for_inference(network)
    return network.eval().requires_grad_(False).to(device, memory_format=torch.channels_last)


def weight_file_for(name: str, scale: int | None, variant: str = "clean") -> Path | None:
    """The shipped weight file of network ``name`` at ``scale`` (``clean`` or ``photo`` weights); user models
    never stand in for it."""
    spec = get_spec(name)
    names = [weights_filename(name, None if spec.multi_scale else scale, variant)]
    if scale in spec.joint_scales:  # one network trained for several scales at once
        names.append(weights_filename(name, spec.joint_scales, variant))
    return next((shipped_weights_dir() / f for f in names if (shipped_weights_dir() / f).is_file()), None)


def available_scales(name: str, variant: str = "clean") -> list[int]:
    """Native scales with weights of ``variant`` on disk (all of the spec's scales for a multi-scale network)."""
    spec = get_spec(name)
    return [s for s in spec.scales if weight_file_for(name, s, variant) is not None]


def load_model(
    name: str | None = None, scale: int | None = None, weights: str | os.PathLike | None = None, device="cpu",
    variant: str = "clean",
) -> LoadedModel:
    """Build a network and load its weights: the given file (ours, an official one with ``name``, or a community
    file), the user's model ``name``, or the shipped ``variant`` file of network ``name`` for ``scale``."""
    if weights is None:
        if name is None:
            raise ValueError("give a model name or a weight file")
        path = user_model_file(name) or weight_file_for(name, scale, variant)
        if path is None:
            scale_txt = "" if get_spec(name).multi_scale else f" at x{scale}"
            kind = "" if variant == "clean" else f" {variant}"
            raise NoWeightsError(
                f"model {name!r} has no trained{kind} weights{scale_txt} yet; "
                "train it with `sisr train` or pass a weight file with --weights"
            )
    else:
        path = Path(weights)
    state, meta = read_weights(path)
    if not meta and name in INFERABLE_MODELS:  # an official EDSR/WDSR file: its config from its shapes
        meta = state_dict_metadata(name, state, path.name)
    if "model" not in meta and (name is None or name not in list_models()):
        return load_community(state, path, meta, device)
    name = meta.get("model", name)
    spec = get_spec(name)
    served = [int(s) for s in meta.get("scales", [scale]) if s]
    native = None if spec.multi_scale else (scale if scale in served else served[0] if served else None)
    if not spec.multi_scale and native is None:
        raise WeightsError(f"{path}: the file does not say its scale; pass --scale")
    config = meta.get("config", {})
    network = build_model(name, max(served) if native else 2, **config)  # the largest serves the rest
    load_state(network, state, source=str(path))
    meta = {**meta, "config": spec.config(**config)}
    network = prepare_network(network, device)
    return LoadedModel(name=name, spec=spec, network=network, scale=native, meta=meta, source=str(path))


# --- Community files (spandrel) ---------------------------------------------------------------------


def _spandrel():
    """spandrel with its extra architectures registered (and torchvision's stand-in first, where needed)."""
    from sisr_core.models import torchvision_standin

    torchvision_standin.install()
    import spandrel
    import spandrel_extra_arches

    spandrel_extra_arches.install(ignore_duplicates=True)  # once; later calls find them registered
    return spandrel


def community_descriptor(state: dict[str, torch.Tensor], path: Path):
    """spandrel's ``ImageModelDescriptor`` for a state dict whose architecture it detects; one clear
    ``WeightsError`` naming the file otherwise (unknown tensors, or a model that is not RGB super-resolution)."""
    try:
        spandrel = _spandrel()
    except ImportError as exc:  # an install without the Makefile's spandrel step
        raise WeightsError(f"{path}: not one of our networks, and community models need spandrel ({exc}): "
                           "pip install --no-deps spandrel==0.4.2 spandrel-extra-arches==0.2.0") from None
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        keys = ", ".join(list(state)[:3])
        raise WeightsError(f"{path}: not one of our networks, and no community architecture known to spandrel "
                           f"has these tensors ({keys}, ...)") from None
    except Exception as exc:  # detected, but the tensors do not fit the architecture
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"{path}: a community architecture was recognised but could not be built ({first[:160]})") from None
    arch = descriptor.architecture.name
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise WeightsError(f"{path}: a {arch} model that needs a mask (inpainting), not super-resolution")
    if descriptor.scale < 2:
        raise WeightsError(f"{path}: a x{descriptor.scale} {arch} {descriptor.purpose.lower()} model; "
                           "SISR Studio runs super-resolution models (x2 and up)")
    if (descriptor.input_channels, descriptor.output_channels) != (3, 3):
        raise WeightsError(f"{path}: a {arch} model for {descriptor.input_channels}-channel input and "
                           f"{descriptor.output_channels}-channel output; only RGB models are supported")
    return descriptor


def community_spec(descriptor) -> ModelSpec:
    """What the engine needs to know about a spandrel model, read from its descriptor and its layers.

    Tile context: the convolutions' radius plus, for window-attention models (SwinIR, HAT, ...), one
    window per attention block (a shifted window reaches one window further) and each overlapping
    window's size; tiles are aligned to the windows so they partition as the whole image does. A model
    with global pooling (HAT's and RCAN's channel attention) sees the whole image: tiles approximate it.
    """
    network = descriptor.model
    side = lambda w: w if isinstance(w, int) else max(w)  # noqa: E731  (an int or a (h, w) window)
    windows = [side(m.window_size) for m in network.modules() if hasattr(m, "shift_size") and hasattr(m, "window_size")]
    overlaps = [side(m.overlap_win_size) for m in network.modules() if hasattr(m, "overlap_win_size")]
    grid = descriptor.size_requirements.multiple_of
    global_pool = any(isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) for m in network.modules())
    tiling = descriptor.tiling.name  # SUPPORTED, DISCOURAGED (attention), INTERNAL (tiles itself)
    return ModelSpec(
        name=descriptor.architecture.name, builder=None, scales=(descriptor.scale,),
        description=f"{descriptor.architecture.name} (community architecture, via spandrel)",
        tile_exact=tiling != "INTERNAL" and not global_pool,
        min_size=max(descriptor.size_requirements.minimum, 1), size_multiple=math.lcm(grid, *windows),
        shipped_weights=False, context=(conv_radius(network) + sum(windows) + sum(overlaps)) * grid + 1,
        precisions=("fp32",) + ("bf16",) * descriptor.supports_bfloat16 + ("fp16",) * descriptor.supports_half,
    )


class CommunityNetwork(nn.Module):
    """A spandrel model called as spandrel calls it (padded to its size requirements, output clamped)."""

    def __init__(self, descriptor):
        super().__init__()
        self.model = descriptor.model  # registered, so .to(), cancel checks and parameters reach it
        self.descriptor = descriptor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.descriptor(x)


def load_community(state: dict[str, torch.Tensor], path: Path, meta: dict, device="cpu") -> LoadedModel:
    """A community file (or one installed from it) as a :class:`LoadedModel`."""
    descriptor = community_descriptor(state, path)
    spec = community_spec(descriptor)
    meta = {"source": f"{path.name} ({spec.name} via spandrel)", **meta, "architecture": spec.name,
            "scales": [descriptor.scale], "color": "rgb", "config": {"num_in_ch": 3}, "tile_exact": spec.tile_exact,
            "params": count_parameters(descriptor.model)}
    network = prepare_network(CommunityNetwork(descriptor), device)
    return LoadedModel(name=spec.name, spec=spec, network=network, scale=descriptor.scale, meta=meta, source=str(path))


# --- Installing a model for the user --------------------------------------------------------------------


def user_models() -> dict[str, Path]:
    """The user's models by name (their file in the user model folder), sorted by name."""
    folder = user_models_dir()
    return {p.stem: p for p in sorted(folder.glob("*.safetensors"))} if folder.is_dir() else {}


def user_model_file(name: str) -> Path | None:
    """The file of the user's model ``name``; None for a registered network's name (never a user model)."""
    if name in list_models():
        return None
    return user_models().get(name)


def default_model_name(path: str | os.PathLike, meta: dict) -> str:
    """The name a model file installs under unless the user picks one: for our files the network and its
    scales (``fsrcnn_x2``, ``fsrcnn_photo_x4``), otherwise the file's name in lower case (``4x-ultrasharp``)."""
    card = WeightsCard.from_meta(meta)
    if card.model:
        multi_scale = get_spec(card.model).multi_scale
        if not multi_scale and not card.scales:
            raise WeightsError(f"{path}: the file does not say its scale")
        stem = Path(weights_filename(card.model, None if multi_scale else card.scales[0], card.variant)).stem
    else:
        stem = re.sub(r"[^a-z0-9._+-]+", "-", Path(path).stem.lower()).strip("-.") or "model"
    return stem if stem not in list_models() else f"{stem}-yours"


def check_model_name(name: str, overwrite: bool = False) -> Path:
    """The file a user model called ``name`` goes to; refuses a registered network's name, an unusable name,
    and (unless ``overwrite``) the name of an installed user model."""
    if name in list_models():
        raise WeightsError(f"{name!r} is the name of one of our networks; choose another name for your model")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,79}", name):
        raise WeightsError(f"{name!r}: a model name is letters, digits and . _ + - (up to 80), starting with a letter or digit")
    target = user_models_dir() / f"{name}.safetensors"
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: a model of yours is called {name!r} already (use --overwrite to replace it)")
    return target


def install_target(path: str | os.PathLike) -> Path:
    """Where :func:`install_weights` puts a weight file of ours by default (:func:`default_model_name`)."""
    return user_models_dir() / f"{default_model_name(path, read_metadata(path))}.safetensors"


def install_weights(path: str | os.PathLike, name: str | None = None, overwrite: bool = False) -> Path:
    """Copy a checked safetensors file into the user model folder as model ``name`` (default
    :func:`default_model_name`), atomically; never over one of our networks, over a user model only with
    ``overwrite``. The one installer of ``sisr add-model``, File › Add model… and the training wizard."""
    target = check_model_name(name or default_model_name(path, read_metadata(path)), overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "rb") as source, atomic_file(target, overwrite=overwrite) as f:
        shutil.copyfileobj(source, f)
    return target


def remove_model(name: str) -> Path:
    """Delete the user's model ``name``; our networks cannot be removed. Returns the deleted file."""
    if name in list_models():
        raise WeightsError(f"{name!r} is one of our networks; only your own models can be removed")
    path = user_model_file(name)
    if path is None:
        yours = ", ".join(user_models()) or "none"
        raise WeightsError(f"no model of yours is called {name!r} (yours: {yours})")
    path.unlink()
    return path


def add_model(path: str | os.PathLike, model: str | None = None, name: str | None = None, overwrite: bool = False) -> Path:
    """Check a weight file (keys, shapes, a tiny forward pass) and install it as the user's model ``name``.

    Accepts our safetensors files, official EDSR/WDSR state dicts and the Keras project's HDF5 files
    (``model``, the network, needed for those two) and community files that spandrel recognises (ESRGAN,
    SwinIR, HAT, ...), each stored as safetensors. Returns the installed file (:func:`install_weights`).
    """
    path = Path(path)
    ours = {}  # the metadata of a file of ours, which names it (default_model_name)
    with tempfile.TemporaryDirectory() as tmp:
        converted = Path(tmp) / "converted.safetensors"
        if path.suffix.lower() == ".h5":
            if model not in KERAS_MODELS:
                raise WeightsError(f"{path}: a Keras file needs --model, one of {', '.join(KERAS_MODELS)}")
            import_keras(path, model, converted)
        elif model in INFERABLE_MODELS and not read_weights(path)[1]:
            import_weights(path, model, converted)
        else:
            state, meta = read_weights(path)
            ours = meta
            if "model" not in meta:  # a community file: spandrel must recognise it
                loaded = load_community(state, path, meta)
                meta = {key: loaded.meta[key] for key in ("architecture", "scales", "color", "params", "source", "tile_exact")}
                state = {k: v.clone() for k, v in state.items()}  # safetensors refuses tensors sharing memory
            save_weights(converted, state, {**meta, "imported_from": path.name}, half=False)
        loaded = load_model(weights=converted)
        scale = loaded.scale or 2
        size = max(16, loaded.spec.min_size)
        with torch.no_grad():
            out = loaded.forward_rgb(torch.rand(1, 3, size, size), scale)
        if out.shape != (1, 3, size * scale, size * scale) or not torch.isfinite(out).all():
            raise WeightsError(f"{path}: a test run gave {tuple(out.shape)} {'' if torch.isfinite(out).all() else 'non-finite '}"
                               f"output instead of (1, 3, {size * scale}, {size * scale})")
        return install_weights(converted, name or default_model_name(path, ours), overwrite)
