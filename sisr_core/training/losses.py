"""Training losses: pixel (L1, MSE, Charbonnier), VGG19 perceptual, adversarial, distillation.

The VGG19 feature extractor has torchvision's layer layout (``features.N``) so torchvision's
ImageNet weights file loads into it unchanged. Its weights come from a local file
(``$SISR_VGG19_WEIGHTS`` or an explicit path) or, when the user allows it, the standard download;
without either, perceptual training is refused with a clear message.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
# torchvision's vgg19 "E" configuration: channels, "M" = max-pool.
_VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
# Index of relu5_4 in torchvision's vgg19.features (SRGAN's "VGG54" content loss uses its input conv).
VGG54_LAYER = 35


class PerceptualUnavailable(RuntimeError):
    """VGG19 weights are neither on disk nor downloadable."""


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier loss sqrt((x - y)^2 + eps^2), a smooth L1."""
    return torch.sqrt((pred - target) ** 2 + eps * eps).mean()


PIXEL_LOSSES = {"l1": F.l1_loss, "mse": F.mse_loss, "charbonnier": charbonnier}


def vgg19_features(last_layer: int = VGG54_LAYER) -> nn.Sequential:
    """torchvision's ``vgg19().features`` layout, truncated after ``last_layer`` (random weights)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for v in _VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, v, 3, padding=1), nn.ReLU(inplace=True)]
            in_ch = v
    return nn.Sequential(*layers[: last_layer + 1])


def load_vgg19_state(weights: str | os.PathLike | None = None, allow_download: bool = False) -> dict:
    """VGG19 ImageNet weights: ``weights`` or $SISR_VGG19_WEIGHTS, else the download if allowed."""
    path = weights or os.environ.get("SISR_VGG19_WEIGHTS")
    if path:
        if not Path(path).is_file():
            raise PerceptualUnavailable(f"{path}: VGG19 weight file not found")
        state = torch.load(path, map_location="cpu", weights_only=True)
    elif allow_download:
        try:
            state = torch.hub.load_state_dict_from_url(VGG19_URL, map_location="cpu", progress=False)
        except Exception as exc:  # no network, proxy, disk
            raise PerceptualUnavailable(f"could not download the VGG19 weights ({exc})") from None
    else:
        raise PerceptualUnavailable(
            "perceptual loss needs the VGG19 ImageNet weights: pass --vgg-weights FILE "
            f"(torchvision's vgg19-dcbb9e9d.pth), set SISR_VGG19_WEIGHTS, or allow the download of {VGG19_URL}"
        )
    return {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}


class PerceptualLoss(nn.Module):
    """L1 between VGG19 features (before relu5_4 activation, as SRGAN's VGG54) of SR and HR."""

    def __init__(self, state: dict, last_layer: int = VGG54_LAYER - 1):
        super().__init__()
        self.features = vgg19_features(last_layer)
        own = self.features.state_dict()
        self.features.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)
        self.features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape[1] == 1:
            sr, hr = sr.expand(-1, 3, -1, -1), hr.expand(-1, 3, -1, -1)
        f_sr = self.features((sr - self.mean) / self.std)
        f_hr = self.features((hr - self.mean) / self.std)
        return F.l1_loss(f_sr, f_hr)


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy on discriminator logits against all-real or all-fake labels."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)
