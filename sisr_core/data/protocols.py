"""Fixed, seeded degradations of benchmark images for ``sisr eval --degradation`` (no heavy imports, so
the command line can list them); ``sisr_core.data.degradations.protocol_lr`` applies one."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    """How an LR image is made from an HR one; ``quality`` set means the LR is a real JPEG file."""

    name: str
    description: str
    blur: float = 0.0  # isotropic Gaussian sigma in HR pixels per unit of scale (0: none)
    noise: float = 0.0  # Gaussian sigma in grey levels, colour, seeded per image
    quality: int | None = None


PROTOCOLS = {p.name: p for p in (
    Protocol("clean", "MATLAB bicubic, lossless (the benchmark protocol)"),
    Protocol("jpeg75", "MATLAB bicubic, then a JPEG file of quality 75 (Pillow, 4:2:0)", quality=75),
    Protocol("jpeg40", "MATLAB bicubic, then a JPEG file of quality 40 (Pillow, 4:2:0)", quality=40),
    Protocol("blur-noise-jpeg", "Gaussian blur (sigma 0.4 x scale), MATLAB bicubic, Gaussian noise "
             "(sigma 5 grey levels), then a JPEG file of quality 70", blur=0.4, noise=5.0, quality=70),
)}
