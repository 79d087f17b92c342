"""The ``sisr`` command line: parse, call the library, print. Heavy imports happen inside commands."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
from pathlib import Path
from typing import NoReturn

from sisr_core import DEVICES, PRECISIONS, VARIANT_CHOICES, __version__
from sisr_core.atomic import write_bytes
from sisr_core.data.protocols import PROTOCOLS
from sisr_core.startup import loading_torch

MODES = ("auto", "fast", "patch")
FORMATS = ("same", "png", "jpg", "webp", "tiff")
PRECISION_HELP = ("auto (default): bf16 on a CPU with Intel AMX or AMD's AVX512-BF16, 2-3x faster there, "
                  "and on GPUs that have it, fp16 on older GPUs, else fp32; fp16 needs a GPU")
DEVICE_HELP = "auto (default): a CUDA GPU, then Apple's Metal (mps), then the CPU"


def _scale(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"scale must be a whole number, got {text!r}") from None
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"scale must be between 1 and 16, got {value}")
    return value


def add_upscale_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``sisr upscale`` and main.py's command line."""
    p.add_argument("-o", "--output", metavar="DIR", help="output folder (default: beside each input)")
    p.add_argument("-m", "--model", default=None, help="network name (default: the shipped default)")
    p.add_argument("-s", "--scale", type=_scale, default=2, help="integer scale factor (default 2)")
    p.add_argument("--weights", metavar="FILE", help="a weight file to use instead of the shipped one: ours, or a community .pth/.safetensors (ESRGAN, SwinIR, HAT, ...)")
    p.add_argument("--variant", choices=VARIANT_CHOICES, default="auto",
                   help="which of the network's weights: photo (JPEGs and real photos: blocks, noise, blur), clean "
                        "(lossless input), or auto (default): photo for JPEG and lossy WebP files, else clean")
    p.add_argument("--mode", choices=MODES, default="auto", help="fast: whole image; patch: tiles; auto: by memory")
    p.add_argument("--patch-size", type=int, default=None, metavar="PX", help="tile size in input pixels")
    p.add_argument("--overlap", type=int, default=None, metavar="PX", help="tile context (default: receptive field)")
    p.add_argument("--suffix", default="_x{scale}", help="added to output names (default _x{scale})")
    p.add_argument("--format", choices=FORMATS, default="same", help="output format (default: as the input)")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (default 95)")
    p.add_argument("--save-intermediate", action="store_true", help="also write the bicubic-enlarged image")
    p.add_argument("--device", choices=DEVICES, default="auto", help=DEVICE_HELP)
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    p.add_argument("--ensemble", action="store_true", help="x8 self-ensemble (slower, slightly better)")
    p.add_argument("--recursive", action="store_true", help="look into sub-folders of input folders")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run_upscale(args: argparse.Namespace) -> int:
    """Upscale files and folders; exit status 0 only if every input succeeded."""
    import threading

    from tqdm import tqdm

    from sisr_core.batch import plan_jobs, read_ahead, run_batch

    jobs, errors = plan_jobs(args.inputs, args.output, args.suffix, args.format, args.scale, args.recursive,
                             args.save_intermediate)
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if not jobs:
        print("error: no input images", file=sys.stderr)
        return 2
    reading = read_ahead(jobs, args.overwrite)  # the first image decodes on the other core while torch loads

    with loading_torch():
        from sisr_core.inference.engine import NoWeightsError, Upscaler
        from sisr_core.inference.tiling import Cancelled
        from sisr_core.models.registry import UnknownModelError
        from sisr_core.weights import WeightsError
        from sisr_core.zoo import AutoUpscaler, default_model

    try:
        if args.weights:
            upscaler = Upscaler(args.model, args.weights, args.device, precision=args.precision)
        else:
            upscaler = AutoUpscaler(args.model or default_model(), args.device, args.precision, args.variant)
        upscaler.plan(args.scale)
    except (UnknownModelError, NoWeightsError, WeightsError, ValueError, RuntimeError) as exc:
        reading.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = len(errors)
    files = tqdm(total=len(jobs), unit="file", disable=args.quiet or len(jobs) < 2, leave=False)
    lock = threading.Lock()
    tiles = None  # a bar only for an image that runs in several tiles; called from the network's thread

    def progress(done: int, total: int) -> None:
        nonlocal tiles
        if args.quiet or total <= 1:
            return
        with lock:
            if tiles is None or tiles.total != total or done < tiles.n:  # the next image's tiles
                if tiles is not None:
                    tiles.close()
                tiles = tqdm(total=total, unit="tile", leave=False)
            tiles.n = done
            tiles.refresh()

    batch = run_batch(jobs, upscaler, args.scale, overwrite=args.overwrite, quality=args.quality, reading=reading,
                      mode=args.mode, tile=args.patch_size, overlap=args.overlap, ensemble=args.ensemble,
                      progress=progress)
    try:
        for result in batch:
            files.update(1)
            for w in result.warnings:
                tqdm.write(f"warning: {w}", file=sys.stderr)
            if result.status == "failed":
                failed += 1
                tqdm.write(f"error: {result.message}", file=sys.stderr)
            elif result.status == "skipped":
                tqdm.write(f"skipped: {result.message}", file=sys.stderr)
            elif not args.quiet:
                tqdm.write(f"wrote {result.message} ({result.seconds:.1f} s, {result.model})")
    except (KeyboardInterrupt, Cancelled):
        print("cancelled", file=sys.stderr)
        return 130
    finally:
        batch.close()
        with lock:
            if tiles is not None:
                tiles.close()
        files.close()
    return 1 if failed else 0


def run_models(args: argparse.Namespace) -> int:
    from sisr_core.zoo import model_rows

    rows = model_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':18s} {'params':>9s}  {'weights':8s} {'scales':10s} {'Set5 x2/x3/x4':22s} good for")
    for r in (r for r in rows if not r["yours"]):
        params = f"{r['params']:,}" if r["params"] else "-"
        tags = [t for t, on in (("default", r["default"]), ("fastest", r["fastest"])) if on]
        name = r["name"] + (f" ({', '.join(tags)})" if tags else "")
        if not r["variants"]:
            print(f"{name:18s} {params:>9s}  {'-':8s} {'-':10s} {'-':22s} {r['weights_note'] or 'no weights yet: train it'}")
        for i, (variant, v) in enumerate(r["variants"].items()):
            psnrs = [v["metrics"].get(f"x{s}", {}).get("Set5", {}).get("psnr") for s in (2, 3, 4)]
            figures = " / ".join("-" if p is None else f"{p:.2f}" for p in psnrs)
            jpeg = v["metrics_degraded"].get("jpeg75", {}).get("x2", {}).get("Set14", {}).get("psnr")
            purpose = v["purpose"] + (f" (Set14 JPEG-75 x2 {jpeg:.2f})" if jpeg else "")
            scales = ",".join(f"x{s}" for s in v["weights"])
            print(f"{name if i == 0 else '':18s} {params if i == 0 else '':>9s}  {variant:8s} {scales:10s} {figures:22s} {purpose}")
    yours = [r for r in rows if r["yours"]]
    if yours:
        print(f"\nYour models (sisr remove-model NAME removes one)\n{'model':18s} {'params':>11s}  {'architecture':14s} {'scales':8s} source")
    for r in yours:
        scales = ",".join(f"x{s}" for s in r["scales"]) or "-"
        print(f"{r['name']:18s} {r['params']:>11,}  {r['architecture']:14s} {scales:8s} {r['source']}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from sisr_core.training.trainer import TrainConfig, TrainingRun, steps_for_minutes

    if args.steps and args.minutes:
        print("error: give --steps or --minutes, not both", file=sys.stderr)
        return 2
    overrides = {}
    try:
        if args.resume:
            for name in ("steps", "precision", "device", "minutes"):
                if getattr(args, name):
                    overrides[name] = getattr(args, name)
            run = TrainingRun.resume(args.resume, None, **overrides)
            if overrides:  # the recipe changed: the weights' metadata records both commands
                run.config.command += " && " + args.command_line
        else:
            if not (args.model and args.scale and args.data):
                print("error: --model, --scale and --data are needed (or --resume RUN_DIR)", file=sys.stderr)
                return 2
            out = args.out or f"runs/{args.model}_x{args.scale}"
            if (Path(out) / "checkpoint.pt").exists():
                print(f"error: {out} holds a run already; use --resume {out} or another --out", file=sys.stderr)
                return 2
            fields = dict(
                model=args.model, scale=args.scale, data=args.data, lr_data=args.lr_data or [], val=args.val or [],
                val_holdout=args.val_holdout, degradation=args.degradation, steps=args.steps or 10000,
                batch=args.batch, patch=args.patch, lr=args.lr, loss=args.loss, init=args.init, teacher=args.teacher,
                ema=args.ema, scales=args.scales or [],
                model_config=json.loads(args.model_config) if args.model_config else {},
                perceptual_weight=args.perceptual, adversarial_weight=args.adversarial, vgg_weights=args.vgg_weights,
                allow_download=args.allow_download, val_every=args.val_every, seed=args.seed,
                checkpoint_minutes=args.checkpoint_minutes, num_workers=args.workers, grad_clip=args.grad_clip,
                device=args.device or "auto", precision=args.precision or "auto", minutes=args.minutes or 0.0,
                command=args.command_line,
            )
            if args.minutes:
                fields["steps"] = steps_for_minutes(TrainConfig(**fields), args.minutes)
            run = TrainingRun(TrainConfig(**fields), out, None)
    except (RuntimeError, ValueError) as exc:  # an accelerator that is not there, a precision it lacks
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = tqdm(unit="step", disable=args.quiet)
    bar.total, bar.n = run.config.steps, run.step
    state = {"psnr": None}

    def on_event(event) -> None:
        if event.kind == "progress":
            bar.n = event.step
            bar.set_postfix(loss=f"{event.losses['pixel']:.4f}", psnr=state["psnr"] and f"{state['psnr']:.2f}",
                            refresh=False)
            bar.update(0)
        elif event.kind == "validation":
            state["psnr"] = event.psnr
        elif event.kind in ("message", "done"):
            tqdm.write(event.message or f"weights: {event.path}")

    run.callback = on_event
    signal.signal(signal.SIGTERM, lambda *_: run.cancel())  # a polite kill checkpoints like Ctrl+C
    try:
        final = run.run()
    except KeyboardInterrupt:
        bar.close()
        print(f"stopped at step {run.step}; resume with: sisr train --resume {run.out}", file=sys.stderr)
        return 130
    bar.close()
    if final is None:
        print(f"stopped at step {run.step}; resume with: sisr train --resume {run.out}", file=sys.stderr)
        return 130
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from sisr_core.evaluation import evaluate, format_table

    if not (args.model or args.weights or args.opencv or args.baseline):
        print("error: give --model NAME, --weights FILE, --opencv FILE or --baseline bicubic", file=sys.stderr)
        return 2
    try:
        rows = evaluate(args.model, args.weights, args.scale, args.data, baseline=args.baseline, rgb=args.rgb,
                        ensemble=args.ensemble, opencv=args.opencv, precision=args.precision,
                        degradation=args.degradation, variant=args.variant, device=args.device)
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(rows))
    if args.json:
        write_bytes(args.json, json.dumps(rows, indent=2))
    return 0


def run_import_keras(args: argparse.Namespace) -> int:
    from sisr_core.importers import import_keras

    return _convert(import_keras, args)


def run_import_weights(args: argparse.Namespace) -> int:
    from sisr_core.importers import import_weights

    return _convert(import_weights, args)


def _convert(convert, args: argparse.Namespace) -> int:
    """Run an importer (file, model, output) and report its result or its one-line error."""
    from sisr_core.weights import WeightsError

    try:
        out = convert(args.file, args.model, args.output)
    except (WeightsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def _case(text: str) -> tuple[int, int]:
    """``6000x2``: a 6000x6000 photo upscaled x2."""
    try:
        size, scale = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a case is SIZExSCALE, e.g. 6000x2, not {text!r}") from None
    return size, scale


def run_bench(args: argparse.Namespace) -> int:
    from sisr_core.bench import run_bench as bench
    from sisr_core.bench import run_batch_bench, run_command_bench, run_memory_bench

    threads = args.threads or os.cpu_count() or 1
    if args.memory or args.batch or args.whole_command:
        model = args.models[0] if args.models else None
        result = {}
        try:
            if args.whole_command:
                print("whole `sisr upscale` processes against OpenCV's and against the network's own time")
                result.update(run_command_bench(max(args.repeat, 3)))
            if args.memory:
                print("peak resident memory of `sisr upscale` on synthetic photos, each in its own process")
                result["memory"] = run_memory_bench(args.memory_cases, args.photo_format or "png", args.format,
                                                    model, args.memory_budget_mb)
            if args.batch:
                result["batch"] = run_batch_bench(args.batch, args.batch_size, args.scales[0],
                                                  args.photo_format or "jpg", model, threads, args.sequential)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if args.json:
            write_bytes(args.json, json.dumps(result, indent=2))
        return 0
    print(f"{args.size}x{args.size} input, {threads} threads, best of {args.repeat}; each case in its own process")
    try:
        result = bench(args.models, args.scales, args.size, threads, args.repeat, args.vs_opencv,
                       precision=args.precision, device=args.device)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"matmul: fp32 {result['matmul_gflops']:.1f} GFLOP/s, bf16 {result['bf16_matmul_gflops']:.1f} GFLOP/s")
    if args.json:
        write_bytes(args.json, json.dumps(result, indent=2))
    return 0


def run_add_model(args: argparse.Namespace) -> int:
    from sisr_core.models.loading import add_model
    from sisr_core.models.registry import UnknownModelError
    from sisr_core.weights import WeightsError

    try:
        target = add_model(args.file, args.model, args.name, overwrite=args.overwrite)
    except (WeightsError, UnknownModelError, ValueError, FileExistsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"installed {target.stem} ({target}); run it with `sisr upscale -m {target.stem}`, listed by `sisr models`")
    return 0


def run_remove_model(args: argparse.Namespace) -> int:
    from sisr_core.models.loading import remove_model
    from sisr_core.weights import WeightsError

    try:
        path = remove_model(args.name)
    except (WeightsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"removed {args.name} ({path})")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from sisr_core.importers import export_onnx
    from sisr_core.models.loading import NoWeightsError, load_model
    from sisr_core.models.registry import UnknownModelError
    from sisr_core.weights import WeightsError

    try:
        model = load_model(args.model, args.scale, args.weights)
        out = export_onnx(model, args.scale, args.onnx)
    except (UnknownModelError, NoWeightsError, WeightsError, ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sisr", description="SISR Studio: single-image super-resolution.")
    parser.add_argument("--version", action="version", version=f"SISR Studio {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("upscale", help="upscale image files and folders")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    add_upscale_options(p)
    p.set_defaults(func=run_upscale)

    p = sub.add_parser("models", help="list the networks, their weights and benchmark figures")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run_models)

    p = sub.add_parser("train", help="train a network on folders of images")
    p.add_argument("--model", help="network name")
    p.add_argument("--scale", type=_scale)
    p.add_argument("--scales", type=_scale, nargs="+", help="multi-scale training: pre-upsampling networks (e.g. 2 3 4); fdsrcnn: --scale 4 --scales 2 4")
    p.add_argument("--data", action="append", metavar="DIR", help="folder of HR training images (repeatable)")
    p.add_argument("--lr-data", action="append", metavar="DIR",
                   help="folder of LR images paired by name with the --data folder of the same position")
    p.add_argument("--val", action="append", metavar="DIR", help="folder of HR validation images (repeatable)")
    p.add_argument("--val-holdout", type=int, default=0, metavar="N", help="validate on N held-out training images")
    p.add_argument("--degradation", default="bicubic",
                   help="how LR patches are made: bicubic (the benchmark), photo (real photos: blur, noise, JPEG; "
                        "see the README), unknown, or bicubic_jpeg_Q")
    p.add_argument("--steps", type=int, help="total steps (default 10000)")
    p.add_argument("--minutes", type=float, metavar="M",
                   help="instead of --steps: train for about M minutes (steps fitted to the measured speed)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=48, help="LR patch size")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--loss", choices=("l1", "mse", "charbonnier"), default="l1")
    p.add_argument("--grad-clip", type=float, default=0.0)
    p.add_argument("--ema", type=float, default=0.999, help="weight moving-average decay (0: off)")
    p.add_argument("--model-config", metavar="JSON", help='network options, e.g. \'{"num_block": 8}\'')
    p.add_argument("--init", metavar="FILE", help="start from these weights (matching tensors)")
    p.add_argument("--teacher", metavar="NAME|FILE", help="distil from this network")
    p.add_argument("--perceptual", type=float, default=0.0, metavar="W", help="VGG19 perceptual loss weight")
    p.add_argument("--adversarial", type=float, default=0.0, metavar="W", help="adversarial loss weight")
    p.add_argument("--vgg-weights", metavar="FILE", help="torchvision vgg19 weights file (for --perceptual)")
    p.add_argument("--allow-download", action="store_true", help="may download the VGG19 weights")
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader worker processes (default: none on the CPU, up to 8 on a GPU)")
    p.add_argument("--device", choices=DEVICES, help=DEVICE_HELP)
    p.add_argument("--precision", choices=PRECISIONS,
                   help="bf16 or fp16 mixed precision (weights stay fp32), fp32, or auto (default): bf16 where the "
                        "CPU has Intel AMX or AMD's AVX512-BF16 (2-4x faster steps there) or the GPU has it, "
                        "fp16 on older GPUs")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default runs/MODEL_xSCALE)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run (optionally with more --steps)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=run_train)

    p = sub.add_parser("eval", help="PSNR/SSIM by the benchmark protocol")
    p.add_argument("--model", help="network name (shipped weights)")
    p.add_argument("--weights", metavar="FILE")
    p.add_argument("--scale", type=_scale, required=True)
    p.add_argument("--data", action="append", required=True, metavar="DIR", help="folder of HR images (repeatable)")
    p.add_argument("--baseline", choices=("bicubic",), help="add the bicubic row")
    p.add_argument("--opencv", action="append", metavar="PB", help="add an OpenCV dnn_superres graph's row")
    p.add_argument("--rgb", action="store_true", help="also report RGB PSNR")
    p.add_argument("--ensemble", action="store_true")
    p.add_argument("--device", choices=DEVICES, default="auto", help=DEVICE_HELP)
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    p.add_argument("--degradation", choices=tuple(PROTOCOLS), default="clean",
                   help="how the LR images are made: " + "; ".join(f"{k}: {v.description}" for k, v in PROTOCOLS.items()))
    p.add_argument("--variant", choices=VARIANT_CHOICES, default="auto",
                   help="the network's weights; auto (default) picks as `sisr upscale` does for the protocol's files")
    p.add_argument("--json", metavar="FILE")
    p.set_defaults(func=run_eval)

    p = sub.add_parser("bench", help="speed, throughput and peak memory of the networks (and OpenCV's)")
    p.add_argument("--models", nargs="+", metavar="NAME", help="networks to time (default: all)")
    p.add_argument("--scales", nargs="+", type=_scale, default=[2], help="scales (default 2)")
    p.add_argument("--size", type=int, default=1000, help="input side in pixels (default 1000)")
    p.add_argument("--repeat", type=int, default=1, help="timed runs per case; the best is kept")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--vs-opencv", action="store_true", help="add OpenCV's FSRCNN/ESPCN and the speed ratios")
    p.add_argument("--device", choices=DEVICES, default="auto", help=DEVICE_HELP)
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--whole-command", action="store_true",
                   help="time whole `sisr upscale` processes (PNG to PNG x2) against OpenCV's fsrcnn/espcn in one "
                        "process on a 2000x2000 photo, and the default network's on a 1000x1000 photo against its "
                        "network time plus a bare `import torch`; --repeat N counted runs each (at least 3)")
    p.add_argument("--memory", action="store_true",
                   help="peak memory and time of `sisr upscale` on large synthetic photos (see --memory-cases)")
    p.add_argument("--memory-cases", nargs="+", type=_case, default=[(6000, 2), (12000, 4)], metavar="SIZExSCALE",
                   help="photo side and scale of each --memory case (default 6000x2 12000x4)")
    p.add_argument("--memory-budget-mb", type=int, default=None, help="SISR_MEMORY_BUDGET_MB for --memory runs")
    p.add_argument("--format", choices=FORMATS, default="same", help="output format of --memory runs")
    p.add_argument("--batch", type=int, default=0, metavar="N",
                   help="time N photos through the batch against the network's time alone")
    p.add_argument("--batch-size", type=int, default=500, metavar="PX", help="photo side for --batch (default 500)")
    p.add_argument("--sequential", action="store_true", help="--batch: also time the files one after another")
    p.add_argument("--photo-format", choices=("png", "jpg"), default=None,
                   help="synthetic photo format (default: png for --memory, jpg for --batch)")
    p.set_defaults(func=run_bench)

    p = sub.add_parser("add-model", help="check a weight file and install it in your model folder")
    p.add_argument("file", help="our .safetensors, an official EDSR/WDSR .pt/.pth, a Keras .h5 file, or a community "
                                "model (.pth/.safetensors: ESRGAN, Real-ESRGAN, SwinIR, HAT, SPAN, ...)")
    p.add_argument("--model", help="network name (needed for official and Keras files)")
    p.add_argument("--name", help="the name it gets (default: from the file); never one of our networks' names")
    p.add_argument("--overwrite", action="store_true", help="replace a model of yours of the same name")
    p.set_defaults(func=run_add_model)

    p = sub.add_parser("remove-model", help="remove one of your models (ours cannot be removed)")
    p.add_argument("name", help="the model's name, as `sisr models` lists it")
    p.set_defaults(func=run_remove_model)

    p = sub.add_parser("import-keras", help="convert the Keras project's HDF5 weights to a weight file of ours")
    p.add_argument("file", metavar="FILE.h5")
    p.add_argument("--model", required=True, choices=("sr", "esr", "dsr", "rnsr", "distilled_rnsr", "nlrnsr"))
    p.add_argument("-o", "--output", required=True, metavar="OUT.safetensors")
    p.set_defaults(func=run_import_keras)

    p = sub.add_parser("import-weights", help="convert official EDSR-PyTorch/WDSR weights to a weight file of ours")
    p.add_argument("file", metavar="FILE.pt")
    p.add_argument("--model", required=True, choices=("edsr", "edsr-baseline", "wdsr-a", "wdsr-b"))
    p.add_argument("-o", "--output", required=True, metavar="OUT.safetensors")
    p.set_defaults(func=run_import_weights)

    p = sub.add_parser("export", help="export a network's RGB-to-RGB upscaling to ONNX (dynamic height and width)")
    p.add_argument("--model", help="network name (default: the one the weight file names)")
    p.add_argument("--scale", type=_scale, required=True)
    p.add_argument("--weights", metavar="FILE", help="a weight file (default: the user's or shipped one)")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    p.set_defaults(func=run_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = "sisr " + shlex.join(argv)  # for the training metadata
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    return args.func(args)


def exit_now(code: int) -> NoReturn:
    """End the process with ``code`` after a command has returned, skipping the interpreter's teardown
    (0.3-0.5 s with torch loaded, measured; a command has written, synced and closed its files by then)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # a closed pipe, or no stream at all
            pass
    os._exit(code)


def run() -> NoReturn:
    """The ``sisr`` program."""
    try:
        code = main()
    except BrokenPipeError:  # the reader of our output went away (`sisr models | head`): no traceback
        code = 1
    exit_now(code)


if __name__ == "__main__":
    run()
