"""Upscaling: plan the scale, run a loaded network (``models.loading``) whole or in patches, keep colour.

``Upscaler`` holds only the loaded networks (one per native scale, loaded on first use); every
call is independent, so one Upscaler can serve the CLI, a batch and the app's worker alike. Its
networks check the call's ``cancel`` between layers, so Cancel is quick whatever the tiling.

Images too large to hold as floats go through ``upscale_image_bands``: the input stays in its stored
integers, each tile is made float on its own, runs every pass of the scale plan (and the final
downscale) in one go, and comes back as the output's integers in bands of rows that a writer streams
to disk. Tile sizes come from the memory budget; a tile that still runs out of memory is split.
"""
from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from sisr_core import PRECISIONS
from sisr_core.devices import cpu_vendor, network_memory_budget, select_device
from sisr_core.io import ImageData, to_float
from sisr_core.inference.tiling import (
    add_cancel_checks,
    band_tiles,
    checking_cancel,
    is_out_of_memory,
    tile_for_budget,
    tiled_bands,
    upscale_tiled,
)
from sisr_core.models.loading import LoadedModel, NoWeightsError, available_scales, load_model, user_model_file
from sisr_core.models.registry import get_spec
from sisr_core.resize import imresize

DEFAULT_MEMORY_BUDGET = int(os.environ.get("SISR_MEMORY_BUDGET_MB", "1024")) * 2**20
# Auto mode runs networks with a small context in tiles of this budget (feature maps in the precision that
# runs), even when the whole image fits: their wide, cheap layers are bound by memory traffic, and feature
# maps that big are allocated afresh (page faults) for every layer. FSRCNN/ESPCN run 1.1-1.7x faster so on
# CPUs; `sisr bench` measures it. fp32 maps are twice bf16's, so fp32 tiles are smaller (fsrcnn: 246 px
# tiles 2.71 s, 355 px 3.37 s, 2000x2000 x2, medians of 5).
SPEED_TILE_BUDGET = 128 * 2**20
MAX_CONTEXT_OVERHEAD = 1.16  # ... unless the tiles' shared context would add more than 16% of the work
MAX_CHAIN = 4


def native_bf16() -> bool:
    """Whether bfloat16 is the fast precision on this CPU, by measurement on each kind we met: Intel AMX,
    where oneDNN's bf16 runs 2-3x faster than fp32 (matmul 805 against 234 GFLOP/s), and AMD's AVX512-BF16
    (Zen 4 and later; an EPYC VM: matmul 411-422 against 150-189 GFLOP/s, 1000x1000 x2 `wdsr-a` 3.9 against
    8.6 s). Intel's AVX512-BF16 without AMX is not enough: on an Emerald Rapids VM whose AMX was hidden,
    bf16 ran slower (matmul 117-152 against 256-260 GFLOP/s; `wdsr-a` 10.6 against 7.3 s)."""
    if torch.cpu._is_amx_tile_supported():
        return True
    return torch.cpu._is_avx512_bf16_supported() and cpu_vendor() == "AuthenticAMD"


def plan_scales(target: int, natives: list[int]) -> tuple[list[int], bool]:
    """Passes of native scales for ``target``: an exact chain if one exists, else the smallest
    product above it (then a high-quality downscale); fewest passes first."""
    if target < 1:
        raise ValueError(f"scale must be a positive integer, got {target}")
    if not natives:
        raise ValueError("no native scales to plan with")
    best = None
    for length in range(1, MAX_CHAIN + 1):
        for chain in itertools.combinations_with_replacement(sorted(natives, reverse=True), length):
            product = math.prod(chain)
            if product == target:
                return list(chain), False
            if product > target and (best is None or (product, len(chain)) < (math.prod(best), len(best))):
                best = chain
        if best is not None:
            break
    if best is None:
        raise ValueError(f"scale x{target} is out of reach of scales {natives}")
    return list(best), True


def _ensemble(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """x8 self-ensemble: flips and transposes of the input, outputs transformed back and averaged."""
    total = None
    for flip_h, flip_w, transpose in itertools.product((False, True), repeat=3):
        t = x
        if flip_h:
            t = t.flip(-2)
        if flip_w:
            t = t.flip(-1)
        if transpose:
            t = t.transpose(-2, -1)
        y = fn(t)
        if transpose:
            y = y.transpose(-2, -1)
        if flip_w:
            y = y.flip(-1)
        if flip_h:
            y = y.flip(-2)
        total = y if total is None else total + y
    return total / 8


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is bf16 on a CPU where it is faster (``native_bf16``: 2-3x; Set5 PSNR moves by 0.01-0.06 dB,
    see the README) and on a CUDA GPU that has it (Ampere and later), fp16 on older CUDA GPUs, fp32
    elsewhere (MPS included). fp16 needs a GPU: on a CPU it is only slower."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type not in ("cuda", "mps"):
        raise ValueError("fp16 needs a GPU (cuda or mps); on the CPU it would only be slower (bf16 is the CPU's)")
    if precision == "auto" and device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "auto":
        return "bf16" if device.type == "cpu" and native_bf16() else "fp32"
    return precision


class Upscaler:
    """A network by name (or a weight file), loaded per native scale as needed."""

    def __init__(
        self, model: str | None = None, weights: str | os.PathLike | None = None, device: str = "auto",
        precision: str = "auto", variant: str = "clean",
    ):
        self.device = select_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.dtype = torch.float16 if self.precision == "fp16" else torch.float32
        if weights is None and model is not None:
            weights = user_model_file(model)  # a user's model is its one file
        self._weights = weights
        self.variant = variant  # which of the network's shipped weights: clean or photo
        self._loaded: dict[int | None, LoadedModel] = {}
        if weights is not None:
            first = self._keep(load_model(model, None, weights, self.device))
            self.name, self.spec = first.name, first.spec
        elif model is None:
            raise ValueError("give a model name or a weight file")
        else:
            self.name, self.spec = model, get_spec(model)

    @property
    def label(self) -> str:
        """What runs, for messages: ``wdsr-a (photo weights)``, or the weight file's name."""
        if self._weights is not None:
            return f"{self.name} ({Path(str(self._weights)).name})"
        return f"{self.name} ({self.variant} weights)"

    def for_image(self, image) -> "Upscaler":
        """The upscaler to run on ``image`` (an ImageData): this one; see ``zoo.AutoUpscaler``."""
        return self

    @classmethod
    def serving(cls, *models: LoadedModel, precision: str = "fp32", device: str = "cpu") -> "Upscaler":
        """An Upscaler around networks already in memory (on ``device``), e.g. random ones for `sisr bench`."""
        up = cls.__new__(cls)
        up.device = select_device(device)
        up.precision = resolve_precision(precision, up.device)
        up.dtype = torch.float16 if up.precision == "fp16" else torch.float32
        up._weights, up.name, up.spec, up._loaded = "in memory", models[0].name, models[0].spec, {}
        for model in models:
            up._keep(model)
        return up

    def native_scales(self) -> list[int]:
        """Scales the network can do in one pass with the weights at hand."""
        if self.spec.multi_scale:
            return [s for s in range(2, 9)]
        if self._weights is not None:
            return [s for s in self._loaded if s is not None]
        return available_scales(self.name, self.variant)

    def model_for(self, scale: int) -> LoadedModel:
        """The loaded network for one native ``scale`` (cached)."""
        key = None if self.spec.multi_scale else scale
        if key not in self._loaded:
            if self._weights is not None and key is not None:
                raise NoWeightsError(f"{self._weights}: these weights are for x{next(iter(self._loaded))} only")
            self._keep(load_model(self.name, scale, None, self.device, self.variant))
        return self._loaded[key]

    def _keep(self, loaded: LoadedModel) -> LoadedModel:
        """Cache a loaded network in our dtype under its scale, and under every other scale its file
        serves (one FD-SRCNN network for x2 and x4 is loaded once); it checks ``cancel`` between layers."""
        add_cancel_checks(loaded.network.to(self.dtype))
        loaded.bf16 = self.precision == "bf16" and "bf16" in loaded.spec.precisions
        self._loaded[loaded.scale] = loaded
        for s in loaded.meta.get("scales", []) if loaded.spec.joint_scales else []:
            self._loaded.setdefault(s, replace(loaded, scale=s))
        return loaded

    def plan(self, scale: int) -> tuple[list[int], bool]:
        """Native passes for ``scale`` and whether a final downscale follows."""
        if self.spec.multi_scale:
            return [scale], False
        natives = self.native_scales()
        if not natives:
            raise NoWeightsError(
                f"model {self.name!r} has no trained{'' if self.variant == 'clean' else ' ' + self.variant} weights yet; "
                "train it with `sisr train` or pass --weights"
            )
        return plan_scales(scale, natives)

    @torch.inference_mode()
    def upscale(
        self,
        image: torch.Tensor,
        scale: int,
        mode: str = "auto",
        tile: int | None = None,
        overlap: int | None = None,
        ensemble: bool = False,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> torch.Tensor:
        """Upscale (1, C, H, W) in [0, 1] with C = 1 (grey), 3 (RGB), 2 or 4 (with alpha last).

        ``mode``: ``fast`` runs the whole image at once, ``patch`` runs tiles of ``tile`` px with
        ``overlap`` px of context, ``auto`` picks patch mode when the image would exceed the memory
        budget (on a CUDA GPU: half its free memory). Returns (1, C, H*scale, W*scale) clamped to [0, 1] on
        ``image``'s device. ``cancel()`` is checked between tiles and between the network's layers; when it
        returns True, ``Cancelled`` is raised.
        """
        if mode not in ("auto", "fast", "patch"):
            raise ValueError(f"mode must be auto, fast or patch, got {mode!r}")
        pad = self._small_image_pad(image, scale)
        with checking_cancel(cancel):
            if not pad:
                return self._upscale(image, scale, mode, tile, overlap, ensemble, memory_budget, progress, cancel).to(image.device)
            padded = torch.nn.functional.pad(image, (pad,) * 4, mode="replicate")
            out = self._upscale(padded, scale, mode, tile, overlap, ensemble, memory_budget, progress, cancel)
            return out[..., pad * scale : -pad * scale, pad * scale : -pad * scale].to(image.device)

    def _small_image_pad(self, image: torch.Tensor, scale: int) -> int:
        """Edge-replicated context for an image smaller than the first pass's receptive radius (else 0): the
        networks pad their convolutions with zeros, so a tiny image would be read as lying on black (a 1x1
        red image came out brown). No benchmark image is that small, so the figures do not move."""
        return self._small_image_pad_for(self.plan(scale)[0][0], *image.shape[-2:])

    def _small_image_pad_for(self, native: int, height: int, width: int) -> int:
        radius = self.model_for(native).receptive_radius
        return radius if min(height, width) < radius else 0

    def _upscale(self, image, scale, mode, tile, overlap, ensemble, memory_budget, progress, cancel) -> torch.Tensor:
        passes, downscale = self.plan(scale)
        x = image.to(self.device, self.dtype)
        memory_budget = network_memory_budget(self.device, memory_budget)
        out_size = (image.shape[-2] * scale, image.shape[-1] * scale)
        steps_done = 0
        total_steps = len(passes)

        for native in passes:
            model = self.model_for(native)
            fn = self._pixel_function(model, native, x.shape[1])
            if ensemble:
                fn = (lambda f: lambda t: _ensemble(f, t))(fn)
            tiles = self._tiles(model, native, *x.shape[-2:], mode, tile, overlap, memory_budget)
            whole = None
            if tiles.whole:
                try:
                    whole = fn(x)
                except Exception as error:  # the estimate was wrong: auto mode falls back to tiles
                    if mode == "fast" or not is_out_of_memory(error):
                        raise
            if whole is not None:
                x = whole
                del whole
                steps_done += 1
                if progress:
                    progress(steps_done, total_steps)
            else:
                def tile_progress(done, total, base=steps_done):
                    if progress:
                        progress(base * total + done, total_steps * total)

                x = upscale_tiled(fn, x, native, tiles.tile, tiles.context, tile_progress, cancel,
                                  multiple=model.spec.size_multiple)
                steps_done += 1
        if downscale:
            x = imresize(x, size=out_size).clamp(0, 1)
        return x.float()

    def _tiles(self, model: LoadedModel, scale: int, height: int, width: int, mode: str, tile: int | None,
               overlap: int | None, memory_budget: int) -> TilePlan:
        return plan_tiles(model, scale, height, width, mode, tile, overlap, memory_budget, speed=self.device.type == "cpu")

    def streamed_tiles(self, scale: int, height: int, width: int, mode: str = "auto", tile: int | None = None,
                       overlap: int | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> TilePlan | None:
        """The tiles ``upscale`` would run a ``height`` x ``width`` image in, when ``scale`` is one native pass
        run in tiles (else None): ``upscale_image_bands`` with that tile gives the same pixels band by band,
        so the output can be encoded while later tiles compute."""
        passes, downscale = self.plan(scale)
        if len(passes) != 1 or downscale or self._small_image_pad_for(passes[0], height, width):
            return None
        budget = network_memory_budget(self.device, memory_budget)
        tiles = self._tiles(self.model_for(scale), scale, height, width, mode, tile, overlap, budget)
        return None if tiles.whole else tiles

    def tile_function(self, scale: int, channels: int, ensemble: bool = False) -> tuple[Callable, int, int, float]:
        """Every pass of ``scale``'s plan (and its final downscale) as one tile function.

        Returns (function, context in input px, size multiple, peak bytes per input pixel): a tile run
        with that context gives the whole-image result of ``upscale`` (within a grey level).
        """
        passes, downscale = self.plan(scale)
        functions, overlap, multiple, bytes_per_pixel, product = [], 0, 1, 0.0, 1
        for native in passes:
            model = self.model_for(native)
            fn = self._pixel_function(model, native, channels)
            functions.append((lambda f: lambda t: _ensemble(f, t))(fn) if ensemble else fn)
            overlap += -(-model.receptive_radius // product)  # a later pass's context, in input pixels
            multiple = math.lcm(multiple, model.spec.size_multiple)
            bytes_per_pixel = max(bytes_per_pixel, peak_bytes_per_pixel(model, native) * product**2)
            product *= native
        if downscale:
            overlap += 3  # the antialiased bicubic kernel spans under 2 input pixels a side

        def run(t: torch.Tensor) -> torch.Tensor:
            size = (t.shape[-2] * scale, t.shape[-1] * scale)
            for fn in functions:
                t = fn(t)
            return imresize(t, size=size).clamp(0, 1) if downscale else t

        return run, overlap, multiple, bytes_per_pixel

    def _pixel_function(self, model: LoadedModel, scale: int, channels: int) -> Callable:
        """LR tile (1, C, h, w) -> HR tile for this image's channel layout (grey/RGB, alpha)."""
        color_ch = 1 if channels in (1, 2) else 3

        def run(t: torch.Tensor) -> torch.Tensor:
            color, alpha = t[:, :color_ch], t[:, color_ch:]
            rgb = color.expand(-1, 3, -1, -1) if color_ch == 1 else color
            h, w = rgb.shape[-2:]
            pad_h, pad_w = max(model.spec.min_size - h, 0), max(model.spec.min_size - w, 0)
            if pad_h or pad_w:
                rgb = torch.nn.functional.pad(rgb, (0, pad_w, 0, pad_h), mode="replicate")
            hr = model.forward_rgb(rgb, scale)[..., : h * scale, : w * scale].clamp(0, 1)
            if color_ch == 1:
                hr = hr.mean(dim=1, keepdim=True)
            if alpha.shape[1]:
                hr = torch.cat([hr, imresize(alpha, scale).clamp(0, 1)], dim=1)
            return hr

        return run


def peak_bytes_per_pixel(model: LoadedModel, scale: int) -> float:
    """Rough peak bytes per input pixel: a few live fp32 feature maps of the widest layer."""
    widest = max(
        (m.out_channels for m in model.network.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))),
        default=64,
    )
    area = scale * scale if model.spec.pre_upsample else 2
    return 4.0 * widest * 4 * area + 4.0 * 8 * scale * scale


@dataclass(frozen=True)
class TilePlan:
    """How one pass runs: the whole image at once (``whole``; auto mode falls back to the tiles when that runs
    out of memory) or tiles of ``tile`` px with ``context`` px of context, both on the network's size grid;
    ``speed``: the tiles are the speed tiles (:func:`speed_tile`), a fraction of the memory budget, not sized
    by it."""

    whole: bool
    tile: int
    context: int
    speed: bool = False


def plan_tiles(model: LoadedModel, scale: int, height: int, width: int, mode: str = "auto", tile: int | None = None,
               overlap: int | None = None, memory_budget: int = DEFAULT_MEMORY_BUDGET, speed: bool = True) -> TilePlan:
    """The tile-size policy for one pass of ``model`` (its descriptor gives the context and the size grid):
    ``fast`` runs whole; ``patch`` runs tiles of ``tile`` px (default: the largest that fits the budget);
    ``auto`` runs whole when the image fits the budget and in the budget's tiles when it does not, except that
    a network with a small context runs in speed tiles when they are smaller (:func:`speed_tile`; ``speed``: on
    a CPU, where they help). ``overlap`` overrides the context."""
    context = model.receptive_radius if overlap is None else overlap
    bytes_per_pixel = peak_bytes_per_pixel(model, scale)
    side = tile or tile_for_budget(bytes_per_pixel, memory_budget, context)
    fits = height * width * bytes_per_pixel <= memory_budget
    quick = speed_tile(bytes_per_pixel / (2 if model.bf16 else 1), context) if tile is None and speed else None
    by_speed = False
    if mode == "auto" and quick and max(height, width) > quick:
        fits, side, by_speed = False, min(side, quick), quick <= side
    grid = model.spec.size_multiple
    return TilePlan(mode == "fast" or (mode == "auto" and fits), -(-side // grid) * grid, -(-context // grid) * grid,
                    by_speed)


def speed_tile(bytes_per_pixel: float, context: int) -> int | None:
    """The tile side auto mode uses for speed (``bytes_per_pixel`` of feature maps in the precision that runs),
    or None when the context tiles share costs too much."""
    side = tile_for_budget(bytes_per_pixel, SPEED_TILE_BUDGET, context)
    return side if ((side + 2 * context) / side) ** 2 <= MAX_CONTEXT_OVERHEAD else None


def upscale_image_bands(
    upscaler: Upscaler,
    image: ImageData,
    scale: int,
    dtype=np.uint8,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    tile: int | None = None,
    overlap: int | None = None,
    ensemble: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    **_ignored,
) -> Iterator[np.ndarray]:
    """The upscaled image as bands of rows (rows, W*scale, C) of ``dtype``, colour then alpha, top to bottom.

    ``image`` may hold its stored integers (``read_image(..., native=True)``); half of ``memory_budget``
    goes to the network's tiles, an eighth to each band (a writer holds two or three at once).
    """
    channels = image.channels + (image.alpha is not None)
    fn, context, multiple, bytes_per_pixel = upscaler.tile_function(scale, channels, ensemble)
    context = context if overlap is None else overlap
    return _bands(fn, image, scale, dtype, context, multiple, bytes_per_pixel, memory_budget, tile,
                  upscaler.device, upscaler.dtype, progress, cancel)


def bicubic_image_bands(
    image: ImageData, scale: int, dtype=np.uint8, *, memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None, **_ignored,
) -> Iterator[np.ndarray]:
    """The bicubic enlargement as bands of rows, like ``upscale_image_bands``."""
    return _bands(lambda t: bicubic_upscale(t, scale), image, scale, dtype, 4, 1, 64.0 * scale * scale,
                  memory_budget, None, torch.device("cpu"), torch.float32, progress, cancel)


def _bands(fn, image: ImageData, scale: int, dtype, context: int, multiple: int, bytes_per_pixel: float,
           memory_budget: int, tile: int | None, device, float_type, progress, cancel) -> Iterator[np.ndarray]:
    channels = image.channels + (image.alpha is not None)
    out_dtype = np.dtype(dtype)
    context = -(-context // multiple) * multiple
    tile_h, tile_w = band_tiles(
        image.height, image.width, bytes_per_pixel, memory_budget // 2,
        image.width * scale * scale * channels * out_dtype.itemsize, memory_budget // 8, context, multiple, tile,
    )

    def read(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        colour = to_float(image.pixels[y0:y1, x0:x1])
        if image.alpha is not None:
            colour = np.concatenate([colour, to_float(image.alpha[y0:y1, x0:x1])[..., None]], axis=2)
        return torch.from_numpy(np.ascontiguousarray(colour)).permute(2, 0, 1)[None].to(device, float_type)

    def convert(result: torch.Tensor) -> np.ndarray:
        return to_samples(result[0], out_dtype)

    def checked(t: torch.Tensor) -> torch.Tensor:  # set per tile: a generator may move between threads
        with checking_cancel(cancel):
            return fn(t)

    @torch.inference_mode()
    def bands() -> Iterator[np.ndarray]:
        yield from tiled_bands(checked, read, image.height, image.width, scale, tile_h, tile_w, context, convert,
                               progress, cancel, multiple)

    return bands()


def bicubic_upscale(image: torch.Tensor, scale: int) -> torch.Tensor:
    """The plain bicubic (MATLAB-compatible) enlargement the app compares against, clamped."""
    return imresize(image, scale).clamp(0, 1)


def image_to_tensor(image: ImageData) -> torch.Tensor:
    """ImageData to (1, C, H, W): grey or RGB channels, then alpha as the last channel if present."""
    x = torch.from_numpy(np.ascontiguousarray(to_float(image.pixels))).permute(2, 0, 1)
    if image.alpha is not None:
        x = torch.cat([x, torch.from_numpy(np.ascontiguousarray(to_float(image.alpha)))[None]], dim=0)
    return x[None].float()


def to_samples(x: torch.Tensor, dtype=np.float32) -> np.ndarray:
    """(C, H, W) floats in [0, 1] to (H, W, C) samples of ``dtype``: for uint8/uint16 clipped, scaled and
    rounded half to even, the arithmetic of ``io.write_image`` (so the same integers), but in one
    multi-threaded torch pass with no float copy in numpy's layout; float32 as it is."""
    dtype, x = np.dtype(dtype), x.float()  # fp16/bf16 results are rounded from fp32, as before
    if dtype.kind == "u":
        x = x.clamp(0, 1).mul_(np.iinfo(dtype).max).round_().to(torch.uint8 if dtype == np.uint8 else torch.int32)
    samples = x.cpu().permute(1, 2, 0).contiguous().numpy()
    return samples.astype(dtype, copy=False)


def tensor_to_image(x: torch.Tensor, like: ImageData, dtype=np.float32) -> ImageData:
    """(1, C, H, W) back to ImageData with ``like``'s bit depth, ICC profile and EXIF; pixels (and alpha) as
    float32, or as samples of an integer ``dtype`` ready to write (see ``to_samples``)."""
    arr = to_samples(x[0], dtype)
    color = like.pixels.shape[2]
    if arr.shape[2] == color:
        return replace(like, pixels=arr, alpha=None, warnings=[])
    return replace(like, pixels=np.ascontiguousarray(arr[..., :color]), alpha=np.ascontiguousarray(arr[..., color]),
                   warnings=[])


def upscale_image(upscaler: Upscaler, image: ImageData, scale: int, **options) -> ImageData:
    """Upscale decoded image data, keeping alpha, bit depth, ICC and EXIF; options as Upscaler.upscale."""
    return tensor_to_image(upscaler.upscale(image_to_tensor(image), scale, **options), image)


def bicubic_image(image: ImageData, scale: int) -> ImageData:
    """The bicubic-enlarged ("intermediate") image, with the same metadata."""
    return tensor_to_image(bicubic_upscale(image_to_tensor(image), scale), image)
