"""Crops for the README's photo section: a degraded Set14 image through bicubic, the clean and the photo weights.

Usage: .venv/bin/python scripts/photo_crops.py [--out resources/readme]
Each image is degraded by a fixed evaluation protocol (the LR is a real JPEG file, as `sisr eval
--degradation` makes it), then each method's crop is laid beside the input and the original, labelled.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from sisr_core.data.datasets import load_rgb_uint8, to_float
from sisr_core.evaluation import degraded_lr
from sisr_core.inference.engine import Upscaler
from sisr_core.metrics import mod_crop
from sisr_core.zoo import default_model
from srgan_crops import BENCH, panel

CROPS = {  # (image, protocol, scale): (top, left) of a detailed region, side in HR pixels
    ("Set14/comic.png", "jpeg75", 2): (40, 20, 160),
    ("Set14/barbara.png", "blur-noise-jpeg", 2): (300, 400, 160),
    ("Set14/zebra.png", "jpeg75", 4): (100, 100, 160),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("resources/readme"))
    args = p.parse_args()
    default = default_model()
    methods = {"bicubic": None, f"{default} clean": Upscaler(default, device="cpu"),
               f"{default} photo": Upscaler(default, device="cpu", variant="photo")}
    args.out.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode(), tempfile.TemporaryDirectory() as tmp:
        for (rel, protocol, scale), box in CROPS.items():
            hr = mod_crop(to_float(load_rgb_uint8(BENCH / rel))[None], scale)
            lr = degraded_lr(hr, scale, protocol, 0, Path(tmp))
            target = args.out / f"photo_{protocol}_x{scale}_{Path(rel).stem}.png"
            panel(hr, scale, box, methods, lr=lr).save(target)
            print(f"wrote {target}")


if __name__ == "__main__":
    main()
