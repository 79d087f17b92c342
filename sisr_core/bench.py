"""``sisr bench``: speed, convolution throughput and peak memory of every network, and OpenCV's.

Each case runs in a fresh child process so its peak resident memory is its own. Throughput is the
networks' convolution FLOPs (counted from their layers on the actual input) per second, set against
this machine's fp32 matrix-multiply rate measured in the same run. Timings need no trained weights:
networks without them run with their initial weights (nothing is written), as speed does not depend
on the values.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

from sisr_core.anchors import OpenCVUpscaler, find_anchors
from sisr_core.inference.engine import LoadedModel
from sisr_core.models.registry import build_model, get_spec, list_models
from sisr_core.models.wdsr import fold_weight_norm

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "opencv_dnn_superres"


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 matrix-multiply rate of this machine with ``threads`` threads, in GFLOP/s."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def count_conv_flops(network: nn.Module, run) -> int:
    """FLOPs (2 per multiply-add) of every convolution while ``run()`` executes, from its weights and output."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        weight = module.weight
        if isinstance(module, nn.ConvTranspose2d):
            per_input = weight.shape[1] * weight.shape[2] * weight.shape[3] * 2
            total += inputs[0].numel() * per_input
        else:
            per_output = weight.shape[1] * weight.shape[2] * weight.shape[3] * 2
            total += output.numel() * per_output

    handles = [m.register_forward_hook(hook) for m in network.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return total


def network_case(name: str, scale: int, size: int, threads: int, repeats: int) -> dict:
    """Time one network (fast mode, RGB in) on a size x size image; run inside a child process."""
    torch.set_num_threads(threads)
    spec = get_spec(name)
    network = fold_weight_norm(build_model(name, scale)).eval().requires_grad_(False)
    model = LoadedModel(name, spec, network, None if spec.multi_scale else scale, {"config": spec.config()})
    image = torch.rand(1, 3, size, size)
    with torch.inference_mode():
        small = torch.rand(1, 3, 16, 16)
        model.forward_rgb(small, scale)
        flops = count_conv_flops(network, lambda: model.forward_rgb(image, scale))
        seconds = min(_timed(lambda: model.forward_rgb(image, scale)) for _ in range(repeats))
    return {"kind": "ours", "name": name, "scale": scale, "size": size, "threads": threads, "seconds": seconds,
            "gflop": flops / 1e9, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def opencv_case(path: str, size: int, threads: int, repeats: int) -> dict:
    """Time one OpenCV dnn_superres graph on a size x size image; run inside a child process."""
    anchor = OpenCVUpscaler(path, threads=threads)
    image = torch.rand(1, 3, size, size)
    anchor.upscale(torch.rand(1, 3, 16, 16), anchor.scale)
    seconds = min(_timed(lambda: anchor.upscale(image, anchor.scale)) for _ in range(repeats))
    return {"kind": "opencv", "name": anchor.name, "scale": anchor.scale, "size": size, "threads": threads,
            "seconds": seconds, "gflop": None, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _in_child(kind: str, *args) -> dict:
    code = f"import json,sys; from sisr_core import bench; print(json.dumps(bench.{kind}(*json.loads(sys.argv[1]))))"
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "benchmark case failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_bench(models: list[str] | None, scales: list[int], size: int, threads: int, repeats: int,
              vs_opencv: bool, progress=print) -> dict:
    """All cases, each in a child process; returns {"matmul_gflops": ..., "rows": [...]}."""
    peak = matmul_gflops(threads)
    rows = []
    for name in models or list_models():
        for scale in scales:
            row = _in_child("network_case", name, scale, size, threads, repeats)
            row["gflops_per_s"] = row["gflop"] / row["seconds"]
            row["fraction_of_matmul"] = row["gflops_per_s"] / peak
            row["output_mp_per_s"] = (size * scale) ** 2 / 1e6 / row["seconds"]
            rows.append(row)
            progress(format_row(row))
    if vs_opencv:
        for path in find_anchors(ANCHORS):
            anchor_scale = int(path.stem.rsplit("x", 1)[1])
            if path.stem.startswith(("FSRCNN_", "ESPCN_")) and anchor_scale in scales:
                row = _in_child("opencv_case", str(path), size, threads, repeats)
                row["output_mp_per_s"] = (size * row["scale"]) ** 2 / 1e6 / row["seconds"]
                ours = next((r for r in rows if r["name"] == row["name"].removeprefix("opencv-")
                             and r["scale"] == row["scale"]), None)
                row["ours_speedup"] = row["seconds"] / ours["seconds"] if ours else None
                rows.append(row)
                progress(format_row(row))
    return {"matmul_gflops": peak, "threads": threads, "size": size, "rows": rows}


def format_row(row: dict) -> str:
    """One line of the benchmark table."""
    line = f"{row['name']:18s} x{row['scale']}  {row['seconds']:8.2f} s  {row['output_mp_per_s']:7.2f} MP/s"
    if row.get("gflop") is not None:
        line += f"  {row['gflops_per_s']:7.1f} GFLOP/s ({100 * row['fraction_of_matmul']:4.0f}% of matmul)"
    else:
        line += " " * 34
    line += f"  peak {row['peak_mb']:7.0f} MB"
    if row.get("ours_speedup"):
        line += f"  ours is {row['ours_speedup']:.2f}x faster"
    return line
