"""SRCNN and its Keras-project variants: pre-upsampling networks on a bicubic-upsampled input.

Module names mirror the Keras project (titu1994/Image-Super-Resolution) so its weights map by name or,
for its auto-named layers, in order:

* ``sr``: ``level1``, ``level2``, ``output``.
* ``esr``: ``level1``, ``lavel1_1``, ``lavel1_2``, ``lavel1_3`` (sic), ``output``; Keras puts a ReLU on
  ``output``, which the caller's clamp to [0, 1] makes redundant.
* ``dsr``: Keras ``conv2d_1``, ``conv2d_2``, ``conv2d_transpose_1``, ``conv2d_transpose_2``,
  ``conv2d_3`` -> ``conv1``, ``conv2``, ``deconv1``, ``deconv2``, ``conv3``.
* ``ddsr``: its ten Keras convs in order -> ``enc1.0``, ``enc1.2``, ``enc2.0``, ``enc2.2``,
  ``mid.0``, ``dec2.0``, ``dec2.2``, ``dec1.0``, ``dec1.2``, ``output``.

The Keras models have no global residual; ``residual=True`` (our default, it trains much faster)
adds the input to the output, and the Keras importer passes ``residual=False``.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from sisr_core.models.registry import register_model

PAPER_SRCNN = "Dong et al., Learning a Deep Convolutional Network for Image Super-Resolution, ECCV 2014"
KERAS_PROJECT = "titu1994/Image-Super-Resolution (Keras)"


def _conv(in_ch: int, out_ch: int, kernel_size: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2)


class SRCNN(nn.Module):
    """SRCNN 9-1-5: patch extraction, non-linear mapping, reconstruction."""

    def __init__(self, num_in_ch=1, num_out_ch=1, num_feat=64, num_feat2=32, residual=True):
        super().__init__()
        self.residual = residual
        self.level1 = _conv(num_in_ch, num_feat, 9)
        self.level2 = _conv(num_feat, num_feat2, 1)
        self.output = _conv(num_feat2, num_out_ch, 5)

    def forward(self, x: Tensor) -> Tensor:
        out = self.output(F.relu(self.level2(F.relu(self.level1(x)))))
        return x + out if self.residual else out


class ExpandedSRCNN(nn.Module):
    """SRCNN whose mapping layer is three parallel convs (1x1, 3x3, 5x5), averaged."""

    def __init__(self, num_in_ch=1, num_out_ch=1, num_feat=64, num_feat2=32, residual=True):
        super().__init__()
        self.residual = residual
        self.level1 = _conv(num_in_ch, num_feat, 9)
        self.lavel1_1 = _conv(num_feat, num_feat2, 1)
        self.lavel1_2 = _conv(num_feat, num_feat2, 3)
        self.lavel1_3 = _conv(num_feat, num_feat2, 5)
        self.output = _conv(num_feat2, num_out_ch, 5)

    def forward(self, x: Tensor) -> Tensor:
        feat = F.relu(self.level1(x))
        branches = [F.relu(conv(feat)) for conv in (self.lavel1_1, self.lavel1_2, self.lavel1_3)]
        out = self.output(sum(branches) / 3)
        return x + out if self.residual else out


class DenoisingSRCNN(nn.Module):
    """Denoising auto-encoder SR: two convs, two transposed convs, symmetric skip sums."""

    def __init__(self, num_in_ch=1, num_out_ch=1, num_feat=64, residual=True):
        super().__init__()
        self.residual = residual
        self.conv1 = _conv(num_in_ch, num_feat, 3)
        self.conv2 = _conv(num_feat, num_feat, 3)
        self.deconv1 = nn.ConvTranspose2d(num_feat, num_feat, 3, padding=1)
        self.deconv2 = nn.ConvTranspose2d(num_feat, num_feat, 3, padding=1)
        self.conv3 = _conv(num_feat, num_out_ch, 5)

    def forward(self, x: Tensor) -> Tensor:
        level1 = F.relu(self.conv1(x))
        level2 = F.relu(self.conv2(level1))
        level2 = level2 + F.relu(self.deconv1(level2))
        level1 = level1 + F.relu(self.deconv2(level2))
        out = self.conv3(level1)
        return x + out if self.residual else out


def _double_conv(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        _conv(in_ch, out_ch, 3), nn.ReLU(inplace=True), _conv(out_ch, out_ch, 3), nn.ReLU(inplace=True)
    )


class DeepDenoisingSR(nn.Module):
    """Deep denoising SR: a two-level conv encoder/decoder (max-pool, nearest upsampling, skip sums).

    The input is replicate-padded to a multiple of 4 (it is pooled twice) and the output cropped back.
    """

    def __init__(self, num_in_ch=1, num_out_ch=1, num_feat=64, residual=True):
        super().__init__()
        self.residual = residual
        self.enc1 = _double_conv(num_in_ch, num_feat)
        self.enc2 = _double_conv(num_feat, num_feat * 2)
        self.mid = nn.Sequential(_conv(num_feat * 2, num_feat * 4, 3), nn.ReLU(inplace=True))
        self.dec2 = _double_conv(num_feat * 4, num_feat * 2)
        self.dec1 = _double_conv(num_feat * 2, num_feat)
        self.output = _conv(num_feat, num_out_ch, 5)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        padded = F.pad(x, (0, -w % 4, 0, -h % 4), mode="replicate")
        c1 = self.enc1(padded)
        c2 = self.enc2(F.max_pool2d(c1, 2))
        c3 = self.mid(F.max_pool2d(c2, 2))
        m2 = c2 + self.dec2(F.interpolate(c3, scale_factor=2, mode="nearest"))
        m1 = c1 + self.dec1(F.interpolate(m2, scale_factor=2, mode="nearest"))
        out = self.output(m1)[..., :h, :w]
        return x + out if self.residual else out


_PRE = dict(scales=(2, 3, 4), pre_upsample=True, multi_scale=True)


@register_model(
    "sr",
    description="SRCNN 9-1-5, the first CNN for super-resolution",
    paper=PAPER_SRCNN,
    default_config=dict(num_in_ch=1, num_out_ch=1, num_feat=64, num_feat2=32, residual=True),
    **_PRE,
)
def build_sr(scale: int, **cfg) -> nn.Module:
    """SRCNN; ``scale`` is unused (the input is pre-upsampled)."""
    return SRCNN(**cfg)


@register_model(
    "esr",
    description="Expanded SRCNN: parallel 1x1/3x3/5x5 mapping convs, averaged",
    paper=f"{KERAS_PROJECT}, after {PAPER_SRCNN}",
    default_config=dict(num_in_ch=1, num_out_ch=1, num_feat=64, num_feat2=32, residual=True),
    **_PRE,
)
def build_esr(scale: int, **cfg) -> nn.Module:
    """Expanded SRCNN; ``scale`` is unused."""
    return ExpandedSRCNN(**cfg)


@register_model(
    "dsr",
    description="Denoising auto-encoder SR: conv/transposed-conv pairs with skip sums",
    paper=f"{KERAS_PROJECT}, after Mao et al., Image Restoration Using Convolutional Auto-encoders "
    "with Symmetric Skip Connections, 2016",
    default_config=dict(num_in_ch=1, num_out_ch=1, num_feat=64, residual=True),
    **_PRE,
)
def build_dsr(scale: int, **cfg) -> nn.Module:
    """Denoising auto-encoder SR; ``scale`` is unused."""
    return DenoisingSRCNN(**cfg)


@register_model(
    "ddsr",
    description="Deep denoising SR: a small two-level encoder/decoder with skip sums",
    paper=f"{KERAS_PROJECT}, after Mao et al., 2016",
    default_config=dict(num_in_ch=1, num_out_ch=1, num_feat=64, residual=True),
    size_multiple=4,  # two 2x2 max-pools: tiles start on a multiple of 4 so patch mode stays exact
    **_PRE,
)
def build_ddsr(scale: int, **cfg) -> nn.Module:
    """Deep denoising SR; ``scale`` is unused."""
    return DeepDenoisingSR(**cfg)
