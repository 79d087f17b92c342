"""Upscale work for the worker threads: the same engine call as ``sisr upscale``.

The panel's mode and patch size pass through as the command line's ``--mode`` and ``--patch-size``
do (``auto`` tiles by the memory budget and for speed, ``fast`` runs the whole image, ``patch`` runs
tiles of the chosen size). Cancel needs no small tiles: the engine's networks check the worker's
abort flag between their layers (``sisr_core.inference.tiling.add_cancel_checks``).
No Qt here, so ``scripts/window_speed.py`` times exactly what the window's worker runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class UpscaleResult:
    """One finished upscale: the SR (and bicubic) image data and how it was made."""

    sr: object  # sisr_core.io.ImageData
    bicubic: object
    seconds: float
    model: str  # what ran, e.g. "wdsr-a (photo weights)"
    scale: int
    tiles: int  # tiles the network ran in (per pass); 1: the whole image at once

    @property
    def tiling(self) -> str:
        """``whole image`` or ``12 tiles``, for the status line."""
        return "whole image" if self.tiles <= 1 else f"{self.tiles} tiles"


def engine_options(options: dict) -> dict:
    """The panel's choices as ``Upscaler.upscale`` keyword arguments, as the CLI passes its options."""
    mode = options.get("mode") or "auto"
    return {"mode": mode, "tile": options.get("tile") if mode == "patch" else None, "ensemble": options["ensemble"]}


def upscale_image_for_window(upscaler_for, image, options: dict, progress=None, cancel=None,
                             with_bicubic: bool = True) -> UpscaleResult:
    """Upscale ``image`` (ImageData) with the panel's ``options``: the network's photo or clean weights for
    this image, the engine's own tiling; ``progress(done, total)`` per tile, ``cancel()`` between layers."""
    from sisr_core.inference.engine import bicubic_image, image_to_tensor, tensor_to_image

    started = time.perf_counter()
    upscaler = upscaler_for(options["model"], options["device"], options["variant"]).for_image(image)
    passes, tiles = len(upscaler.plan(options["scale"])[0]), 1

    def tile_progress(done: int, total: int) -> None:
        nonlocal tiles
        tiles = max(tiles, total // passes)
        if progress is not None:
            progress(done, total)

    sr = upscaler.upscale(image_to_tensor(image), options["scale"], **engine_options(options),
                          progress=tile_progress, cancel=cancel)
    sr_image = tensor_to_image(sr, image)
    del sr
    seconds = time.perf_counter() - started
    bicubic = bicubic_image(image, options["scale"]) if with_bicubic else None
    return UpscaleResult(sr_image, bicubic, seconds, upscaler.label, options["scale"], tiles)


def upscale_task(upscaler_for, image, options: dict, with_bicubic: bool = True):
    """A worker task upscaling ``image`` with the panel's ``options``; reports (done, total) tiles."""

    def task(report, aborted):
        return upscale_image_for_window(upscaler_for, image, options, lambda done, total: report((done, total)),
                                        aborted, with_bicubic)

    return task
