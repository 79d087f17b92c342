"""ESPCN: features at low resolution, a sub-pixel convolution upsamples at the end."""
from __future__ import annotations

from torch import Tensor, nn

from sisr_core.models.registry import register_model


class ESPCN(nn.Module):
    """conv5x5-tanh, conv3x3-tanh, conv3x3 to C*s^2 channels, pixel shuffle."""

    def __init__(self, num_in_ch=1, num_out_ch=1, num_feat=64, num_feat2=32, upscale=2):
        super().__init__()
        self.conv1 = nn.Conv2d(num_in_ch, num_feat, 5, padding=2)
        self.conv2 = nn.Conv2d(num_feat, num_feat2, 3, padding=1)
        self.conv3 = nn.Conv2d(num_feat2, num_out_ch * upscale * upscale, 3, padding=1)
        self.pixel_shuffle = nn.PixelShuffle(upscale)

    def forward(self, x: Tensor) -> Tensor:
        return self.pixel_shuffle(self.conv3(self.conv2(self.conv1(x).tanh_()).tanh_()))  # in place: less memory traffic


@register_model(
    "espcn",
    description="ESPCN: efficient sub-pixel convolution network",
    paper="Shi et al., Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel "
    "Convolutional Neural Network, CVPR 2016",
    default_config=dict(num_in_ch=1, num_out_ch=1, num_feat=64, num_feat2=32),
)
def build_espcn(scale: int, **cfg) -> nn.Module:
    """ESPCN for x``scale``."""
    return ESPCN(upscale=scale, **cfg)
