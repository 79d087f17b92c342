"""FD-SRCNN: progressive up-and-down sampling (back-projection) modules, then reconstruction.

This is our reading of FD-SRCNN: each module upsamples the features by f (transposed conv), projects
them back down (strided conv), upsamples the back-projection error and adds it to the first upsampling
(as in DBPN's up-projection unit), then refines with a few 3x3 convs. x2 and x3 use one module, x4 two
x2 modules. A 3x3 conv reconstructs the image, added to the bicubic-upsampled input.

The x4 network has a reconstruction after each x2 module, so one network serves x2 and x4: trained on
both at once (``sisr train --scale 4 --scales 2 4``), the x2 output comes from its first module.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from sisr_core.models.registry import register_model

# (kernel, stride, padding) giving exactly f x up (transposed conv) and f x down (conv).
_PROJECTION = {2: (6, 2, 2), 3: (7, 3, 2)}


class UpProjection(nn.Module):
    """Up by f, back down, up the error, add; then ``num_conv`` 3x3 conv-PReLU layers."""

    def __init__(self, num_feat: int, factor: int, num_conv: int):
        super().__init__()
        k, s, p = _PROJECTION[factor]
        self.up1 = nn.Sequential(nn.ConvTranspose2d(num_feat, num_feat, k, s, p), nn.PReLU(num_feat))
        self.down = nn.Sequential(nn.Conv2d(num_feat, num_feat, k, s, p), nn.PReLU(num_feat))
        self.up2 = nn.Sequential(nn.ConvTranspose2d(num_feat, num_feat, k, s, p), nn.PReLU(num_feat))
        self.refine = nn.Sequential(
            *(m for _ in range(num_conv) for m in (nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.PReLU(num_feat)))
        )

    def forward(self, x: Tensor) -> Tensor:
        up = self.up1(x)
        return self.refine(up + self.up2(self.down(up) - x))


class FDSRCNN(nn.Module):
    """Feature extraction, up-projection modules, a reconstruction per output scale plus bicubic residual."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=32, num_conv=2, upscale=2):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"upscale must be 2, 3 or 4, got {upscale}")
        self.upscale = upscale
        self.feature = nn.Sequential(nn.Conv2d(num_in_ch, num_feat, 3, padding=1), nn.PReLU(num_feat))
        factors = [2, 2] if upscale == 4 else [upscale]
        self.stages = nn.ModuleList(UpProjection(num_feat, f, num_conv) for f in factors)
        outputs = [2, 4] if upscale == 4 else [upscale]  # the scale after each stage
        self.reconstruct = nn.ModuleDict({f"x{s}": nn.Conv2d(num_feat, num_out_ch, 3, padding=1) for s in outputs})

    def forward(self, x: Tensor, scale: int | None = None) -> Tensor:
        scale = scale or self.upscale
        if f"x{scale}" not in self.reconstruct:
            raise ValueError(f"this FD-SRCNN serves x{'/x'.join(k[1:] for k in self.reconstruct)}, not x{scale}")
        feat, reached = self.feature(x), 1
        for stage in self.stages:
            feat = stage(feat)
            reached *= 3 if self.upscale == 3 else 2
            if reached == scale:
                break
        base = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
        return base + self.reconstruct[f"x{scale}"](feat)


@register_model(
    "fdsrcnn",
    description="FD-SRCNN: progressive up-and-down sampling (back-projection) modules",
    paper="FD-SRCNN (our reading: DBPN-style up-projection, Haris et al., CVPR 2018)",
    default_config=dict(num_in_ch=3, num_out_ch=3, num_feat=32, num_conv=2),
    joint_scales=(2, 4),
)
def build_fdsrcnn(scale: int, **cfg) -> nn.Module:
    """FD-SRCNN for x``scale``."""
    return FDSRCNN(upscale=scale, **cfg)
