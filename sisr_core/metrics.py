"""PSNR and SSIM by the benchmark protocol of the SR literature.

Protocol (see ``shared/datasets/README.md``): crop HR to a multiple of the scale, make LR with
MATLAB bicubic, super-resolve, round to 8 bits, compare on Y (BT.601 studio range) with ``scale``
pixels shaved from each border; PSNR with peak 255, SSIM with an 11x11 Gaussian window (sigma 1.5).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sisr_core.inference.color import rgb_to_y
from sisr_core.resize import imresize


def to_uint8_levels(img: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats to rounded 8-bit levels (as floats in [0, 255])."""
    return (img.clamp(0, 1) * 255.0).round()


def mod_crop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop (..., H, W) so both sides are divisible by ``scale``."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def make_lr(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The benchmark LR image: MATLAB bicubic downscale of 8-bit HR, rounded to 8 bits, in [0, 1]."""
    return to_uint8_levels(imresize(hr, 1.0 / scale)) / 255.0


def _prepare(img: torch.Tensor, crop_border: int, test_y_channel: bool) -> torch.Tensor:
    """8-bit levels (N, C, H, W) float64, optionally Y only, with borders shaved."""
    x = img if img.ndim == 4 else img.unsqueeze(0)
    x = to_uint8_levels(x.double())
    if test_y_channel and x.shape[1] == 3:
        x = (rgb_to_y(x / 255.0) * 255.0).round()
    if crop_border:
        x = x[..., crop_border:-crop_border, crop_border:-crop_border]
    return x


def psnr(sr: torch.Tensor, hr: torch.Tensor, crop_border: int, test_y_channel: bool = True) -> float:
    """PSNR in dB of [0, 1] images (C, H, W) or (1, C, H, W) after 8-bit rounding."""
    a, b = _prepare(sr, crop_border, test_y_channel), _prepare(hr, crop_border, test_y_channel)
    mse = torch.mean((a - b) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(sr: torch.Tensor, hr: torch.Tensor, crop_border: int, test_y_channel: bool = True) -> float:
    """SSIM (Wang et al. 2004, 'valid' filtering as in the MATLAB reference), mean over channels."""
    a, b = _prepare(sr, crop_border, test_y_channel), _prepare(hr, crop_border, test_y_channel)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    channels = a.shape[1]
    win = _gaussian_window().to(a).expand(channels, 1, 11, 11)

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, win, groups=channels)

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean().item()
