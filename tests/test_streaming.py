"""Huge images: outputs written in bands equal the in-memory result, out-of-memory tiles are split and
retried, the batch overlaps reading, inference and writing, and the memory/batch benchmarks run."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from conftest import random_image
from sisr_core import batch as batch_module
from sisr_core.batch import Job, in_background, plan_jobs, read_ahead, run_batch, run_job
from sisr_core.cli import main as sisr
from sisr_core.inference.engine import upscale_image_bands
from sisr_core.inference.tiling import Cancelled, TileMemoryError
from sisr_core.io import ImageData, read_image, write_image
from test_inference import levels, loaded, upscaler_with

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SISR test camera"
    return exif.tobytes()


def make_input(path, kind: str) -> ImageData:
    """An input file of one kind: 8-bit RGB with ICC and EXIF, 16-bit grey, or 16-bit RGBA."""
    if kind == "rgb8":
        image = ImageData(random_image(37, 53), icc_profile=ICC, exif=exif_bytes())
    elif kind == "grey16":
        image = ImageData(random_image(29, 41, c=1, seed=5), bit_depth=16)
    else:
        image = ImageData(random_image(31, 27, seed=6), alpha=random_image(31, 27, c=1, seed=7)[..., 0], bit_depth=16)
    write_image(path, image)
    return image


def spy_bands(monkeypatch) -> list:
    """Record each call of the banded writer the batch makes."""
    calls = []
    real = batch_module.write_image_bands

    def spy(plan, bands, like, **kw):
        calls.append(plan)
        return real(plan, bands, like, **kw)

    monkeypatch.setattr(batch_module, "write_image_bands", spy)
    return calls


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("kind,scale", [("rgb8", 2), ("rgb8", 3), ("grey16", 2), ("rgba16", 4)])
def test_streamed_output_equals_in_memory_result(tmp_path, monkeypatch, ext, kind, scale):
    up = upscaler_with(loaded("espcn", 2), loaded("espcn", 4))  # x3 runs x4 and a downscale inside each tile
    src = tmp_path / f"in_{kind}.png"
    original = make_input(src, kind)
    whole = run_job(Job(src, tmp_path / f"whole{ext}"), up, scale, memory_budget=2**30)
    calls, ticks = spy_bands(monkeypatch), []
    banded = run_job(Job(src, tmp_path / f"banded{ext}"), up, scale, memory_budget=40_000,
                     progress=lambda done, total: ticks.append(total))
    assert whole.status == banded.status == "done", banded.message
    assert len(calls) == 1 and calls[0].streamed and ticks[-1] > 2  # really written in bands, from several tiles
    a, b = read_image(tmp_path / f"whole{ext}"), read_image(tmp_path / f"banded{ext}")
    assert b.pixels.shape == a.pixels.shape == (original.height * scale, original.width * scale, original.channels)
    assert b.bit_depth == a.bit_depth == original.bit_depth
    top = 2**b.bit_depth - 1
    assert np.abs(a.pixels - b.pixels).max() * top <= 1.01 * (1 if top == 255 else 4)
    assert (a.alpha is None) == (b.alpha is None)
    if a.alpha is not None:
        assert np.abs(a.alpha - b.alpha).max() * top <= 4.04
    if kind == "rgb8":
        assert b.icc_profile == ICC
        if ext == ".png":
            assert b.exif is not None and b"SISR test camera" in b.exif
        else:
            assert any("EXIF not kept" in w for w in banded.warnings)
    assert not list(tmp_path.glob(".*.part"))


def test_jpeg_assembled_within_budget_and_refused_beyond(tmp_path, monkeypatch):
    up = upscaler_with(loaded("espcn", 2))
    src = tmp_path / "in.png"
    make_input(src, "rgb8")
    calls = spy_bands(monkeypatch)
    whole = run_job(Job(src, tmp_path / "whole.jpg"), up, 2, memory_budget=2**30)
    banded = run_job(Job(src, tmp_path / "banded.jpg"), up, 2, memory_budget=40_000)
    assert whole.status == banded.status == "done" and len(calls) == 1 and not calls[0].streamed
    a, b = read_image(tmp_path / "whole.jpg"), read_image(tmp_path / "banded.jpg")
    assert np.abs(a.pixels - b.pixels).mean() * 255 < 0.5 and b.icc_profile == ICC
    refused = run_job(Job(src, tmp_path / "big.webp"), up, 2, memory_budget=10_000)
    assert refused.status == "failed"
    assert str(tmp_path / "big.webp") in refused.message and ".tif or .png" in refused.message
    assert "\n" not in refused.message and not list(tmp_path.glob("*big*")) and not list(tmp_path.glob(".*.part"))


def test_cancel_while_streaming_leaves_nothing(tmp_path):
    up = upscaler_with(loaded("espcn", 2))
    src = tmp_path / "in.png"
    make_input(src, "rgb8")
    ticks = []
    with pytest.raises(Cancelled):
        run_job(Job(src, tmp_path / "out.png"), up, 2, memory_budget=40_000,
                progress=lambda done, total: ticks.append(done), cancel=lambda: len(ticks) >= 3)
    assert list(tmp_path.iterdir()) == [src]  # no output, no temporary file


def out_of_memory_above(model, width: int, error_type=RuntimeError):
    """Make the network fail like the CPU allocator for inputs at least ``width`` px wide."""
    real, seen = model.network.forward, []

    def forward(x):
        seen.append(tuple(x.shape[-2:]))
        if x.shape[-1] >= width:
            raise error_type("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9999999999 bytes")
        return real(x)

    model.network.forward = forward
    return seen


def test_out_of_memory_tile_is_split_and_retried():
    model = loaded("fsrcnn", 2)
    up = upscaler_with(model)
    assert model.receptive_radius < 20
    img = torch.from_numpy(random_image(40, 44)).permute(2, 0, 1)[None]
    reference = up.upscale(img, 2, mode="fast")
    seen = out_of_memory_above(model, 44)
    for mode in ("patch", "auto"):  # one tile holding the whole image; auto first tries it whole
        out = up.upscale(img, 2, mode=mode, tile=64)
        assert (levels(out) - levels(reference)).abs().max() <= 1
    assert max(w for _, w in seen) == 44 and min(w for _, w in seen) < 44  # failed whole, then done in parts
    with pytest.raises(RuntimeError, match="can't allocate"):  # fast mode was asked for: no tiles
        up.upscale(img, 2, mode="fast")
    image = ImageData(random_image(40, 44))
    bands = np.concatenate(list(upscale_image_bands(up, image, 2, np.uint8, tile=64)))
    expected = (reference[0].permute(1, 2, 0).numpy() * 255).round()
    assert bands.shape == (80, 88, 3) and np.abs(bands - expected).max() <= 1


def test_out_of_memory_on_gpu_error_type_and_the_floor():
    model = loaded("fsrcnn", 2)
    up = upscaler_with(model)
    img = torch.rand(1, 3, 40, 40)
    reference = up.upscale(img, 2, mode="fast")
    out_of_memory_above(model, 40, torch.OutOfMemoryError)
    assert (levels(up.upscale(img, 2, mode="patch", tile=40)) - levels(reference)).abs().max() <= 1
    out_of_memory_above(model, 1)  # nothing fits
    with pytest.raises(TileMemoryError, match="out of memory even for a"):
        up.upscale(img, 2, mode="patch", tile=40)


def test_batch_overlaps_stages_keeps_order_and_survives_a_bad_file(tmp_path, monkeypatch):
    up = upscaler_with(loaded("fsrcnn", 2))
    src = tmp_path / "in"
    src.mkdir()
    for i in range(7):
        write_image(src / f"p{i}.png", ImageData(random_image(24 + i, 30, seed=i)))
    (src / "p3.png").write_bytes(b"this is not a picture")
    reference = tmp_path / "reference"
    for job in plan_jobs([src], reference)[0]:
        run_job(job, up, 2)

    read_two, threads = threading.Event(), {}
    real_read, real_write = batch_module.read_image, batch_module.write_image

    def read(path, **kw):
        threads.setdefault("read", threading.current_thread())
        if path.name == "p2.png":
            read_two.set()
        return real_read(path, **kw)

    def write(path, *args, **kw):
        threads.setdefault("write", threading.current_thread())
        if path.name == "p0_x2.png":  # the first write waits until the reader is two images ahead
            threads["overlapped"] = read_two.wait(timeout=20)
        return real_write(path, *args, **kw)

    monkeypatch.setattr(batch_module, "read_image", read)
    monkeypatch.setattr(batch_module, "write_image", write)
    jobs, _ = plan_jobs([src], tmp_path / "out")
    results = list(run_batch(jobs, up, 2))
    assert threads["overlapped"] and threads["read"] is not threads["write"]
    assert [r.job.source.name for r in results] == [f"p{i}.png" for i in range(7)]
    assert [r.status for r in results] == ["done"] * 3 + ["failed"] + ["done"] * 3
    assert results[3].message.startswith(str(src / "p3.png") + ":") and "\n" not in results[3].message
    for i in (0, 1, 2, 4, 5, 6):
        name = f"p{i}_x2.png"
        assert (tmp_path / "out" / name).read_bytes() == (reference / name).read_bytes()


def test_reading_starts_before_torch_is_loaded_and_the_batch_takes_it_up(tmp_path, monkeypatch):
    """`sisr upscale` plans and starts decoding the first image before torch loads (the other core is idle
    meanwhile); ``run_batch`` then takes that reading over instead of decoding again."""
    for i in range(3):
        write_image(tmp_path / f"p{i}.png", ImageData(random_image(20, 30 + i, seed=i)))
    code = ("import sys; from sisr_core.batch import plan_jobs, read_ahead; jobs, _ = plan_jobs([sys.argv[1]]); "
            "first = next(read_ahead(jobs)); print(first.image.width, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p0.png")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.split() == ["30", "False"], proc.stderr
    reads = []
    real_read = batch_module.read_image
    monkeypatch.setattr(batch_module, "read_image", lambda path, **kw: reads.append(path.name) or real_read(path, **kw))
    jobs, _ = plan_jobs([tmp_path], tmp_path / "out")
    reading = read_ahead(jobs)
    results = list(run_batch(jobs, upscaler_with(loaded("fsrcnn", 2)), 2, reading=reading))
    assert [r.status for r in results] == ["done"] * 3 and reads == ["p0.png", "p1.png", "p2.png"]
    assert read_image(tmp_path / "out" / "p2_x2.png").pixels.shape == (40, 64, 3)


def test_batch_cancel_stops_between_files(tmp_path):
    up = upscaler_with(loaded("fsrcnn", 2))
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        write_image(src / f"p{i}.png", ImageData(random_image(20, 20, seed=i)))
    jobs, _ = plan_jobs([src], tmp_path / "out")
    results = []
    for r in run_batch(jobs, up, 2, cancel=lambda: len(results) >= 2):
        results.append(r)
    assert len(results) == 2
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["p0_x2.png", "p1_x2.png"]  # nothing half-written, nothing after the cancel


def test_in_background_hands_over_errors_and_stops_on_close():
    made = []

    def items():
        for i in range(1000):
            made.append(i)
            if i == 3:
                raise ValueError("bad item")
            yield i

    with pytest.raises(ValueError, match="bad item"):
        list(in_background(items()))
    made.clear()
    endless = in_background(iter(lambda: made.append(0) or len(made), None), depth=2)
    assert next(endless) == 1
    endless.close()
    count = len(made)
    assert count <= 4 and len(made) == count  # at most depth items ahead, nothing after close


def test_bench_memory_and_batch_on_tiny_cases(model_dir, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert sisr(["bench", "--memory", "--memory-cases", "120x2", "--memory-budget-mb", "1", "--batch", "3",
                 "--batch-size", "32", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    (memory,) = result["memory"]
    assert memory["output"] == "photo_120_x2.png" and memory["output_mb"] > 0 and 100 < memory["peak_mb"] < 3000
    batch = result["batch"]
    assert batch["done"] == 3 and batch["inference_seconds"] > 0 and batch["ratio"] > 0
    text = capsys.readouterr().out
    assert "peak RSS" in text and "ratio" in text


def test_large_streamed_tiff_is_a_bigtiff_that_reads_back(tmp_path, monkeypatch):
    import tifffile

    from sisr_core import io as io_module

    monkeypatch.setattr(io_module, "_BIGTIFF_BYTES", 0)  # as for a multi-gigabyte output
    up = upscaler_with(loaded("espcn", 2))
    src = tmp_path / "in.png"
    make_input(src, "rgb8")
    whole = run_job(Job(src, tmp_path / "whole.png"), up, 2, memory_budget=2**30)
    banded = run_job(Job(src, tmp_path / "banded.tif"), up, 2, memory_budget=40_000)
    assert whole.status == banded.status == "done"
    with tifffile.TiffFile(tmp_path / "banded.tif") as tif:
        assert tif.is_bigtiff and tif.pages.first.is_tiled
    a, b = read_image(tmp_path / "whole.png"), read_image(tmp_path / "banded.tif")
    assert np.abs(a.pixels - b.pixels).max() * 255 <= 1.01
