"""Colour conversions between RGB and the BT.601 studio-range YCbCr of the SR literature.

All values are floats in [0, 1]: Y spans [16, 235] / 255 as in MATLAB's ``rgb2ycbcr``.
"""
from __future__ import annotations

import torch

_RGB_TO_YCBCR = torch.tensor(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
    dtype=torch.float64,
) / 255.0
_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64) / 255.0
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] to YCbCr in [0, 1] (studio range)."""
    m = _RGB_TO_YCBCR.to(rgb)
    return torch.einsum("ij,njhw->nihw", m, rgb) + _OFFSET.to(rgb).view(1, 3, 1, 1)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) YCbCr in [0, 1] (studio range) back to RGB (not clamped)."""
    m = _YCBCR_TO_RGB.to(ycbcr)
    return torch.einsum("ij,njhw->nihw", m, ycbcr - _OFFSET.to(ycbcr).view(1, 3, 1, 1))


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] to (N, 1, H, W) luma Y in [16/255, 235/255]."""
    return rgb_to_ycbcr(rgb)[:, :1]
