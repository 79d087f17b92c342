"""Photo weights: the photo degradation, the degraded evaluation protocols and the automatic choice
of a network's photo or clean weights by the input file."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import SET5, random_image
from sisr_core.cli import main as sisr
from sisr_core.data import degradations as deg
from sisr_core.data.degradations import Degradation, photo, protocol_lr
from sisr_core.data.protocols import PROTOCOLS
from sisr_core.io import ImageData, read_image, write_image


@pytest.fixture(scope="module")
def hr() -> torch.Tensor:
    return torch.from_numpy(random_image(96, 72, seed=7)).permute(2, 0, 1).contiguous()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_photo_shapes_range_and_8bit(hr, scale):
    for seed in range(20):
        lr = photo(hr, scale, np.random.default_rng(seed))
        assert lr.shape == (3, 96 // scale, 72 // scale) and lr.dtype == torch.float32
        assert 0 <= lr.min() and lr.max() <= 1
        assert torch.equal(lr, (lr * 255).round() / 255)


def test_photo_is_reproducible_from_the_seed(hr):
    first = [photo(hr, 2, np.random.default_rng(s)) for s in range(8)]
    again = [photo(hr, 2, np.random.default_rng(s)) for s in range(8)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert len({f.sum().item() for f in first}) > 4  # different seeds draw different degradations


def test_photo_keeps_a_share_of_clean_bicubic_samples(hr):
    clean = deg.bicubic(hr, 2)
    same = sum(torch.equal(photo(hr, 2, np.random.default_rng(s)), clean) for s in range(200))
    assert 0.2 * 200 < same < 0.4 * 200  # PHOTO_CLEAN is 0.3


def test_each_stage_changes_the_image(hr):
    assert (deg.blur(hr, deg.gaussian_kernel(1.5, 1.5, 0.0)) - hr).abs().mean() > 0.005
    assert (deg.blur(hr, deg.gaussian_kernel(2.0, 0.3, 0.7)) - deg.blur(hr, deg.gaussian_kernel(0.3, 2.0, 0.7))).abs().mean() > 0.002
    shrunk = {k: deg.downscale(hr, 2, k) for k in deg.DOWNSCALES}
    assert all(v.shape == (3, 48, 36) for v in shrunk.values())
    assert (shrunk["bicubic"] - shrunk["area"]).abs().mean() > 0.002 and (shrunk["bilinear"] - shrunk["area"]).abs().mean() > 0.001
    noisy = [deg.add_noise(hr, np.random.default_rng(s), 15.0) - hr for s in range(8)]
    assert all(n.std() > 0.5 / 255 for n in noisy)
    luma = [torch.allclose(n[0], n[1], atol=1e-6) for n in noisy]
    assert any(luma) and not all(luma)  # luma-only and colour noise
    assert (deg.jpeg(hr, 30) - hr).abs().mean() > 0.005
    assert not torch.equal(deg.jpeg(hr, 80, deg.SUBSAMPLING_420), deg.jpeg(hr, 80, deg.SUBSAMPLING_444))


def test_blur_strength_grows_with_the_scale():
    assert deg.blur_sigma_max(4) > deg.blur_sigma_max(2) > 1.0


def test_photo_degradation_is_random_and_trains(tiny_data, tmp_path):
    from sisr_core.training.trainer import TrainConfig, TrainingRun

    d = Degradation("photo")
    assert not d.deterministic and d.context > 0
    cfg = TrainConfig(model="fsrcnn", scale=2, data=[str(tiny_data)], degradation="photo", steps=3, batch=4,
                      patch=16, val_holdout=1, val_every=3, num_workers=1)
    assert TrainingRun(cfg, tmp_path / "run").run().is_file()


def test_protocols_are_fixed_and_jpeg_ones_are_real_files(hr):
    lr, data = protocol_lr(PROTOCOLS["jpeg75"], hr, 2)
    assert data[:2] == b"\xff\xd8" and lr.shape == (3, 48, 36)
    assert torch.equal(lr, deg.decode_jpeg(data))
    clean, none = protocol_lr(PROTOCOLS["clean"], hr, 2)
    assert none is None and torch.equal(clean, deg.bicubic(hr, 2))
    bnj = [protocol_lr(PROTOCOLS["blur-noise-jpeg"], hr, 2, seed=s)[0] for s in (0, 0, 1)]
    assert torch.equal(bnj[0], bnj[1]) and not torch.equal(bnj[0], bnj[2])


def test_eval_degradation_on_a_tiny_set(tmp_path, capsys):
    data = tmp_path / "two"
    data.mkdir()
    for f in sorted(SET5.glob("*.png"))[:2]:
        (data / f.name).symlink_to(f)
    scores = {}
    for protocol in ("clean", "jpeg40"):
        out = tmp_path / f"{protocol}.json"
        assert sisr(["eval", "--baseline", "bicubic", "--scale", "2", "--data", str(data), "--degradation", protocol,
                     "--json", str(out)]) == 0
        import json

        rows = json.loads(out.read_text())
        assert rows[0]["degradation"] == protocol and rows[0]["images"] == 2
        scores[protocol] = rows[0]["psnr"]
    assert scores["jpeg40"] < scores["clean"] - 1.0
    with pytest.raises(SystemExit):
        sisr(["eval", "--baseline", "bicubic", "--scale", "2", "--data", str(data), "--degradation", "nope"])
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_lossy_inputs_are_recognised(tmp_path):
    from PIL import Image

    pixels = (random_image(16, 16) * 255).astype(np.uint8)
    cases = {"a.jpg": {}, "a.png": {}, "lossy.webp": {"quality": 80}, "lossless.webp": {"lossless": True},
             "j.tif": {"compression": "jpeg"}, "z.tif": {"compression": "tiff_deflate"}}
    for name, options in cases.items():
        Image.fromarray(pixels).save(tmp_path / name, **options)
    lossy = {name: read_image(tmp_path / name).lossy for name in cases}
    assert lossy == {"a.jpg": True, "a.png": False, "lossy.webp": True, "lossless.webp": False, "j.tif": True,
                     "z.tif": False}


def test_upscale_picks_photo_weights_for_jpeg_and_clean_for_png(photo_model_dir, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    pixels = random_image(20, 24)
    write_image(folder / "a.png", ImageData(pixels))
    write_image(folder / "a.jpg", ImageData(pixels), quality=95)
    assert sisr(["upscale", str(folder), "-m", "fsrcnn", "-o", str(tmp_path / "auto")]) == 0
    out = capsys.readouterr().out
    assert "a_x2.png" in out and "a_x2.jpg" in out
    lines = {line.split()[1].rsplit("/", 1)[-1]: line for line in out.splitlines() if line.startswith("wrote")}
    assert "fsrcnn (photo weights)" in lines["a_x2.jpg"] and "fsrcnn (clean weights)" in lines["a_x2.png"]
    # the user's explicit choice wins, and the two weights give different pixels
    assert sisr(["upscale", str(folder / "a.jpg"), "-m", "fsrcnn", "--variant", "clean", "-o", str(tmp_path / "clean")]) == 0
    assert "fsrcnn (clean weights)" in capsys.readouterr().out
    auto = read_image(tmp_path / "auto" / "a_x2.jpg").pixels
    clean = read_image(tmp_path / "clean" / "a_x2.jpg").pixels
    assert np.abs(auto - clean).max() > 2 / 255


def test_photo_weights_chain_for_a_scale_they_lack(photo_model_dir, tmp_path, capsys):
    write_image(tmp_path / "a.jpg", ImageData(random_image(12, 12)))
    assert sisr(["upscale", str(tmp_path / "a.jpg"), "-m", "fsrcnn", "-s", "4", "-o", str(tmp_path / "o")]) == 0
    assert "fsrcnn (photo weights)" in capsys.readouterr().out
    assert read_image(tmp_path / "o" / "a_x4.jpg").pixels.shape[:2] == (48, 48)


def test_a_network_without_photo_weights_runs_its_clean_weights_on_jpeg(model_dir, tmp_path, capsys):
    write_image(tmp_path / "a.jpg", ImageData(random_image(12, 12)))
    assert sisr(["upscale", str(tmp_path / "a.jpg"), "-m", "fsrcnn", "-o", str(tmp_path / "o")]) == 0
    assert "fsrcnn (clean weights)" in capsys.readouterr().out
    assert sisr(["upscale", str(tmp_path / "a.jpg"), "-m", "fsrcnn", "--variant", "photo", "-o", str(tmp_path / "p")]) == 2
    assert "photo weights" in capsys.readouterr().err


def test_models_lists_photo_and_clean_weights_as_choices_of_one_network(photo_model_dir, capsys):
    import json

    assert sisr(["models", "--json"]) == 0
    fsrcnn = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "fsrcnn")
    assert fsrcnn["variants"]["photo"]["weights"] == [2] and fsrcnn["variants"]["clean"]["weights"] == [2, 4]
    assert fsrcnn["variants"]["photo"]["training"]["x2"]["degradation"] == "photo"
    assert sisr(["models"]) == 0
    text = capsys.readouterr().out
    assert "photo" in text and "clean" in text
