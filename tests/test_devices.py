"""Where networks run (sisr_core.devices): the choice, its errors, what follows from it, GPU training and
inference (skipped without CUDA), the time budget of `sisr train --minutes` and scripts/train_gpu.sh."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import SET5, random_image
from sisr_core.cli import main as sisr
from sisr_core.devices import available_devices, data_workers, network_memory_budget, select_device
from sisr_core.inference.engine import Upscaler, resolve_precision
from sisr_core.io import ImageData, read_image, write_image
from sisr_core.training.trainer import TrainConfig, TrainingRun, measure_step_seconds
from sisr_core.weights import read_metadata, read_weights

REPO = Path(__file__).resolve().parents[1]
CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


def test_device_choice_and_its_errors():
    assert select_device("auto") == torch.device((available_devices() or ["cpu"])[0])
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="choose one of auto, cpu, cuda, mps"):
        select_device("tpu")
    if not CUDA:
        with pytest.raises(RuntimeError, match="no CUDA GPU is available") as error:
            select_device("cuda")
        assert "\n" not in str(error.value)
    if "mps" not in available_devices():
        with pytest.raises(RuntimeError, match="Metal"):
            select_device("mps")


def test_precision_workers_and_memory_follow_the_device(monkeypatch):
    """bf16 on GPUs that have it, else fp16; fp32 on MPS; no fp16 on a CPU. Workers make patches only for a
    GPU; a CUDA GPU's tiles take its own memory, the CPU's and MPS's the host budget."""
    cuda, mps, cpu = torch.device("cuda"), torch.device("mps"), torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", cuda) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", cuda) == "fp16"
    assert resolve_precision("auto", mps) == "fp32" and resolve_precision("fp16", mps) == "fp16"
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        resolve_precision("fp16", cpu)
    assert data_workers(cpu) == 0 and 1 <= data_workers(cuda) <= 8
    assert network_memory_budget(cpu, 12345) == 12345 == network_memory_budget(mps, 12345)


@pytest.mark.skipif(bool(available_devices()), reason="auto is an accelerator here")
def test_device_cpu_is_the_default_here(model_dir, tmp_path):
    photo = tmp_path / "a.png"
    write_image(photo, ImageData(random_image(20, 24)))
    for name, extra in (("default", []), ("cpu", ["--device", "cpu"])):
        assert sisr(["upscale", str(photo), "-m", "fsrcnn", "-o", str(tmp_path / name), "-q", *extra]) == 0
    assert np.array_equal(read_image(tmp_path / "default" / "a_x2.png").pixels,
                          read_image(tmp_path / "cpu" / "a_x2.png").pixels)


@pytest.mark.skipif(CUDA, reason="CUDA is available here")
@pytest.mark.parametrize("command", [
    ["upscale", "{photo}", "-m", "fsrcnn"],
    ["train", "--model", "fsrcnn", "--scale", "2", "--data", "{data}", "--steps", "2"],
    ["eval", "--model", "fsrcnn", "--scale", "2", "--data", str(SET5)],
    ["bench", "--models", "fsrcnn", "--size", "16"],
])
def test_unavailable_device_is_one_line(model_dir, tiny_data, tmp_path, capsys, command):
    photo = tmp_path / "a.png"
    write_image(photo, ImageData(random_image(20, 24)))
    args = [a.format(photo=photo, data=tiny_data) for a in command]
    assert sisr([*args, "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: device 'cuda'") and "no CUDA GPU" in err[0]
    assert not (tmp_path / "a_x2.png").exists()


def test_time_budget_ends_the_schedule_on_time(tiny_data, tmp_path, capsys):
    """`sisr train --minutes` times a step, then fits the steps to the speed the run sees: it ends within the
    budget (plus the last validation) with the learning rate at the end of its cosine, not cut short."""
    out = tmp_path / "run"
    assert sisr(["train", "--model", "fsrcnn", "--scale", "2", "--data", str(tiny_data), "--steps", "5",
                 "--minutes", "1"]) == 2
    assert "--steps or --minutes" in capsys.readouterr().err
    assert sisr(["train", "--model", "fsrcnn", "--scale", "2", "--data", str(tiny_data), "--minutes", "0.2",
                 "--batch", "4", "--patch", "16", "--lr", "1e-3", "--val-holdout", "1", "--val-every", "1000000",
                 "--device", "cpu", "--out", str(out), "-q"]) == 0
    last = list(csv.DictReader(open(out / "log.csv")))[-1]
    assert last["val_psnr"] and int(last["step"]) == read_metadata(out / "final.safetensors")["training"]["steps"]
    assert float(last["seconds"]) < 0.2 * 60 * 1.25
    assert float(last["lr"]) < 0.05 * 1e-3, last


def test_train_gpu_script_on_the_cpu(tiny_data, tmp_path):
    """scripts/train_gpu.sh with 2 steps a run on tiny data: every recipe's weights appear, from the shipped
    file they would replace, with their recipe in the metadata, and they load and upscale."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("T91", "BSDS400"):
        (data / name).symlink_to(tiny_data)
    out = tmp_path / "out"
    env = {**os.environ, "SISR_PYTHON": os.environ.get("SISR_PYTHON", sys.executable),
           "SISR_TRAIN_DATA": str(data), "SISR_DEVICE": "cpu", "SISR_GPU_STEPS": "2", "SISR_GPU_BATCH": "2",
           "SISR_GPU_PATCH": "16", "SISR_GPU_HOLDOUT": "1", "SISR_GPU_JOBS": "2"}
    proc = subprocess.run([str(REPO / "scripts" / "train_gpu.sh"), str(out), "1"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    runs = ["wdsr-a_x2", "wdsr-a_x3", "wdsr-a_x4", "wdsr-a_photo_x2", "wdsr-a_photo_x3", "wdsr-a_photo_x4",
            "fsrcnn_photo_x2", "fsrcnn_photo_x4"]
    log = (out / "train_gpu.log").read_text()
    with tarfile.open(out / "runs.tar") as tar:
        packed = set(tar.getnames())
    image = torch.from_numpy(random_image(12, 10)).permute(2, 0, 1)[None]
    for name in runs:
        final = out / name / "final.safetensors"
        meta = read_metadata(final)
        scale = int(name[-1])
        assert meta["training"]["steps"] == 2 and meta["scales"] == [scale]
        assert meta["training"]["degradation"] == ("photo" if "photo" in name else "bicubic")
        assert f"--init weights/{name}.safetensors" in meta["training"]["command"]
        assert f"[{name}] initialised" in log and f"{name}: 2 steps of 2" in log
        assert {f"{name}/final.safetensors", f"{name}/log.csv", f"{name}/config.json"} <= packed
        assert read_weights(final)[0].keys() == read_weights(REPO / "weights" / f"{name}.safetensors")[0].keys()
        assert Upscaler(weights=final, device="cpu").upscale(image, scale).shape == (1, 3, 12 * scale, 10 * scale)
    assert not any(n.endswith("checkpoint.pt") for n in packed)


# -- on a CUDA GPU -------------------------------------------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("precision", ["auto", "fp16"])
def test_training_on_the_gpu_learns(tiny_data, tmp_path, precision):
    """bf16 autocast (or fp16 with the gradient scaler) on the GPU: validation PSNR rises, the weights are
    finite and load on the CPU."""
    cfg = TrainConfig(model="fsrcnn", scale=2, data=[str(tiny_data)], steps=200, batch=16, patch=16, lr=3e-3,
                      warmup=5, ema=0, val_every=20, val_holdout=1, device="cuda", precision=precision)
    run = TrainingRun(cfg, tmp_path / "run")
    assert run.device.type == "cuda" and run.amp_dtype in (torch.bfloat16, torch.float16)
    assert run.scaler.is_enabled() == (run.amp_dtype == torch.float16)
    final = run.run()
    psnrs = [float(r["val_psnr"]) for r in csv.DictReader(open(tmp_path / "run" / "log.csv")) if r["val_psnr"]]
    assert psnrs[-1] > psnrs[0] + 1.0, psnrs
    state, _ = read_weights(final)
    assert all(torch.isfinite(t.float()).all() for t in state.values())
    assert measure_step_seconds(cfg) > 0


@needs_cuda
def test_gpu_inference_matches_the_cpu(model_dir):
    """fp32 on the GPU gives the CPU's result within a grey level; bf16 (auto) differs by under a grey level
    on average; both come back on the input's device."""
    image = torch.from_numpy(random_image(64, 48)).permute(2, 0, 1)[None]
    cpu = Upscaler("fsrcnn", device="cpu", precision="fp32").upscale(image, 2)
    for precision, worst in (("fp32", 1 / 255), ("auto", 8 / 255)):
        gpu = Upscaler("fsrcnn", device="cuda", precision=precision).upscale(image, 2)
        error = (gpu - cpu).abs()
        assert gpu.device.type == "cpu" and error.max() <= worst and error.mean() < 1 / 255, precision
    assert 0 < network_memory_budget(torch.device("cuda"), 1) < torch.cuda.get_device_properties(0).total_memory


@needs_cuda
def test_cli_trains_and_upscales_on_the_gpu(model_dir, tiny_data, tmp_path):
    photo = tmp_path / "a.png"
    write_image(photo, ImageData(random_image(40, 30)))
    assert sisr(["upscale", str(photo), "-m", "fsrcnn", "--device", "cuda", "-o", str(tmp_path / "up"), "-q"]) == 0
    assert read_image(tmp_path / "up" / "a_x2.png").pixels.shape[:2] == (80, 60)
    assert sisr(["train", "--model", "fsrcnn", "--scale", "2", "--data", str(tiny_data), "--steps", "3", "--batch", "4",
                 "--patch", "16", "--device", "cuda", "--out", str(tmp_path / "run"), "-q"]) == 0
    assert (tmp_path / "run" / "final.safetensors").is_file()


def test_cpu_vendor_is_read_from_the_system(monkeypatch, tmp_path):
    import builtins
    from sisr_core import devices
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n")
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: real_open(info if f == "/proc/cpuinfo" else f, *a, **k))
    assert devices.cpu_vendor() == "AuthenticAMD"
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: (_ for _ in ()).throw(FileNotFoundError(f)))
    monkeypatch.setattr(devices.platform, "processor", lambda: "Intel64 Family 6 Model 143 Stepping 8, GenuineIntel")
    assert devices.cpu_vendor() == "GenuineIntel"
    monkeypatch.setattr(devices.platform, "processor", lambda: "arm")
    assert devices.cpu_vendor() == ""
