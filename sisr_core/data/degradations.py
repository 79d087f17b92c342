"""How LR training images are made from HR ones.

``bicubic`` is the benchmark degradation (MATLAB imresize, 8-bit rounding); ``bicubic_jpeg_Q``
adds JPEG compression at quality Q; ``unknown`` draws a random blur kernel, bicubic or
area downsampling and Gaussian noise, in the spirit of the NTIRE "unknown" track.
"""
from __future__ import annotations

import io as _io
import math
import re

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sisr_core.resize import imresize


def _round8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round() / 255


def bicubic(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB bicubic downscale of (C, H, W) or (N, C, H, W) in [0, 1], rounded to 8 bits."""
    return _round8(imresize(hr, 1.0 / scale))


def jpeg(img: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG-compress a (3, H, W) image in [0, 1] at ``quality`` (PIL, 4:2:0) and decode it."""
    arr = (img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    buf = _io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    out = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out.copy()).permute(2, 0, 1)


def random_kernel(rng: np.random.Generator, size: int = 21) -> torch.Tensor:
    """An anisotropic Gaussian blur kernel with random widths and angle, normalised to sum 1."""
    s1, s2 = rng.uniform(0.2, 3.0, size=2)
    theta = rng.uniform(0, math.pi)
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([s1**2, s2**2]) @ rot.T
    inv = np.linalg.inv(cov)
    ax = np.arange(size) - (size - 1) / 2
    xx, yy = np.meshgrid(ax, ax)
    pts = np.stack([xx, yy], axis=-1)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, inv, pts))
    return torch.from_numpy((k / k.sum()).astype(np.float32))


def unknown(hr: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """Random blur, bicubic or area downsampling, Gaussian noise; (C, H, W) in [0, 1]."""
    k = random_kernel(rng)
    c = hr.shape[0]
    pad = k.shape[0] // 2
    x = F.pad(hr[None], (pad,) * 4, mode="reflect")
    x = F.conv2d(x, k.expand(c, 1, *k.shape), groups=c)[0]
    if rng.random() < 0.5:
        x = imresize(x, 1.0 / scale)
    else:
        x = F.avg_pool2d(x[None], scale)[0]
    sigma = rng.uniform(0, 10) / 255.0
    x = x + torch.from_numpy(rng.normal(0, sigma, size=x.shape).astype(np.float32))
    return _round8(x)


class Degradation:
    """A named degradation: ``bicubic``, ``unknown`` or ``bicubic_jpeg_Q`` (Q = 1..100)."""

    def __init__(self, name: str):
        self.name = name
        self.quality: int | None = None
        if m := re.fullmatch(r"bicubic_jpeg_(\d+)", name):
            self.quality = int(m.group(1))
            if not 1 <= self.quality <= 100:
                raise ValueError(f"JPEG quality must be 1..100 in {name!r}")
        elif name not in ("bicubic", "unknown"):
            raise ValueError(f"unknown degradation {name!r}; use bicubic, unknown or bicubic_jpeg_Q")

    @property
    def deterministic(self) -> bool:
        """True when the same HR image always gives the same LR image (so it can be cached)."""
        return self.name != "unknown"

    @property
    def context(self) -> int:
        """HR pixels of context needed around a patch for the result to match the whole image."""
        return 0 if self.deterministic else 12

    def __call__(self, hr: torch.Tensor, scale: int, rng: np.random.Generator | None = None) -> torch.Tensor:
        if self.name == "unknown":
            return unknown(hr, scale, rng or np.random.default_rng())
        lr = bicubic(hr, scale)
        return jpeg(lr, self.quality) if self.quality is not None else lr

    def __repr__(self) -> str:
        return f"Degradation({self.name!r})"
