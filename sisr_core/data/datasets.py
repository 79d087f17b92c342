"""Training and validation data: HR folders (LR made on the fly), paired folders, DIV2K layout.

Decoded images are cached in memory as uint8 so the cores go to training, not to JPEG decoding.
Patches are random and aligned (an LR patch of ``patch`` px and its HR patch of ``patch*scale``
px), with flips and 90-degree rotations; a seed makes the stream reproducible.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from sisr_core.data.degradations import Degradation
from sisr_core.io import SUPPORTED_SUFFIXES, read_image

TRAIN_SUFFIXES = tuple(s for s in SUPPORTED_SUFFIXES if s != ".gif")


def find_images(folder: str | Path) -> list[Path]:
    """Image files below ``folder`` (recursive), sorted for reproducibility."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TRAIN_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{folder}: no images found")
    return files


def load_rgb_uint8(path: Path) -> torch.Tensor:
    """Decode an image to a (3, H, W) uint8 tensor (grey replicated, alpha dropped)."""
    pixels = read_image(path).pixels
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return torch.from_numpy(np.rint(pixels * 255).astype(np.uint8)).permute(2, 0, 1).contiguous()


def to_float(img: torch.Tensor) -> torch.Tensor:
    """uint8 tensor to float32 in [0, 1]."""
    return img.float().div_(255.0)


@dataclass
class ImagePair:
    """One training image: HR, and its LR for a given scale when it is fixed (paired data or cached)."""

    hr: torch.Tensor  # uint8 (3, H, W)
    lr: dict[int, torch.Tensor]  # scale -> uint8 (3, H/scale, W/scale)


class SRImageSet:
    """A set of HR images with LR versions made by a degradation (cached when deterministic)."""

    def __init__(self, pairs: list[ImagePair], degradation: Degradation, names: list[str]):
        self.pairs = pairs
        self.degradation = degradation
        self.names = names

    @classmethod
    def from_folders(cls, folders: list[str | Path], degradation: str = "bicubic", files: list[Path] | None = None):
        """HR images from one or more folders (recursive); LR made by ``degradation``."""
        files = files if files is not None else [f for d in folders for f in find_images(d)]
        pairs = [ImagePair(load_rgb_uint8(f), {}) for f in files]
        return cls(pairs, Degradation(degradation), [str(f) for f in files])

    @classmethod
    def from_paired(cls, hr_folder: str | Path, lr_folder: str | Path, scale: int):
        """HR and LR folders side by side, matched by file stem (DIV2K's ``0001x2`` names are matched too)."""
        hr_files = find_images(hr_folder)
        lr_by_stem = {}
        for f in find_images(lr_folder):
            stem = f.stem
            if stem.endswith(f"x{scale}"):
                stem = stem[: -len(f"x{scale}")]
            lr_by_stem[stem] = f
        pairs, names = [], []
        for f in hr_files:
            if f.stem not in lr_by_stem:
                raise FileNotFoundError(f"{f}: no LR image with the same name in {lr_folder}")
            hr, lr = load_rgb_uint8(f), load_rgb_uint8(lr_by_stem[f.stem])
            if hr.shape[1] < lr.shape[1] * scale or hr.shape[2] < lr.shape[2] * scale:
                raise ValueError(f"{f}: HR is smaller than {scale}x its LR image")
            pairs.append(ImagePair(hr[:, : lr.shape[1] * scale, : lr.shape[2] * scale], {scale: lr}))
            names.append(str(f))
        return cls(pairs, Degradation("bicubic"), names)

    @classmethod
    def from_div2k(cls, root: str | Path, scale: int, split: str = "train"):
        """The DIV2K layout: ``DIV2K_{split}_HR`` and ``DIV2K_{split}_LR_bicubic/X{scale}``."""
        root = Path(root)
        return cls.from_paired(root / f"DIV2K_{split}_HR", root / f"DIV2K_{split}_LR_bicubic" / f"X{scale}", scale)

    def __len__(self) -> int:
        return len(self.pairs)

    def lr_for(self, index: int, scale: int) -> torch.Tensor:
        """The cached LR image of ``index`` at ``scale`` (deterministic degradations only)."""
        pair = self.pairs[index]
        if scale not in pair.lr:
            h, w = pair.hr.shape[1:]
            hr = to_float(pair.hr[:, : h - h % scale, : w - w % scale])
            pair.lr[scale] = (self.degradation(hr, scale) * 255).round().byte()
        return pair.lr[scale]

    def validation_pairs(self, scale: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Whole (LR, HR) float images for validation, HR cropped to a multiple of ``scale``.

        A random degradation is drawn once per image from ``default_rng([index, seed])``, so a run's
        validation set is fixed by its seed (seed 0 gives the images of ``default_rng(index)``)."""
        out = []
        for i, pair in enumerate(self.pairs):
            lr = self.lr_for(i, scale) if self.degradation.deterministic else None
            h, w = pair.hr.shape[1:]
            hr = to_float(pair.hr[:, : h - h % scale, : w - w % scale])
            if lr is None:
                lr = self.degradation(hr, scale, np.random.default_rng([i, seed]))
            else:
                lr = to_float(lr)
            out.append((lr, hr))
        return out


def augment(lr: torch.Tensor, hr: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random flip / 90-degree rotation applied to an LR patch and its HR patch."""
    if rng.random() < 0.5:
        lr, hr = lr.flip(-1), hr.flip(-1)
    if rng.random() < 0.5:
        lr, hr = lr.flip(-2), hr.flip(-2)
    if rng.random() < 0.5:
        lr, hr = lr.transpose(-2, -1), hr.transpose(-2, -1)
    return lr, hr


class PatchStream(IterableDataset):
    """Endless batches of aligned (LR, HR) patches; each batch draws one scale from ``scales``."""

    def __init__(
        self, images: SRImageSet, scales: list[int], patch: int, batch: int, seed: int = 0, rank: int = 0, start: int = 0
    ):
        self.images, self.scales, self.patch, self.batch = images, scales, patch, batch
        self.seed, self.rank, self.start = seed, rank, start  # start: the step a resumed run continues from
        small = [n for n, p in zip(images.names, images.pairs) if min(p.hr.shape[1:]) < patch * max(scales)]
        if len(small) == len(images.pairs):
            raise ValueError(f"every training image is smaller than the HR patch ({patch * max(scales)} px)")
        self.usable = [i for i, p in enumerate(images.pairs) if min(p.hr.shape[1:]) >= patch * max(scales)]

    def sample(self, rng: np.random.Generator, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One random aligned patch pair as floats: LR (3, p, p), HR (3, p*s, p*s)."""
        index = self.usable[rng.integers(len(self.usable))]
        pair = self.images.pairs[index]
        p, hp = self.patch, self.patch * scale
        degradation = self.images.degradation
        if degradation.deterministic:
            lr_img = self.images.lr_for(index, scale)
            y, x = rng.integers(lr_img.shape[1] - p + 1), rng.integers(lr_img.shape[2] - p + 1)
            lr = to_float(lr_img[:, y : y + p, x : x + p])
            hr = to_float(pair.hr[:, y * scale : y * scale + hp, x * scale : x * scale + hp])
        else:  # degrade a region with context around the patch (less where the image is too small)
            h, w = pair.hr.shape[1:]
            margin = degradation.context // scale * scale + scale
            my = min(margin, (h - hp) // 2 // scale * scale)
            mx = min(margin, (w - hp) // 2 // scale * scale)
            top = rng.integers(0, (h - hp - 2 * my) // scale + 1) * scale
            left = rng.integers(0, (w - hp - 2 * mx) // scale + 1) * scale
            region = to_float(pair.hr[:, top : top + hp + 2 * my, left : left + hp + 2 * mx])
            lr_region = degradation(region, scale, rng)
            lr = lr_region[:, my // scale : my // scale + p, mx // scale : mx // scale + p]
            hr = region[:, my : my + hp, mx : mx + hp]
        return augment(lr, hr, rng)

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info else 0
        rng = np.random.default_rng([self.seed, self.rank, worker, self.start])
        while True:
            scale = self.scales[rng.integers(len(self.scales))]
            lrs, hrs = zip(*(self.sample(rng, scale) for _ in range(self.batch)))
            yield torch.stack(lrs), torch.stack(hrs), scale
