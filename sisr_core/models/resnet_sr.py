"""The Keras project's ResNet SR family: residual body, long skip, upsampling, final conv.

Keras layer -> module (titu1994/Image-Super-Resolution ``ResNetSR``, ``DistilledResNetSR``,
``NonLocalResNetSR``; the student's layers carry a ``student_`` prefix):

* ``sr_res_conv1`` -> ``conv1``
* ``sr_res_conv_{i}_{j}`` -> ``body.{i-1}.conv{j}``; ``sr_res_batchnorm_{i}_{j}`` -> ``body.{i-1}.bn{j}``
  (Keras models need ``batch_norm=True``; BN epsilon is Keras's 1e-3)
* ``sr_res_filter1_1`` -> ``upsample.1`` (``upsampler="nearest"``)
* ``sr_res_conv_final`` -> ``conv_final``
* non-local ``conv2d_k`` (auto-named, in creation order theta, phi, g, out per block) ->
  ``non_local1.{theta,phi,g,out}`` then ``non_local2.{theta,phi,g,out}``

Keras's non-local blocks max-pool phi/g over the flattened positions; ours always attend over every
position (so the output does not depend on the image size), in chunks of query rows to bound memory.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sisr_core.models.registry import register_model

KERAS_PROJECT = "titu1994/Image-Super-Resolution (Keras)"


def _conv3x3(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, padding=1)


class ResidualBlock(nn.Module):
    """conv-(BN)-ReLU-conv-(BN) plus identity."""

    def __init__(self, num_feat: int, batch_norm: bool):
        super().__init__()
        self.conv1 = _conv3x3(num_feat, num_feat)
        self.bn1 = nn.BatchNorm2d(num_feat, eps=1e-3) if batch_norm else nn.Identity()
        self.conv2 = _conv3x3(num_feat, num_feat)
        self.bn2 = nn.BatchNorm2d(num_feat, eps=1e-3) if batch_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local block (Wang et al. 2018) with full attention computed in chunks.

    ``chunk_elements`` bounds the size of one chunk of the attention matrix (query rows x positions).
    """

    def __init__(self, num_feat: int, chunk_elements: int = 1 << 24):
        super().__init__()
        inner = max(num_feat // 2, 1)
        self.chunk_elements = chunk_elements
        self.theta = nn.Conv2d(num_feat, inner, 1, bias=False)
        self.phi = nn.Conv2d(num_feat, inner, 1, bias=False)
        self.g = nn.Conv2d(num_feat, inner, 1, bias=False)
        self.out = nn.Conv2d(inner, num_feat, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (N, HW, C')
        phi = self.phi(x).flatten(2)  # (N, C', HW)
        g = self.g(x).flatten(2).transpose(1, 2)  # (N, HW, C')
        rows = max(1, self.chunk_elements // (h * w))
        y = torch.cat([torch.softmax(q @ phi, dim=-1) @ g for q in theta.split(rows, dim=1)], dim=1)
        return x + self.out(y.transpose(1, 2).reshape(n, -1, h, w))


def _upsampler(kind: str, scale: int, num_feat: int, num_up_feat: int) -> nn.Sequential:
    """x``scale`` upsampling to ``num_up_feat`` channels: sub-pixel conv steps or nearest + conv."""
    if kind == "nearest":
        return nn.Sequential(nn.Upsample(scale_factor=scale, mode="nearest"), _conv3x3(num_feat, num_up_feat),
                             nn.ReLU(inplace=True))
    if kind != "pixelshuffle":
        raise ValueError(f"upsampler must be 'pixelshuffle' or 'nearest', got {kind!r}")
    steps = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
    if scale != 3 and 2 ** len(steps) != scale:
        raise ValueError(f"scale must be 3 or a power of 2, got {scale}")
    layers: list[nn.Module] = []
    for i, step in enumerate(steps):
        out_ch = num_up_feat if i == len(steps) - 1 else num_feat
        layers += [_conv3x3(num_feat, out_ch * step * step), nn.PixelShuffle(step), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class ResNetSR(nn.Module):
    """Residual SR network with an optional non-local block after the head and after the body."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_block=6, upscale=2, upsampler="pixelshuffle",
                 num_up_feat=None, batch_norm=False, non_local=False):
        super().__init__()
        num_up_feat = num_up_feat or num_feat
        self.conv1 = _conv3x3(num_in_ch, num_feat)
        self.non_local1 = NonLocalBlock(num_feat) if non_local else nn.Identity()
        self.body = nn.Sequential(*(ResidualBlock(num_feat, batch_norm) for _ in range(num_block)))
        self.non_local2 = NonLocalBlock(num_feat) if non_local else nn.Identity()
        self.upsample = _upsampler(upsampler, upscale, num_feat, num_up_feat)
        self.conv_final = _conv3x3(num_up_feat, num_out_ch)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.non_local1(F.relu(self.conv1(x)))
        feat = feat + self.non_local2(self.body(feat))
        return self.conv_final(self.upsample(feat))


@register_model(
    "rnsr",
    description="ResNet SR: residual blocks, long skip, sub-pixel upsampling",
    paper=f"{KERAS_PROJECT}, after Ledig et al., 2017",
    default_config=dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=6, upsampler="pixelshuffle",
                        num_up_feat=64, batch_norm=False),
)
def build_rnsr(scale: int, **cfg) -> nn.Module:
    """ResNet SR for x``scale``."""
    return ResNetSR(upscale=scale, **cfg)


@register_model(
    "distilled_rnsr",
    description="Distilled ResNet SR: a small student of rnsr",
    paper=f"{KERAS_PROJECT} (DistilledResNetSR)",
    default_config=dict(num_in_ch=3, num_out_ch=3, num_feat=32, num_block=4, upsampler="pixelshuffle",
                        num_up_feat=64, batch_norm=False),
)
def build_distilled_rnsr(scale: int, **cfg) -> nn.Module:
    """Distilled ResNet SR for x``scale``; the Keras student is num_block=1, nearest, batch_norm."""
    return ResNetSR(upscale=scale, **cfg)


@register_model(
    "nlrnsr",
    description="Non-local ResNet SR: rnsr with two non-local attention blocks",
    paper=f"{KERAS_PROJECT}, after Wang et al., Non-local Neural Networks, CVPR 2018",
    default_config=dict(num_in_ch=3, num_out_ch=3, num_feat=48, num_block=6, upsampler="pixelshuffle",
                        num_up_feat=48, batch_norm=False, non_local=True),
    tile_exact=False,
)
def build_nlrnsr(scale: int, **cfg) -> nn.Module:
    """Non-local ResNet SR for x``scale``."""
    return ResNetSR(upscale=scale, **cfg)
