"""Shared fixtures: small images, and real (briefly trained) weights in a temporary model folder."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
if "SISR_SHARED_DATASETS" in os.environ:
    SHARED = Path(os.environ["SISR_SHARED_DATASETS"])
T91 = SHARED / "train" / "T91"
SET5 = SHARED / "benchmark" / "Set5"

torch.set_num_threads(2)


def pytest_configure(config):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A folder with six T91 images (symlinked, not copied) for seconds-long training runs."""
    folder = tmp_path_factory.mktemp("tiny_t91")
    for f in sorted(T91.glob("*.png"))[:6]:
        (folder / f.name).symlink_to(f)
    return folder


@pytest.fixture(scope="session")
def trained_weights(tmp_path_factory, tiny_data) -> dict[str, Path]:
    """fsrcnn x2 and x4 weights trained for a few dozen steps: real files, written by the real trainer."""
    from sisr_core.training.trainer import TrainConfig, TrainingRun

    out = {}
    for scale in (2, 4):
        run_dir = tmp_path_factory.mktemp(f"fsrcnn_x{scale}")
        cfg = TrainConfig(model="fsrcnn", scale=scale, data=[str(tiny_data)], steps=40, batch=8, patch=16,
                          lr=3e-3, warmup=5, ema=0, val_every=1000)
        out[scale] = TrainingRun(cfg, run_dir).run()
    return out


@pytest.fixture()
def model_dir(tmp_path, monkeypatch, trained_weights) -> Path:
    """A folder standing in for the shipped weights, holding only the trained fsrcnn weights; the user's model
    folder (``user_models_dir()``) is empty."""
    import shutil

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for scale, path in trained_weights.items():
        shutil.copy(path, shipped / f"fsrcnn_x{scale}.safetensors")
    (tmp_path / "user" / "models").mkdir(parents=True)
    monkeypatch.setenv("SISR_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("SISR_WEIGHTS_DIR", str(shipped))
    return shipped


@pytest.fixture()
def photo_model_dir(model_dir, trained_weights, tmp_path_factory, tiny_data):
    """fsrcnn with clean weights (the model_dir fixture) and different photo weights at x2."""
    import shutil

    from sisr_core.training.trainer import TrainConfig, TrainingRun

    run = tmp_path_factory.mktemp("fsrcnn_photo")
    cfg = TrainConfig(model="fsrcnn", scale=2, data=[str(tiny_data)], degradation="photo", steps=10, batch=4,
                      patch=16, lr=3e-3, warmup=2, ema=0, init=str(trained_weights[2]))
    shutil.copy(TrainingRun(cfg, run).run(), model_dir / "fsrcnn_photo_x2.safetensors")
    return model_dir


def random_image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth-ish random float32 image (H, W, C) in [0, 1]."""
    rng = np.random.default_rng(seed)
    small = rng.random((max(h // 4, 1), max(w // 4, 1), c)).astype(np.float32)
    img = torch.nn.functional.interpolate(torch.from_numpy(small).permute(2, 0, 1)[None], size=(h, w), mode="bilinear")
    noise = rng.normal(0, 0.05, (c, h, w)).astype(np.float32)
    return (img[0].numpy() + noise).clip(0, 1).transpose(1, 2, 0).copy()


COMMUNITY_SUFFIXES = {"esrgan": ".pth", "compact": ".pth", "swinir": ".safetensors", "span": ".safetensors", "hat": ".pth"}


def community_network(arch: str) -> torch.nn.Module:
    """A tiny randomly initialised community network built with spandrel's own class (seeded)."""
    from sisr_core.models import torchvision_standin

    torchvision_standin.install()
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN
    from spandrel.architectures.HAT import HAT
    from spandrel.architectures.SPAN import SPAN
    from spandrel.architectures.SwinIR import SwinIR

    torch.manual_seed(0)
    builders = {
        "esrgan": lambda: ESRGAN(num_filters=8, num_blocks=1, scale=4),
        "compact": lambda: Compact(num_feat=8, num_conv=2, upscale=4),
        "swinir": lambda: SwinIR(embed_dim=12, depths=[2], num_heads=[6], window_size=8, upscale=2, img_size=32,
                                 upsampler="pixelshuffledirect", mlp_ratio=2),
        "span": lambda: SPAN(num_in_ch=3, num_out_ch=3, feature_channels=8, upscale=2),
        "hat": lambda: HAT(embed_dim=12, depths=[1], num_heads=[6], window_size=8, upscale=2, img_size=32, num_feat=8,
                           squeeze_factor=4, compress_ratio=3, mlp_ratio=2),
    }
    network = builders[arch]().eval()
    if arch == "span":  # SPAN scales its output by 255: tame it so the random output is not mostly clipped
        with torch.no_grad():
            for p in network.upsampler.parameters():
                p.mul_(1 / 16)
    return network


@pytest.fixture(scope="session")
def community_files(tmp_path_factory) -> dict[str, tuple[Path, torch.nn.Module]]:
    """Each tiny community network saved as a community file: .pth (ESRGAN's wrapped in ``params_ema``, as
    BasicSR writes it) or .safetensors; arch -> (file, network)."""
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("community")
    out = {}
    for arch, suffix in COMMUNITY_SUFFIXES.items():
        network = community_network(arch)
        state = {k: v.contiguous() for k, v in network.state_dict().items()}
        path = folder / f"Tiny {arch.upper()}{suffix}"
        if suffix == ".safetensors":
            save_file(state, str(path))
        else:
            torch.save({"params_ema": state} if arch == "esrgan" else state, path)
        out[arch] = (path, network)
    return out
