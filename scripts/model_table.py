"""Regenerate the README's model table from the shipped weights' metadata and live anchor runs.

Usage: .venv/bin/python scripts/model_table.py [--write]   (--write replaces the table in README.md)
Our rows are the figures publish_weights.py measured with sisr_core.evaluation (what `sisr eval`
prints); bicubic, OpenCV's dnn_superres graphs and the Keras project's x2 weights (for the networks
we ship x2 weights for: the comparison the README makes) are measured here by the same code.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from readme_block import table_command
from sisr_core.anchors import OpenCVUpscaler, find_anchors
from sisr_core.evaluation import evaluate_methods
from sisr_core.importers import KERAS_FILES, import_keras
from sisr_core.inference.engine import Upscaler
from sisr_core.models.loading import weight_file_for
from sisr_core.models.registry import get_spec, list_models
from sisr_core.weights import read_metadata
from sisr_core.zoo import MAX_DEFAULT_SECONDS, default_candidates, default_model, parameter_count

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BENCH = [str(SHARED / "datasets" / "benchmark" / n) for n in ("Set5", "Set14")]
KERAS_DIR = SHARED / "anchors" / "seed_keras_weights"
PRE_FAMILY, SMALL = {"sr", "esr", "dsr", "ddsr"}, {"espcn", "fsrcnn", "distilled_rnsr"}
START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"


def target(name: str, scale: int, is_default: bool) -> float | None:
    """The issue's Set5 Y-PSNR floor for a network and scale (None: judged by eye, e.g. srgan)."""
    if name == "srgan":
        return None
    if is_default and scale in (2, 4):
        return {2: 37.8, 4: 31.8}[scale]  # issue 18
    if scale == 2:
        return 36.4 if name in PRE_FAMILY else 36.8 if name in SMALL else 37.3
    return {3: 32.5, 4: 30.2}[scale]


def fmt(m: dict | None) -> str:
    return "-" if not m else f"{m['psnr']:.2f} / {m['ssim']:.4f}"


def keras_results() -> dict[str, dict]:
    """Set5/Set14 x2 rows of the Keras project's weights, converted and measured like ours (only where
    we have x2 weights to compare: the Keras nlrnsr alone takes ~15 minutes, its attention spans the image)."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fname in KERAS_FILES.items():
            if (KERAS_DIR / fname).is_file() and weight_file_for(name, 2):
                weights = import_keras(KERAS_DIR / fname, name, Path(tmp) / f"{name}.safetensors")
                rows = evaluate_methods([(f"keras-{name}", Upscaler(weights=weights, device="cpu"))], 2, BENCH)
                results[name] = {r["dataset"]: r for r in rows}
    return results


def miss(meta: dict, measured: float, goal: float) -> str:
    """A miss with its figure and the training it had, e.g. "36.00 < 37.6 after 20000 steps (1.3 h)"."""
    training = meta.get("training", {})
    hours = training.get("seconds", 0) / 3600
    return (f"**miss**: {measured:.2f} < {goal} after {training.get('steps', '?')} steps ({hours:.1f} h on 2 shared cores); "
            "needs longer training")


def our_rows(default: str, keras: dict[str, dict]) -> list[str]:
    lines = []
    for name in list_models():
        spec = get_spec(name)
        for scale in (2, 3, 4):
            path = weight_file_for(name, scale)
            meta = read_metadata(path) if path else {}
            metrics = meta.get("metrics", {}).get(f"x{scale}", {})
            params = f"{parameter_count(name, scale, **meta.get('config', {})):,}"
            label = f"**{name}** (default)" if name == default else name
            goal = target(name, scale, name == default)
            if not metrics:
                status = "official weights: `sisr add-model FILE --model edsr`" if not spec.shipped_weights else "not trained yet"
                lines.append(f"| {label} | x{scale} | {params} | - | - | - | {status} |")
                continue
            set5 = metrics.get("Set5")
            speed = set5.get("seconds_per_mp") if set5 else None
            if goal is None:
                status = "perceptual (judged by eye, see below)"
            elif set5["psnr"] >= goal:
                status = f"meets {goal}"
            else:
                status = miss(meta, set5["psnr"], goal)
            if scale == 2 and name in keras:  # the Keras project's weights for the same network
                theirs = keras[name]
                beaten = all(metrics.get(d, {}).get("psnr", 0) > theirs[d]["psnr"] for d in theirs)
                status += "; beats keras-" + name if beaten else "; **below keras-" + name + "**"
            lines.append(f"| {label} | x{scale} | {params} | {fmt(set5)} | {fmt(metrics.get('Set14'))} | "
                         f"{'-' if speed is None else f'{speed:.2f}'} | {status} |")
    return lines


def anchor_rows() -> list[str]:
    lines = []
    for scale in (2, 3, 4):
        methods = [("bicubic", None)]
        for path in find_anchors(SHARED / "anchors" / "opencv_dnn_superres"):
            anchor = OpenCVUpscaler(path)
            if anchor.scale == scale:
                methods.append((anchor.name, anchor))
        rows = evaluate_methods(methods, scale, BENCH)
        for label, _ in methods:
            by_set = {r["dataset"]: r for r in rows if r["method"] == label}
            speed = by_set["Set5"]["seconds_per_mp"]
            lines.append(f"| {label} | x{scale} | - | {fmt(by_set['Set5'])} | {fmt(by_set['Set14'])} | {speed:.2f} | anchor |")
    return lines


def keras_rows(keras: dict[str, dict]) -> list[str]:
    return [f"| keras-{name} | x2 | - | {fmt(by_set['Set5'])} | {fmt(by_set['Set14'])} | "
            f"{by_set['Set5']['seconds_per_mp']:.2f} | anchor (Keras project) |" for name, by_set in keras.items()]


def default_paragraph(default: str) -> str:
    """Why the default is the default, from the same figures `sisr_core.zoo.default_model` reads."""
    timed = default_candidates()
    chosen = next((row for row in timed if row[0] == default), None)
    if chosen is None:
        return f"**The default network** is `{default}`: no x2 weights are timed yet, so it is the fallback."
    def listed(rows) -> str:
        return ", ".join(f"`{n}` {s:.1f} s / {p:.2f} dB" for n, s, p in rows) or "none"

    faster = listed(row for row in timed if row[1] <= MAX_DEFAULT_SECONDS and row[0] != default)
    slower = listed(row for row in timed if row[1] > MAX_DEFAULT_SECONDS)
    untimed = ", ".join(f"`{n}`" for n in list_models() if not get_spec(n).tile_exact)  # publish_weights.record_speed
    return (f"**The default network** is chosen from these measurements, not by hand (`sisr_core.zoo.default_model`): "
            f"the best Set5 x2 PSNR among the networks whose whole `sisr upscale photo.png -s 2` command on a "
            f"1000x1000 photo takes at most {MAX_DEFAULT_SECONDS:.0f} s on this 2-core CPU (start-up and PNG writing "
            f"included, timed on a quiet machine by `scripts/publish_weights.py --speed`). Today that is `{default}` "
            f"({chosen[1]:.1f} s, {chosen[2]:.2f} dB). The other timed networks within {MAX_DEFAULT_SECONDS:.0f} s: "
            f"{faster}; over it: {slower}. Not timed, so not candidates: {untimed}, whose attention spans the "
            f"whole image, so its cost grows with the square of the pixel count.")


def table() -> str:
    head = ["| network | scale | params | Set5 PSNR / SSIM | Set14 PSNR / SSIM | s per output MP | target (Set5 dB) |",
            "|---|---|---|---|---|---|---|"]
    keras = keras_results()
    default = default_model()
    rows = head + our_rows(default, keras) + anchor_rows() + keras_rows(keras)
    return "\n".join(rows + ["", default_paragraph(default)])


if __name__ == "__main__":
    table_command(__doc__, START, END, table, "table")
