"""Regenerate the README's "Photos and JPEGs" table: clean and degraded protocols, clean and photo weights.

Usage: .venv/bin/python scripts/photo_table.py [--write]   (--write replaces the table in README.md)
Every figure is measured here by sisr_core.evaluation (what `sisr eval --degradation P` prints), with the
LR images of the degraded protocols written as real JPEG files: bicubic, OpenCV's FSRCNN, the default
network's clean and photo weights, and the fast network's photo weights, on Set5 and Set14 at x2 and x4.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from readme_block import print_or_write
from sisr_core.anchors import OpenCVUpscaler
from sisr_core.data.protocols import PROTOCOLS
from sisr_core.evaluation import evaluate_methods
from sisr_core.inference.engine import Upscaler, available_scales
from sisr_core.zoo import default_model

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BENCH = [str(SHARED / "datasets" / "benchmark" / n) for n in ("Set5", "Set14")]
FAST = "fsrcnn"
SCALES = (2, 4)
START, END = "<!-- photo-table:start -->", "<!-- photo-table:end -->"


def methods(scale: int) -> list[tuple[str, object]]:
    """(label, upscaler) rows for one scale; None is bicubic. Missing photo weights are left out."""
    default = default_model()
    rows: list[tuple[str, object]] = [("bicubic", None),
                                      ("OpenCV FSRCNN", OpenCVUpscaler(SHARED / "anchors" / "opencv_dnn_superres" / f"FSRCNN_x{scale}.pb")),
                                      (f"{default} clean (default on PNG)", Upscaler(default, device="cpu"))]
    if scale in available_scales(default, "photo"):
        rows.append((f"{default} photo (default on JPEG)", Upscaler(default, device="cpu", variant="photo")))
    if scale in available_scales(FAST, "photo"):
        rows.append((f"{FAST} photo (fastest)", Upscaler(FAST, device="cpu", variant="photo")))
    return rows


def measure() -> list[dict]:
    rows = []
    for scale in SCALES:
        ms = methods(scale)
        for protocol in PROTOCOLS:
            rows += evaluate_methods(ms, scale, BENCH, degradation=protocol)
            print(f"x{scale} {protocol} measured", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    protocols = list(PROTOCOLS)
    head = ("| method | scale | " + " | ".join(f"{p} Set5 | {p} Set14" for p in protocols) + " |",
            "|---|---|" + "---|---|" * len(protocols))
    lines = list(head)
    for scale in SCALES:
        labels = list(dict.fromkeys(r["method"] for r in rows if r["scale"] == scale))
        for label in labels:
            cells = []
            for p in protocols:
                for dataset in ("Set5", "Set14"):
                    match = [r for r in rows if (r["scale"], r["method"], r["degradation"], r["dataset"]) == (scale, label, p, dataset)]
                    best = max(r["psnr"] for r in rows if (r["scale"], r["degradation"], r["dataset"]) == (scale, p, dataset))
                    value = match[0]["psnr"] if match else None
                    cells.append("-" if value is None else (f"**{value:.2f}**" if value == best else f"{value:.2f}"))
            lines.append(f"| {label} | x{scale} | " + " | ".join(cells) + " |")
    legend = "; ".join(f"`{k}`: {v.description}" for k, v in PROTOCOLS.items())
    return "\n".join(lines + ["", f"Y-PSNR in dB, the best of each column in bold. Protocols: {legend}."])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="replace the table in README.md")
    p.add_argument("--json", type=Path, help="also save the rows")
    args = p.parse_args()
    rows = measure()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print_or_write(START, END, table(rows), args.write, "photo table")


if __name__ == "__main__":
    main()
