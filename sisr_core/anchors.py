"""OpenCV's ``dnn_superres`` models (FSRCNN, ESPCN, LapSRN frozen graphs) as comparison anchors.

Wrapped with the same ``upscale(tensor, scale)`` call as :class:`~sisr_core.inference.engine.Upscaler`,
so ``sisr eval``, the README table and the benchmark score them exactly like our networks.
Needs the ``opencv-contrib`` build (a pinned dependency).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

ANCHOR_FILE = re.compile(r"(?P<name>FSRCNN-small|FSRCNN|ESPCN|LapSRN)_x(?P<scale>\d+)\.pb$")


class OpenCVUpscaler:
    """One OpenCV super-resolution graph (its file name says the algorithm and scale)."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import cv2

        path = Path(path)
        match = ANCHOR_FILE.search(path.name)
        if not match:
            raise ValueError(f"{path}: not an OpenCV dnn_superres model name (e.g. FSRCNN_x2.pb)")
        self.algorithm = match["name"].lower().replace("-small", "")
        self.scale = int(match["scale"])
        self.name = f"opencv-{match['name'].lower()}"
        if threads:
            cv2.setNumThreads(threads)
        self._sr = cv2.dnn_superres.DnnSuperResImpl_create()
        self._sr.readModel(str(path))
        self._sr.setModel(self.algorithm, self.scale)

    def upscale(self, image: torch.Tensor, scale: int, **_options) -> torch.Tensor:
        """(1, 3, H, W) RGB in [0, 1] to (1, 3, H*scale, W*scale); only the graph's own scale."""
        if scale != self.scale:
            raise ValueError(f"{self.name} is a x{self.scale} model, not x{scale}")
        rgb = (image[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        out = self._sr.upsample(np.ascontiguousarray(rgb[..., ::-1]))[..., ::-1]
        return torch.from_numpy(out.astype(np.float32) / 255.0).permute(2, 0, 1)[None]


def find_anchors(folder: str | Path) -> list[Path]:
    """The OpenCV model files in ``folder``, sorted."""
    return sorted(p for p in Path(folder).glob("*.pb") if ANCHOR_FILE.search(p.name))
