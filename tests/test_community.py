"""Community models through spandrel: tiny random ESRGAN, Real-ESRGAN Compact, SwinIR, SPAN and HAT files run
through `sisr upscale --weights`, `sisr add-model`, `sisr models`, `sisr remove-model` and `sisr eval --weights`
with the pixels spandrel's own forward pass gives; unsafe and unknown files get one clear line."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import COMMUNITY_SUFFIXES, community_network, random_image
from sisr_core.cli import main as sisr

ARCHS = list(COMMUNITY_SUFFIXES)


def save_photo(path, h: int = 64, w: int = 80, seed: int = 0):
    Image.fromarray((random_image(h, w, seed=seed) * 255).round().astype(np.uint8)).save(path)
    return path


def spandrel_pixels(network, photo) -> np.ndarray:
    """What spandrel's forward pass gives for the photo, as 8-bit pixels (H, W, 3)."""
    x = torch.from_numpy(np.asarray(Image.open(photo), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        y = network(x).clamp(0, 1)
    return (y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.int16)


@pytest.fixture()
def user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SISR_USER_DIR", str(tmp_path / "user"))
    return tmp_path / "user" / "models"


@pytest.mark.parametrize("arch", ARCHS)
def test_upscale_weights_gives_spandrels_pixels_whole_and_tiled(arch, community_files, tmp_path, capsys):
    path, network = community_files[arch]
    photo = save_photo(tmp_path / "photo.png")
    expected = spandrel_pixels(network, photo)
    assert ((expected > 5) & (expected < 250)).mean() > 0.2  # the random network's output is not all clipped
    scale = expected.shape[0] // 64
    for mode in (["--mode", "fast"], ["--mode", "patch", "--patch-size", "16"]):
        out = tmp_path / mode[1]
        assert sisr(["upscale", str(photo), "--weights", str(path), "-s", str(scale), "--precision", "fp32",
                     "-o", str(out), *mode]) == 0
        ours = np.asarray(Image.open(out / f"photo_x{scale}.png"), dtype=np.int16)
        assert ours.shape == expected.shape and np.abs(ours - expected).max() <= 1, mode
    assert f"({path.name})" in capsys.readouterr().out  # the message names the file that ran


def test_the_descriptor_says_scale_grid_context_precisions_and_whether_tiles_are_exact(community_files):
    from sisr_core.models.loading import load_model

    swinir, hat, esrgan = (load_model(weights=community_files[arch][0]) for arch in ("swinir", "hat", "esrgan"))
    assert (swinir.scale, swinir.spec.size_multiple, swinir.spec.tile_exact) == (2, 8, True)  # tiles on its windows
    assert swinir.receptive_radius > 2 * 8  # two attention blocks of 8 px windows beyond its convolutions
    assert hat.spec.tile_exact is False  # its channel attention averages over the whole image
    assert "fp16" not in swinir.spec.precisions and esrgan.spec.precisions == ("fp32", "bf16", "fp16")
    assert esrgan.meta["params"] == sum(p.numel() for p in community_files["esrgan"][1].parameters())


def test_a_pickle_that_runs_code_never_runs(tmp_path, user_dir, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "4x-Evil.pth"
    evil.write_bytes(pickle.dumps({"params_ema": {"conv_first.weight": Evil()}}))
    photo = save_photo(tmp_path / "photo.png", 16, 16)
    assert sisr(["upscale", str(photo), "--weights", str(evil), "-o", str(tmp_path / "out")]) == 2
    assert sisr(["add-model", str(evil)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]  # not torch's warning
    assert len(lines) == 2 and all(str(evil) in line and "refused" in line for line in lines)
    assert not marker.exists() and not (tmp_path / "out").exists() and not list(user_dir.glob("*"))


def test_unknown_and_unsupported_files_get_one_clear_line(tmp_path, user_dir, capsys):
    from safetensors.torch import save_file

    unknown = tmp_path / "mystery.safetensors"
    save_file({"encoder.stem.weight": torch.rand(4, 3, 3, 3)}, str(unknown))
    restoration = tmp_path / "1x-Denoise.pth"  # a Compact x1 model: restoration, not super-resolution
    torch.manual_seed(0)
    from spandrel.architectures.Compact import Compact

    torch.save(Compact(num_feat=4, num_conv=1, upscale=1).state_dict(), restoration)
    for path, reason in ((unknown, "no community architecture known to spandrel"), (restoration, "super-resolution")):
        assert sisr(["add-model", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and str(path) in err and reason in err
    assert not list(user_dir.glob("*"))


def test_an_added_community_model_gets_its_own_name_and_never_replaces_ours(community_files, model_dir, tmp_path,
                                                                             capsys):
    path, network = community_files["esrgan"]
    yours = model_dir.parent / "user" / "models"
    shipped = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    assert sisr(["add-model", str(path), "--name", "fsrcnn"]) == 2  # our network's name: refused
    assert "one of our networks" in capsys.readouterr().err
    assert sisr(["add-model", str(path)]) == 0  # named from the file
    assert (yours / "tiny-esrgan.safetensors").is_file() and "sisr upscale -m tiny-esrgan" in capsys.readouterr().out
    assert sisr(["add-model", str(path)]) == 2 and "already" in capsys.readouterr().err  # never replaced silently
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == shipped

    assert sisr(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    mine = rows["tiny-esrgan"]
    assert mine["yours"] and mine["architecture"] == "ESRGAN" and mine["scales"] == [4] and mine["tile_exact"]
    assert mine["params"] == sum(p.numel() for p in network.parameters()) and path.name in mine["source"]
    assert not rows["fsrcnn"]["yours"] and rows["fsrcnn"]["weights"] == [2, 4]
    assert sisr(["models"]) == 0
    table = capsys.readouterr().out.split("Your models")[1]
    assert "tiny-esrgan" in table and "ESRGAN" in table and "x4" in table

    photo = save_photo(tmp_path / "photo.png", 32, 40)
    assert sisr(["upscale", str(photo), "-m", "tiny-esrgan", "-s", "4", "--precision", "fp32", "-o", str(tmp_path / "a")]) == 0
    ours = np.asarray(Image.open(tmp_path / "a" / "photo_x4.png"), dtype=np.int16)
    assert np.abs(ours - spandrel_pixels(network, photo)).max() <= 1
    assert sisr(["upscale", str(photo), "-m", "fsrcnn", "-o", str(tmp_path / "b")]) == 0  # ours still runs ours
    assert "fsrcnn (clean weights)" in capsys.readouterr().out

    assert sisr(["remove-model", "fsrcnn"]) == 2 and "only your own models" in capsys.readouterr().err
    assert sisr(["remove-model", "tiny-esrgan"]) == 0 and not list(yours.glob("*"))
    assert sisr(["remove-model", "tiny-esrgan"]) == 2 and "no model of yours" in capsys.readouterr().err


def test_eval_weights_scores_a_community_file(community_files, tmp_path, capsys):
    path, network = community_files["compact"]
    data = tmp_path / "bench"
    data.mkdir()
    for i in range(2):
        save_photo(data / f"{i}.png", 48, 56, seed=i)
    assert sisr(["eval", "--weights", str(path), "--scale", "4", "--data", str(data), "--precision", "fp32",
                 "--baseline", "bicubic", "--json", str(tmp_path / "rows.json")]) == 0
    rows = json.loads((tmp_path / "rows.json").read_text())
    names = [r.get("method", r.get("name")) for r in rows]
    assert any("RealESRGAN Compact" in str(n) for n in names) and any("bicubic" in str(n) for n in names)
    assert "RealESRGAN Compact" in capsys.readouterr().out


def test_torchvision_standin_normalizes_and_refuses_rotate():
    from sisr_core.models import torchvision_standin as standin

    x = torch.rand(1, 3, 4, 5)
    expected = (x - torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1)) / torch.tensor([0.2, 0.25, 0.5]).view(3, 1, 1)
    assert torch.allclose(standin.normalize(x, [0.5, 0.4, 0.3], [0.2, 0.25, 0.5]), expected)
    with pytest.raises(RuntimeError, match="needs torchvision"):
        standin.rotate(x, 90.0)


def test_community_network_builds_the_same_model_every_time():
    a, b = community_network("swinir"), community_network("swinir")
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
