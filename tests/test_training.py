"""The training engine: learning, cancel and resume, the weights it writes, special losses, torchrun."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from conftest import SET5
from sisr_core.cli import main as sisr
from sisr_core.training.losses import PerceptualUnavailable, load_vgg19_state, vgg19_features
from sisr_core.training.trainer import TrainConfig, TrainingRun
from sisr_core.inference.engine import Upscaler
from sisr_core.weights import read_metadata, read_weights

REPO = Path(__file__).resolve().parents[1]


def config(data, **overrides) -> TrainConfig:
    base = dict(model="fsrcnn", scale=2, data=[str(data)], steps=30, batch=8, patch=16, lr=3e-3, warmup=5,
                ema=0, val_every=1000)
    return TrainConfig(**{**base, **overrides})


def test_training_improves_cancels_resumes_and_its_weights_work(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "run"
    events = []
    cfg = config(tiny_data, steps=240, val=[str(SET5)], val_every=60, checkpoint_minutes=100)

    def on_event(event):
        events.append(event)
        if event.kind == "progress" and event.step == 120:
            run.cancel()

    run = TrainingRun(cfg, run_dir, on_event)
    assert run.run() is None  # cancelled
    assert run.step == 120 and (run_dir / "checkpoint.pt").is_file()
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["step"] == 120

    resumed = TrainingRun.resume(run_dir, events.append)
    assert resumed.step == 120
    final = resumed.run()
    assert final is not None and final.is_file()
    psnrs = [e.psnr for e in events if e.kind == "validation"]
    assert len(psnrs) == 4 and psnrs[-1] > psnrs[0], psnrs
    steps = [int(r["step"]) for r in csv.DictReader(open(run_dir / "log.csv"))]
    assert steps[-1] == 240 and 120 in steps

    meta = read_metadata(final)
    assert meta["model"] == "fsrcnn" and meta["scales"] == [2] and meta["training"]["steps"] == 240
    assert (run_dir / "best.safetensors").is_file()

    img = tmp_path / "in.png"
    os.symlink(next(SET5.glob("*.png")), img)
    assert sisr(["upscale", str(img), "--weights", str(final), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert (tmp_path / "out" / "in_x2.png").is_file()
    assert sisr(["eval", "--weights", str(final), "--scale", "2", "--data", str(SET5), "--baseline", "bicubic"]) == 0
    table = capsys.readouterr().out
    assert "bicubic" in table and "fsrcnn" in table


def test_pause_holds_training(tiny_data, tmp_path):
    run = TrainingRun(config(tiny_data, steps=50), tmp_path / "r")
    paused = threading.Event()

    def on_event(event):
        if event.kind == "progress" and event.step == 10:
            run.pause()
        if event.kind == "paused":
            paused.set()

    run.callback = on_event
    worker = threading.Thread(target=run.run)
    worker.start()
    assert paused.wait(60)
    step = run.step
    worker.join(1.0)
    assert worker.is_alive() and run.step == step == 10
    run.unpause()
    worker.join(60)
    assert run.step == 50


def test_multi_scale_pre_upsampling_and_init_from_other_weights(tiny_data, tmp_path, trained_weights):
    cfg = config(tiny_data, model="sr", scales=[2, 3], steps=10, patch=12)
    final = TrainingRun(cfg, tmp_path / "sr").run()
    assert read_metadata(final)["scales"] == [2, 3]
    messages = []
    init_cfg = config(tiny_data, scale=4, steps=5, init=str(trained_weights[2]))
    TrainingRun(init_cfg, tmp_path / "x4", lambda e: messages.append(e.message)).run()
    # all but the scale-specific deconvolution come from the x2 weights
    assert any(m.startswith("initialised ") and "/" in m for m in messages)


def test_fdsrcnn_trains_x2_and_x4_as_one_network(tiny_data, tmp_path, monkeypatch):
    cfg = config(tiny_data, model="fdsrcnn", scale=4, scales=[2, 4], steps=12, patch=12, model_config={"num_feat": 8})
    run = TrainingRun(cfg, tmp_path / "fd")
    start = {k: v.clone() for k, v in run._network().state_dict().items()}
    final = run.run()
    assert read_metadata(final)["scales"] == [2, 4]
    trained, _ = read_weights(final)
    for head in ("reconstruct.x2.weight", "reconstruct.x4.weight"):  # both scales got gradients
        assert not torch.allclose(trained[head].float(), start[head], atol=1e-3), head
    # shipped under its joint name, it serves x2 and x4 by name and from the file, not x3
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "fdsrcnn_x2x4.safetensors").write_bytes(final.read_bytes())
    monkeypatch.setenv("SISR_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("SISR_WEIGHTS_DIR", str(shipped))
    lr = torch.rand(1, 3, 10, 12)
    for upscaler in (Upscaler("fdsrcnn"), Upscaler(weights=final)):
        assert upscaler.native_scales() == [2, 4]
        x2, x4 = (upscaler.upscale(lr, s, mode="fast") for s in (2, 4))
        assert x2.shape[-2:] == (20, 24) and x4.shape[-2:] == (40, 48)
        assert upscaler.plan(3) == ([4], True)
    with pytest.raises(ValueError, match="x2 and x4 with --scale 4"):
        TrainingRun(config(tiny_data, model="fdsrcnn", scale=2, scales=[2, 3]), tmp_path / "bad")


def test_degradations_train(tiny_data, tmp_path):
    for name in ("unknown", "bicubic_jpeg_40"):
        assert TrainingRun(config(tiny_data, steps=3, degradation=name), tmp_path / name).run().is_file()


def test_distillation_from_teacher(tiny_data, tmp_path, trained_weights):
    events = []
    cfg = config(tiny_data, model="espcn", steps=5, teacher=str(trained_weights[2]))
    TrainingRun(cfg, tmp_path / "student", events.append).run()
    losses = [e.losses for e in events if e.kind == "progress"]
    assert "distill" in losses[-1] and losses[-1]["distill"] > 0


def test_perceptual_and_adversarial_with_local_vgg(tiny_data, tmp_path, monkeypatch):
    vgg_file = tmp_path / "vgg19-standin.pth"
    torch.save({f"features.{k}": v for k, v in vgg19_features().state_dict().items()}, vgg_file)
    events = []
    cfg = config(tiny_data, model="srgan", model_config={"num_block": 1, "num_feat": 16}, steps=3, patch=12,
                 perceptual_weight=0.01, adversarial_weight=0.005, vgg_weights=str(vgg_file))
    assert TrainingRun(cfg, tmp_path / "gan", events.append).run().is_file()
    last = [e.losses for e in events if e.kind == "progress"][-1]
    assert {"perceptual", "adversarial", "discriminator"} <= set(last)
    assert {"disc", "optimizer_d"} <= set(torch.load(tmp_path / "gan" / "checkpoint.pt", weights_only=True))
    # no weights and no download permission: a clear refusal
    monkeypatch.delenv("SISR_VGG19_WEIGHTS", raising=False)
    with pytest.raises(PerceptualUnavailable, match="--vgg-weights"):
        load_vgg19_state(None, allow_download=False)


def test_torchrun_two_processes(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
           "-m", "sisr_core.cli", "train", "--model", "fsrcnn", "--scale", "2", "--data", str(tiny_data),
           "--steps", "6", "--batch", "4", "--patch", "12", "--threads", "1", "--out", str(out), "-q"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_metadata(out / "final.safetensors")["training"]["steps"] == 6


def test_resume_with_more_steps_records_both_commands(tiny_data, tmp_path):
    out = tmp_path / "run"
    first = ["train", "--model", "espcn", "--scale", "2", "--data", str(tiny_data), "--steps", "4", "--batch", "4",
             "--patch", "12", "--out", str(out), "-q"]
    assert sisr(first) == 0
    assert sisr(["train", "--resume", str(out), "--steps", "6", "-q"]) == 0
    training = read_metadata(out / "final.safetensors")["training"]
    assert training["steps"] == 6
    assert training["command"].startswith("sisr train --model espcn") and "&& sisr train --resume" in training["command"]


def test_bf16_mixed_precision_learns_like_fp32(tiny_data, tmp_path):
    results = {}
    for precision in ("fp32", "bf16"):
        run = TrainingRun(config(tiny_data, steps=60, val=[str(SET5)], val_every=60, precision=precision),
                          tmp_path / precision)
        final = run.run()
        results[precision] = (run.best_psnr, read_weights(final)[0])
    (psnr32, w32), (psnr16, w16) = results["fp32"], results["bf16"]
    assert psnr16 > psnr32 - 0.3, (psnr16, psnr32)
    assert any(not torch.equal(w32[k], w16[k]) for k in w32)  # same seed and data: only bf16 arithmetic differs
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        TrainingRun(config(tiny_data, precision="fp16", device="cpu"), tmp_path / "fp16")
    with pytest.raises(ValueError, match="precision 'fp8'"):
        TrainingRun(config(tiny_data, precision="fp8"), tmp_path / "fp8")


def _write_pairs(hr_dir: Path, lr_dir: Path, names: list[str], lr_suffix: str = "") -> None:
    from conftest import random_image
    from sisr_core.data.degradations import bicubic
    from sisr_core.io import ImageData, write_image

    hr_dir.mkdir(parents=True)
    lr_dir.mkdir(parents=True)
    for i, name in enumerate(names):
        hr = random_image(64, 72, seed=i)
        write_image(hr_dir / f"{name}.png", ImageData(hr))
        lr = bicubic(torch.from_numpy(hr).permute(2, 0, 1), 2).permute(1, 2, 0).numpy()
        write_image(lr_dir / f"{name}{lr_suffix}.png", ImageData(lr))


def test_paired_folders_and_div2k_layout(tmp_path):
    _write_pairs(tmp_path / "hr", tmp_path / "lr", ["a", "b"])
    root = tmp_path / "div2k"
    _write_pairs(root / "DIV2K_train_HR", root / "DIV2K_train_LR_bicubic" / "X2", ["0001", "0002"], "x2")
    out = tmp_path / "run"
    code = sisr(["train", "--model", "fsrcnn", "--scale", "2", "--data", str(tmp_path / "hr"), "--lr-data",
                 str(tmp_path / "lr"), "--data", str(root), "--steps", "3", "--batch", "2", "--patch", "12",
                 "--out", str(out), "-q"])
    assert code == 0 and read_metadata(out / "final.safetensors")["training"]["steps"] == 3
    from sisr_core.data.datasets import SRImageSet

    div2k = SRImageSet.from_div2k(root, 2)
    assert len(div2k) == 2 and div2k.pairs[0].lr[2].shape == (3, 32, 36)
    with pytest.raises(FileNotFoundError, match="no LR image"):
        (tmp_path / "hr" / "c.png").write_bytes((tmp_path / "hr" / "a.png").read_bytes())
        SRImageSet.from_paired(tmp_path / "hr", tmp_path / "lr", 2)


def test_patch_stream_is_deterministic_with_a_seed(tiny_data):
    from sisr_core.data.datasets import PatchStream, SRImageSet

    images = SRImageSet.from_folders([tiny_data])
    first = [next(iter(PatchStream(images, [2, 3], 12, 4, seed=7))) for _ in range(2)]
    assert torch.equal(first[0][0], first[1][0]) and first[0][2] == first[1][2]
    other = next(iter(PatchStream(images, [2, 3], 12, 4, seed=8)))
    assert not torch.equal(first[0][1], other[1]) or first[0][2] != other[2]


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tiny_data, tmp_path, monkeypatch):
    import itertools

    from sisr_core.data.datasets import PatchStream

    # a resumed stream is reseeded at its step; here batch k is the same whether or not the run stopped before it
    first_batch = PatchStream.__iter__

    def batch_per_step(stream):
        for step in itertools.count(stream.start):
            stream.start = step
            yield next(first_batch(stream))

    monkeypatch.setattr(PatchStream, "__iter__", batch_per_step)
    cfg = config(tiny_data, steps=6, batch=4, patch=12, ema=0.9, grad_clip=1.0)
    whole = TrainingRun(cfg, tmp_path / "whole").run()

    def stop_at_3(event):
        if event.kind == "progress" and event.step == 3:
            run.cancel()

    run = TrainingRun(cfg, tmp_path / "parts", stop_at_3)
    assert run.run() is None
    resumed = TrainingRun.resume(tmp_path / "parts")
    assert resumed.step == 3
    parts = resumed.run()

    a, b = (torch.load(p.parent / "checkpoint.pt", weights_only=True) for p in (whole, parts))
    assert set(a) == set(b) == {"params", "optimizer", "step", "best_psnr", "seconds", "params_ema", "ema_n"}
    assert a["step"] == b["step"] == 6 and a["ema_n"] == b["ema_n"] == 6
    for key in ("params", "params_ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert all(torch.equal(x, y) for x, y in zip(read_weights(whole)[0].values(), read_weights(parts)[0].values()))


@pytest.mark.parametrize("degradation", ["photo", "unknown"])
def test_random_degradations_validate_on_images_fixed_by_the_seed(tiny_data, tmp_path, degradation):
    import numpy as np

    from sisr_core.data.datasets import SRImageSet

    def val_pairs(seed):
        cfg = config(tiny_data, degradation=degradation, val=[str(tiny_data)], seed=seed)
        return TrainingRun(cfg, tmp_path / "unused")._data(0)[1]

    first, again, other = val_pairs(1), val_pairs(1), val_pairs(2)
    assert all(torch.equal(x[0], y[0]) for x, y in zip(first, again))
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(first, other))
    # seed 0 keeps the images of earlier versions (default_rng(index)), so runs in progress validate as before
    images = SRImageSet.from_folders([tiny_data], degradation)
    lr, hr = images.validation_pairs(2)[3]
    assert torch.equal(lr, images.degradation(hr, 2, np.random.default_rng(3)))


def test_schedule_and_step_time_are_the_trainers(tmp_path):
    """The wizard's rules live in the trainer: intervals for a number of steps (TrainConfig fills what is not
    given; the default 10,000 steps keep warm-up 100, validation every 500, a log line every 10) and the time
    of the trainer's own step, measured without reading data or writing files."""
    from sisr_core.training.trainer import measure_step_seconds, training_schedule

    assert training_schedule(10000) == {"warmup": 100, "val_every": 500, "preview_every": 200, "log_every": 10}
    assert training_schedule(6) == {"warmup": 1, "val_every": 1, "preview_every": 1, "log_every": 1}
    default = TrainConfig(model="fsrcnn", scale=2, data=[])
    assert (default.warmup, default.val_every, default.log_every, default.preview_every) == (100, 500, 10, 0)
    short = TrainConfig(model="fsrcnn", scale=2, data=[], steps=200, val_every=7)
    assert (short.warmup, short.val_every, short.log_every) == (20, 7, 2)
    seconds = measure_step_seconds(TrainConfig(model="fsrcnn", scale=3, data=[str(tmp_path / "none")], batch=2, patch=12))
    assert 0 < seconds < 10 and list(tmp_path.iterdir()) == []
