"""WDSR-A and WDSR-B with the official module names (JiahuiYu/wdsr_ntire2018), weight-normalised.

Keys as in the official state dicts: ``head.0``, ``body.{i}.body.{0,2}`` (WDSR-A: 3x3 wide, 3x3 back) or
``body.{i}.body.{0,2,3}`` (WDSR-B: 1x1 wide, 1x1 linear low-rank, 3x3 back), ``tail.0``, ``skip.0``;
each conv stores ``weight_g``/``weight_v``/``bias`` like ``torch.nn.utils.weight_norm`` (deprecated, so
:class:`WeightNormConv2d` reimplements it). The official ``(x*255 - mean*255) / 127.5`` normalisation is
``(x - mean) / 0.5`` on [0, 1] input, so official weights run unchanged under our [0, 1] contract.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sisr_core.models.edsr import DIV2K_RGB_MEAN, channel_mean
from sisr_core.models.registry import register_model

PAPER = "Yu et al., Wide Activation for Efficient and Accurate Image Super-Resolution, 2018"


class WeightNormConv2d(nn.Module):
    """A "same" Conv2d whose weight is ``weight_g * weight_v / ||weight_v||`` (norm per output channel)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int):
        super().__init__()
        conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
        self.padding = kernel_size // 2
        self.weight_g = nn.Parameter(_norm(conv.weight.detach()))
        self.weight_v = nn.Parameter(conv.weight.detach().clone())
        self.bias = conv.bias

    def weight(self) -> Tensor:
        """The effective convolution weight."""
        return self.weight_v * (self.weight_g / _norm(self.weight_v))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)

    def folded(self) -> nn.Conv2d:
        """A plain Conv2d computing the same function."""
        out_ch, in_ch, k, _ = self.weight_v.shape
        conv = nn.Conv2d(in_ch, out_ch, k, padding=self.padding)
        with torch.no_grad():
            conv.weight.copy_(self.weight())
            conv.bias.copy_(self.bias)
        return conv


def _norm(v: Tensor) -> Tensor:
    return torch.linalg.vector_norm(v, dim=(1, 2, 3), keepdim=True)


class BlockA(nn.Module):
    """WDSR-A block: wide 3x3 conv, ReLU, 3x3 conv back, scaled, plus identity."""

    def __init__(self, num_feat: int, expand: int, res_scale: float):
        super().__init__()
        self.res_scale = res_scale
        self.body = nn.Sequential(
            WeightNormConv2d(num_feat, num_feat * expand, 3),
            nn.ReLU(inplace=True),
            WeightNormConv2d(num_feat * expand, num_feat, 3),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) * self.res_scale


class BlockB(nn.Module):
    """WDSR-B block: wide 1x1 conv, ReLU, linear low-rank 1x1 conv, 3x3 conv back, plus identity."""

    def __init__(self, num_feat: int, expand: int, linear: float, res_scale: float):
        super().__init__()
        self.res_scale = res_scale
        low = int(num_feat * linear)
        self.body = nn.Sequential(
            WeightNormConv2d(num_feat, num_feat * expand, 1),
            nn.ReLU(inplace=True),
            WeightNormConv2d(num_feat * expand, low, 1),
            WeightNormConv2d(low, num_feat, 3),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) * self.res_scale


class WDSR(nn.Module):
    """WDSR: head, wide-activation blocks, sub-pixel tail, plus a 5x5 sub-pixel skip from the input."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=32, num_block=8, upscale=2, expand=4, linear=None,
                 res_scale=1.0, rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        out_feat = num_out_ch * upscale * upscale
        self.register_buffer("in_mean", torch.tensor(channel_mean(num_in_ch, rgb_mean)).view(1, -1, 1, 1), False)
        self.register_buffer("out_mean", torch.tensor(channel_mean(num_out_ch, rgb_mean)).view(1, -1, 1, 1), False)
        self.head = nn.Sequential(WeightNormConv2d(num_in_ch, num_feat, 3))
        if linear is None:
            blocks = (BlockA(num_feat, expand, res_scale) for _ in range(num_block))
        else:
            blocks = (BlockB(num_feat, expand, linear, res_scale) for _ in range(num_block))
        self.body = nn.Sequential(*blocks)
        self.tail = nn.Sequential(WeightNormConv2d(num_feat, out_feat, 3), nn.PixelShuffle(upscale))
        self.skip = nn.Sequential(WeightNormConv2d(num_in_ch, out_feat, 5), nn.PixelShuffle(upscale))

    def forward(self, x: Tensor) -> Tensor:
        x = (x - self.in_mean) / 0.5
        out = self.tail(self.body(self.head(x))) + self.skip(x)
        return out * 0.5 + self.out_mean


@register_model(
    "wdsr-a",
    description="WDSR-A: wide activation before ReLU in each residual block",
    paper=PAPER,
    default_config=dict(num_in_ch=3, num_out_ch=3, num_feat=32, num_block=8, expand=4, res_scale=1.0),
)
def build_wdsr_a(scale: int, **cfg) -> nn.Module:
    """WDSR-A for x``scale``."""
    return WDSR(upscale=scale, linear=None, **cfg)


@register_model(
    "wdsr-b",
    description="WDSR-B: wider activation through 1x1 convs and a linear low-rank conv",
    paper=PAPER,
    default_config=dict(num_in_ch=3, num_out_ch=3, num_feat=32, num_block=16, expand=6, linear=0.8, res_scale=1.0),
)
def build_wdsr_b(scale: int, **cfg) -> nn.Module:
    """WDSR-B for x``scale``."""
    return WDSR(upscale=scale, **cfg)
