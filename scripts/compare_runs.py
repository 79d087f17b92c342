"""Regenerate the README's network comparison: equal-budget x2 runs (runs/compare_*) on Set5 and Set14.

Usage: .venv/bin/python scripts/compare_runs.py [--write]   (--write replaces the table in README.md)
Steps, batch, patch and wall minutes come from each run's config.json and log.csv (the minutes depend on
what else the machine ran); the seconds per training step and per 1000x1000 x2 image are measured now,
one network after the other, so they compare under the same load. PSNR/SSIM are sisr_core.evaluation on
the run's final weights: what `sisr eval --weights runs/compare_NAME_x2/final.safetensors` prints.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from readme_block import table_command
from sisr_core.bench import network_case
from sisr_core.evaluation import evaluate
from sisr_core.models import build_model
from sisr_core.training.trainer import TrainConfig, measure_step_seconds
from sisr_core.weights import count_parameters

REPO = Path(__file__).resolve().parents[1]
BENCH = [str(REPO.parent / "shared" / "datasets" / "benchmark" / n) for n in ("Set5", "Set14")]
START, END = "<!-- compare-table:start -->", "<!-- compare-table:end -->"


def row(run: Path) -> str:
    """One table row for the finished run in ``run``."""
    config = json.loads((run / "config.json").read_text())
    with open(run / "log.csv") as f:
        last = list(csv.DictReader(f))[-1]
    name, scale = config["model"], config["scale"]
    params = count_parameters(build_model(name, scale, **config["model_config"]))
    step = measure_step_seconds(TrainConfig(**{**config, "init": None}))
    seconds = network_case(name, scale, 1000, torch.get_num_threads(), repeats=2)["seconds"]
    scores = {r["dataset"]: r for r in evaluate(name, str(run / "final.safetensors"), scale, BENCH)}
    psnr = " | ".join(f"{scores[d]['psnr']:.2f} / {scores[d]['ssim']:.4f}" for d in ("Set5", "Set14"))
    print(f"{run.name} measured", flush=True)
    return (f"| `{name}` | {params / 1e3:.0f}K | {last['step']} x {config['batch']} x {config['patch']} px "
            f"| {float(last['seconds']) / 60:.0f} | {step:.2f} | {seconds:.2f} | {psnr} |")


def table() -> str:
    runs = sorted(p for p in (REPO / "runs").glob("compare_*") if (p / "final.safetensors").is_file())
    lines = ["| network | parameters | steps x batch x LR patch | minutes (wall) | s/step now | 1000x1000 x2 s "
             "| Set5 PSNR / SSIM | Set14 PSNR / SSIM |", "|---|---|---|---|---|---|---|---|"]
    lines += [row(run) for run in runs]
    seeds = {json.loads((run / "config.json").read_text())["seed"] for run in runs}
    return "\n".join(lines + ["", f"x2, Y-PSNR in dB; same data (T91 + BSDS400), learning rate, schedule and seed "
                                  f"({', '.join(map(str, sorted(seeds)))}) for every run; "
                                  f"{torch.get_num_threads()} threads for the two timing columns."])


if __name__ == "__main__":
    table_command(__doc__, START, END, table, "network comparison")
