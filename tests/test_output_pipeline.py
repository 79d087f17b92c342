"""The output pipeline after the network: integer samples straight from the tensor, and our PNG writer
(libpng's Paeth filter, zlib run-length, in pieces) give exactly the pixels of the previous path
(float copy, numpy rounding, Pillow's encoder), whole or in bands, with alpha, 16 bits, ICC and EXIF."""
from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import random_image
from sisr_core import batch
from sisr_core import io as sio
from sisr_core.batch import Job, run_job
from sisr_core.inference import engine
from sisr_core.inference.engine import bicubic_image, image_to_tensor, to_samples
from sisr_core.io import ImageData, plan_banded_write, png_chunks, read_image, write_image, write_image_bands
from test_inference import loaded, upscaler_with
from test_streaming import ICC, exif_bytes


def previous_samples(x: np.ndarray, dtype) -> np.ndarray:
    """The previous path's float-to-integer step, written out."""
    return np.rint(np.clip(x, 0.0, 1.0) * np.iinfo(dtype).max).astype(dtype)


def decoded(path, channels: int = 3) -> np.ndarray:
    """The file's samples as OpenCV decodes them (it gives grey + alpha as BGRA), in RGB(A) order."""
    array = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    array = array.reshape(array.shape[0], array.shape[1], -1)
    return array[..., {1: [0], 2: [0, 3], 3: [2, 1, 0], 4: [2, 1, 0, 3]}[channels]]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_to_samples_rounds_like_the_previous_path(dtype):
    x = torch.rand(3, 40, 50) * 1.2 - 0.1  # values outside [0, 1] too
    x[0, 0, :4] = torch.tensor([0.5 / 255, 1.5 / 255, 2.5 / 255, float(np.nextafter(np.float32(0.5 / 255), 1))])
    expected = previous_samples(x.permute(1, 2, 0).numpy(), dtype)
    got = to_samples(x, dtype)
    assert got.dtype == dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("channels,bit_depth", [(3, 8), (4, 8), (1, 8), (2, 8), (3, 16), (4, 16), (1, 16), (2, 16)])
def test_png_writer_keeps_every_sample(tmp_path, monkeypatch, channels, bit_depth):
    monkeypatch.setattr(sio, "_PNG_PIECE_BYTES", 1000)  # many pieces: the row above each piece matters
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    samples = previous_samples(random_image(61, 37, c=channels, seed=channels), dtype)
    colours = 1 if channels <= 2 else 3
    image = ImageData(samples[..., :colours], alpha=samples[..., colours] if channels in (2, 4) else None,
                      bit_depth=bit_depth, icc_profile=ICC if colours == 3 else None, exif=exif_bytes())
    assert write_image(tmp_path / "a.png", image) == []
    data = (tmp_path / "a.png").read_bytes()
    chunks = [kind for kind, _ in png_chunks(data)]
    metadata = [b"iCCP", b"eXIf"] if colours == 3 else [b"eXIf"]
    assert chunks[: len(metadata) + 1] == [b"IHDR", *metadata] and chunks[-1] == b"IEND" and b"IDAT" in chunks
    np.testing.assert_array_equal(decoded(tmp_path / "a.png", channels), samples)
    back = read_image(tmp_path / "a.png", native=True)
    assert back.icc_profile == image.icc_profile and b"SISR test camera" in back.exif and back.bit_depth == bit_depth
    if channels != 2:  # libpng's Paeth; grey + alpha, which OpenCV cannot encode, uses Up
        rows = zlib.decompress(b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT"))
        assert set(np.frombuffer(rows, np.uint8).reshape(61, -1)[:, 0]) == {4}


def test_png_pieces_take_huffman_coding_or_runs_by_what_their_rows_hold(tmp_path, monkeypatch):
    monkeypatch.setattr(sio, "_PNG_PIECE_BYTES", 64 * 3 * 8)  # pieces of 8 rows
    monkeypatch.setattr(sio, "_PNG_WORKERS", 1)  # in order
    pixels = np.full((64, 64, 3), 200, np.uint8)
    pixels[:8] = np.random.default_rng(0).integers(0, 256, (8, 64, 3))  # noise above, flat below
    picked, pick = [], sio._png_strategy
    monkeypatch.setattr(sio, "_png_strategy", lambda filtered, rows: picked.append(pick(filtered, rows)) or picked[-1])
    write_image(tmp_path / "a.png", ImageData(pixels))
    assert picked == [zlib.Z_HUFFMAN_ONLY] + [zlib.Z_RLE] * 7
    data = (tmp_path / "a.png").read_bytes()
    zlib.decompress(b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT"))  # one valid stream
    np.testing.assert_array_equal(decoded(tmp_path / "a.png"), pixels)
    monkeypatch.setattr(sio, "_png_strategy", lambda filtered, rows: zlib.Z_HUFFMAN_ONLY)
    write_image(tmp_path / "huffman.png", ImageData(pixels))
    assert len(data) < 0.8 * (tmp_path / "huffman.png").stat().st_size  # the flat half needs the runs


def test_png_in_bands_has_the_pixels_and_size_of_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(sio, "_PNG_PIECE_BYTES", 2000)
    samples = previous_samples(random_image(50, 45), np.uint8)
    like = ImageData(samples, icc_profile=ICC)
    write_image(tmp_path / "whole.png", like)
    plan = plan_banded_write(tmp_path / "banded.png", like, 50, 45, memory_budget=2**20)
    bands = (samples[y0:y1] for y0, y1 in ((0, 7), (7, 8), (8, 31), (31, 50)))
    assert write_image_bands(plan, bands, like) == []
    whole, banded = (tmp_path / "whole.png").read_bytes(), (tmp_path / "banded.png").read_bytes()
    assert decoded(tmp_path / "banded.png").tolist() == samples.tolist()
    assert len(banded) == pytest.approx(len(whole), rel=0.02)


@pytest.mark.parametrize("kind", ["rgb", "rgba", "grey16"])
def test_upscaled_file_has_the_previous_paths_pixels(tmp_path, kind):
    """sisr upscale's output holds exactly what the previous path wrote: the network's float result rounded
    by numpy and encoded by Pillow (or OpenCV for 16 bits)."""
    up = upscaler_with(loaded("fsrcnn", 2))
    bit_depth = 16 if kind == "grey16" else 8
    channels = {"rgb": 3, "rgba": 4, "grey16": 1}[kind]
    pixels = random_image(45, 38, c=channels, seed=3)
    image = ImageData(pixels[..., :3] if kind == "rgba" else pixels, alpha=pixels[..., 3] if kind == "rgba" else None,
                      bit_depth=bit_depth)
    src = tmp_path / "in.png"
    write_image(src, image)
    result = run_job(Job(src, tmp_path / "out.png"), up, 2)
    assert result.status == "done", result.message
    source = read_image(src)
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    expected = previous_samples(up.upscale(image_to_tensor(source), 2)[0].permute(1, 2, 0).numpy(), dtype)
    if bit_depth == 8:  # Pillow, the previous encoder, as a second decoder
        buffer = io.BytesIO()
        Image.fromarray(expected[..., 0] if channels == 1 else expected).save(buffer, "PNG")
        expected = np.asarray(Image.open(buffer)).reshape(expected.shape)
    np.testing.assert_array_equal(decoded(tmp_path / "out.png", channels), expected)


@pytest.mark.parametrize("name,side,streamed", [("wdsr-a", 1500, True), ("wdsr-a", 3000, False), ("espcn", 3000, True)])
def test_only_speed_tiles_stream_an_image_too_large_to_hold(tmp_path, name, side, streamed):
    """Tiles sized by the whole memory budget stream an image that would otherwise be held in memory (1500 px:
    its float result fits), but an image too large for that goes to the banded path, whose tiles leave the
    bands their share of the budget (a 6000x6000 photo x2 with wdsr-a in fp32 peaked at 1,458 MB streamed,
    804 MB banded); the small speed tiles stream either way."""
    up = upscaler_with(loaded(name, 2))
    stage = batch._Stage(Job(tmp_path / "in.png", tmp_path / "out.png"), 0.0,
                         image=ImageData(np.zeros((side, side, 3), np.uint8)))
    assert batch.needs_bands(stage.image, 2, engine.DEFAULT_MEMORY_BUDGET) == (side == 3000)
    tiles = batch.streamed_tiles(stage, up, 2, engine.DEFAULT_MEMORY_BUDGET, {})
    assert (tiles is not None) == streamed
    if tiles is not None:
        assert tiles.speed == (name == "espcn")


@pytest.mark.parametrize("suffix,streamed", [(".png", True), (".tif", True), (".jpg", False)])
def test_tiled_image_is_written_as_its_tiles_finish_with_the_same_pixels(tmp_path, monkeypatch, suffix, streamed):
    """An image the network runs in tiles anyway is encoded band by band while later tiles compute (PNG, TIFF),
    and the file holds exactly the in-memory result, its bicubic intermediate too."""
    monkeypatch.setattr(engine, "speed_tile", lambda *a: 48)  # the CPU's speed tiles, small: 4 rows x 3
    up = upscaler_with(loaded("fsrcnn", 2))
    src = tmp_path / "in.png"
    write_image(src, ImageData(random_image(150, 130, seed=5)))
    tiles = up.streamed_tiles(2, 150, 130)
    assert tiles is not None and tiles.tile == 48
    band_rows = []
    write_bands = batch.write_image_bands

    def counting(plan, bands, like, **kw):
        if plan.path == job.output:
            bands = (band_rows.append(len(b)) or b for b in bands)
        return write_bands(plan, bands, like, **kw)

    monkeypatch.setattr(batch, "write_image_bands", counting)
    job = Job(src, tmp_path / f"out{suffix}", tmp_path / f"out_bicubic{suffix}")
    result = run_job(job, up, 2)
    assert result.status == "done", result.message
    assert band_rows == ([76, 76, 76, 72] if streamed else [])  # a band per row of tiles (150 = 3 x 38 + 36)
    source = read_image(src)
    if streamed:
        expected = previous_samples(up.upscale(image_to_tensor(source), 2)[0].permute(1, 2, 0).numpy(), np.uint8)
        np.testing.assert_array_equal(decoded(job.output), expected)
        np.testing.assert_array_equal(decoded(job.intermediate), previous_samples(bicubic_image(source, 2).pixels, np.uint8))
