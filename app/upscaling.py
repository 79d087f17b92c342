"""Upscale work for the worker threads, sized so Cancel lands within a second.

The engine checks cancel only between tiles, so the app always runs it in patch mode and picks the
tile by measurement: 64 and 128 px crops of the image are timed once per network, device and scale, and the
tile is the largest whose padded area runs in about ``TILE_SECONDS``. "Fast" mode asks for 256 px
tiles, "patch" mode for the user's patch size; the measured cap applies to both. Overlap keeps the
result equal to a whole-image run, so the tile size changes speed and memory, never pixels.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

FAST_TILE = 256
TILE_SECONDS = 0.4
MIN_TILE = 16
CALIBRATION_PX = 128


@dataclass
class UpscaleResult:
    """One finished upscale: the SR (and bicubic) image data and how it was made."""

    sr: object  # sisr_core.io.ImageData
    bicubic: object
    seconds: float
    model: str  # what ran, e.g. "wdsr-a (photo weights)"
    scale: int
    tile: int


def cancel_safe_tile(upscaler, tensor, scale: int, requested: int, ensemble: bool, timings: dict) -> int:
    """The requested tile, capped so one tile takes about ``TILE_SECONDS`` (measured, cached in ``timings``)."""
    key = (upscaler.name, str(upscaler.device), scale, tensor.shape[1])
    if key not in timings:
        upscaler.upscale(tensor[..., :16, :16], scale, mode="fast")  # loads the networks; not timed
        seconds = {}
        for side in (CALIBRATION_PX // 2, CALIBRATION_PX):  # two sizes separate per-call overhead from per-pixel cost
            crop = tensor[..., :side, :side]
            started = time.perf_counter()
            upscaler.upscale(crop, scale, mode="fast")
            seconds[crop.shape[-2] * crop.shape[-1]] = time.perf_counter() - started
        sizes = sorted(seconds.items())
        (small, t_small), (large, t_large) = sizes[0], sizes[-1]
        timings[key] = (t_large - t_small) / (large - small) if large > small else t_large / large
    seconds_per_px = max(timings[key], 1e-9) * (8 if ensemble else 1)
    passes, _ = upscaler.plan(scale)
    overlap = max(upscaler.model_for(p).receptive_radius for p in set(passes))
    fitting = int(math.sqrt(TILE_SECONDS / seconds_per_px)) - 2 * overlap
    return max(min(requested, fitting), MIN_TILE)


def requested_tile(options: dict) -> int:
    """The tile the user's mode asks for (before the cancel-safe cap)."""
    return FAST_TILE if options["mode"] == "fast" else options["tile"]


def upscale_task(upscaler_for, image, options: dict, timings: dict, with_bicubic: bool = True):
    """A worker task upscaling ``image`` with the panel's ``options``; reports (done, total) tiles."""

    def task(report, aborted):
        from sisr_core.inference.engine import bicubic_image, image_to_tensor, tensor_to_image

        started = time.perf_counter()
        upscaler = upscaler_for(options["model"], options["device"], options["variant"]).for_image(image)
        tensor = image_to_tensor(image)
        tile = cancel_safe_tile(upscaler, tensor, options["scale"], requested_tile(options), options["ensemble"], timings)
        if aborted():
            raise InterruptedError("cancelled")
        sr = upscaler.upscale(tensor, options["scale"], mode="patch", tile=tile, ensemble=options["ensemble"],
                              progress=lambda done, total: report((done, total)), cancel=aborted)
        seconds = time.perf_counter() - started
        bicubic = bicubic_image(image, options["scale"]) if with_bicubic else None
        return UpscaleResult(tensor_to_image(sr, image), bicubic, seconds, upscaler.label, options["scale"], tile)

    return task
