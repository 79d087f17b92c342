"""MATLAB-compatible bicubic resizing (``imresize``), the standard of the SR benchmark protocol.

MATLAB's ``imresize(img, s, 'bicubic')`` uses the cubic kernel with a = -0.5 and, when shrinking,
widens the kernel by 1/s (antialiasing). PIL and OpenCV differ slightly, enough to move PSNR by
tenths of a dB, so the benchmark LR images, the training degradation and the app's "bicubic"
comparison all go through this one function.
"""
from __future__ import annotations

import math

import torch


def _cubic(x: torch.Tensor) -> torch.Tensor:
    absx = x.abs()
    absx2 = absx**2
    absx3 = absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (
        -0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2
    ) * ((absx > 1) & (absx <= 2))


def _contributions(in_len: int, out_len: int, scale: float, antialias: bool, device=None):
    """Source indices and weights (out_len, taps) for one axis, as MATLAB computes them."""
    kernel_width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        kernel_width /= scale
    x = torch.arange(1, out_len + 1, dtype=torch.float64, device=device)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64, device=device)[None, :]
    dist = u[:, None] - indices
    weights = scale * _cubic(dist * scale) if shrink else _cubic(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    idx = _mirror(indices.long() - 1, in_len)
    keep = weights.abs().sum(dim=0) > 0
    return idx[:, keep], weights[:, keep].float()


def _mirror(idx: torch.Tensor, length: int) -> torch.Tensor:
    """0-based indices folded into [0, length) as MATLAB's "symmetric" padding does."""
    period = 2 * length
    idx = torch.remainder(idx, period)
    return torch.where(idx >= length, period - 1 - idx, idx)


def _upscale_axis(x: torch.Tensor, dim: int, factor: int) -> torch.Tensor:
    """Integer upscaling of one axis by shifted multiply-adds, ~5x faster than the gather.

    Output pixel ``k * factor + p`` weighs input pixels ``k + left_p + j`` (j < 6) with weights that
    depend on the phase ``p`` only (the same weights as :func:`_contributions`), so each phase is a
    sum of shifted slices of the mirror-padded axis, written into its place in the output; along the last
    axis, where a phase's places are not contiguous runs, each phase is summed apart and the phases are
    then interleaved (1.6x faster than summing on transposed copies, the same sums)."""
    length = x.shape[dim]
    u = torch.arange(1, factor + 1, dtype=torch.float64) / factor + 0.5 * (1 - 1 / factor)
    left = torch.floor(u - 2)  # MATLAB's 1-based first tap of each phase, for k = 0
    weights = _cubic(u[:, None] - left[:, None] - torch.arange(6, dtype=torch.float64))
    weights = (weights / weights.sum(dim=1, keepdim=True)).tolist()
    start = int(left.min())
    span = int(left.max()) - start + 6
    padded = _mirror_pad(x, dim, 1 - start, start + span - 2)
    last = dim == x.ndim - 1
    out = None if last else x.new_empty(x.shape[:dim] + (length, factor) + x.shape[dim + 1 :])
    phases = []
    for p in range(factor):
        offset = int(left[p]) - start
        first = padded.narrow(dim, offset, length)
        phase = torch.mul(first, weights[p][0], out=None if last else out.select(dim + 1, p))
        for j in range(1, 6):
            if weights[p][j]:
                phase.add_(padded.narrow(dim, offset + j, length), alpha=weights[p][j])
        phases.append(phase)
    if last:
        out = torch.stack(phases, dim=-1)
    return out.reshape(x.shape[:dim] + (length * factor,) + x.shape[dim + 1 :])


def _mirror_pad(x: torch.Tensor, dim: int, before: int, after: int) -> torch.Tensor:
    """``x`` with ``before`` and ``after`` samples of MATLAB's "symmetric" padding along ``dim``."""
    length = x.shape[dim]
    idx = _mirror(torch.arange(-before, length + after, device=x.device), length)
    return torch.cat([x.index_select(dim, idx[:before]), x, x.index_select(dim, idx[before + length :])], dim)


def _resize_axis(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    if scale == int(scale) and scale > 1 and out_len == x.shape[dim] * scale:
        return _upscale_axis(x, dim, int(scale))
    idx, w = _contributions(x.shape[dim], out_len, scale, antialias, device=x.device)
    taps = idx.shape[1]
    gathered = x.index_select(dim, idx.reshape(-1))
    shape = list(x.shape)
    shape[dim : dim + 1] = [out_len, taps]
    gathered = gathered.reshape(shape)
    wshape = [1] * len(shape)
    wshape[dim], wshape[dim + 1] = out_len, taps
    return (gathered * w.to(x.dtype).reshape(wshape)).sum(dim=dim + 1)


def imresize(
    img: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize (..., H, W) float tensor by ``scale`` or to ``size`` = (H, W), like MATLAB imresize.

    Values are not clamped or rounded; for MATLAB's uint8 behaviour round the result yourself.
    """
    in_h, in_w = img.shape[-2:]
    if size is None:
        if scale is None:
            raise ValueError("give scale or size")
        size = (math.ceil(in_h * scale), math.ceil(in_w * scale))
        scale_h = scale_w = float(scale)
    else:
        scale_h, scale_w = (size[0] / in_h, size[1] / in_w) if scale is None else (scale, scale)
    dtype = img.dtype
    x = img if dtype in (torch.float32, torch.float64) else img.float()
    # MATLAB resizes the dimension with the smaller scale factor first (ties: height first).
    order = [(-2, size[0], scale_h), (-1, size[1], scale_w)]
    if scale_w < scale_h:
        order.reverse()
    for dim, out_len, s in order:
        x = _resize_axis(x, x.ndim + dim, out_len, s, antialias)
    return x
