"""FSRCNN: an hourglass of small convs at low resolution and a transposed conv that upsamples."""
from __future__ import annotations

import copy
import itertools

import torch
from torch import Tensor, nn

from sisr_core.models.registry import register_model


def _conv_prelu(in_ch: int, out_ch: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2), nn.PReLU(out_ch))


class Deconv(nn.ConvTranspose2d):
    """FSRCNN's k x k transposed conv (stride = scale, output = scale x input), foldable for inference."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, scale: int):
        super().__init__(in_ch, out_ch, kernel_size, stride=scale, padding=kernel_size // 2, output_padding=scale - 1)

    def folded(self) -> nn.Sequential:
        """The same function as a conv at input resolution and a pixel shuffle (sub-pixel form).

        Output pixel ``i * s + p`` takes input pixel ``i + e`` through kernel tap ``p + pad - e * s``,
        so each of the s x s phases is an ordinary small conv; oneDNN runs that several times faster
        than a transposed conv into one channel."""
        in_ch, out_ch, k, _ = self.weight.shape
        s, pad = self.stride[0], self.padding[0]
        reach = max(abs(e) for p in range(s) for e in range(-k, k + 1) if 0 <= p + pad - e * s < k)
        weight = torch.zeros(out_ch, s, s, in_ch, 2 * reach + 1, 2 * reach + 1)
        offsets = range(-reach, reach + 1)
        for py, px, ey, ex in itertools.product(range(s), range(s), offsets, offsets):
            ty, tx = py + pad - ey * s, px + pad - ex * s
            if 0 <= ty < k and 0 <= tx < k:
                weight[:, py, px, :, ey + reach, ex + reach] = self.weight.detach()[:, :, ty, tx].T
        conv = nn.Conv2d(in_ch, out_ch * s * s, 2 * reach + 1, padding=reach)
        with torch.no_grad():
            conv.weight.copy_(weight.reshape(out_ch * s * s, in_ch, 2 * reach + 1, 2 * reach + 1))
            conv.bias.copy_(self.bias.repeat_interleave(s * s))
        return nn.Sequential(conv, nn.PixelShuffle(s))


class MaxPReLU(nn.Module):
    """PReLU as ``max(x, a * x)``, in place: equal to PReLU for slopes a <= 1, and 2x faster on CPUs."""

    def __init__(self, slopes: Tensor):
        super().__init__()
        self.register_buffer("slopes", slopes.detach().view(1, -1, 1, 1).clone())

    def forward(self, x: Tensor) -> Tensor:
        scaled = x * self.slopes.to(x.dtype)
        if torch.onnx.is_in_onnx_export():  # ONNX has no in-place maximum
            return torch.maximum(x, scaled)
        return torch.maximum(x, scaled, out=x)


class FSRCNN(nn.Module):
    """Feature extraction (d), shrinking (s), m mapping layers, expanding (d), 9x9 deconvolution."""

    def __init__(self, num_in_ch=1, num_out_ch=1, d=56, s=12, m=4, upscale=2):
        super().__init__()
        self.feature = _conv_prelu(num_in_ch, d, 5)
        self.shrink = _conv_prelu(d, s, 1)
        self.mapping = nn.Sequential(*(_conv_prelu(s, s, 3) for _ in range(m)))
        self.expand = _conv_prelu(s, d, 1)
        self.deconv = Deconv(d, num_out_ch, 9, upscale)

    def forward(self, x: Tensor) -> Tensor:
        return self.deconv(self.expand(self.mapping(self.shrink(self.feature(x)))))

    def folded(self) -> "FSRCNN":
        """The same function, faster: the deconvolution in sub-pixel form and each PReLU as ``max(x, a*x)``.

        That max equals PReLU where a <= 1. A channel with a > 1 is negated before its PReLU, where
        ``max(-x, -a*x) = -prelu(x)``, and negated back in the next conv: both folded into conv weights."""
        net = copy.deepcopy(self)
        net.deconv = self.deconv.folded()
        blocks = [net.feature, net.shrink, *net.mapping, net.expand]
        convs = [block[0] for block in blocks] + [net.deconv[0]]
        with torch.no_grad():
            for i, block in enumerate(blocks):
                slopes = block[1].weight
                sign = torch.where(slopes > 1, -1.0, 1.0)
                convs[i].weight.mul_(sign.view(-1, 1, 1, 1))
                convs[i].bias.mul_(sign)
                convs[i + 1].weight.mul_(sign.view(1, -1, 1, 1))
                block[1] = MaxPReLU(slopes)
        return net


@register_model(
    "fsrcnn",
    description="FSRCNN: fast SRCNN with a learned deconvolution upsampler",
    paper="Dong et al., Accelerating the Super-Resolution Convolutional Neural Network, ECCV 2016",
    default_config=dict(num_in_ch=1, num_out_ch=1, d=56, s=12, m=4),
)
def build_fsrcnn(scale: int, **cfg) -> nn.Module:
    """FSRCNN for x``scale``."""
    return FSRCNN(upscale=scale, **cfg)
