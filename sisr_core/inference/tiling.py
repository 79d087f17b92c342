"""Patch ("tiled") inference: bounded memory, same result as running the whole image.

Each tile is run with ``overlap`` pixels of real context on every side and only its centre is
kept, so with an overlap at least the network's receptive radius the stitched output equals the
whole-image output. A pure function: no state, progress and cancel are plain callables.
"""
from __future__ import annotations

import math
from typing import Callable

import torch


class Cancelled(Exception):
    """Raised when the caller's cancel callable returned True between tiles."""


def tile_grid(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Tiles (y0, y1, x0, x1) of at most ``tile`` px covering an image, row by row."""
    return [
        (y0, min(y0 + tile, height), x0, min(x0 + tile, width))
        for y0 in range(0, height, tile)
        for x0 in range(0, width, tile)
    ]


def upscale_tiled(
    forward: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    out=None,
):
    """Run ``forward`` (LR (1, C, h, w) -> (1, C', h*scale, w*scale)) tile by tile over ``image``.

    ``out`` may be any writable array indexed [..., y0:y1, x0:x1] (e.g. a numpy memmap) of shape
    (1, C', H*scale, W*scale); by default a tensor is allocated from the first tile's channels.
    """
    if tile < 1:
        raise ValueError(f"tile size must be positive, got {tile}")
    _, _, height, width = image.shape
    tiles = tile_grid(height, width, tile)
    for i, (y0, y1, x0, x1) in enumerate(tiles):
        if cancel is not None and cancel():
            raise Cancelled()
        py0, py1 = max(y0 - overlap, 0), min(y1 + overlap, height)
        px0, px1 = max(x0 - overlap, 0), min(x1 + overlap, width)
        result = forward(image[..., py0:py1, px0:px1])
        if out is None:
            out = torch.empty(
                (1, result.shape[1], height * scale, width * scale), dtype=result.dtype, device=result.device
            )
        oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
        out[..., y0 * scale : y1 * scale, x0 * scale : x1 * scale] = result[
            ..., oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
        ]
        if progress is not None:
            progress(i + 1, len(tiles))
    return out


def tile_for_budget(bytes_per_pixel: float, budget_bytes: int, overlap: int, minimum: int = 32) -> int:
    """The largest square tile whose padded input fits ``budget_bytes`` at ``bytes_per_pixel``."""
    side = int(math.sqrt(max(budget_bytes, 1) / max(bytes_per_pixel, 1e-9))) - 2 * overlap
    return max(side, minimum)
