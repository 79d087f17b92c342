"""Weight files and their metadata: finding, reading safely, unwrapping, and writing.

Shipped and trained weights are safetensors files whose header carries one JSON metadata entry
(``"sisr"``): model name, config, scales, colour handling, training recipe and benchmark figures,
so that ``sisr models``, the app's picker and the README table all read the same numbers.
Other formats (.pth/.pt/.ckpt) are read with ``torch.load(weights_only=True)`` only: nothing in a
weight file is ever executed.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from sisr_core.atomic import write_bytes

METADATA_KEY = "sisr"
FORMAT_VERSION = 1
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")


class WeightsError(ValueError):
    """A weight file that cannot be used; str() is one line naming the file and the reason."""


def shipped_weights_dir() -> Path:
    """The ``weights/`` folder: beside the sources, inside a PyInstaller bundle, or $SISR_WEIGHTS_DIR."""
    if env := os.environ.get("SISR_WEIGHTS_DIR"):
        return Path(env)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "weights"
    return Path(__file__).resolve().parent.parent / "weights"


def user_models_dir() -> Path:
    """Where weights the user trained or imported live (platform user-data dir, or $SISR_USER_DIR)."""
    if env := os.environ.get("SISR_USER_DIR"):
        return Path(env) / "models"
    from platformdirs import user_data_dir

    return Path(user_data_dir("SISR Studio", appauthor=False)) / "models"


def weights_filename(model: str, scale: int | Sequence[int] | None, variant: str = "clean") -> str:
    """File name for a model's weights: ``name_x2.safetensors``; ``name_x2x4.safetensors`` for one
    network serving several scales; ``name.safetensors`` for a pre-upsampling (any scale) network;
    ``name_photo_x2.safetensors`` for the photo variant."""
    stem = model if variant == "clean" else f"{model}_{variant}"
    if scale is None:
        return f"{stem}.safetensors"
    scales = [scale] if isinstance(scale, int) else sorted(scale)
    return f"{stem}_{''.join(f'x{s}' for s in scales)}.safetensors"


def unwrap_state_dict(obj) -> dict[str, torch.Tensor]:
    """Take the tensors out of common checkpoint wrappers (params_ema, params, state_dict, model, module.): the
    one place for every kind of file, ours and community ones alike."""
    for key in ("params_ema", "params", "state_dict", "model", "generator", "net_g"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise WeightsError("no state dict of tensors found")
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError("no tensors found in the state dict")
    for prefix in ("module.", "net_g."):  # not "model.": old-style ESRGAN keys start so (model.0.weight)
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
    return tensors


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a weight file safely; returns (state dict in float32, metadata dict or {})."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weight file")
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                header = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads(header[METADATA_KEY]) if METADATA_KEY in header else {}
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            meta = obj.get("sisr_meta", {}) if isinstance(obj, dict) else {}
            tensors = unwrap_state_dict(obj)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None
    except pickle.UnpicklingError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unsafe pickle"
        raise WeightsError(
            f"{path}: refused: the file holds Python objects that would run code when loaded ({reason[:160]})"
        ) from None
    except Exception as exc:  # corrupt or foreign files
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"{path}: not a readable weight file ({first[:200]})") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}, meta


def save_weights(path: str | os.PathLike, state_dict: dict[str, torch.Tensor], meta: dict, half: bool = True) -> Path:
    """Write a safetensors file with metadata; floats stored as fp16 when ``half`` (compact, enough for SR)."""
    from safetensors.torch import save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.detach().half() if half and v.is_floating_point() else v.detach()).contiguous().cpu()
        for k, v in state_dict.items()
    }
    meta = {"format_version": FORMAT_VERSION, **meta}
    return write_bytes(path, save(tensors, metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)}))


def read_metadata(path: str | os.PathLike) -> dict:
    """Only the metadata of a safetensors weight file (no tensors read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
    return json.loads(header.get(METADATA_KEY, "{}"))


@dataclass(frozen=True)
class WeightsCard:
    """A weight file's metadata parsed once into typed fields (after torchvision's ``Weights.meta``), for
    ``zoo``, the model panel and the CLI: which network or community architecture, scales, colour, size,
    where it came from, which of a network's weights it is, and its measured figures."""

    model: str | None  # our registered network; None for a community file (see ``architecture``)
    architecture: str
    scales: tuple[int, ...]
    color: str  # "y" or "rgb"
    params: int
    source: str
    variant: str  # "photo" (trained on the photo degradation) or "clean"
    metrics: dict = field(default_factory=dict)  # {"x2": {"Set5": {"psnr": ...}}}, clean protocol
    metrics_degraded: dict = field(default_factory=dict)  # {"jpeg75": {"x2": {"Set14": {"psnr": ...}}}}
    training: dict = field(default_factory=dict)
    seconds_1000x1000_x2: float | None = None  # measured by scripts/publish_weights.py
    tile_exact: bool | None = None  # recorded for community files; None: the network's ModelSpec says

    @classmethod
    def from_meta(cls, meta: dict) -> "WeightsCard":
        photo = meta.get("variant") == "photo" or meta.get("training", {}).get("degradation") == "photo"
        return cls(
            model=meta.get("model"), architecture=meta.get("architecture") or meta.get("model") or "unknown",
            scales=tuple(int(s) for s in meta.get("scales", []) if s), color=meta.get("color", "rgb"),
            params=int(meta.get("params", 0)), source=meta.get("source") or meta.get("imported_from") or "unknown",
            variant="photo" if photo else "clean", metrics=meta.get("metrics", {}),
            metrics_degraded=meta.get("metrics_degraded", {}), training=meta.get("training", {}),
            seconds_1000x1000_x2=meta.get("speed", {}).get("seconds_1000x1000_x2"), tile_exact=meta.get("tile_exact"),
        )

    def psnr(self, dataset: str, scale: int) -> float | None:
        """The clean-protocol PSNR on ``dataset`` at ``scale``, if measured."""
        return self.metrics.get(f"x{scale}", {}).get(dataset, {}).get("psnr")


def read_card(path: str | os.PathLike) -> WeightsCard:
    """The :class:`WeightsCard` of a safetensors weight file (only its header is read)."""
    return WeightsCard.from_meta(read_metadata(path))


def load_state(module: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "weights") -> None:
    """Load ``state_dict`` strictly; mismatches give one error naming missing, unexpected or misshaped keys."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    misshaped = sorted(
        f"{k} {tuple(state_dict[k].shape)} != {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict)
        if own[k].shape != state_dict[k].shape
    )
    problems = []
    for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", misshaped)):
        if keys:
            shown = ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise WeightsError(f"{source}: does not fit {type(module).__name__}: " + "; ".join(problems))
    module.load_state_dict(state_dict, strict=True)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
