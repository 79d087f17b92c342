"""The catalogue users see: every registered network with its weights, parameters and figures.

``sisr models``, the app's model picker and the README table read this one place; the figures
come from the weight files' own metadata, so nobody types a number twice. It also holds the rule
that picks a network's photo or clean weights for an input (:func:`choose_variant`).
"""
from __future__ import annotations

import torch

from sisr_core import VARIANT_CHOICES, VARIANTS
from sisr_core.inference.engine import Upscaler
from sisr_core.models.loading import available_scales, user_models, weight_file_for
from sisr_core.models.registry import build_model, get_spec, list_models
from sisr_core.weights import WeightsCard, count_parameters, read_card

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
        card = read_card(path)
        psnr = card.psnr("Set5", 2)
        if card.seconds_1000x1000_x2 is not None and psnr is not None:
            rows.append((name, card.seconds_1000x1000_x2, psnr))
    return sorted(rows, key=lambda row: row[1])


def default_model() -> str:
    """The default network, chosen from the shipped weights' own measurements: the best Set5 x2 PSNR
    among networks that upscale a 1000x1000 photo x2 within 10 s."""
    eligible = [(psnr, name) for name, seconds, psnr in default_candidates() if seconds <= MAX_DEFAULT_SECONDS]
    if eligible:
        return max(eligible)[1]
    return next((n for n in list_models() if available_scales(n)), FALLBACK_DEFAULT)


PURPOSE = {"clean": "clean or lossless images", "photo": "photos and JPEGs"}


def choose_variant(model: str, lossy: bool, requested: str = "auto") -> str:
    """Which weights of ``model`` run on an input: the user's explicit choice, else the photo weights for a
    lossily compressed file (JPEG, lossy WebP) when the network has them, else the clean weights.

    The rule follows the measurements in the README's "Photos and JPEGs" table: on JPEG input the photo
    weights win on every protocol, on lossless benchmark input the clean weights do."""
    if requested not in VARIANT_CHOICES:
        raise ValueError(f"weights {requested!r}: choose one of {', '.join(VARIANT_CHOICES)}")
    if requested != "auto":
        return requested
    return "photo" if lossy and model in list_models() and available_scales(model, "photo") else "clean"


class AutoUpscaler:
    """A network whose photo or clean weights are picked per image by :func:`choose_variant`, each set
    loaded once; ``for_image`` gives the :class:`Upscaler` to run (batch and CLI call it per file)."""

    def __init__(self, model: str, device: str = "auto", precision: str = "auto", requested: str = "auto"):
        self.name, self.requested = model, requested
        self._options = {"device": device, "precision": precision}
        self._upscalers: dict[str, Upscaler] = {}
        choose_variant(model, False, requested)  # a bad choice fails here, not at the first image

    def for_variant(self, variant: str) -> Upscaler:
        if variant not in self._upscalers:
            self._upscalers[variant] = Upscaler(self.name, variant=variant, **self._options)
        return self._upscalers[variant]

    def for_image(self, image) -> Upscaler:
        return self.for_variant(choose_variant(self.name, image.lossy, self.requested))

    def plan(self, scale: int) -> tuple[list[int], bool]:
        """The plan for lossless input; raises NoWeightsError early when the network cannot serve ``scale``."""
        return self.for_variant(choose_variant(self.name, False, self.requested)).plan(scale)


def parameter_count(name: str, scale: int = 2, **config) -> int:
    """Parameters of a network's default config, counted without allocating its weights."""
    with torch.device("meta"):
        return count_parameters(build_model(name, scale, **config))


def variant_rows(name: str) -> dict[str, dict]:
    """Per weights variant of a network that has some: scales, figures (clean protocol, and the degraded
    protocols where measured), training recipe and source of each file."""
    spec = get_spec(name)
    out = {}
    for variant in VARIANTS:
        scales = available_scales(name, variant)
        if not scales:
            continue
        metrics, degraded, training, sources = {}, {}, {}, {}
        for s in scales if not spec.multi_scale else scales[:1]:
            path = weight_file_for(name, s, variant)
            card = read_card(path)
            key = f"x{s}" if not spec.multi_scale else "all"
            metrics.update(card.metrics)
            for protocol, figures in card.metrics_degraded.items():
                degraded.setdefault(protocol, {}).update(figures)
            training[key] = card.training
            sources[key] = f"{card.source} (shipped: {path})"
        out[variant] = {"weights": scales, "purpose": PURPOSE[variant], "metrics": metrics,
                        "metrics_degraded": degraded, "training": training, "sources": sources}
    return out


def model_rows() -> list[dict]:
    """One dict per network: name, description, scales, params, shipped weight scales and metrics (of the
    clean weights), and ``variants`` with the same for each of its weights variants (clean, photo); then
    the user's models (:func:`user_model_rows`)."""
    rows, default = [], default_model()
    timed = default_candidates()
    fastest = timed[0][0] if timed else None
    for name in list_models():
        spec = get_spec(name)
        variants = variant_rows(name)
        clean = variants.get("clean", {})
        rows.append(
            {
                "name": name,
                "description": spec.description,
                "paper": spec.paper,
                "scales": list(spec.scales),
                "any_integer_scale": spec.pre_upsample,
                "color": "y" if spec.default_config.get("num_in_ch", 3) == 1 else "rgb",
                "params": parameter_count(name),
                "weights": clean.get("weights", []),
                "weights_note": "" if spec.shipped_weights else "official weights: sisr add-model FILE --model edsr",
                "metrics": clean.get("metrics", {}),
                "training": clean.get("training", {}),
                "sources": clean.get("sources", {}),
                "variants": variants,
                "yours": False,
                "default": name == default,
                "fastest": name == fastest,
                "tile_exact": spec.tile_exact,
            }
        )
    return rows + user_model_rows()


def user_model_rows() -> list[dict]:
    """One row per model of the user's (``yours``), in the shape of ``model_rows``, with its architecture
    and source; a file that cannot be read is listed with the reason."""
    rows = []
    for name, path in user_models().items():
        try:
            card = read_card(path)
        except Exception as exc:  # a damaged file in the user's folder: say so, list the rest
            card = WeightsCard.from_meta({"source": f"cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"})
        source = f"{card.source} (yours: {path})"
        scales = list(card.scales)
        rows.append({
            "name": name, "description": f"Your model: {card.architecture}" + ("" if card.model else ", community architecture"),
            "architecture": card.architecture, "paper": "", "scales": scales, "any_integer_scale": False,
            "color": card.color, "params": card.params, "weights": scales, "weights_note": "", "metrics": card.metrics,
            "training": card.training, "sources": {"file": source}, "source": source,
            "variants": {"clean": {"weights": scales, "purpose": "your model", "metrics": card.metrics,
                                   "metrics_degraded": card.metrics_degraded, "training": card.training,
                                   "sources": {"file": source}}},
            "yours": True, "default": False, "fastest": False,
            "tile_exact": get_spec(card.model).tile_exact if card.model in list_models() else card.tile_exact,
        })
    return rows
