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
    # Mirror out-of-range indices (MATLAB's "symmetric" padding), 0-based.
    idx = indices.long() - 1
    period = 2 * in_len
    idx = torch.remainder(idx, period)
    idx = torch.where(idx >= in_len, period - 1 - idx, idx)
    keep = weights.abs().sum(dim=0) > 0
    return idx[:, keep], weights[:, keep].float()


def _resize_axis(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
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
