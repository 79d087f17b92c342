"""Copy a training run's weights into weights/ with their benchmark figures in the metadata.

Usage: .venv/bin/python scripts/publish_weights.py RUN_DIR [RUN_DIR ...] [--which best|final] [--no-speed]
       .venv/bin/python scripts/publish_weights.py --speed weights/FILE ...   (re-time shipped files)
       .venv/bin/python scripts/publish_weights.py --figures weights/FILE ... (re-score shipped files)
The figures come from sisr_core.evaluation (the benchmark protocol), so `sisr models` and the
README table show what `sisr eval` measures. The x2 time of a 1000x1000 photo, which picks the
default network, is only meaningful on an idle machine: publish with --no-speed while training
runs, and time the files with --speed when it is quiet.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from sisr_core.bench import save_photo, synthetic_photo
from sisr_core.data.protocols import PROTOCOLS
from sisr_core.evaluation import evaluate
from sisr_core.inference.engine import resolve_precision
from sisr_core.models.loading import available_scales
from sisr_core.models.registry import get_spec
from sisr_core.weights import read_weights, save_weights, shipped_weights_dir, weights_filename

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "benchmark"
DEGRADED = [p for p in PROTOCOLS if p != "clean"]  # the photo protocols recorded in the weights' metadata


def seconds_for_1000px(weights: Path, repeats: int = 2) -> float:
    """Best-of-``repeats`` wall time of the whole `sisr upscale photo.png -s 2 --weights FILE` command on
    a 1000x1000 photo: start-up, loading, decoding, the network (auto mode) and writing the PNG."""
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.png"
        save_photo(photo, synthetic_photo(1000, 1000))
        command = [sys.executable, "-m", "sisr_core.cli", "upscale", str(photo), "-s", "2", "--weights", str(weights),
                   "-o", str(Path(tmp) / "out"), "--overwrite", "-q"]
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(command, check=True)
            times.append(time.perf_counter() - started)
    return round(min(times), 2)


def record_speed(path: Path, meta: dict) -> dict:
    """Time ``path`` at x2 (networks whose attention spans the whole image are not timed: they never
    qualify as the default and take minutes at that size)."""
    if 2 in meta["scales"] or get_spec(meta["model"]).multi_scale:
        if get_spec(meta["model"]).tile_exact:
            meta["speed"] = {"seconds_1000x1000_x2": seconds_for_1000px(path), "threads": torch.get_num_threads()}
            print(f"{path.name}: 1000x1000 x2 in {meta['speed']['seconds_1000x1000_x2']:.2f} s")
    return meta


def record_figures(path: Path, meta: dict, folders: list[str]) -> dict:
    """Score ``path`` at each of its scales by the benchmark protocol and, for networks with photo weights
    (both variants, so the picker can compare them), by the degraded protocols (``metrics_degraded``), in
    the precision `sisr upscale` runs by default on this machine (recorded beside the figures)."""
    spec = get_spec(meta["model"])
    metrics, degraded = {}, {}
    photos = meta.get("variant") == "photo" or available_scales(meta["model"], "photo")
    for scale in [2, 3, 4] if spec.multi_scale else meta["scales"]:
        for protocol in ["clean", *(DEGRADED if photos else [])]:
            rows = evaluate(None, str(path), scale, folders, degradation=protocol)
            figures = {r["dataset"]: {k: r[k] for k in ("psnr", "ssim", "seconds_per_mp")} for r in rows}
            (metrics if protocol == "clean" else degraded.setdefault(protocol, {}))[f"x{scale}"] = figures
            print(f"{path} x{scale} {protocol}: " + ", ".join(f"{r['dataset']} {r['psnr']:.2f} dB / {r['ssim']:.4f}" for r in rows))
    meta["metrics"] = metrics
    if degraded:
        meta["metrics_degraded"] = degraded
    meta["metrics_precision"] = resolve_precision("auto", torch.device("cpu"))
    return meta


def publish(run: Path, which: str, folders: list[str], speed: bool) -> None:
    source = run / f"{which}.safetensors"
    state, meta = read_weights(source)
    spec = get_spec(meta["model"])
    meta["variant"] = "photo" if meta["training"]["degradation"] == "photo" else "clean"
    meta = record_figures(source, meta, folders)
    if speed:
        meta = record_speed(source, meta)
    target = shipped_weights_dir() / weights_filename(meta["model"], None if spec.multi_scale else meta["scales"],
                                                      meta["variant"])
    save_weights(target, state, meta)
    print(f"wrote {target}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("paths", type=Path, nargs="+", help="run folders (or, with --speed, shipped weight files)")
    p.add_argument("--which", choices=("best", "final"), default="final")
    p.add_argument("--data", action="append", default=None, help="benchmark folders (default Set5, Set14)")
    p.add_argument("--no-speed", action="store_true", help="do not time the 1000x1000 x2 case")
    p.add_argument("--speed", action="store_true", help="only re-time the given weight files, in place")
    p.add_argument("--figures", action="store_true", help="only re-score the given weight files, in place")
    args = p.parse_args()
    folders = args.data or [str(BENCHMARKS / "Set5"), str(BENCHMARKS / "Set14")]
    for path in args.paths:
        if args.speed or args.figures:
            state, meta = read_weights(path)
            meta = record_speed(path, meta) if args.speed else meta
            save_weights(path, state, record_figures(path, meta, folders) if args.figures else meta)
        else:
            publish(path, args.which, folders, not args.no_speed)


if __name__ == "__main__":
    main()
