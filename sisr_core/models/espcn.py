"""ESPCN: features at low resolution, a sub-pixel convolution upsamples at the end."""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from sisr_core.models.registry import register_model


def _fused_convolution():
    """oneDNN's convolution with an activation applied as it writes (PyTorch's own fusion op), if built in."""
    try:
        return torch.ops.mkldnn._convolution_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


class ConvTanh(nn.Module):
    """``tanh(conv(x))`` for inference: on a CPU one oneDNN convolution that applies tanh as it writes its
    results, instead of a second pass over the feature maps (ESPCN's two pairs 1.3-1.4x faster in fp32 and
    bf16; `sisr bench --models espcn`); elsewhere, and for ONNX export, the two ops."""

    fused = staticmethod(_fused_convolution())

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv

    def forward(self, x: Tensor) -> Tensor:
        c = self.conv
        if x.device.type != "cpu" or self.fused is None or torch.onnx.is_in_onnx_export():
            return c(x).tanh_()
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype
        return self.fused(x.to(dtype), c.weight.to(dtype), c.bias.to(dtype), c.padding, c.stride, c.dilation,
                          c.groups, "tanh", [], "")


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

    def folded(self) -> nn.Sequential:
        """The same function for inference, each conv and its tanh one step (:class:`ConvTanh`)."""
        net = copy.deepcopy(self)
        return nn.Sequential(ConvTanh(net.conv1), ConvTanh(net.conv2), net.conv3, net.pixel_shuffle)


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
