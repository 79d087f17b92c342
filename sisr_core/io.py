"""Read and write images at the library's edge: files in, float32 RGB/grey in [0, 1] out, and back.

Pillow reads every supported format and all metadata (EXIF, ICC, frames); it loses bit depth for
16-bit colour PNG and 16-bit/float TIFF, so those pixels come from OpenCV (PNG, decoded from bytes so
any path works) and tifffile. Writes are atomic: a hidden ``.part`` file beside the target, fsynced,
then moved into place.

Huge images: ``read_image(..., native=True)`` keeps the stored 8/16-bit integers (a quarter or half of
float32's memory), and ``write_image_bands`` writes an output that arrives as bands of rows without
ever holding it whole: PNG through our own writer (below), TIFF through tifffile (tiled, BigTIFF when
large).

PNG, whole or in bands, is written by ``_write_png``: libpng (through OpenCV, which releases the GIL)
filters pieces of rows with Paeth and zlib-ng compresses them with the run-length strategy, or Huffman
coding alone where that codes a sample of the piece's rows as small (noisy photos leave Paeth few runs:
the same size, 1.4x faster), a piece per core at once; any bit depth and channel layout, with ICC and
EXIF. Measured on a 4000x4000 upscaled photo (2-core machine, another process busy): Pillow level 4
(adaptive filters, Z_FILTERED) 3.1-3.6 s for 21.9 MB; Paeth + Z_RLE 0.75 s of zlib for 21.6 MB (the same
at levels 1-4), 0.47 s of zlib-ng for the same bytes; Paeth + default strategy level 4 1.8 s for 24.2 MB;
no filter or Up + RLE 25.6 MB and more; ISA-L (python-isal) levels 0-3 0.25 s for 24.1 MB. OpenCV's own
PNG writer cannot add the ICC and EXIF chunks nor stream bands, hence libpng only for the filter. JPEG,
WebP, BMP and GIF cannot be written that way; their bands are assembled in one Pillow image when it fits
the memory budget, and refused with a clear line otherwise.
"""

from __future__ import annotations

import io
import os
import struct
import warnings as _warnings
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np
from PIL import Image, ImageCms
from zlib_ng import zlib_ng

from sisr_core.atomic import atomic_file

DEFAULT_MAX_PIXELS = 200_000_000
SUPPORTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")

_FORMAT_OF_SUFFIX = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP",
    ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".gif": "GIF",
}
# The only decoders Pillow may use (its JPEG decoder also opens multi-picture "MPO" camera files).
_PILLOW_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
_MAX_BIT_DEPTH = {"PNG": 16, "TIFF": 32}  # every other format holds 8 bits
_KEEPS_ALPHA = {"PNG", "WEBP", "TIFF"}
_KEEPS_METADATA = {"PNG", "JPEG", "WEBP", "TIFF"}
STREAMED_FORMATS = ("PNG", "TIFF")  # written band by band, never whole
_MAX_SIDE = {"JPEG": 65535, "WEBP": 16383, "GIF": 65535}
_TIFF_TILE = 256
# zlib level of PNG's run-length compression (its level barely matters: see the module's docstring)
PNG_LEVEL = 1
_STRATEGY_SAMPLE_ROWS = 16  # rows spread over a piece, compressed both ways to pick its strategy
_PNG_PIECE_BYTES = 4 * 2**20  # rows filtered per task: small enough to overlap, big enough to amortise a call
_PNG_WORKERS = 2  # pieces filtered and compressed at once (measured: `sisr bench --whole-command`)
_ZLIB_HEADER = zlib.compress(b"", PNG_LEVEL)[:2]
_FINAL_BLOCK = zlib.compressobj(PNG_LEVEL, zlib.DEFLATED, -15).flush()  # an empty deflate block, the last
_BIGTIFF_BYTES = 2**31  # uncompressed size from which a streamed TIFF is a BigTIFF (64-bit offsets)
_ORIENTATION = 0x0112
_TIFF_SIGNATURES = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic and BigTIFF
_EXIF_HEADER = b"Exif\x00\x00"


class ImageReadError(ValueError):
    """An input that cannot be read; str() is one line: '<path>: <reason>'."""


class ImageWriteError(OSError):
    """An output that could not be written; str() is one line '<path>: <reason>'; nothing partial is left."""


@dataclass
class ImageData:
    """Decoded pixels plus what is needed to write them back faithfully."""

    pixels: np.ndarray  # float32 (H, W, C), C = 1 (grey) or 3 (RGB), in [0, 1], upright (see read_image's native)
    alpha: np.ndarray | None = None  # float32 (H, W) in [0, 1], or the stored type like pixels
    bit_depth: int = 8  # 8 or 16 for integer formats, 32 for float TIFF
    icc_profile: bytes | None = None
    exif: bytes | None = None  # 'Exif\0\0' + TIFF-structured EXIF, Orientation reset to 1
    format: str = "PNG"  # Pillow-style name of the source format
    warnings: list[str] = field(default_factory=list)
    lossy: bool = False  # the file was lossily compressed (JPEG, lossy WebP, JPEG-in-TIFF): artefacts to expect

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]


def output_format_for(path_or_suffix: str | os.PathLike) -> str:
    """Pillow-style format name for a path or suffix ('.jpg' -> 'JPEG'); ValueError if unsupported."""
    text = os.fspath(path_or_suffix)
    suffix = (Path(text).suffix or text).lower()  # Path(".jpg").suffix is "": a bare suffix
    try:
        return _FORMAT_OF_SUFFIX[suffix]
    except KeyError:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        raise ValueError(f"unsupported image suffix {suffix!r}; use one of {supported}") from None


def is_image_file(path: str | os.PathLike) -> bool:
    """True when the path has a supported image suffix (the content is not looked at)."""
    return Path(path).suffix.lower() in SUPPORTED_SUFFIXES


# ---------------------------------------------------------------------------------------- reading


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, native: bool = False) -> ImageData:
    """Decode an image file; raises ImageReadError (and nothing else) for anything unreadable.

    Sizes are checked from the header before decoding. Pillow's own guard (PIL.Image.MAX_IMAGE_PIXELS,
    refusing above twice that, about 179 MP by default) still applies on top of ``max_pixels``; its
    warning above half that is silenced, as ``max_pixels`` is the limit that speaks to the user.
    With ``native`` the pixels (and alpha) keep their stored type, uint8 or uint16 (float32 for float
    TIFF); ``to_float`` turns them into what ``native=False`` gives, bit for bit.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except OSError as error:
        raise ImageReadError(f"{path}: {_one_line(error.strerror or error)}") from None
    if not data:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = _decode(data, max_pixels)
        if not native:
            image.pixels, image.alpha = to_float(image.pixels), to_float(image.alpha)
        return image
    except Image.UnidentifiedImageError:
        reason = f"not an image file in a supported format ({', '.join(_PILLOW_FORMATS)})"
    except Image.DecompressionBombError as error:
        reason = f"image too large: {error}"
    except _Refused as error:
        reason = str(error)
    except Exception as error:  # decoders raise anything from OSError to struct.error on bad data
        reason = f"corrupt or truncated image data ({type(error).__name__}: {error})"
    raise ImageReadError(f"{path}: {_one_line(reason)}")


def to_float(array: np.ndarray | None) -> np.ndarray | None:
    """Stored samples (uint8, uint16 or float) as float32 in [0, 1], exactly as ``read_image`` gives them."""
    if array is None or array.dtype == np.float32:
        return array
    if array.dtype.kind == "u":
        return array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    return array.astype(np.float32)


class _Refused(Exception):
    """A reason to refuse an input, already worded for the user."""


def _decode(data: bytes, max_pixels: int) -> ImageData:
    if data[:4] in _TIFF_SIGNATURES:
        import tifffile  # imported when needed: it costs 0.1-0.3 s of a command's start-up

        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            page = tif.pages.first
            if page.dtype is not None and (page.dtype.itemsize > 1 or page.dtype.kind == "f"):
                return _decode_deep_tiff(tif, page, max_pixels)  # Pillow would lose the bits or refuse

    im = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)  # reads the header only
    _check_size(im.width, im.height, max_pixels)
    warnings: list[str] = []
    if getattr(im, "is_animated", False):
        if im.format == "TIFF":
            warnings.append("multi-page TIFF: only the first page is used")
        else:
            warnings.append("animated image: only the first frame is used")
    icc = im.info.get("icc_profile") or None
    if im.format == "PNG":
        _verify_png(data)
    if im.format == "PNG" and data[24] == 16:  # IHDR bit depth
        pixels, alpha, bit_depth = _decode_png16(data, grey=data[25] in (0, 4))
    else:
        im.load()
        if im.mode == "CMYK":
            pixels, icc, alpha = _cmyk_to_rgb(im, icc, warnings), None, None
        else:
            pixels, alpha = _pillow_pixels(im)
        bit_depth = 8
    orientation, exif = _exif_of(im, warnings)
    image_format = im.format
    lossy = is_lossy(im, data)
    im.close()  # Pillow's copy of the pixels (4 bytes a pixel for RGB) is not needed any more
    return ImageData(
        pixels=_orient(pixels, orientation),
        alpha=_orient(alpha, orientation),
        bit_depth=bit_depth,
        icc_profile=icc,
        exif=exif,
        format="JPEG" if image_format == "MPO" else image_format,
        warnings=warnings,
        lossy=lossy,
    )


def is_lossy(im: Image.Image, data: bytes) -> bool:
    """Whether an opened image was stored with lossy compression: JPEG, lossy WebP or JPEG-compressed TIFF."""
    if im.format in ("JPEG", "MPO"):
        return True
    if im.format == "WEBP":
        return b"VP8 " in _riff_chunks(data)  # VP8L is the lossless codec; VP8X only wraps the others
    if im.format == "TIFF":
        return im.info.get("compression") in ("jpeg", "tiff_jpeg")
    return False


def _riff_chunks(data: bytes) -> set[bytes]:
    """The chunk names of a RIFF file (WebP), read from their headers."""
    names, pos = set(), 12
    while pos + 8 <= len(data):
        names.add(data[pos : pos + 4])
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        pos += 8 + size + (size & 1)
    return names


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise _Refused(f"image too large: {width}x{height} = {width * height} pixels (limit {max_pixels})")


def _verify_png(data: bytes) -> None:
    """Refuse PNGs with a bad chunk CRC or cut before IEND (Pillow's decoder alone may accept them)."""
    Image.open(io.BytesIO(data), formats=("PNG",)).verify()


def _pillow_pixels(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    grey = im.mode in ("1", "L", "LA", "La")
    has_alpha = im.has_transparency_data
    target = ("LA" if has_alpha else "L") if grey else ("RGBA" if has_alpha else "RGB")
    array = np.asarray(im if im.mode == target else im.convert(target), dtype=np.uint8)
    array = array.reshape(im.height, im.width, len(target))
    return (array[..., :-1], array[..., -1]) if has_alpha else (array, None)


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None, warnings: list[str]) -> np.ndarray:
    """sRGB pixels through the embedded CMYK profile when it is usable, else by Pillow's plain formula."""
    rgb = None
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass
    if rgb is None:
        warnings.append("CMYK converted to RGB without colour management")
        rgb = im.convert("RGB")
    return np.asarray(rgb, dtype=np.uint8)


def _decode_png16(data: bytes, grey: bool) -> tuple[np.ndarray, np.ndarray | None, int]:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise _Refused("corrupt 16-bit PNG data")
    array = array.reshape(array.shape[0], array.shape[1], -1)
    alpha = array[..., 3] if array.shape[2] == 4 else None
    colour = array[..., :1] if grey else array[..., 2::-1]  # OpenCV gives BGR(A), grey+alpha as BGRA
    return colour, alpha, 16


def _decode_deep_tiff(tif, page, max_pixels: int) -> ImageData:
    """16-bit or float TIFF through tifffile, which also supplies the ICC profile and orientation."""
    import tifffile

    _check_size(page.imagewidth, page.imagelength, max_pixels)
    warnings = ["multi-page TIFF: only the first page is used"] if len(tif.pages) > 1 else []
    array = page.asarray()
    if array.ndim == 3 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
        array = np.moveaxis(array, 0, -1)
    array = array.reshape(page.imagelength, page.imagewidth, -1)
    if array.dtype == np.uint16:
        values, bit_depth = array, 16
    elif array.dtype.kind == "f":
        values, bit_depth = array.astype(np.float32), 32
        if not np.all((values >= 0) & (values <= 1)):  # also catches NaN
            warnings.append("float TIFF values outside [0, 1] were clipped")
            values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
    else:
        raise _Refused(f"unsupported TIFF sample type {array.dtype}")
    if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        values = (65535 - values) if bit_depth == 16 else 1.0 - values
    elif page.photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB):
        raise _Refused(f"unsupported {bit_depth}-bit TIFF colour model {page.photometric.name}")
    colour_channels = 1 if values.shape[2] < 3 else 3
    alpha = values[..., colour_channels] if values.shape[2] > colour_channels else None
    orientation = page.tags.valueof(274, 1)
    return ImageData(
        pixels=_orient(values[..., :colour_channels], orientation),
        alpha=_orient(alpha, orientation),
        bit_depth=bit_depth,
        icc_profile=page.tags.valueof(34675) or None,
        format="TIFF",
        warnings=warnings,
    )


def _exif_of(im: Image.Image, warnings: list[str]) -> tuple[int, bytes | None]:
    """The EXIF orientation and the EXIF bytes to keep (Orientation reset to 1; TIFF tags are not kept)."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1, None  # PNG getexif() would decode the whole image to look for a late eXIf chunk
    try:
        exif = im.getexif()
        orientation = int(exif.get(_ORIENTATION, 1))
    except Exception:  # malformed EXIF should not cost the pixels
        warnings.append("unreadable EXIF ignored")
        return 1, None
    if orientation not in range(1, 9):
        orientation = 1
    raw = im.info.get("exif")
    if not raw:
        return orientation, None
    if orientation != 1:
        exif[_ORIENTATION] = 1
        raw = exif.tobytes()
    return orientation, raw if raw.startswith(_EXIF_HEADER) else _EXIF_HEADER + raw


def _orient(array: np.ndarray | None, orientation: int) -> np.ndarray | None:
    """Turn stored pixels upright for an EXIF orientation, as PIL.ImageOps.exif_transpose does."""
    if array is None:
        return None
    if orientation in (5, 6, 7, 8):
        array = np.swapaxes(array, 0, 1)  # transpose; the flips below finish each rotation
    if orientation in (2, 3, 6, 7):
        array = array[:, ::-1]
    if orientation in (3, 4, 7, 8):
        array = array[::-1]
    return np.ascontiguousarray(array)


# ---------------------------------------------------------------------------------------- writing


def write_image(
    path: str | os.PathLike,
    image: ImageData,
    *,
    format: str | None = None,
    quality: int = 95,
    overwrite: bool = False,
) -> list[str]:
    """Write atomically, keeping alpha, bit depth, ICC and EXIF where the format can; returns warnings.

    The format comes from ``format`` or the suffix. ``quality`` is for JPEG and WEBP (100 = lossless WEBP).
    """
    path = Path(path)
    fmt = format.upper() if format else output_format_for(path)
    fmt = {"JPG": "JPEG", "TIF": "TIFF"}.get(fmt, fmt)
    if fmt not in _FORMAT_OF_SUFFIX.values():
        raise ValueError(f"unsupported output format {format!r}")
    if not overwrite and path.exists():
        raise ImageWriteError(f"{path}: already exists (not overwritten)")
    warnings: list[str] = []
    channels, grey, has_alpha, bit_depth = _what_format_holds(image, fmt, warnings)
    try:
        with atomic_file(path, overwrite) as f:
            _encode(f, fmt, channels, grey, has_alpha, bit_depth, image, quality, warnings)
    except FileExistsError:
        raise ImageWriteError(f"{path}: already exists (not overwritten)") from None
    except Exception as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ImageWriteError(f"{path}: {_one_line(reason)}") from None
    return warnings


def sample_dtype(like: ImageData, fmt: str) -> np.dtype:
    """The samples ``fmt`` stores ``like``'s pixels in: uint8, uint16, or float32 (float TIFF)."""
    bit_depth = min(like.bit_depth, _MAX_BIT_DEPTH.get(fmt, 8))
    return np.dtype(np.float32 if bit_depth == 32 else np.uint16 if bit_depth == 16 else np.uint8)


def _what_format_holds(image: ImageData, fmt: str, warnings: list[str]) -> tuple[np.ndarray, bool, bool, int]:
    """Colour (+ alpha) channels, greyness, alpha presence and bit depth to write; a warning for each loss."""
    grey, has_alpha, bit_depth = _format_keeps(image, fmt, warnings)
    channels = np.concatenate([image.pixels, image.alpha[..., None]], axis=2) if has_alpha else image.pixels
    return channels, grey, has_alpha, bit_depth


def _format_keeps(image: ImageData, fmt: str, warnings: list[str]) -> tuple[bool, bool, int]:
    """Greyness, alpha presence and bit depth that ``fmt`` keeps of ``image``; a warning for each loss."""
    if image.pixels.ndim != 3 or image.pixels.shape[2] not in (1, 3):
        raise ValueError(f"pixels must be (H, W, 1) or (H, W, 3), not {image.pixels.shape}")
    bit_depth = min(image.bit_depth, _MAX_BIT_DEPTH.get(fmt, 8))
    if bit_depth < image.bit_depth:
        warnings.append(f"{image.bit_depth}-bit reduced to {bit_depth}-bit for {fmt}")
    has_alpha = image.alpha is not None
    if has_alpha and fmt not in _KEEPS_ALPHA:
        warnings.append(f"{fmt} cannot keep transparency: alpha dropped")
        has_alpha = False
    lost = [name for name, value in (("ICC profile", image.icc_profile), ("EXIF", image.exif)) if value]
    if lost and fmt not in _KEEPS_METADATA:
        warnings.append(f"{fmt} cannot keep {' and '.join(lost)}: dropped")
    return image.pixels.shape[2] == 1, has_alpha, bit_depth


def _encode(f, fmt, channels, grey, has_alpha, bit_depth, image: ImageData, quality, warnings) -> None:
    """PNG by ``_write_png``, 16-bit/float TIFF by tifffile, the rest by Pillow."""
    if fmt == "TIFF" and bit_depth > 8:
        _encode_deep_tiff(f, channels, grey, has_alpha, bit_depth, image, warnings)
        return
    dtype = np.uint16 if bit_depth == 16 else np.uint8  # 16-bit grey TIFF: Pillow's I;16 keeps metadata
    array = _to_uint(channels, dtype)
    if fmt == "PNG":
        _write_png(f, [array], array.shape[0], array.shape[1], bit_depth, image.icc_profile, image.exif)
        return
    im = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    _save_pillow(f, im, fmt, grey, image, quality, warnings)


def _save_pillow(f, im: Image.Image, fmt: str, grey: bool, image: ImageData, quality: int, warnings: list[str]) -> None:
    """Encode a Pillow image in ``fmt`` with the options and metadata ``write_image`` uses."""
    if fmt == "GIF" and not grey:
        warnings.append("GIF holds 256 colours: colours quantised")
    options = {
        "JPEG": {"quality": quality},
        "WEBP": {"quality": quality, "lossless": quality == 100},
        "TIFF": {"compression": "tiff_deflate"},
    }.get(fmt, {})
    if fmt in _KEEPS_METADATA:
        metadata = {"icc_profile": image.icc_profile, "exif": image.exif}
        options.update({key: value for key, value in metadata.items() if value})
    im.save(f, fmt, **options)


def _encode_deep_tiff(f, channels, grey, has_alpha, bit_depth, image: ImageData, warnings) -> None:
    """16-bit or float32 TIFF through tifffile (ICC kept; EXIF is not written)."""
    import tifffile

    if image.exif:
        warnings.append(f"{bit_depth}-bit TIFF: EXIF not kept")
    if bit_depth == 16:
        array = _to_uint(channels, np.uint16)
    else:
        array = np.ascontiguousarray(channels, dtype=np.float32)
    tifffile.imwrite(
        f,
        array[..., 0] if array.shape[2] == 1 else array,
        photometric="minisblack" if grey else "rgb",
        planarconfig="contig",
        extrasamples=("unassalpha",) if has_alpha else None,
        compression="zlib",
        iccprofile=image.icc_profile,
    )


def _to_uint(array: np.ndarray, dtype: type[np.unsignedinteger]) -> np.ndarray:
    """Samples of ``dtype``: floats clipped to [0, 1], scaled and rounded half to even (in place, one copy);
    samples already of ``dtype`` as they are; other integers through ``to_float``, as when read as floats."""
    if array.dtype == dtype:
        return array
    if array.dtype.kind == "u":
        array = to_float(array)
    out = np.clip(array, 0.0, 1.0)
    out *= np.iinfo(dtype).max
    return np.rint(out, out=out).astype(dtype)


# ------------------------------------------------------------------------------- writing in bands


@dataclass
class BandedOutput:
    """How an output that arrives in bands of rows is written: format, sample type, memory held."""

    path: Path
    format: str
    height: int
    width: int
    dtype: np.dtype  # of the bands' samples: uint8, uint16 or float32
    streamed: bool  # written band by band (PNG, TIFF); otherwise assembled in one Pillow image
    held_bytes: int  # memory the writer holds for the whole picture (0 when streamed)


def plan_banded_write(
    path: str | os.PathLike, like: ImageData, height: int, width: int, *,
    format: str | None = None, memory_budget: int,
) -> BandedOutput:
    """Decide how to write a ``height`` x ``width`` output with ``like``'s channels, depth and metadata.

    PNG and TIFF are streamed. Other formats are assembled in memory when that fits ``memory_budget``;
    otherwise (or beyond the format's largest side) ImageWriteError says to use .tif or .png.
    """
    path = Path(path)
    fmt = format.upper() if format else output_format_for(path)
    fmt = {"JPG": "JPEG", "TIF": "TIFF"}.get(fmt, fmt)
    dtype = sample_dtype(like, fmt)
    if fmt in STREAMED_FORMATS:
        return BandedOutput(path, fmt, height, width, dtype, True, 0)
    side = _MAX_SIDE.get(fmt)
    if side and max(height, width) > side:
        raise ImageWriteError(f"{path}: {width}x{height} is too large for {fmt} (at most {side} px a side); "
                              "write .tif or .png instead")
    held = height * width * (1 if like.channels == 1 and like.alpha is None else 4)  # Pillow's bytes a pixel
    if held > memory_budget:
        raise ImageWriteError(
            f"{path}: a {width}x{height} {fmt} must be held whole, {held / 2**20:.1f} MB, over the memory budget "
            f"of {memory_budget / 2**20:.1f} MB; write .tif or .png, which are streamed to disk in bands"
        )
    return BandedOutput(path, fmt, height, width, dtype, False, held)


def write_image_bands(
    plan: BandedOutput, bands: Iterable[np.ndarray], like: ImageData, *, quality: int = 95, overwrite: bool = False,
) -> list[str]:
    """Write bands of rows (each (rows, width, C) of ``plan.dtype``, colour then alpha, top to bottom)
    atomically, keeping what ``write_image`` keeps where the format allows; returns warnings.

    An error raised by ``bands`` itself (a cancel, a failed tile) is re-raised as it is; errors of
    writing become ImageWriteError. Either way no partial file is left.
    """
    path, fmt = plan.path, plan.format
    if not overwrite and path.exists():
        raise ImageWriteError(f"{path}: already exists (not overwritten)")
    warnings: list[str] = []
    grey, has_alpha, bit_depth = _format_keeps(like, fmt, warnings)
    keep = like.channels + (1 if has_alpha else 0)
    source = _BandSource(bands, keep, plan)
    encode = {"PNG": _stream_png, "TIFF": _stream_tiff}.get(fmt, _assemble_pillow)
    try:
        with atomic_file(path, overwrite) as f:
            encode(f, source, plan, grey, has_alpha, like, quality, warnings)
    except FileExistsError:
        raise ImageWriteError(f"{path}: already exists (not overwritten)") from None
    except Exception as error:
        if source.error is not None:
            raise source.error from None
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ImageWriteError(f"{path}: {_one_line(reason)}") from None
    return warnings


class _BandSource:
    """The bands cut to the channels written, counted, with any error of their own kept apart."""

    def __init__(self, bands: Iterable[np.ndarray], channels: int, plan: BandedOutput):
        self.bands, self.channels, self.plan, self.error = bands, channels, plan, None

    def __iter__(self) -> Iterator[np.ndarray]:
        rows = 0
        bands = iter(self.bands)
        try:
            for band in bands:
                if band.shape[1] != self.plan.width or band.dtype != self.plan.dtype:
                    raise ValueError(f"band of {band.shape} {band.dtype} does not fit the output")
                rows += band.shape[0]
                yield band[..., : self.channels]
        except GeneratorExit:
            raise
        except BaseException as error:
            self.error = error
            raise
        finally:
            if hasattr(bands, "close"):
                bands.close()  # stops a producer at once when the writer gave up
        if rows != self.plan.height:
            raise ValueError(f"got {rows} rows for an image of {self.plan.height}")


def _stream_png(f, bands: _BandSource, plan: BandedOutput, grey, has_alpha, like: ImageData, quality, warnings) -> None:
    """PNG from bands as they arrive (see ``_write_png``)."""
    _write_png(f, bands, plan.height, plan.width, plan.dtype.itemsize * 8, like.icc_profile, like.exif)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # grey, grey + alpha, RGB, RGBA


def _write_png(f, bands: Iterable[np.ndarray], height: int, width: int, bit_depth: int, icc: bytes | None,
               exif: bytes | None) -> None:
    """A PNG from bands of rows ((rows, width, C) uint8 or uint16, grey/grey+alpha/RGB/RGBA), top to bottom.

    Pieces of rows are Paeth-filtered and compressed on every core at once (OpenCV and zlib release the GIL),
    each its own run of raw deflate blocks ended by a sync flush, as pigz does; they join into the one zlib
    stream (level ``PNG_LEVEL``, run-length or Huffman-only strategy by piece (``_png_strategy``), neither
    reaching into the piece before, so the file is no larger) whose checksum this thread keeps. An IDAT per
    piece, written in order.
    """
    channels, pending, previous, checksum = None, deque(), None, 1
    workers = min(os.cpu_count() or 1, _PNG_WORKERS)

    def write_next(last: bool = False) -> None:
        nonlocal checksum
        filtered, compressed = pending.popleft().result()
        checksum = zlib_ng.adler32(filtered, checksum)  # zlib-ng's vectorised checksum, the same value
        if last:  # an empty final deflate block ends the stream, then its checksum
            compressed += _FINAL_BLOCK + struct.pack(">I", checksum)
        _png_chunk(f, b"IDAT", compressed)

    with ThreadPoolExecutor(workers, thread_name_prefix="sisr-png") as pool:
        for band in bands:
            if channels is None:
                channels = band.shape[2]
                f.write(_PNG_SIGNATURE)
                _png_chunk(f, b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth,
                                                   _PNG_COLOUR_TYPE[channels], 0, 0, 0))
                if icc:
                    _png_chunk(f, b"iCCP", b"ICC profile\0\0" + zlib.compress(icc))
                if exif:
                    _png_chunk(f, b"eXIf", exif.removeprefix(_EXIF_HEADER))
            step = max(1, _PNG_PIECE_BYTES // (band.shape[1] * band.shape[2] * band.itemsize))
            for y in range(0, band.shape[0], step):
                piece = band[y : y + step]
                first = previous is None
                pending.append(pool.submit(_png_piece, piece, previous, first))
                previous = piece[-1:].copy()
                while len(pending) > workers:  # at most one piece a core in memory
                    write_next()
        if not pending:
            raise ValueError("no rows to write")
        while pending:
            write_next(last=len(pending) == 1)
    _png_chunk(f, b"IEND", b"")


def _png_piece(rows: np.ndarray, above: np.ndarray | None, first: bool) -> tuple[bytes, bytes]:
    """(filtered scanlines, their raw deflate blocks ended by a sync flush, after the zlib header if first)."""
    filtered = _png_filtered(rows, above)
    compressor = _raw_deflate(_png_strategy(filtered, len(rows)))
    compressed = compressor.compress(filtered) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return filtered, (_ZLIB_HEADER if first else b"") + compressed


def _png_strategy(filtered: bytes, rows: int) -> int:
    """Huffman coding alone when it codes a sample of the filtered scanlines no larger than run-length does,
    else run-length. Measured on upscaled images (4 MB pieces): a noisy 4000x4000 photo 21.64 MB Huffman-only
    in 218 ms against 21.68 MB run-length in 302 ms; flat areas (slides, screenshots, graphics) need the
    runs (a slide 1.35 against 1.07 MB, a flat graphic 0.73 against 0.02 MB), and the sample finds them."""
    line = len(filtered) // rows
    picks = np.linspace(0, rows - 1, min(rows, _STRATEGY_SAMPLE_ROWS)).astype(int)
    sample = b"".join(filtered[i * line : (i + 1) * line] for i in picks)

    def size(strategy: int) -> int:
        compressor = _raw_deflate(strategy)
        return len(compressor.compress(sample) + compressor.flush())

    return zlib.Z_HUFFMAN_ONLY if size(zlib.Z_HUFFMAN_ONLY) <= size(zlib.Z_RLE) else zlib.Z_RLE


def _raw_deflate(strategy: int):
    """A zlib-ng compressor of raw deflate blocks (no zlib header) at ``PNG_LEVEL`` with ``strategy``."""
    return zlib_ng.compressobj(PNG_LEVEL, zlib.DEFLATED, -15, 9, strategy)


def _png_filtered(rows: np.ndarray, above: np.ndarray | None) -> bytes:
    """PNG scanlines of ``rows`` (a filter-type byte, then the filtered bytes); ``above`` is the row before.

    libpng filters (OpenCV's encoder at compression 0 stores them verbatim); it has no grey + alpha, which
    is filtered here with Up.
    """
    if above is not None:
        rows = np.concatenate([above, rows])
    if rows.shape[2] == 2:
        flat = rows.astype(">u2" if rows.itemsize == 2 else np.uint8).view(np.uint8).reshape(len(rows), -1)
        lines = np.empty((len(rows), flat.shape[1] + 1), np.uint8)
        lines[:, 0] = 2  # Up
        lines[0, 1:] = flat[0]
        np.subtract(flat[1:], flat[:-1], out=lines[1:, 1:])
        data = lines.tobytes()
    else:
        swap = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}.get(rows.shape[2])  # OpenCV writes BGR(A)
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(rows, swap) if swap else np.ascontiguousarray(rows),
                                   [cv2.IMWRITE_PNG_COMPRESSION, 0, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_PAETH,
                                    cv2.IMWRITE_PNG_ZLIBBUFFER_SIZE, 2**20])
        if not ok:
            raise ValueError("OpenCV could not filter the PNG rows")
        stored = b"".join(body for kind, body in png_chunks(encoded.tobytes()) if kind == b"IDAT")
        data = zlib_ng.decompress(stored)
    return data[(len(data) // len(rows)) if above is not None else 0 :]


def _png_chunk(f, kind: bytes, body: bytes) -> None:
    if body or kind == b"IEND":
        f.write(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of each chunk of a PNG file's bytes, in order."""
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        yield data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length


def _stream_tiff(f, bands: _BandSource, plan: BandedOutput, grey, has_alpha, like: ImageData, quality, warnings) -> None:
    """A tiled, deflate-compressed TIFF (BigTIFF past 2 GB) from bands; ICC kept, EXIF not written."""
    import tifffile

    if like.exif:
        warnings.append("TIFF written in tiles: EXIF not kept")
    channels = bands.channels
    step = _TIFF_TILE

    def tiles() -> Iterator[np.ndarray]:
        pending = None  # rows of the last band that did not fill a row of tiles
        for band in bands:
            pending = band if pending is None or not len(pending) else np.concatenate([pending, band])
            while len(pending) >= step:
                yield from _cut(pending[:step])
                pending = pending[step:]
        if pending is not None and len(pending):
            yield from _cut(pending)

    def _cut(strip: np.ndarray) -> Iterator[np.ndarray]:
        for x0 in range(0, plan.width, step):
            tile = strip[:, x0 : x0 + step]
            yield tile[..., 0] if channels == 1 else tile

    raw = plan.height * plan.width * channels * plan.dtype.itemsize
    tifffile.imwrite(
        f,
        data=tiles(),
        shape=(plan.height, plan.width) if channels == 1 else (plan.height, plan.width, channels),
        dtype=plan.dtype,
        tile=(step, step),
        photometric="minisblack" if grey else "rgb",
        planarconfig="contig" if channels > 1 else None,
        extrasamples=("unassalpha",) if has_alpha else None,
        compression="zlib",
        iccprofile=like.icc_profile,
        bigtiff=raw > _BIGTIFF_BYTES,
        maxworkers=1,
    )


def _assemble_pillow(f, bands: _BandSource, plan: BandedOutput, grey, has_alpha, like: ImageData, quality,
                     warnings) -> None:
    """Formats that cannot be streamed: bands pasted into one Pillow image (its memory was planned), then saved."""
    mode = ("LA" if has_alpha else "L") if grey else ("RGBA" if has_alpha else "RGB")
    im = Image.new(mode, (plan.width, plan.height))
    y = 0
    for band in bands:
        im.paste(Image.fromarray(np.ascontiguousarray(band[..., 0] if band.shape[2] == 1 else band)), (0, y))
        y += band.shape[0]
    _save_pillow(f, im, plan.format, grey, like, quality, warnings)


def _one_line(reason: object) -> str:
    return " ".join(str(reason).split())
