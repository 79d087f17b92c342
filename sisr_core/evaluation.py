"""``sisr eval``: super-resolve benchmark images and score them by the benchmark protocol.

With a degraded protocol (``sisr_core.data.protocols.PROTOCOLS``: ``jpeg75``, ``blur-noise-jpeg`` …)
each LR image is made from the HR one, written as a real JPEG file and read back as users' files are.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sisr_core.data.datasets import find_images, load_rgb_uint8, to_float
from sisr_core.data.degradations import protocol_lr
from sisr_core.data.protocols import PROTOCOLS
from sisr_core.inference.engine import Upscaler, bicubic_upscale
from sisr_core.metrics import make_lr, mod_crop, psnr, ssim


def evaluate(
    model: str | None,
    weights: str | None,
    scale: int,
    folders: list[str],
    baseline: str | None = None,
    rgb: bool = False,
    ensemble: bool = False,
    opencv: list[str] | None = None,
    precision: str = "auto",
    degradation: str = "clean",
    variant: str = "auto",
    device: str = "cpu",
) -> list[dict]:
    """Rows for a network (name or weight file), optionally bicubic and OpenCV anchor graphs; the network
    runs on ``device`` in ``precision`` with the weights ``variant`` that `sisr upscale` picks for the protocol's files
    (by default what `sisr upscale` and the app run)."""
    from sisr_core.zoo import choose_variant

    protocol = protocol_named(degradation)
    methods: list = [("bicubic", None)] if baseline else []
    if weights:
        upscaler = Upscaler(model, weights, device=device, precision=precision)
        methods.append((upscaler.name, upscaler))
    elif model:
        chosen = choose_variant(model, protocol.quality is not None, variant)
        upscaler = Upscaler(model, device=device, precision=precision, variant=chosen)
        methods.append((model if chosen == "clean" else f"{model} {chosen}", upscaler))
    for path in opencv or []:
        from sisr_core.anchors import OpenCVUpscaler

        anchor = OpenCVUpscaler(path)
        methods.append((anchor.name, anchor))
    return evaluate_methods(methods, scale, folders, rgb=rgb, ensemble=ensemble, degradation=degradation)


def protocol_named(name: str):
    """The fixed evaluation protocol ``name``; ValueError naming the choices otherwise."""
    if name not in PROTOCOLS:
        raise ValueError(f"degradation {name!r}: choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def degraded_lr(hr: torch.Tensor, scale: int, degradation: str, seed: int, folder: Path) -> torch.Tensor:
    """The LR image of (1, 3, H, W) ``hr`` by a protocol: the benchmark's own for ``clean``; for a JPEG
    protocol the file is written to ``folder`` and decoded as ``sisr upscale`` decodes it."""
    if degradation == "clean":
        return make_lr(hr, scale)
    lr, data = protocol_lr(protocol_named(degradation), hr[0], scale, seed)
    if data is None:
        return lr[None]
    path = folder / f"{seed}.jpg"
    path.write_bytes(data)
    return to_float(load_rgb_uint8(path))[None]


def evaluate_methods(methods: list, scale: int, folders: list[str], rgb: bool = False, ensemble: bool = False,
                     degradation: str = "clean") -> list[dict]:
    """One row per (method, dataset): mean Y-PSNR/SSIM (and RGB PSNR if asked), seconds per image and
    per output megapixel. A method is (label, object with ``upscale(tensor, scale)``), None for bicubic;
    the LR images are made by the ``degradation`` protocol (seeded by each image's position)."""
    protocol_named(degradation)
    rows = []
    for folder in folders:
        hr_images = [mod_crop(to_float(load_rgb_uint8(f))[None], scale) for f in find_images(folder)]
        with tempfile.TemporaryDirectory() as tmp:
            lr_images = [degraded_lr(hr, scale, degradation, i, Path(tmp)) for i, hr in enumerate(hr_images)]
        megapixels = sum(hr.shape[-1] * hr.shape[-2] for hr in hr_images) / 1e6
        for label, up in methods:
            scores, seconds = [], 0.0
            for lr, hr in zip(lr_images, hr_images):
                started = time.perf_counter()
                sr = bicubic_upscale(lr, scale) if up is None else up.upscale(lr, scale, mode="fast", ensemble=ensemble)
                seconds += time.perf_counter() - started
                rgb_psnr = psnr(sr, hr, scale, test_y_channel=False) if rgb else float("nan")
                scores.append((psnr(sr, hr, scale), ssim(sr, hr, scale), rgb_psnr))
            p, s, prgb = np.mean(scores, axis=0)
            row = {"dataset": Path(folder).name, "degradation": degradation, "method": label, "scale": scale,
                   "psnr": round(float(p), 4),
                   "ssim": round(float(s), 4), "seconds": round(seconds / len(scores), 4),
                   "seconds_per_mp": round(seconds / megapixels, 4), "images": len(scores)}
            if rgb:
                row["rgb_psnr"] = round(float(prgb), 4)
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """A plain-text table of evaluation rows."""
    has_rgb = any("rgb_psnr" in r for r in rows)
    head = f"{'dataset':10s} {'method':16s} {'scale':>5s} {'PSNR':>8s} {'SSIM':>7s}" + (f" {'RGB PSNR':>9s}" if has_rgb else "") + f" {'s/image':>8s}"
    lines = [head]
    for r in rows:
        line = f"{r['dataset']:10s} {r['method']:16s} {'x' + str(r['scale']):>5s} {r['psnr']:8.2f} {r['ssim']:7.4f}"
        if has_rgb:
            line += f" {r.get('rgb_psnr', float('nan')):9.2f}"
        lines.append(line + f" {r['seconds']:8.3f}")
    return "\n".join(lines)
