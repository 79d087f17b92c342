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
    """A user model folder holding the trained fsrcnn weights, with no shipped weights visible."""
    import shutil

    user = tmp_path / "user"
    (user / "models").mkdir(parents=True)
    for scale, path in trained_weights.items():
        shutil.copy(path, user / "models" / f"fsrcnn_x{scale}.safetensors")
    empty = tmp_path / "no_shipped"
    empty.mkdir()
    monkeypatch.setenv("SISR_USER_DIR", str(user))
    monkeypatch.setenv("SISR_WEIGHTS_DIR", str(empty))
    return user / "models"


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
