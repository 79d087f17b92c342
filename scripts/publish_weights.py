"""Copy a training run's weights into weights/ with their benchmark figures in the metadata.

Usage: .venv/bin/python scripts/publish_weights.py RUN_DIR [--which best|final] [--data DIR ...]
The figures come from sisr_core.evaluation (the benchmark protocol), so `sisr models` and the
README table show what `sisr eval` measures.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from sisr_core.evaluation import evaluate
from sisr_core.inference.engine import Upscaler
from sisr_core.models.registry import get_spec
from sisr_core.weights import read_weights, save_weights, shipped_weights_dir, weights_filename

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "benchmark"


def seconds_for_1000px(weights: Path, repeats: int = 2) -> float:
    """Best-of-``repeats`` wall time to upscale a 1000x1000 RGB image x2 in one pass (fast mode)."""
    upscaler = Upscaler(weights=weights, device="cpu")
    image = torch.rand(1, 3, 1000, 1000)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        upscaler.upscale(image, 2, mode="fast")
        times.append(time.perf_counter() - started)
    return round(min(times), 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--which", choices=("best", "final"), default="final")
    p.add_argument("--data", action="append", default=None, help="benchmark folders (default Set5, Set14)")
    args = p.parse_args()
    source = args.run / f"{args.which}.safetensors"
    state, meta = read_weights(source)
    spec = get_spec(meta["model"])
    folders = args.data or [str(BENCHMARKS / "Set5"), str(BENCHMARKS / "Set14")]
    scales = [2, 3, 4] if spec.multi_scale else meta["scales"]
    metrics = {}
    for scale in scales:
        rows = evaluate(None, str(source), scale, folders)
        metrics[f"x{scale}"] = {r["dataset"]: {k: r[k] for k in ("psnr", "ssim", "seconds_per_mp")} for r in rows}
        print(f"x{scale}: " + ", ".join(f"{r['dataset']} {r['psnr']:.2f} dB / {r['ssim']:.4f}" for r in rows))
    meta["metrics"] = metrics
    if 2 in scales:  # the default network is chosen by its x2 speed on a 1000x1000 photo
        meta["speed"] = {"seconds_1000x1000_x2": seconds_for_1000px(source), "threads": torch.get_num_threads()}
        print(f"1000x1000 x2: {meta['speed']['seconds_1000x1000_x2']:.2f} s")
    target = shipped_weights_dir() / weights_filename(meta["model"], None if spec.multi_scale else meta["scales"])
    save_weights(target, state, meta)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
