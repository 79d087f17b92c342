"""The catalogue users see: every registered network with its weights, parameters and figures.

``sisr models``, the app's model picker and the README table read this one place; the figures
come from the weight files' own metadata, so nobody types a number twice.
"""
from __future__ import annotations

import torch

from sisr_core.inference.engine import available_scales, weight_file_for
from sisr_core.models.registry import build_model, get_spec, list_models
from sisr_core.weights import count_parameters, read_metadata, shipped_weights_dir

MAX_DEFAULT_SECONDS = 10.0  # a 1000x1000 photo x2 on a 2-core CPU
FALLBACK_DEFAULT = "wdsr-a"


def default_candidates() -> list[tuple[str, float, float]]:
    """(network, seconds for a 1000x1000 photo x2, Set5 x2 PSNR) for each network with timed x2 weights
    (both recorded by publish_weights), fastest first."""
    rows = []
    for name in list_models():
        path = weight_file_for(name, 2)
        if path is None:
            continue
        meta = read_metadata(path)
        seconds = meta.get("speed", {}).get("seconds_1000x1000_x2")
        psnr = meta.get("metrics", {}).get("x2", {}).get("Set5", {}).get("psnr")
        if seconds is not None and psnr is not None:
            rows.append((name, seconds, psnr))
    return sorted(rows, key=lambda row: row[1])


def default_model() -> str:
    """The default network, chosen from the shipped weights' own measurements: the best Set5 x2 PSNR
    among networks that upscale a 1000x1000 photo x2 within 10 s."""
    eligible = [(psnr, name) for name, seconds, psnr in default_candidates() if seconds <= MAX_DEFAULT_SECONDS]
    if eligible:
        return max(eligible)[1]
    return next((n for n in list_models() if available_scales(n)), FALLBACK_DEFAULT)


def parameter_count(name: str, scale: int = 2, **config) -> int:
    """Parameters of a network's default config, counted without allocating its weights."""
    with torch.device("meta"):
        return count_parameters(build_model(name, scale, **config))


def model_rows() -> list[dict]:
    """One dict per network: name, description, scales, params, shipped weight scales and metrics."""
    rows, default = [], default_model()
    for name in list_models():
        spec = get_spec(name)
        scales = available_scales(name)
        metrics, training, sources = {}, {}, {}
        for s in scales if not spec.multi_scale else scales[:1]:
            path = weight_file_for(name, s)
            meta = read_metadata(path)
            key = f"x{s}" if not spec.multi_scale else "all"
            metrics.update(meta.get("metrics", {}))
            training[key] = meta.get("training", {})
            origin = "shipped" if path.parent == shipped_weights_dir() else "yours"
            sources[key] = f"{meta.get('source', 'unknown')} ({origin}: {path})"
        rows.append(
            {
                "name": name,
                "description": spec.description,
                "paper": spec.paper,
                "scales": list(spec.scales),
                "any_integer_scale": spec.pre_upsample,
                "color": "y" if spec.default_config.get("num_in_ch", 3) == 1 else "rgb",
                "params": parameter_count(name),
                "weights": scales,
                "weights_note": "" if spec.shipped_weights else "official weights: sisr add-model FILE --model edsr",
                "metrics": metrics,
                "training": training,
                "sources": sources,
                "default": name == default,
                "tile_exact": spec.tile_exact,
            }
        )
    return rows
