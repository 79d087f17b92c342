"""``sisr bench``: speed, convolution throughput and peak memory of every network, and OpenCV's.

Each case runs in a fresh child process so its peak resident memory is its own. Throughput is the
networks' convolution FLOPs (counted from their layers on the actual input) per second, set against
this machine's fp32 matrix-multiply rate measured in the same run. Timings need no trained weights:
networks without them run with their initial weights (nothing is written), as speed does not depend
on the values.

``--memory`` runs ``sisr upscale`` on synthetic photos (e.g. 6000x6000 x2, 12000x12000 x4) in a child
process and reports its peak resident memory; ``--batch N`` times N small photos through the
overlapped batch against the network's time alone. The photos are Set14 pictures enlarged with
bicubic into a mosaic with slight noise, so they compress like photos rather than flat colour.
"""
from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sisr_core.anchors import OpenCVUpscaler, find_anchors
from sisr_core.devices import select_device
from sisr_core.inference.engine import Upscaler
from sisr_core.models.loading import LoadedModel, prepare_network
from sisr_core.models.registry import build_model, get_spec, list_models

ANCHORS = Path(__file__).resolve().parents[2] / "shared" / "anchors" / "opencv_dnn_superres"
SET14 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "benchmark" / "Set14"


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5, dtype=torch.float32) -> float:
    """Best matrix-multiply rate of this machine with ``threads`` threads, in GFLOP/s."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
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


def network_case(name: str, scale: int, size: int, threads: int, repeats: int, precision: str = "auto",
                 device: str = "cpu") -> dict:
    """Time one network on a size x size RGB image as `sisr upscale` runs it (auto mode: whole, or in
    tiles where that is faster; on a GPU from and back to the host); GFLOP counts the convolutions of one
    whole-image pass, the useful work."""
    torch.set_num_threads(threads)
    spec = get_spec(name)
    network = prepare_network(build_model(name, scale), select_device(device))
    model = LoadedModel(name, spec, network, None if spec.multi_scale else scale, {"config": spec.config()})
    upscaler = Upscaler.serving(model, precision=precision, device=device)
    image = torch.rand(1, 3, size, size)
    with torch.inference_mode():
        upscaler.upscale(torch.rand(1, 3, 16, 16), scale)
        flops = count_conv_flops(network, lambda: model.forward_rgb(image.to(upscaler.device), scale))
        seconds = min(_timed(lambda: upscaler.upscale(image, scale)) for _ in range(repeats))
    return {"kind": "ours", "name": name, "scale": scale, "size": size, "threads": threads, "device": str(upscaler.device),
            "precision": upscaler.precision, "seconds": seconds, "gflop": flops / 1e9,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def opencv_case(path: str, size: int, threads: int, repeats: int) -> dict:
    """Time one OpenCV dnn_superres graph on a size x size image; run inside a child process."""
    anchor = OpenCVUpscaler(path, threads=threads)
    image = torch.rand(1, 3, size, size)
    anchor.upscale(torch.rand(1, 3, 16, 16), anchor.scale)
    seconds = min(_timed(lambda: anchor.upscale(image, anchor.scale)) for _ in range(repeats))
    return {"kind": "opencv", "name": anchor.name, "scale": anchor.scale, "size": size, "threads": threads,
            "seconds": seconds, "gflop": None, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _in_child(kind: str, *args):
    code = f"import json,sys; from sisr_core import bench; print(json.dumps(bench.{kind}(*json.loads(sys.argv[1]))))"
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "benchmark case failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_bench(models: list[str] | None, scales: list[int], size: int, threads: int, repeats: int,
              vs_opencv: bool, progress=print, precision: str = "auto", device: str = "cpu") -> dict:
    """All cases, each in a child process, our networks on ``device``; returns {"matmul_gflops": ..., "rows": [...]}
    (the matrix-multiply rates are the CPU's)."""
    select_device(device)  # an accelerator that is not there: one line, before any case runs
    peak = matmul_gflops(threads)
    peak_bf16 = matmul_gflops(threads, dtype=torch.bfloat16)
    rows = []
    for name in models or list_models():
        for scale in scales:
            row = _in_child("network_case", name, scale, size, threads, repeats, precision, device)
            row["gflops_per_s"] = row["gflop"] / row["seconds"]
            row["fraction_of_matmul"] = row["gflops_per_s"] / peak
            row["fraction_of_own_matmul"] = row["gflops_per_s"] / (peak_bf16 if row["precision"] == "bf16" else peak)
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
    return {"matmul_gflops": peak, "bf16_matmul_gflops": peak_bf16, "threads": threads, "size": size, "rows": rows}


def speed_ratio(speedup: float) -> str:
    """"2.10x faster" or "1.41x slower" for OpenCV's time over ours."""
    return f"{speedup:.2f}x faster" if speedup >= 1 else f"{1 / speedup:.2f}x slower"


def format_row(row: dict) -> str:
    """One line of the benchmark table."""
    line = (f"{row['name']:18s} x{row['scale']} {row.get('precision', 'fp32'):>4s}  {row['seconds']:8.2f} s  "
            f"{row['output_mp_per_s']:7.2f} MP/s")
    if row.get("device", "cpu") != "cpu":  # the matrix-multiply rates are the CPU's
        line += f"  {row['gflops_per_s']:7.1f} GFLOP/s on {row['device']}".ljust(60)
    elif row.get("gflop") is not None:
        line += (f"  {row['gflops_per_s']:7.1f} GFLOP/s ({100 * row['fraction_of_matmul']:4.0f}% of fp32 matmul, "
                 f"{100 * row['fraction_of_own_matmul']:4.0f}% of {row['precision']})")
    else:
        line += " " * 58
    line += f"  peak {row['peak_mb']:7.0f} MB"
    if row.get("ours_speedup"):
        line += "  ours: " + speed_ratio(row["ours_speedup"])
    return line


# ------------------------------------------------------------------------------ memory and batch


def synthetic_photo(height: int, width: int, seed: int = 0, block: int = 1536) -> np.ndarray:
    """A natural-looking uint8 RGB photo: Set14 pictures bicubic-enlarged into a mosaic, plus slight noise
    (smooth random colour where Set14 is missing)."""
    import cv2

    rng = np.random.default_rng(seed)
    sources = sorted(SET14.glob("*.png"))
    out = np.empty((height, width, 3), np.uint8)
    for i, y0 in enumerate(range(0, height, block)):
        for j, x0 in enumerate(range(0, width, block)):
            h, w = min(block, height - y0), min(block, width - x0)
            if sources:
                src = cv2.imread(str(sources[(seed + i * 7 + j) % len(sources)]), cv2.IMREAD_COLOR)[..., ::-1]
            else:
                src = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
            piece = cv2.resize(np.ascontiguousarray(src), (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
            piece += rng.normal(0, 2.0, piece.shape).round().astype(np.int16)
            out[y0 : y0 + h, x0 : x0 + w] = piece.clip(0, 255)
    return out


def save_photo(path: Path, pixels: np.ndarray) -> None:
    """Write a synthetic photo as JPEG (quality 92) or fast-compressed PNG."""
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if not cv2.imwrite(str(path), np.ascontiguousarray(pixels[..., ::-1]), params):
        raise RuntimeError(f"could not write {path}")


def memory_case(size: int, scale: int, photo_format: str = "png", output_format: str = "same",
                model: str | None = None, budget_mb: int | None = None, workdir: str | None = None) -> dict:
    """``sisr upscale`` of a size x size photo in a child process: its peak RSS, seconds and output."""
    from sisr_core.zoo import default_model

    model = model or default_model()
    with tempfile.TemporaryDirectory(prefix="sisr-bench-", dir=workdir) as tmp:
        src = Path(tmp) / f"photo_{size}.{photo_format}"
        save_photo(src, synthetic_photo(size, size))
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "sisr_core.cli", "upscale", str(src), "-s", str(scale), "-o", str(out), "-q",
               "--format", output_format, "-m", model]
        env = dict(os.environ)
        if budget_mb:
            env["SISR_MEMORY_BUDGET_MB"] = str(budget_mb)
        with open(Path(tmp) / "stderr.txt", "w+") as err:
            code, seconds, peak = timed_process(cmd, env, err)
            err.seek(0)
            message = err.read().strip()
        outputs = [p for p in out.glob("*") if not p.name.startswith(".")] if out.exists() else []
        if code != 0 or not outputs:
            raise RuntimeError(f"sisr upscale failed ({code}): {message.splitlines()[-1:] or ''}")
        width, height = _image_size(outputs[0])
        if (width, height) != (size * scale, size * scale):
            raise RuntimeError(f"{outputs[0].name} is {width}x{height}, not {size * scale}x{size * scale}")
        return {"size": size, "scale": scale, "model": model, "input": src.name, "output": outputs[0].name,
                "width": width, "height": height, "output_mb": outputs[0].stat().st_size / 2**20, "seconds": seconds,
                "peak_mb": peak}


def timed_process(cmd: list[str], env: dict | None = None, stderr=subprocess.DEVNULL) -> tuple[int, float, float]:
    """Run ``cmd`` as a process of its own: its exit code, wall seconds and peak resident MB (its own peak,
    not the largest child's so far)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    return os.waitstatus_to_exitcode(status), seconds, usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


def _image_size(path: Path) -> tuple[int, int]:
    """Width and height from the file's header only (a huge output is never decoded)."""
    import tifffile
    from PIL import Image

    if path.suffix.lower() in (".tif", ".tiff"):
        with tifffile.TiffFile(path) as tif:
            return tif.pages.first.imagewidth, tif.pages.first.imagelength
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # only the header is read
    try:
        with Image.open(path) as im:
            return im.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def batch_case(count: int, size: int, scale: int, photo_format: str = "jpg", model: str | None = None,
               sequential: bool = False) -> dict:
    """N photos of size x size: the network's time alone against the whole overlapped batch (and, if asked,
    the batch one file after another); run inside a child process."""
    from sisr_core.batch import plan_jobs, run_batch, run_job
    from sisr_core.inference.engine import Upscaler, image_to_tensor
    from sisr_core.io import read_image
    from sisr_core.zoo import default_model

    upscaler = Upscaler(model or default_model(), device="cpu")
    with tempfile.TemporaryDirectory(prefix="sisr-batch-") as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        mosaic = synthetic_photo(size * 4, size * 4, seed=1)
        rng = np.random.default_rng(0)
        for i in range(count):
            y, x = rng.integers(0, size * 3, 2)
            save_photo(folder / f"p{i:04d}.{photo_format}", mosaic[y : y + size, x : x + size])
        del mosaic
        images = [read_image(p, native=True) for p in sorted(folder.iterdir())]
        upscaler.upscale(image_to_tensor(images[0]), scale)  # warm-up

        def inference() -> float:
            total = 0.0
            for image in images:
                x = image_to_tensor(image)
                started = time.perf_counter()
                upscaler.upscale(x, scale)
                total += time.perf_counter() - started
            return total

        # The network alone is timed before and after the batch and averaged: under minutes of sustained
        # load this machine's speed drifts (0.63 to 0.9 s a photo for wdsr-a), which would otherwise
        # count against whichever runs last.
        before = inference()
        jobs, _ = plan_jobs([folder], Path(tmp) / "out", scale=scale)
        started = time.perf_counter()
        statuses = [r.status for r in run_batch(jobs, upscaler, scale)]
        batch = time.perf_counter() - started
        after = inference()
        del images
        inference_seconds = (before + after) / 2
        row = {"count": count, "size": size, "scale": scale, "format": photo_format, "model": upscaler.name,
               "threads": torch.get_num_threads(), "inference_seconds": inference_seconds,
               "inference_before_after": [before, after], "batch_seconds": batch,
               "ratio": batch / inference_seconds, "done": statuses.count("done")}
        if sequential:
            jobs, _ = plan_jobs([folder], Path(tmp) / "seq", scale=scale)
            started = time.perf_counter()
            for job in jobs:
                run_job(job, upscaler, scale)
            row["sequential_seconds"] = time.perf_counter() - started
        return row


def run_memory_bench(cases: list[tuple[int, int]], photo_format: str, output_format: str, model: str | None,
                     budget_mb: int | None, progress=print) -> list[dict]:
    """Each (size, scale) case through ``sisr upscale`` in a child process; one line each."""
    rows = []
    for size, scale in cases:
        row = memory_case(size, scale, photo_format, output_format, model, budget_mb)
        rows.append(row)
        progress(f"{size}x{size} {row['input'][-3:]} x{scale} -> {row['output']} ({row['output_mb']:.0f} MB): "
                 f"peak RSS {row['peak_mb']:.0f} MB, {row['seconds']:.1f} s")
    return rows


def run_batch_bench(count: int, size: int, scale: int, photo_format: str, model: str | None, threads: int,
                    sequential: bool = False, progress=print) -> dict:
    """The batch case in a child process (with ``threads`` torch threads); prints the times and ratio."""
    code = ("import json,sys,torch; from sisr_core import bench; a=json.loads(sys.argv[1]); "
            "torch.set_num_threads(a.pop()); print(json.dumps(bench.batch_case(*a)))")
    proc = subprocess.run([sys.executable, "-c", code,
                           json.dumps([count, size, scale, photo_format, model, sequential, threads])],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "batch case failed")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    line = (f"{count} photos {size}x{size} .{photo_format} x{scale} ({row['model']}, {row['threads']} threads): "
            f"inference alone {row['inference_seconds']:.1f} s, whole batch {row['batch_seconds']:.1f} s, "
            f"ratio {row['ratio']:.2f}")
    if "sequential_seconds" in row:
        line += f"; one file after another {row['sequential_seconds']:.1f} s"
    progress(line)
    return row


# ------------------------------------------------------------------------------ whole commands

# OpenCV's dnn_superres as its users run it: one Python process that reads, upsamples and writes.
OPENCV_COMMAND = ("import sys, cv2; sr = cv2.dnn_superres.DnnSuperResImpl_create(); sr.readModel(sys.argv[1]); "
                  "sr.setModel(sys.argv[2], int(sys.argv[3])); cv2.imwrite(sys.argv[5], sr.upsample(cv2.imread(sys.argv[4])))")


def network_seconds(model: str, path: str, scale: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of the network alone (``Upscaler.upscale``, as `sisr upscale` runs it)
    on the image at ``path``, after a warm-up call; run inside a child process."""
    from sisr_core.inference.engine import image_to_tensor
    from sisr_core.io import read_image

    upscaler = Upscaler(model)
    image = image_to_tensor(read_image(path))
    upscaler.upscale(image, scale)
    return [_timed(lambda: upscaler.upscale(image, scale)) for _ in range(repeats)]


def _alternating(commands: dict[str, list[str]], runs: int, warmup: int = 1) -> dict[str, list[tuple[float, float]]]:
    """Each command as a whole process, in turn (A B A B ...) so a drift of the machine's speed hits all
    alike; (seconds, peak MB) of the counted runs. A failed run raises RuntimeError."""
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for i in range(warmup + runs):
        for name, cmd in commands.items():
            code, seconds, peak = timed_process(cmd)
            if code != 0:
                raise RuntimeError(f"{name} failed with exit status {code}: {shlex.join(cmd)}")
            if i >= warmup:
                timings[name].append((seconds, peak))
    return timings


def run_command_bench(runs: int = 5, size: int = 2000, default_size: int = 1000, scale: int = 2, warmup: int = 1,
                      progress=print) -> dict:
    """The issue-19 targets, whole processes timed in alternation on synthetic photo PNGs written as PNG:
    `sisr upscale -m fsrcnn|espcn` against OpenCV's same network (read, upsample, write in one Python
    process) on a ``size`` photo, and the default network's `sisr upscale` on a ``default_size`` photo
    against its network time (in a warm process) plus a bare `python -c "import torch"`. Medians."""
    from sisr_core.zoo import default_model

    python = [sys.executable]
    sisr = python + ["-m", "sisr_core.cli", "upscale", "-q", "--overwrite", "-s", str(scale)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="sisr-command-") as tmp:
        photo, small = Path(tmp) / f"photo_{size}.png", Path(tmp) / f"photo_{default_size}.png"
        save_photo(photo, synthetic_photo(size, size))
        save_photo(small, synthetic_photo(default_size, default_size, seed=3))
        for name in ("fsrcnn", "espcn"):
            anchor = ANCHORS / f"{name.upper()}_x{scale}.pb"
            times = _alternating({
                "ours": sisr + [str(photo), "-m", name, "-o", str(Path(tmp) / "ours")],
                "opencv": python + ["-c", OPENCV_COMMAND, str(anchor), name, str(scale), str(photo),
                                    str(Path(tmp) / f"opencv_{name}.png")],
            }, runs, warmup)
            ratios = [a[0] / b[0] for a, b in zip(times["ours"], times["opencv"])]
            rows.append({"kind": "vs_opencv", "model": name, "size": size, "scale": scale, "runs": runs,
                         "seconds": _median(times["ours"]), "opencv_seconds": _median(times["opencv"]),
                         "ratio": float(np.median(ratios)), "peak_mb": _median(times["ours"], 1),
                         "opencv_peak_mb": _median(times["opencv"], 1)})
            progress(format_command_row(rows[-1]))
        model = default_model()
        times = _alternating({"ours": sisr + [str(small), "-m", model, "-o", str(Path(tmp) / "ours")],
                              "import torch": python + ["-c", "import torch"]}, runs, warmup)
        network = _in_child("network_seconds", model, str(small), scale, runs)
        row = {"kind": "vs_network", "model": model, "size": default_size, "scale": scale, "runs": runs,
               "seconds": _median(times["ours"]), "import_torch_seconds": _median(times["import torch"]),
               "network_seconds": float(np.median(network)), "peak_mb": _median(times["ours"], 1)}
        row["ratio"] = row["seconds"] / (row["network_seconds"] + row["import_torch_seconds"])
        rows.append(row)
        progress(format_command_row(row))
    return {"commands": rows, "threads": torch.get_num_threads(), "cpus": os.cpu_count()}


def _median(pairs: list[tuple[float, float]], index: int = 0) -> float:
    return float(np.median([p[index] for p in pairs]))


def format_command_row(row: dict) -> str:
    """One line of the whole-command benchmark, with its target."""
    if row["kind"] == "vs_opencv":
        return (f"sisr upscale -m {row['model']} {row['size']}x{row['size']} PNG x{row['scale']}: {row['seconds']:.2f} s "
                f"(peak {row['peak_mb']:.0f} MB); OpenCV {row['model'].upper()} in one process: "
                f"{row['opencv_seconds']:.2f} s; ratio {row['ratio']:.2f} (target at most 0.5; medians of {row['runs']})")
    return (f"sisr upscale ({row['model']}, default) {row['size']}x{row['size']} PNG x{row['scale']}: {row['seconds']:.2f} s "
            f"(peak {row['peak_mb']:.0f} MB); network {row['network_seconds']:.2f} s + bare import torch "
            f"{row['import_torch_seconds']:.2f} s; ratio {row['ratio']:.2f} (target at most 1.3; medians of {row['runs']})")
