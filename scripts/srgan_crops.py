"""Side-by-side crops for the README: bicubic, the pixel-trained generator (srresnet) and srgan.

Usage: .venv/bin/python scripts/srgan_crops.py [--scale 4] [--out resources/readme]
Each benchmark image is reduced by the benchmark protocol (MATLAB bicubic), upscaled by the three
methods with the shipped weights, and a crop of each is laid side by side with the original, labelled.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from sisr_core.data.datasets import load_rgb_uint8, to_float
from sisr_core.inference.engine import Upscaler, bicubic_upscale
from sisr_core.metrics import make_lr, mod_crop

BENCH = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "benchmark"
CROPS = {  # image, (top, left) of a detailed region, side in HR pixels
    "Set14/baboon.png": (40, 300, 160),
    "Set14/comic.png": (40, 20, 160),
    "Set5/butterfly.png": (60, 60, 160),
}


def to_pil(t: torch.Tensor) -> Image.Image:
    return Image.fromarray((t[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))


def panel(hr: torch.Tensor, scale: int, box: tuple[int, int, int], methods: dict, zoom: int = 2,
          lr: torch.Tensor | None = None) -> Image.Image:
    """One row: each method's crop (and the original), enlarged ``zoom`` times with nearest, labelled; ``lr``
    is the input (default: the benchmark's MATLAB-bicubic LR image), shown first when given."""
    top, left, side = box
    images = {"input (nearest)": torch.nn.functional.interpolate(lr, scale_factor=scale, mode="nearest")} if lr is not None else {}
    lr = make_lr(hr, scale) if lr is None else lr
    images |= {name: (bicubic_upscale(lr, scale) if up is None else up.upscale(lr, scale)) for name, up in methods.items()}
    images["original"] = hr
    tiles = []
    for label, img in images.items():
        crop = to_pil(img[..., top:top + side, left:left + side]).resize((side * zoom, side * zoom), Image.NEAREST)
        canvas = Image.new("RGB", (crop.width, crop.height + 22), "white")
        canvas.paste(crop, (0, 22))
        ImageDraw.Draw(canvas).text((4, 4), label, fill="black")
        tiles.append(canvas)
    row = Image.new("RGB", (sum(t.width for t in tiles) + 6 * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for t in tiles:
        row.paste(t, (x, 0))
        x += t.width + 6
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--out", type=Path, default=Path("resources/readme"))
    args = p.parse_args()
    methods = {"bicubic": None, "srresnet (pixel loss)": Upscaler("srresnet", device="cpu"),
               "srgan (adversarial)": Upscaler("srgan", device="cpu")}
    args.out.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        for rel, box in CROPS.items():
            hr = mod_crop(to_float(load_rgb_uint8(BENCH / rel))[None], args.scale)
            target = args.out / f"srgan_x{args.scale}_{Path(rel).stem}.png"
            panel(hr, args.scale, box, methods).save(target)
            print(f"wrote {target}")


if __name__ == "__main__":
    main()
