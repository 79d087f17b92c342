"""FSRCNN: an hourglass of small convs at low resolution and a transposed conv that upsamples."""
from __future__ import annotations

from torch import Tensor, nn

from sisr_core.models.registry import register_model


def _conv_prelu(in_ch: int, out_ch: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2), nn.PReLU(out_ch))


class FSRCNN(nn.Module):
    """Feature extraction (d), shrinking (s), m mapping layers, expanding (d), 9x9 deconvolution."""

    def __init__(self, num_in_ch=1, num_out_ch=1, d=56, s=12, m=4, upscale=2):
        super().__init__()
        self.feature = _conv_prelu(num_in_ch, d, 5)
        self.shrink = _conv_prelu(d, s, 1)
        self.mapping = nn.Sequential(*(_conv_prelu(s, s, 3) for _ in range(m)))
        self.expand = _conv_prelu(s, d, 1)
        self.deconv = nn.ConvTranspose2d(d, num_out_ch, 9, stride=upscale, padding=4, output_padding=upscale - 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.deconv(self.expand(self.mapping(self.shrink(self.feature(x)))))


@register_model(
    "fsrcnn",
    description="FSRCNN: fast SRCNN with a learned deconvolution upsampler",
    paper="Dong et al., Accelerating the Super-Resolution Convolutional Neural Network, ECCV 2016",
    default_config=dict(num_in_ch=1, num_out_ch=1, d=56, s=12, m=4),
)
def build_fsrcnn(scale: int, **cfg) -> nn.Module:
    """FSRCNN for x``scale``."""
    return FSRCNN(upscale=scale, **cfg)
