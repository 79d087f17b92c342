"""How LR images are made from HR ones, for training and for fixed evaluation protocols.

``bicubic`` is the benchmark degradation (MATLAB imresize, 8-bit rounding); ``bicubic_jpeg_Q``
adds JPEG compression at quality Q; ``unknown`` draws a random blur kernel, bicubic or
area downsampling and Gaussian noise, in the spirit of the NTIRE "unknown" track; ``photo`` draws
from the range of real photos (:func:`photo`). :func:`protocol_lr` applies a fixed evaluation protocol
(``sisr_core.data.protocols``).
"""
from __future__ import annotations

import io as _io
import math
import re
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sisr_core.data.protocols import Protocol
from sisr_core.resize import imresize


def _round8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round() / 255


def bicubic(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB bicubic downscale of (C, H, W) or (N, C, H, W) in [0, 1], rounded to 8 bits."""
    return _round8(imresize(hr, 1.0 / scale))


# Pillow's ``subsampling``: 2 is 4:2:0 (most cameras and the web), 1 is 4:2:2, 0 is 4:4:4.
SUBSAMPLING_420, SUBSAMPLING_422, SUBSAMPLING_444 = 2, 1, 0


def jpeg_bytes(img: torch.Tensor, quality: int, subsampling: int = SUBSAMPLING_420) -> bytes:
    """A (3, H, W) image in [0, 1] encoded as a JPEG file by Pillow."""
    arr = (img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    buf = _io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=quality, subsampling=subsampling)
    return buf.getvalue()


def decode_jpeg(data: bytes) -> torch.Tensor:
    """JPEG bytes to a (3, H, W) float tensor in [0, 1]."""
    with Image.open(_io.BytesIO(data)) as im:
        out = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out.copy()).permute(2, 0, 1)


def jpeg(img: torch.Tensor, quality: int, subsampling: int = SUBSAMPLING_420) -> torch.Tensor:
    """JPEG-compress a (3, H, W) image in [0, 1] at ``quality`` (Pillow) and decode it."""
    return decode_jpeg(jpeg_bytes(img, quality, subsampling))


def gaussian_kernel(sigma_x: float, sigma_y: float, theta: float, size: int = 21) -> torch.Tensor:
    """A Gaussian blur kernel with widths ``sigma_x``/``sigma_y`` rotated by ``theta``, summing to 1."""
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    inv = np.linalg.inv(rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T)
    ax = np.arange(size) - (size - 1) / 2
    pts = np.stack(np.meshgrid(ax, ax), axis=-1)
    k = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, inv, pts))
    return torch.from_numpy((k / k.sum()).astype(np.float32))


def random_kernel(rng: np.random.Generator, size: int = 21) -> torch.Tensor:
    """An anisotropic Gaussian blur kernel with random widths and angle, normalised to sum 1."""
    s1, s2 = rng.uniform(0.2, 3.0, size=2)
    return gaussian_kernel(s1, s2, rng.uniform(0, math.pi), size)


def blur(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve (C, H, W) with a square kernel, reflecting at the borders."""
    c, pad = img.shape[0], kernel.shape[0] // 2
    x = F.pad(img[None], (pad,) * 4, mode="reflect")
    return F.conv2d(x, kernel.expand(c, 1, *kernel.shape), groups=c)[0]


def unknown(hr: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """Random blur, bicubic or area downsampling, Gaussian noise; (C, H, W) in [0, 1]."""
    x = blur(hr, random_kernel(rng))
    if rng.random() < 0.5:
        x = imresize(x, 1.0 / scale)
    else:
        x = F.avg_pool2d(x[None], scale)[0]
    sigma = rng.uniform(0, 10) / 255.0
    x = x + torch.from_numpy(rng.normal(0, sigma, size=x.shape).astype(np.float32))
    return _round8(x)


# -- the photo degradation -------------------------------------------------------------------------
# Probabilities and ranges of :func:`photo`; the README's "Photo models" section describes them.
PHOTO_CLEAN = 0.3  # share of plain MATLAB-bicubic samples, so clean input is not over-smoothed
PHOTO_BLUR = 0.5  # a Gaussian blur before the downscale (else none)
PHOTO_ISOTROPIC = 0.5  # of the blurs, isotropic; the rest anisotropic at a random angle
PHOTO_NOISE = 0.5  # noise after the downscale
PHOTO_GAUSSIAN_MAX = 15.0  # grey levels (of 255), sigma of Gaussian noise drawn from [1, this]
PHOTO_JPEG = 0.9  # JPEG after the noise
PHOTO_QUALITY = (30, 95)
PHOTO_SECOND = 0.2  # a second, milder round: blur, noise, JPEG
DOWNSCALES = ("bicubic", "bilinear", "area")
DOWNSCALE_WEIGHTS = (0.5, 0.25, 0.25)


def blur_sigma_max(scale: int) -> float:
    """Strongest pre-downscale blur for a scale: wider kernels at larger scales (x2 1.2, x4 2.2 px)."""
    return 0.2 + 0.5 * scale


def downscale(img: torch.Tensor, scale: int, kernel: str) -> torch.Tensor:
    """Shrink (C, H, W) by an integer ``scale`` with MATLAB bicubic, antialiased bilinear or area."""
    if kernel == "bicubic":
        return imresize(img, 1.0 / scale)
    size = (img.shape[1] // scale, img.shape[2] // scale)
    if kernel == "bilinear":
        return F.interpolate(img[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    return F.interpolate(img[None], size=size, mode="area")[0]


def add_noise(img: torch.Tensor, rng: np.random.Generator, gaussian_max: float) -> torch.Tensor:
    """Gaussian (colour or luma-only, sigma up to ``gaussian_max`` grey levels) or Poisson noise."""
    grey = rng.random() < 0.4  # the same noise in R, G and B: what a camera's luma noise looks like
    shape = (1, *img.shape[1:]) if grey else img.shape
    if rng.random() < 0.75:
        noise = rng.normal(0, rng.uniform(1, gaussian_max) / 255, size=shape)
    else:  # shot noise: photon counts of a 256-level sensor, its strength scaled as in Real-ESRGAN
        base = img.mean(0, keepdim=True) if grey else img
        counts = np.clip(base.numpy(), 0, 1) * 256
        noise = (rng.poisson(counts) - counts) / 256 * rng.uniform(0.05, gaussian_max / 15)
    return img + torch.from_numpy(noise.astype(np.float32))


def random_subsampling(rng: np.random.Generator) -> int:
    return int(rng.choice([SUBSAMPLING_420, SUBSAMPLING_422, SUBSAMPLING_444], p=[0.8, 0.1, 0.1]))


def photo(hr: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """An LR image as real photos come: blur, a random downscale kernel, noise and JPEG, sometimes twice.

    After BSRGAN (Zhang et al., 2021) and Real-ESRGAN's second-order model (Wang et al., 2021), kept
    milder so the network learns to restore, not to invent: (C, H, W) in [0, 1], 8-bit values."""
    if rng.random() < PHOTO_CLEAN:
        return bicubic(hr, scale)
    x = hr
    if rng.random() < PHOTO_BLUR:
        top = blur_sigma_max(scale)
        if rng.random() < PHOTO_ISOTROPIC:
            s = rng.uniform(0.2, top)
            x = blur(x, gaussian_kernel(s, s, 0.0))
        else:
            s1, s2 = rng.uniform(0.2, top, size=2)
            x = blur(x, gaussian_kernel(s1, s2, rng.uniform(0, math.pi)))
    x = downscale(x, scale, DOWNSCALES[rng.choice(len(DOWNSCALES), p=DOWNSCALE_WEIGHTS)]).clamp(0, 1)
    if rng.random() < PHOTO_NOISE:
        x = add_noise(x, rng, PHOTO_GAUSSIAN_MAX).clamp(0, 1)
    if rng.random() < PHOTO_JPEG:
        x = jpeg(x, int(rng.integers(PHOTO_QUALITY[0], PHOTO_QUALITY[1] + 1)), random_subsampling(rng))
    if rng.random() < PHOTO_SECOND:
        if rng.random() < 0.5:
            s = rng.uniform(0.2, 0.8)
            x = blur(x, gaussian_kernel(s, s, 0.0, size=7))
        if rng.random() < 0.5:
            x = add_noise(x, rng, 5.0).clamp(0, 1)
        x = jpeg(x, int(rng.integers(60, 96)), random_subsampling(rng))
    return _round8(x)


def protocol_lr(protocol: Protocol, hr: torch.Tensor, scale: int, seed: int = 0) -> tuple[torch.Tensor, bytes | None]:
    """The LR image of (3, H, W) ``hr`` by a fixed evaluation protocol and, for JPEG protocols, the file's bytes."""
    x = blur(hr, gaussian_kernel(protocol.blur * scale, protocol.blur * scale, 0.0)) if protocol.blur else hr
    x = bicubic(x, scale)
    if protocol.noise:
        rng = np.random.default_rng(seed)
        x = _round8(x + torch.from_numpy(rng.normal(0, protocol.noise / 255, size=x.shape).astype(np.float32)))
    if protocol.quality is None:
        return x, None
    data = jpeg_bytes(x, protocol.quality)
    return decode_jpeg(data), data


class Degradation:
    """A named training degradation: ``bicubic``, ``unknown``, ``photo`` or ``bicubic_jpeg_Q`` (Q = 1..100)."""

    RANDOM = ("unknown", "photo")

    def __init__(self, name: str):
        self.name = name
        self.quality: int | None = None
        if m := re.fullmatch(r"bicubic_jpeg_(\d+)", name):
            self.quality = int(m.group(1))
            if not 1 <= self.quality <= 100:
                raise ValueError(f"JPEG quality must be 1..100 in {name!r}")
        elif name not in ("bicubic", *self.RANDOM):
            raise ValueError(f"unknown degradation {name!r}; use bicubic, photo, unknown or bicubic_jpeg_Q")

    @property
    def deterministic(self) -> bool:
        """True when the same HR image always gives the same LR image (so it can be cached)."""
        return self.name not in self.RANDOM

    @property
    def context(self) -> int:
        """HR pixels of context needed around a patch for the result to match the whole image."""
        return 0 if self.deterministic else 20

    def __call__(self, hr: torch.Tensor, scale: int, rng: np.random.Generator | None = None) -> torch.Tensor:
        if self.name == "unknown":
            return unknown(hr, scale, rng or np.random.default_rng())
        if self.name == "photo":
            return photo(hr, scale, rng or np.random.default_rng())
        lr = bicubic(hr, scale)
        return jpeg(lr, self.quality) if self.quality is not None else lr

    def __repr__(self) -> str:
        return f"Degradation({self.name!r})"
