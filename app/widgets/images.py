"""Pixels to QImage: float arrays in [0, 1] (H, W, C) or (C, H, W) tensors, for display only."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def qimage_from_array(pixels, alpha=None) -> QImage:
    """(H, W, 1|3) floats in [0, 1] (plus optional (H, W) alpha) to an 8-bit QImage that owns its data."""
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    if alpha is not None:
        arr = np.concatenate([arr, np.asarray(alpha, dtype=np.float32)[..., None]], axis=2)
    data = np.ascontiguousarray((arr.clip(0, 1) * 255 + 0.5).astype(np.uint8))
    h, w, c = data.shape
    fmt = QImage.Format_RGBA8888 if c == 4 else QImage.Format_RGB888
    return QImage(data.data, w, h, w * c, fmt).copy()


def qimage_from_imagedata(image) -> QImage:
    """A ``sisr_core.io.ImageData`` as a QImage (alpha kept)."""
    return qimage_from_array(image.pixels, image.alpha)


def qimage_from_chw(tensor) -> QImage:
    """A (3, H, W) tensor or array in [0, 1] (e.g. a training preview crop) as a QImage."""
    arr = tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else np.asarray(tensor)
    return qimage_from_array(arr.transpose(1, 2, 0))
