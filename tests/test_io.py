"""Tests for sisr_core.io on files generated here: round trips, metadata, bad inputs, atomic writes."""

import errno
import io
import os
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageOps

import sisr_core.atomic
from sisr_core import io as sio
from sisr_core.io import ImageData, ImageReadError, ImageWriteError, read_image, write_image

RNG = np.random.default_rng(0)
LOSSLESS = {".webp": {"lossless": True}}
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def rgb8(h=6, w=5, c=3):
    return RNG.integers(0, 256, (h, w, c), dtype=np.uint8)


def u16(*shape):
    return RNG.integers(0, 65536, shape, dtype=np.uint16)


def as8(x):
    return np.rint(x * 255).astype(np.uint8)


def as16(x):
    return np.rint(x * 65535).astype(np.uint16)


def save(path, array_or_image, fmt=None, **options):
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    im.save(path, fmt, **options)
    return path


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


BLACK = ImageData(pixels=np.zeros((2, 2, 3), np.float32))


def no_part_files(folder):
    return not [p for p in Path(folder).iterdir() if p.name.endswith(".part")]


# ------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif", ".bmp"])
def test_rgb8_round_trip_is_exact(tmp_path, suffix):
    a = rgb8()
    src = save(tmp_path / f"a{suffix}", a, **LOSSLESS.get(suffix, {}))
    img = read_image(src)
    assert img.pixels.dtype == np.float32 and img.pixels.shape == (6, 5, 3)
    assert (img.bit_depth, img.alpha, img.format) == (8, None, sio.output_format_for(suffix))
    np.testing.assert_array_equal(as8(img.pixels), a)
    out = tmp_path / f"b{suffix}"
    assert write_image(out, img, quality=100) == []
    np.testing.assert_array_equal(as8(read_image(out).pixels), a)


def test_jpeg_round_trip_is_close(tmp_path):
    a = np.kron(rgb8(4, 4), np.ones((16, 16, 1), np.uint8))  # flat 16x16 blocks survive JPEG well
    img = read_image(save(tmp_path / "a.jpg", a, quality=95))
    assert img.format == "JPEG" and img.channels == 3
    write_image(tmp_path / "b.jpg", img, quality=95)
    back = read_image(tmp_path / "b.jpg").pixels
    assert np.abs(back - a / 255.0).mean() < 0.03


def test_jpeg_quality_changes_size(tmp_path):
    img = ImageData(pixels=RNG.random((64, 64, 3), dtype=np.float32))
    write_image(tmp_path / "lo.jpg", img, quality=20)
    write_image(tmp_path / "hi.jpg", img, quality=95)
    assert (tmp_path / "lo.jpg").stat().st_size < (tmp_path / "hi.jpg").stat().st_size


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_grey_stays_one_channel(tmp_path, suffix):
    a = rgb8()[..., 0]
    img = read_image(save(tmp_path / f"g{suffix}", a))
    assert img.pixels.shape == (6, 5, 1)
    write_image(tmp_path / f"h{suffix}", img)
    back = read_image(tmp_path / f"h{suffix}")
    assert back.channels == 1
    np.testing.assert_array_equal(as8(back.pixels[..., 0]), a)


def test_bilevel_image_reads_as_grey(tmp_path):
    im = Image.fromarray(rgb8()[..., 0] > 127)
    img = read_image(save(tmp_path / "b.png", im))
    assert img.channels == 1 and set(np.unique(img.pixels)) <= {0.0, 1.0}


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif"])
def test_rgba_keeps_alpha(tmp_path, suffix):
    a = rgb8(c=4)
    img = read_image(save(tmp_path / f"a{suffix}", a, **LOSSLESS.get(suffix, {})))
    assert img.channels == 3 and img.alpha.shape == (6, 5)
    np.testing.assert_array_equal(as8(img.alpha), a[..., 3])
    np.testing.assert_array_equal(as8(img.pixels), a[..., :3])
    assert write_image(tmp_path / f"b{suffix}", img, quality=100) == []
    back = read_image(tmp_path / f"b{suffix}")
    np.testing.assert_array_equal(as8(back.alpha), a[..., 3])
    np.testing.assert_array_equal(as8(back.pixels), a[..., :3])


def test_la_is_grey_plus_alpha(tmp_path):
    a = rgb8(c=2)
    img = read_image(save(tmp_path / "la.png", Image.fromarray(a, "LA")))
    assert img.channels == 1
    np.testing.assert_array_equal(as8(img.pixels[..., 0]), a[..., 0])
    np.testing.assert_array_equal(as8(img.alpha), a[..., 1])
    write_image(tmp_path / "la2.png", img)
    assert Image.open(tmp_path / "la2.png").mode == "LA"


def test_palette_with_transparency_becomes_rgba(tmp_path):
    index = RNG.integers(0, 4, (6, 5), dtype=np.uint8)
    im = Image.fromarray(index, "P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
    im.info["transparency"] = 2
    img = read_image(save(tmp_path / "p.png", im, transparency=2))
    assert img.channels == 3 and img.alpha is not None
    np.testing.assert_array_equal(img.alpha == 0, index == 2)
    np.testing.assert_array_equal(img.pixels[index == 0], [[1.0, 0.0, 0.0]] * int((index == 0).sum()))


def test_palette_without_transparency_is_rgb(tmp_path):
    im = Image.fromarray(rgb8()).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    img = read_image(save(tmp_path / "p.bmp", im))
    assert img.channels == 3 and img.alpha is None


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_png_keeps_exact_values(tmp_path, channels):
    values = u16(5, 7, channels)
    src = tmp_path / "deep.png"
    src.write_bytes(cv2.imencode(".png", values[..., 0] if channels == 1 else values)[1].tobytes())
    img = read_image(src)
    rgb_first = values[..., [2, 1, 0, 3][:channels]] if channels > 1 else values  # OpenCV wrote BGR(A)
    assert img.bit_depth == 16 and img.channels == min(channels, 3)
    np.testing.assert_array_equal(as16(img.pixels), rgb_first[..., : img.channels])
    if channels == 4:
        np.testing.assert_array_equal(as16(img.alpha), rgb_first[..., 3])
    out = tmp_path / "out.png"
    assert write_image(out, img) == []
    raw = cv2.imdecode(np.fromfile(out, np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(raw.reshape(values.shape), values)


def test_16bit_grey_alpha_png(tmp_path):
    scale = np.float32(65535)
    img = ImageData(pixels=u16(4, 3, 1) / scale, alpha=u16(4, 3) / scale, bit_depth=16)
    assert write_image(tmp_path / "ga.png", img) == []
    assert (tmp_path / "ga.png").read_bytes()[24:26] == bytes([16, 4])  # IHDR: 16-bit grey + alpha
    back = read_image(tmp_path / "ga.png")
    assert back.bit_depth == 16 and back.channels == 1
    np.testing.assert_array_equal(as16(back.pixels), as16(img.pixels))
    np.testing.assert_array_equal(as16(back.alpha), as16(img.alpha))


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4)])
def test_16bit_tiff_keeps_exact_values(tmp_path, shape):
    values = u16(*shape)
    src = tmp_path / "deep.tif"
    tifffile.imwrite(src, values, photometric="minisblack" if len(shape) == 2 else "rgb",
                     extrasamples=("unassalpha",) if shape[-1] == 4 else None)
    img = read_image(src)
    assert img.bit_depth == 16 and img.format == "TIFF"
    flat = values.reshape(5, 7, -1)
    np.testing.assert_array_equal(as16(img.pixels), flat[..., : img.channels])
    write_image(tmp_path / "out.tif", img)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), values)


def test_planar_16bit_tiff(tmp_path):
    values = u16(3, 5, 7)
    tifffile.imwrite(tmp_path / "planar.tif", values, photometric="rgb", planarconfig="separate")
    img = read_image(tmp_path / "planar.tif")
    np.testing.assert_array_equal(as16(img.pixels), np.moveaxis(values, 0, -1))


def test_float_tiff(tmp_path):
    values = RNG.random((5, 7, 3), dtype=np.float32)
    tifffile.imwrite(tmp_path / "f.tif", values, photometric="rgb")
    img = read_image(tmp_path / "f.tif")
    assert img.bit_depth == 32 and img.warnings == []
    np.testing.assert_array_equal(img.pixels, values)
    write_image(tmp_path / "g.tif", img)
    back = tifffile.imread(tmp_path / "g.tif")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, values)


def test_float_tiff_out_of_range_is_clipped_with_warning(tmp_path):
    values = np.array([[-0.5, 0.25], [1.5, np.nan]], np.float32)
    tifffile.imwrite(tmp_path / "f.tif", values)
    img = read_image(tmp_path / "f.tif")
    assert img.channels == 1 and any("clipped" in w for w in img.warnings)
    np.testing.assert_array_equal(img.pixels[..., 0], [[0.0, 0.25], [1.0, 0.0]])


def test_deep_tiff_to_8bit_format_warns(tmp_path):
    img = ImageData(pixels=np.full((2, 2, 3), 0.5, np.float32), bit_depth=16)
    assert write_image(tmp_path / "a.jpg", img) == ["16-bit reduced to 8-bit for JPEG"]
    img.bit_depth = 32
    assert write_image(tmp_path / "a.png", img) == ["32-bit reduced to 16-bit for PNG"]
    assert read_image(tmp_path / "a.png").bit_depth == 16


# ------------------------------------------------------------------------------------ metadata


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_exif_orientation_applied_and_reset(tmp_path, orientation, suffix):
    stored = np.kron(rgb8(2, 3), np.ones((8, 8, 1), np.uint8))  # 16x24, asymmetric, JPEG-friendly
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SISR test camera"  # Make: must survive the orientation reset
    options = {"lossless": True} if suffix == ".webp" else {"quality": 98} if suffix == ".jpg" else {}
    src = save(tmp_path / f"o{suffix}", stored, exif=exif, **options)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(src)).convert("RGB"))
    img = read_image(src)
    assert img.pixels.shape[:2] == ((24, 16) if orientation >= 5 else (16, 24))
    assert np.abs(as8(img.pixels).astype(int) - expected).max() <= (0 if suffix != ".jpg" else 1)
    if suffix != ".tif":  # TIFF tags are not carried over as EXIF
        kept = Image.Exif()
        kept.load(img.exif)
        assert kept[0x0112] == 1 and kept[0x010F] == "SISR test camera"
        out = tmp_path / f"out{suffix}"
        write_image(out, img)
        with Image.open(out) as written:
            assert written.getexif()[0x0112] == 1
        assert read_image(out).pixels.shape == img.pixels.shape


def test_orientation_of_16bit_png_and_tiff(tmp_path):
    values = u16(4, 6, 3)
    exif = Image.Exif()
    exif[0x0112] = 6
    png = cv2.imencode(".png", values[..., ::-1])[1].tobytes()
    png = png[:33] + png_chunk(b"eXIf", exif.tobytes()[6:]) + png[33:]  # right after IHDR
    (tmp_path / "o.png").write_bytes(png)
    tifffile.imwrite(tmp_path / "o.tif", values, photometric="rgb", extratags=[(274, "H", 1, 6, True)])
    upright = np.rot90(values, k=-1)  # orientation 6: turn 90 degrees clockwise
    for name in ("o.png", "o.tif"):
        img = read_image(tmp_path / name)
        assert img.bit_depth == 16
        np.testing.assert_array_equal(as16(img.pixels), upright)


def test_multi_page_tiff_first_page_with_warning(tmp_path):
    pages = [Image.new("RGB", (4, 3), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    img = read_image(tmp_path / "pages.tif")
    np.testing.assert_allclose(img.pixels[0, 0], [1.0, 0.0, 0.0])
    assert img.warnings == ["multi-page TIFF: only the first page is used"]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_icc_profile_round_trip(tmp_path, suffix):
    img = ImageData(pixels=RNG.random((4, 4, 3), dtype=np.float32), icc_profile=ICC)
    assert write_image(tmp_path / f"a{suffix}", img) == []
    assert read_image(tmp_path / f"a{suffix}").icc_profile == ICC


def test_icc_profile_read_from_source(tmp_path):
    src = save(tmp_path / "a.jpg", rgb8(), icc_profile=ICC)
    assert read_image(src).icc_profile == ICC


def test_16bit_tiff_keeps_icc(tmp_path):
    img = ImageData(pixels=u16(3, 4, 3) / np.float32(65535), bit_depth=16, icc_profile=ICC)
    assert write_image(tmp_path / "a.tif", img) == []
    back = read_image(tmp_path / "a.tif")
    assert back.bit_depth == 16 and back.icc_profile == ICC


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_colour_png_keeps_icc_and_exif(tmp_path, channels):
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    pixels = u16(3, 4, channels) / np.float32(65535)
    img = ImageData(pixels=pixels[..., :3], alpha=pixels[..., 3] if channels == 4 else None, bit_depth=16,
                    icc_profile=ICC, exif=b"Exif\x00\x00" + exif.tobytes())
    assert write_image(tmp_path / "a.png", img) == []
    back = read_image(tmp_path / "a.png")
    assert back.icc_profile == ICC and back.bit_depth == 16
    assert Image.open(tmp_path / "a.png").getexif()[0x010F] == "Camera maker"
    np.testing.assert_array_equal(as16(back.pixels), as16(img.pixels))


def test_16bit_grey_png_keeps_icc(tmp_path):
    img = ImageData(pixels=u16(3, 4, 1) / np.float32(65535), bit_depth=16, icc_profile=ICC)
    assert write_image(tmp_path / "a.png", img) == []
    back = read_image(tmp_path / "a.png")
    assert back.icc_profile == ICC and back.bit_depth == 16
    np.testing.assert_array_equal(as16(back.pixels), as16(img.pixels))


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    src = save(tmp_path / "c.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)))
    img = read_image(src)
    assert img.channels == 3 and img.icc_profile is None and img.format == "JPEG"
    np.testing.assert_allclose(img.pixels.mean(axis=(0, 1)), [1.0, 0.0, 0.0], atol=0.05)
    assert any("CMYK" in w for w in img.warnings)


def test_animated_gif_first_frame_with_warning(tmp_path):
    frames = [Image.new("RGB", (4, 3), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    img = read_image(tmp_path / "anim.gif")
    assert img.format == "GIF" and img.pixels.shape == (3, 4, 3)
    np.testing.assert_allclose(img.pixels[0, 0], [1.0, 0.0, 0.0])
    assert img.warnings == ["animated image: only the first frame is used"]


def test_animated_webp_first_frame_with_warning(tmp_path):
    frames = [Image.new("RGB", (4, 3), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], lossless=True)
    img = read_image(tmp_path / "anim.webp")
    np.testing.assert_allclose(img.pixels[0, 0], [1.0, 0.0, 0.0])
    assert img.warnings == ["animated image: only the first frame is used"]


def test_progressive_jpeg(tmp_path):
    a = np.kron(rgb8(4, 4), np.ones((16, 16, 1), np.uint8))
    src = save(tmp_path / "p.jpg", a, quality=95, progressive=True)
    assert Image.open(src).info.get("progressive")
    assert np.abs(read_image(src).pixels - a / 255.0).mean() < 0.03


@pytest.mark.parametrize("fmt", ["JPEG", "BMP", "GIF"])
def test_alpha_dropped_with_warning(tmp_path, fmt):
    img = ImageData(pixels=np.zeros((2, 2, 3), np.float32), alpha=np.ones((2, 2), np.float32))
    warnings = write_image(tmp_path / "a.out", img, format=fmt)
    assert f"{fmt} cannot keep transparency: alpha dropped" in warnings
    assert read_image(tmp_path / "a.out").format == fmt


def test_8bit_output_rounds_and_clips(tmp_path):
    img = ImageData(pixels=np.array([[[-0.2], [0.5]], [[1.7], [0.2]]], np.float32))
    write_image(tmp_path / "r.png", img)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "r.png")), [[0, 128], [255, 51]])


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1)])
def test_tiny_images(tmp_path, shape):
    a = rgb8(*shape)
    img = read_image(save(tmp_path / "t.png", a))
    assert img.pixels.shape == (*shape, 3) and (img.height, img.width) == shape
    write_image(tmp_path / "u.tif", img)
    np.testing.assert_array_equal(as8(read_image(tmp_path / "u.tif").pixels), a)


def test_non_ascii_path_with_space(tmp_path):
    folder = tmp_path / "dossier été 画像"
    folder.mkdir()
    values = u16(4, 5, 3)
    src = folder / "bild ü.png"
    src.write_bytes(cv2.imencode(".png", values)[1].tobytes())
    img = read_image(src)
    assert img.bit_depth == 16
    for name in ("ausgabe ö.png", "sortie à.tif", "出力 1.jpg"):
        write_image(folder / name, img)
        assert read_image(folder / name).pixels.shape == (4, 5, 3)
    assert no_part_files(folder)


def test_format_helpers():
    assert sio.output_format_for(".jpg") == sio.output_format_for("x/Photo.JPEG") == "JPEG"
    assert sio.output_format_for(Path("a.tif")) == "TIFF"
    assert [sio.output_format_for(s) for s in (".png", ".webp", ".bmp", ".gif", ".tiff")] == [
        "PNG", "WEBP", "BMP", "GIF", "TIFF"]
    with pytest.raises(ValueError):
        sio.output_format_for(".exr")
    assert sio.is_image_file("a/b c.PNG") and not sio.is_image_file("notes.txt")


# ------------------------------------------------------------------------------------ bad inputs


def assert_unreadable(path, *words, **kwargs):
    with pytest.raises(ImageReadError) as caught:
        read_image(path, **kwargs)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for word in words:
        assert word in message
    return message


def test_missing_file(tmp_path):
    assert_unreadable(tmp_path / "none.png", "no such file")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    assert_unreadable(tmp_path / "empty.png", "empty")


def test_text_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("hello, not an image\n")
    assert_unreadable(tmp_path / "notes.png", "not an image file")


def test_directory_is_unreadable(tmp_path):
    assert_unreadable(tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_file(tmp_path, suffix, keep):
    a = rgb8(64, 64)
    data = save(tmp_path / f"whole{suffix}", a).read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * keep)])
    assert "truncated" in assert_unreadable(cut).lower()


def test_png_missing_iend_is_refused(tmp_path):
    data = save(tmp_path / "whole.png", rgb8()).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:-12])
    assert_unreadable(tmp_path / "cut.png")


def test_truncated_16bit_png(tmp_path):
    data = cv2.imencode(".png", u16(64, 64, 3))[1].tobytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    assert_unreadable(tmp_path / "cut.png")


def test_decompression_bomb_refused_from_header(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
    bomb += png_chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(bomb)
    assert_unreadable(tmp_path / "bomb.png", "too large")


def test_max_pixels_limit(tmp_path):
    src = save(tmp_path / "a.png", rgb8(10, 10))
    assert_unreadable(src, "too large", "100 pixels", max_pixels=99)
    assert read_image(src, max_pixels=100).width == 10


# ------------------------------------------------------------------------------------ writing safely


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_output_gets_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    write_image(tmp_path / "a.png", BLACK)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_refuses_to_overwrite(tmp_path):
    out = tmp_path / "a.png"
    out.write_bytes(b"precious")
    img = BLACK
    with pytest.raises(ImageWriteError, match="already exists"):
        write_image(out, img)
    assert out.read_bytes() == b"precious" and no_part_files(tmp_path)
    write_image(out, img, overwrite=True)
    assert read_image(out).pixels.shape == (2, 2, 3) and no_part_files(tmp_path)


def test_exclusive_link_loses_race_cleanly(tmp_path, monkeypatch):
    """A file that appears between the first check and the final link is not clobbered."""
    out = tmp_path / "a.png"
    real_link = os.link

    def racing_link(src, dst):
        Path(dst).write_bytes(b"the other writer")
        return real_link(src, dst)

    monkeypatch.setattr(sio.os, "link", racing_link)
    with pytest.raises(ImageWriteError, match="already exists"):
        write_image(out, BLACK)
    assert out.read_bytes() == b"the other writer" and no_part_files(tmp_path)


@pytest.mark.parametrize("overwrite", [False, True])
def test_read_only_folder_simulated(tmp_path, monkeypatch, overwrite):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(sio.os, "replace", refuse)
    monkeypatch.setattr(sio.os, "link", refuse)
    with pytest.raises(ImageWriteError) as caught:
        write_image(tmp_path / "a.png", BLACK, overwrite=overwrite)
    assert str(caught.value) == f"{tmp_path / 'a.png'}: Permission denied"
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder_at_create(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(sisr_core.atomic, "open", refuse, raising=False)  # shadows the builtin of the one writer
    with pytest.raises(ImageWriteError, match="Read-only"):
        write_image(tmp_path / "a.png", BLACK)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_in_encoder(tmp_path, monkeypatch):
    def full(self, fp, *args, **kwargs):
        fp.write(b"partial data")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(ImageWriteError, match="No space left"):
        write_image(tmp_path / "a.jpg", BLACK)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_disk_full_at_fsync(tmp_path, monkeypatch, suffix):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sio.os, "fsync", full)
    img = ImageData(pixels=u16(4, 4, 3) / np.float32(65535), bit_depth=16)
    with pytest.raises(ImageWriteError, match="No space left"):
        write_image(tmp_path / f"a{suffix}", img)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ fuzz


def _seed_files():
    a = rgb8(8, 8)
    out = []
    for fmt, image, options in [
        ("PNG", a, {}),
        ("PNG", rgb8(8, 8, 4), {}),
        ("JPEG", a, {"quality": 90}),
        ("JPEG", a, {"progressive": True}),
        ("TIFF", a, {"compression": "tiff_deflate"}),
        ("TIFF", a, {}),
        ("GIF", a, {}),
        ("WEBP", a, {}),
        ("BMP", a, {}),
    ]:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, fmt, **options)
        out.append(buffer.getvalue())
    out.append(cv2.imencode(".png", u16(8, 8, 3))[1].tobytes())
    for array in (u16(8, 8, 3), RNG.random((8, 8), dtype=np.float32)):
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, array)
        out.append(buffer.getvalue())
    return out


SEEDS = _seed_files()


@st.composite
def mutated_files(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "insert", "truncate", "overwrite"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "truncate":
            del data[at:]
        else:
            chunk = draw(st.binary(min_size=1, max_size=4))
            data[at : at + len(chunk)] = chunk
    return bytes(data)


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "fuzzed.img"


@settings(max_examples=200, deadline=timedelta(seconds=2), derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated_files())
def test_fuzzed_files_read_or_raise_image_read_error(fuzz_file, data):
    fuzz_file.write_bytes(data)
    try:
        img = read_image(fuzz_file, max_pixels=1 << 20)
    except ImageReadError as error:
        assert str(error).startswith(f"{fuzz_file}: ") and "\n" not in str(error)
    else:
        assert img.pixels.dtype == np.float32 and img.pixels.ndim == 3 and img.channels in (1, 3)
        assert np.all((img.pixels >= 0) & (img.pixels <= 1))
