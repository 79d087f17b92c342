"""EDSR with the official EDSR-PyTorch module names, so its released ``.pt`` state dicts load as-is.

Keys: ``sub_mean``/``add_mean`` (fixed 1x1 convs, stored in the state dict), ``head.0``,
``body.{i}.body.{0,2}`` (residual blocks), ``body.{num_block}`` (body conv), ``tail.0`` (upsampler:
``tail.0.0`` for x2/x3, ``tail.0.0`` and ``tail.0.2`` for x4), ``tail.1`` (final conv).
The official models work on [0, 255] (``rgb_range=255``); the input is scaled so that the call contract
stays [0, 1] either way.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from sisr_core.models.registry import register_model

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)
PAPER = "Lim et al., Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPRW 2017"


def channel_mean(num_ch: int, rgb_mean=DIV2K_RGB_MEAN) -> tuple[float, ...]:
    """The per-channel data mean for ``num_ch`` channels: the RGB mean, or its average for one channel."""
    return tuple(rgb_mean) if num_ch == 3 else (sum(rgb_mean) / len(rgb_mean),) * num_ch


def _conv(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, padding=1)


class MeanShift(nn.Conv2d):
    """Fixed 1x1 conv adding ``sign * rgb_range * mean`` per channel (official: part of the state dict)."""

    def __init__(self, num_ch: int, rgb_range: float, mean: tuple[float, ...], sign: int):
        super().__init__(num_ch, num_ch, 1)
        self.weight.data = torch.eye(num_ch).view(num_ch, num_ch, 1, 1)
        self.bias.data = sign * rgb_range * torch.tensor(mean)
        self.requires_grad_(False)


class ResBlock(nn.Module):
    """conv-ReLU-conv, scaled by ``res_scale``, plus identity."""

    def __init__(self, num_feat: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(_conv(num_feat, num_feat), nn.ReLU(inplace=True), _conv(num_feat, num_feat))
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) * self.res_scale


class Upsampler(nn.Sequential):
    """Sub-pixel upsampling: one x3 step, or log2(scale) x2 steps."""

    def __init__(self, scale: int, num_feat: int):
        if scale == 3:
            steps = [3]
        elif scale > 0 and scale & (scale - 1) == 0:
            steps = [2] * (scale.bit_length() - 1)
        else:
            raise ValueError(f"scale must be 3 or a power of 2, got {scale}")
        layers: list[nn.Module] = []
        for step in steps:
            layers += [_conv(num_feat, step * step * num_feat), nn.PixelShuffle(step)]
        super().__init__(*layers)


class EDSR(nn.Module):
    """EDSR: BN-free residual blocks with residual scaling, long skip, sub-pixel upsampler."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_block=16, upscale=2, res_scale=1.0, rgb_range=1.0,
                 rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        self.rgb_range = rgb_range
        self.sub_mean = MeanShift(num_in_ch, rgb_range, channel_mean(num_in_ch, rgb_mean), sign=-1)
        self.add_mean = MeanShift(num_out_ch, rgb_range, channel_mean(num_out_ch, rgb_mean), sign=1)
        self.head = nn.Sequential(_conv(num_in_ch, num_feat))
        self.body = nn.Sequential(*(ResBlock(num_feat, res_scale) for _ in range(num_block)), _conv(num_feat, num_feat))
        self.tail = nn.Sequential(Upsampler(upscale, num_feat), _conv(num_feat, num_out_ch))

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))
        return self.add_mean(self.tail(x + self.body(x))) / self.rgb_range


@register_model(
    "edsr-baseline",
    description="EDSR baseline: 16 residual blocks, 64 channels",
    paper=PAPER,
    default_config=dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=16, res_scale=1.0, rgb_range=1.0),
)
def build_edsr_baseline(scale: int, **cfg) -> nn.Module:
    """EDSR baseline for x``scale``."""
    return EDSR(upscale=scale, **cfg)


@register_model(
    "edsr",
    description="EDSR: 32 residual blocks, 256 channels, residual scaling 0.1 (43M parameters)",
    paper=PAPER,
    default_config=dict(num_in_ch=3, num_out_ch=3, num_feat=256, num_block=32, res_scale=0.1, rgb_range=1.0),
    shipped_weights=False,  # too large to train on CPU; use the official weights (rgb_range=255)
)
def build_edsr(scale: int, **cfg) -> nn.Module:
    """EDSR for x``scale``."""
    return EDSR(upscale=scale, **cfg)
