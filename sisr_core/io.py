"""Read and write images at the library's edge: files in, float32 RGB/grey in [0, 1] out, and back.

Pillow reads every supported format and all metadata (EXIF, ICC, frames); it loses bit depth for
16-bit colour PNG and 16-bit/float TIFF, so those pixels come from OpenCV (PNG, decoded from bytes so
any path works) and tifffile. Writes are atomic: a hidden ``.part`` file beside the target, fsynced,
then moved into place.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image, ImageCms

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

    pixels: np.ndarray  # float32 (H, W, C), C = 1 (grey) or 3 (RGB), in [0, 1], upright
    alpha: np.ndarray | None = None  # float32 (H, W) in [0, 1]
    bit_depth: int = 8  # 8 or 16 for integer formats, 32 for float TIFF
    icc_profile: bytes | None = None
    exif: bytes | None = None  # 'Exif\0\0' + TIFF-structured EXIF, Orientation reset to 1
    format: str = "PNG"  # Pillow-style name of the source format
    warnings: list[str] = field(default_factory=list)

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


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Decode an image file; raises ImageReadError (and nothing else) for anything unreadable.

    Sizes are checked from the header before decoding. Pillow's own guard (PIL.Image.MAX_IMAGE_PIXELS,
    refusing above twice that, about 179 MP by default) still applies on top of ``max_pixels``.
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
        return _decode(data, max_pixels)
    except Image.UnidentifiedImageError:
        reason = f"not an image file in a supported format ({', '.join(_PILLOW_FORMATS)})"
    except Image.DecompressionBombError as error:
        reason = f"image too large: {error}"
    except _Refused as error:
        reason = str(error)
    except Exception as error:  # decoders raise anything from OSError to struct.error on bad data
        reason = f"corrupt or truncated image data ({type(error).__name__}: {error})"
    raise ImageReadError(f"{path}: {_one_line(reason)}")


class _Refused(Exception):
    """A reason to refuse an input, already worded for the user."""


def _decode(data: bytes, max_pixels: int) -> ImageData:
    if data[:4] in _TIFF_SIGNATURES:
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
    return ImageData(
        pixels=_orient(pixels, orientation),
        alpha=_orient(alpha, orientation),
        bit_depth=bit_depth,
        icc_profile=icc,
        exif=exif,
        format="JPEG" if im.format == "MPO" else im.format,
        warnings=warnings,
    )


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
    array = np.asarray(im.convert(target), dtype=np.float32) / 255.0
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
    return np.asarray(rgb, dtype=np.float32) / 255.0


def _decode_png16(data: bytes, grey: bool) -> tuple[np.ndarray, np.ndarray | None, int]:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise _Refused("corrupt 16-bit PNG data")
    array = array.reshape(array.shape[0], array.shape[1], -1).astype(np.float32) / 65535.0
    alpha = array[..., 3] if array.shape[2] == 4 else None
    colour = array[..., :1] if grey else array[..., 2::-1]  # OpenCV gives BGR(A), grey+alpha as BGRA
    return colour, alpha, 16


def _decode_deep_tiff(tif: tifffile.TiffFile, page: tifffile.TiffPage, max_pixels: int) -> ImageData:
    """16-bit or float TIFF through tifffile, which also supplies the ICC profile and orientation."""
    _check_size(page.imagewidth, page.imagelength, max_pixels)
    warnings = ["multi-page TIFF: only the first page is used"] if len(tif.pages) > 1 else []
    array = page.asarray()
    if array.ndim == 3 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
        array = np.moveaxis(array, 0, -1)
    array = array.reshape(page.imagelength, page.imagewidth, -1)
    if array.dtype == np.uint16:
        values, bit_depth = array.astype(np.float32) / 65535.0, 16
    elif array.dtype.kind == "f":
        values, bit_depth = array.astype(np.float32), 32
        if not np.all((values >= 0) & (values <= 1)):  # also catches NaN
            warnings.append("float TIFF values outside [0, 1] were clipped")
            values = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)
    else:
        raise _Refused(f"unsupported TIFF sample type {array.dtype}")
    if page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        values = 1.0 - values
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
        _write_atomically(
            path,
            overwrite,
            lambda f: _encode(f, fmt, channels, grey, has_alpha, bit_depth, image, quality, warnings)
        )
    except FileExistsError:
        raise ImageWriteError(f"{path}: already exists (not overwritten)") from None
    except Exception as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ImageWriteError(f"{path}: {_one_line(reason)}") from None
    return warnings


def _what_format_holds(image: ImageData, fmt: str, warnings: list[str]) -> tuple[np.ndarray, bool, bool, int]:
    """Colour (+ alpha) channels, greyness, alpha presence and bit depth to write; a warning for each loss."""
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
    channels = np.concatenate([image.pixels, image.alpha[..., None]], axis=2) if has_alpha else image.pixels
    return channels, image.pixels.shape[2] == 1, has_alpha, bit_depth


def _encode(f, fmt, channels, grey, has_alpha, bit_depth, image: ImageData, quality, warnings) -> None:
    """Pillow for all but 16-bit/float TIFF (tifffile) and 16-bit PNG other than plain grey (OpenCV)."""
    if fmt == "TIFF" and bit_depth > 8:
        _encode_deep_tiff(f, channels, grey, has_alpha, bit_depth, image, warnings)
        return
    if fmt == "PNG" and bit_depth == 16 and (has_alpha or not grey):
        _encode_png16(f, channels, grey, image, warnings)
        return
    dtype = np.uint16 if bit_depth == 16 else np.uint8  # 16-bit grey PNG: Pillow's I;16 keeps metadata
    array = _to_uint(channels, dtype)
    im = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
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


def _encode_png16(f, channels: np.ndarray, grey: bool, image: ImageData, warnings: list[str]) -> None:
    """16-bit colour (or grey+alpha, as RGBA) PNG through OpenCV, which cannot add ICC/EXIF chunks."""
    if grey:
        warnings.append("16-bit grey with alpha written as RGBA PNG")
        channels = np.concatenate([np.repeat(channels[..., :1], 3, axis=2), channels[..., 1:]], axis=2)
    if image.icc_profile or image.exif:
        warnings.append("16-bit PNG: ICC profile and EXIF not kept")
    bgr = channels[..., [2, 1, 0, 3][: channels.shape[2]]]
    ok, encoded = cv2.imencode(".png", _to_uint(bgr, np.uint16))
    if not ok:
        raise ValueError("OpenCV could not encode the 16-bit PNG")
    f.write(encoded.tobytes())


def _encode_deep_tiff(f, channels, grey, has_alpha, bit_depth, image: ImageData, warnings) -> None:
    """16-bit or float32 TIFF through tifffile (ICC kept; EXIF is not written)."""
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
    top = np.iinfo(dtype).max
    return np.rint(np.clip(array, 0.0, 1.0) * top).astype(dtype)


def _write_atomically(path: Path, overwrite: bool, write) -> None:
    """Run write(file) on a hidden temporary file beside path, fsync it, then move it into place.

    Without overwrite the final step is a hard link, which fails if path appeared meanwhile, so two
    writers cannot clobber each other.
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
    # open(mode "x") rather than mkstemp, whose 0o600 mode the output would keep
    f = open(temporary, "xb")
    try:
        with f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(temporary, path)
            return
        try:
            os.link(temporary, path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links (FAT, some network shares)
            if path.exists():
                raise FileExistsError(path) from None
            os.replace(temporary, path)
            return
        os.unlink(temporary)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _one_line(reason: object) -> str:
    return " ".join(str(reason).split())
