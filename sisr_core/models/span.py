"""SPAN: swift parameter-free attention network, written from the paper with plain 3x3 convolutions.

Each block is three 3x3 convolutions with SiLU between them, gated by an attention with no weights of
its own, ``sigmoid(out) - 0.5``, so a block costs no more than its convolutions and every operation is
local (tiling stays exact). The paper trains each 3x3 as a 1x1-3x3-1x1 stack that is folded into one 3x3
for inference; that stack costs about 4.5x more per training step on a CPU, so we train the plain 3x3
that the folded network runs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sisr_core.models.edsr import DIV2K_RGB_MEAN, channel_mean
from sisr_core.models.registry import register_model

PAPER = "Wan et al., Swift Parameter-free Attention Network for Efficient Super-Resolution, CVPRW 2024"


def _conv3(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, padding=1)


class AttentionBlock(nn.Module):
    """conv-SiLU-conv-SiLU-conv, plus the input, gated by ``sigmoid(conv output) - 0.5``."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.conv1 = _conv3(num_feat, num_feat)
        self.conv2 = _conv3(num_feat, num_feat)
        self.conv3 = _conv3(num_feat, num_feat)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The block's output and its first activated features (the network concatenates the last block's)."""
        first = F.silu(self.conv1(x))
        out = self.conv3(F.silu(self.conv2(first)))
        return (out + x) * (torch.sigmoid(out) - 0.5), first


class SPAN(nn.Module):
    """Head conv, attention blocks, a 1x1 fusion of early and late features, sub-pixel upsampling."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=48, num_block=6, upscale=2, rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        self.register_buffer("in_mean", torch.tensor(channel_mean(num_in_ch, rgb_mean)).view(1, -1, 1, 1), False)
        self.register_buffer("out_mean", torch.tensor(channel_mean(num_out_ch, rgb_mean)).view(1, -1, 1, 1), False)
        self.head = _conv3(num_in_ch, num_feat)
        self.body = nn.ModuleList(AttentionBlock(num_feat) for _ in range(num_block))
        self.body_end = _conv3(num_feat, num_feat)
        self.fuse = nn.Conv2d(num_feat * 4, num_feat, 1)
        self.tail = nn.Sequential(_conv3(num_feat, num_out_ch * upscale * upscale), nn.PixelShuffle(upscale))

    def forward(self, x: Tensor) -> Tensor:
        head = self.head(x - self.in_mean)
        out, first = self.body[0](head)
        after_first = out
        for block in self.body[1:]:
            out, first = block(out)
        fused = self.fuse(torch.cat([head, self.body_end(out), after_first, first], dim=1))
        return self.tail(fused) + self.out_mean


@register_model(
    "span",
    description="SPAN: parameter-free attention blocks of plain 3x3 convolutions (NTIRE 2024 efficient SR)",
    paper=PAPER,
    default_config=dict(num_in_ch=3, num_out_ch=3, num_feat=48, num_block=6),
)
def build_span(scale: int, **cfg) -> nn.Module:
    """SPAN for x``scale``."""
    return SPAN(upscale=scale, **cfg)
