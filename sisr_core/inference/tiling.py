"""Patch ("tiled") inference: bounded memory, same result as running the whole image.

Each tile is run with ``overlap`` pixels of real context on every side and only its centre is
kept, so with an overlap at least the network's receptive radius the stitched output equals the
whole-image output. A tile that runs out of memory is retried as four smaller tiles (down to a
floor). Pure functions: no state, progress and cancel are plain callables.

Cancel is checked between tiles and, for a network given :func:`add_cancel_checks`, between its layers
(:func:`checking_cancel` says which callable the calling thread's passes obey), so a whole image or a
large tile stops within a layer's time; tiles need not be small for Cancel to be quick.
"""
from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch

MIN_RETRY_TILE = 16  # an out-of-memory tile is split no smaller than this many input pixels a side


class Cancelled(Exception):
    """Raised when the caller's cancel callable returned True, between tiles or between a network's layers."""


_cancel_checks = threading.local()  # per thread: one network may serve the window and a batch at once


def _check_cancel(module, args) -> None:
    cancel = getattr(_cancel_checks, "cancel", None)
    if cancel is not None and cancel():
        raise Cancelled()


def add_cancel_checks(network: torch.nn.Module) -> torch.nn.Module:
    """Make ``network`` stop between layers when asked: each leaf layer gets a forward pre-hook that raises
    :class:`Cancelled` if the calling thread's cancel callable (see :func:`checking_cancel`) returns True.
    Once per network; outside ``checking_cancel`` a hook costs one attribute look-up."""
    if not getattr(network, "_sisr_cancel_checks", False):
        for module in network.modules():
            if next(module.children(), None) is None:
                module.register_forward_pre_hook(_check_cancel)
        network._sisr_cancel_checks = True
    return network


@contextmanager
def checking_cancel(cancel: Callable[[], bool] | None):
    """While inside, networks with :func:`add_cancel_checks` run in this thread raise Cancelled once ``cancel()``."""
    previous = getattr(_cancel_checks, "cancel", None)
    _cancel_checks.cancel = cancel
    try:
        yield
    finally:
        _cancel_checks.cancel = previous


class TileMemoryError(RuntimeError):
    """Out of memory even for the smallest tile; str() is one line for the user."""


def is_out_of_memory(error: BaseException) -> bool:
    """True for torch's GPU OutOfMemoryError, MemoryError, and the CPU allocator's RuntimeErrors."""
    if isinstance(error, (MemoryError, getattr(torch, "OutOfMemoryError", MemoryError))):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and any(
        s in text for s in ("out of memory", "can't allocate", "cannot allocate", "not enough memory",
                            "failed to allocate")
    )


def tile_grid(height: int, width: int, tile: int, tile_w: int | None = None, multiple: int = 1) -> list[tuple[int, int, int, int]]:
    """Tiles (y0, y1, x0, x1) of at most ``tile`` (x ``tile_w``) px covering an image, row by row.

    The fewest tiles that fit, of equal size (to ``multiple``): no thin remainder tile whose shared
    context costs more than its pixels, and few distinct shapes for the convolution kernels to plan."""
    tile_w = tile_w or tile

    def step(length: int, most: int) -> int:
        even = -(-length // -(-length // most))
        return min(-(-even // multiple) * multiple, most)

    step_h, step_w = step(height, tile), step(width, tile_w)
    return [
        (y0, min(y0 + step_h, height), x0, min(x0 + step_w, width))
        for y0 in range(0, height, step_h)
        for x0 in range(0, width, step_w)
    ]


def run_region(
    forward: Callable[[torch.Tensor], torch.Tensor],
    read: Callable[[int, int, int, int], torch.Tensor],
    height: int,
    width: int,
    region: tuple[int, int, int, int],
    scale: int,
    overlap: int,
    multiple: int = 1,
    floor: int = MIN_RETRY_TILE,
) -> torch.Tensor:
    """The output of ``region`` (y0, y1, x0, x1) of an image read by ``read(y0, y1, x0, x1)``.

    The region runs with ``overlap`` px of context; on an out-of-memory error it is split into four
    (at multiples of ``multiple``) and each part retried, until a side would drop below ``floor``.
    """
    y0, y1, x0, x1 = region
    py0, py1 = max(y0 - overlap, 0), min(y1 + overlap, height)
    px0, px1 = max(x0 - overlap, 0), min(x1 + overlap, width)
    try:
        result = forward(read(py0, py1, px0, px1))
        oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
        return result[..., oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale]
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        error_text = " ".join(str(error).split())[:200]
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    half_h = _half(y1 - y0, multiple, floor)
    half_w = _half(x1 - x0, multiple, floor)
    if half_h is None and half_w is None:
        raise TileMemoryError(
            f"out of memory even for a {y1 - y0}x{x1 - x0} px tile ({error_text}); "
            "free some memory or lower SISR_MEMORY_BUDGET_MB"
        )
    ys = [(y0, y1)] if half_h is None else [(y0, y0 + half_h), (y0 + half_h, y1)]
    xs = [(x0, x1)] if half_w is None else [(x0, x0 + half_w), (x0 + half_w, x1)]
    rows = [
        torch.cat([run_region(forward, read, height, width, (a, b, c, d), scale, overlap, multiple, floor)
                   for c, d in xs], dim=-1)
        for a, b in ys
    ]
    return torch.cat(rows, dim=-2)


def _half(side: int, multiple: int, floor: int) -> int | None:
    """Where to split a side in two (a multiple of ``multiple``), or None if the parts would be too small."""
    half = side // 2 // multiple * multiple
    return half if half >= max(floor, multiple, 1) and side - half >= 1 else None


def upscale_tiled(
    forward: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    scale: int,
    tile: int,
    overlap: int,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    out=None,
    multiple: int = 1,
):
    """Run ``forward`` (LR (1, C, h, w) -> (1, C', h*scale, w*scale)) tile by tile over ``image``.

    ``out`` may be any writable array indexed [..., y0:y1, x0:x1] (e.g. a numpy memmap) of shape
    (1, C', H*scale, W*scale); by default a tensor is allocated from the first tile's channels.
    """
    if tile < 1:
        raise ValueError(f"tile size must be positive, got {tile}")
    _, _, height, width = image.shape
    tiles = tile_grid(height, width, tile, multiple=multiple)

    def read(y0, y1, x0, x1):
        return image[..., y0:y1, x0:x1]

    for i, (y0, y1, x0, x1) in enumerate(tiles):
        if cancel is not None and cancel():
            raise Cancelled()
        result = run_region(forward, read, height, width, (y0, y1, x0, x1), scale, overlap, multiple)
        if out is None:
            out = torch.empty(
                (1, result.shape[1], height * scale, width * scale), dtype=result.dtype, device=result.device
            )
        out[..., y0 * scale : y1 * scale, x0 * scale : x1 * scale] = result
        if progress is not None:
            progress(i + 1, len(tiles))
    return out


def tiled_bands(
    forward: Callable[[torch.Tensor], torch.Tensor],
    read: Callable[[int, int, int, int], torch.Tensor],
    height: int,
    width: int,
    scale: int,
    tile_h: int,
    tile_w: int,
    overlap: int,
    convert: Callable[[torch.Tensor], np.ndarray],
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    multiple: int = 1,
) -> Iterator[np.ndarray]:
    """Yield the output one band of rows at a time (top to bottom): each band is one row of tiles.

    ``read(y0, y1, x0, x1)`` gives the input tile as (1, C, h, w) floats, so the input may stay in its
    stored integers; ``convert`` turns an output tile (1, C', h*scale, w*scale) into an (h', w', C')
    array of the output's type. A band is (rows*scale, width*scale, C') and is not kept after it is
    yielded, so memory holds one band, not the image.
    """
    if tile_h < 1 or tile_w < 1:
        raise ValueError(f"tile size must be positive, got {tile_h}x{tile_w}")
    tiles = tile_grid(height, width, tile_h, tile_w, multiple)
    band = None
    for i, (y0, y1, x0, x1) in enumerate(tiles):
        if cancel is not None and cancel():
            raise Cancelled()
        piece = convert(run_region(forward, read, height, width, (y0, y1, x0, x1), scale, overlap, multiple))
        if band is None:
            band = np.empty(((y1 - y0) * scale, width * scale, piece.shape[2]), dtype=piece.dtype)
        band[:, x0 * scale : x1 * scale] = piece
        del piece
        if progress is not None:
            progress(i + 1, len(tiles))
        if x1 == width:
            yield band
            band = None


def tile_for_budget(bytes_per_pixel: float, budget_bytes: int, overlap: int, minimum: int = 32) -> int:
    """The largest square tile whose padded input fits ``budget_bytes`` at ``bytes_per_pixel``."""
    side = int(math.sqrt(max(budget_bytes, 1) / max(bytes_per_pixel, 1e-9))) - 2 * overlap
    return max(side, minimum)


def band_tiles(
    height: int, width: int, bytes_per_pixel: float, net_budget: int, band_row_bytes: int, band_budget: int,
    overlap: int, multiple: int = 1, tile: int | None = None,
) -> tuple[int, int]:
    """Tile (height, width) in input px for ``tiled_bands``: the network's padded tile fits ``net_budget``
    and one band of output rows (``band_row_bytes`` per input row) fits ``band_budget``."""
    side = tile or tile_for_budget(bytes_per_pixel, net_budget, overlap)
    tile_h = max(min(side, band_budget // max(band_row_bytes, 1), height), 1)
    if tile:
        tile_w = tile
    else:  # a flatter tile keeps the network's area: wider rows of fewer tiles
        area = max(net_budget / max(bytes_per_pixel, 1e-9), 1)
        tile_w = max(int(area / (tile_h + 2 * overlap)) - 2 * overlap, side)
    tile_h = -(-tile_h // multiple) * multiple
    tile_w = min(-(-tile_w // multiple) * multiple, -(-width // multiple) * multiple)
    return tile_h, tile_w
