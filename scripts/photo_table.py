"""Regenerate the README's "Photos and JPEGs" table: clean and degraded protocols, clean and photo weights.

Usage: .venv/bin/python scripts/photo_table.py [--write]   (--write replaces the table in README.md)
Our rows are the figures scripts/publish_weights.py recorded in the weights' metadata (measured by
sisr_core.evaluation: what `sisr eval --degradation P --variant V` prints); bicubic and OpenCV's FSRCNN
are measured here by the same code. The LR images of the degraded protocols are real JPEG files.
"""
from __future__ import annotations

from pathlib import Path

from readme_block import table_command
from sisr_core.anchors import OpenCVUpscaler
from sisr_core.data.protocols import PROTOCOLS
from sisr_core.evaluation import evaluate_methods
from sisr_core.zoo import default_model, variant_rows

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BENCH = [str(SHARED / "datasets" / "benchmark" / n) for n in ("Set5", "Set14")]
SETS = ("Set5", "Set14")
FAST = "fsrcnn"
SCALES = (2, 4)
START, END = "<!-- photo-table:start -->", "<!-- photo-table:end -->"


def anchor_figures(scale: int) -> dict[str, dict]:
    """label -> {(protocol, dataset): psnr} for bicubic and OpenCV's FSRCNN, measured now."""
    opencv = OpenCVUpscaler(SHARED / "anchors" / "opencv_dnn_superres" / f"FSRCNN_x{scale}.pb")
    methods = [("bicubic", None), ("OpenCV FSRCNN", opencv)]
    out: dict[str, dict] = {label: {} for label, _ in methods}
    for protocol in PROTOCOLS:
        for r in evaluate_methods(methods, scale, BENCH, degradation=protocol):
            out[r["method"]][(protocol, r["dataset"])] = r["psnr"]
    return out


def our_figures(scale: int) -> dict[str, dict]:
    """label -> {(protocol, dataset): psnr} from the metadata of the default's and the fast network's weights."""
    default = default_model()
    wanted = [(default, "clean", f"{default} clean (default on PNG)"), (default, "photo", f"{default} photo (default on JPEG)"),
              (FAST, "clean", f"{FAST} clean"), (FAST, "photo", f"{FAST} photo (fastest)")]
    out = {}
    for name, variant, label in wanted:
        v = variant_rows(name).get(variant)
        if not v or scale not in v["weights"]:
            continue
        by_protocol = {"clean": v["metrics"], **v["metrics_degraded"]}
        out[label] = {(p, d): by_protocol.get(p, {}).get(f"x{scale}", {}).get(d, {}).get("psnr")
                      for p in PROTOCOLS for d in SETS}
    return out


def table() -> str:
    protocols = list(PROTOCOLS)
    lines = ["| method | scale | " + " | ".join(f"{p} Set5 | {p} Set14" for p in protocols) + " |",
             "|---|---|" + "---|---|" * len(protocols)]
    for scale in SCALES:
        figures = {**anchor_figures(scale), **our_figures(scale)}
        print(f"x{scale} measured", flush=True)
        for label, values in figures.items():
            cells = []
            for key in ((p, d) for p in protocols for d in SETS):
                best = max(v for f in figures.values() if (v := f.get(key)) is not None)
                value = values.get(key)
                cells.append("-" if value is None else f"**{value:.2f}**" if value == best else f"{value:.2f}")
            lines.append(f"| {label} | x{scale} | " + " | ".join(cells) + " |")
    legend = "; ".join(f"`{k}`: {v.description}" for k, v in PROTOCOLS.items())
    return "\n".join(lines + ["", f"Y-PSNR in dB, the best of each column in bold. Protocols: {legend}."])


if __name__ == "__main__":
    table_command(__doc__, START, END, table, "photo table")
