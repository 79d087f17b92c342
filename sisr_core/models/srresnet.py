"""SRResNet (the SRGAN generator) in BasicSR's ``MSRResNet`` form, and a VGG-style SRGAN discriminator.

Module names follow BasicSR (``conv_first``, ``body.{i}.conv{1,2}``, ``upconv1``/``upconv2``, ``conv_hr``,
``conv_last``), so BasicSR ``MSRResNet`` checkpoints load as-is.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from sisr_core.models.registry import register_model

PAPER = "Ledig et al., Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network, CVPR 2017"


def _scaled_kaiming_init(module: nn.Module, scale: float) -> None:
    """Kaiming-normal conv weights scaled down, zero biases (BasicSR's residual-friendly init)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            m.weight.data *= scale
            nn.init.zeros_(m.bias)


class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv plus identity, without batch normalisation."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    """SRResNet without BN: residual body, pixel-shuffle upsampling, bilinear global residual."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_block=8, upscale=4):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"upscale must be 2, 3 or 4, got {upscale}")
        self.upscale = upscale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(num_feat) for _ in range(num_block)))
        step = 2 if upscale == 4 else upscale
        self.upconv1 = nn.Conv2d(num_feat, num_feat * step * step, 3, padding=1)
        if upscale == 4:
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(step)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.1, inplace=True)
        _scaled_kaiming_init(self, 0.1)

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upscale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)


class Discriminator(nn.Module):
    """SRGAN's VGG-style discriminator; global average pooling lets it take any patch size. Returns logits."""

    def __init__(self, num_in_ch=3, num_feat=64):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        in_ch = num_feat
        for i, out_ch in enumerate([num_feat, num_feat * 2, num_feat * 2, num_feat * 4, num_feat * 4, num_feat * 8,
                                    num_feat * 8]):
            stride = 2 if i % 2 == 0 else 1
            layers += [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(out_ch),
                       nn.LeakyReLU(0.2, inplace=True)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, 1024), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(1024, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


def build_discriminator(num_in_ch: int = 3, num_feat: int = 64) -> Discriminator:
    """The SRGAN discriminator for adversarial training; (N, C, H, W) -> (N, 1) logits."""
    return Discriminator(num_in_ch, num_feat)


_GENERATOR_CONFIG = dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=8)


@register_model(
    "srresnet",
    description="SRResNet: residual generator trained for PSNR (BN-free, as in BasicSR)",
    paper=PAPER,
    default_config=dict(_GENERATOR_CONFIG),
)
def build_srresnet(scale: int, **cfg) -> nn.Module:
    """SRResNet for x``scale``."""
    return MSRResNet(upscale=scale, **cfg)


@register_model(
    "srgan",
    description="SRGAN: the SRResNet generator trained with perceptual and adversarial losses",
    paper=PAPER,
    default_config=dict(_GENERATOR_CONFIG),
)
def build_srgan(scale: int, **cfg) -> nn.Module:
    """The SRGAN generator for x``scale`` (same network as srresnet, its own weights)."""
    return MSRResNet(upscale=scale, **cfg)
