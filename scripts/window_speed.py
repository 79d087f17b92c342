"""The window's upscale time against `sisr upscale`'s network time, on one photo-like image.

Usage: .venv/bin/python scripts/window_speed.py [--size 481x321] [--model NAME] [--mode auto] [--repeat 7]

The window path is ``app.upscaling.upscale_image_for_window``, the function the window's worker runs
(Qt aside): the network's photo or clean weights for the image, the engine call with the panel's mode,
the result back to image data and the bicubic image for the before/after view. The command line's
network time is the call ``sisr upscale`` makes for each file (``Upscaler.upscale`` in mode auto, with
a cancel callable, as ``sisr_core.batch`` runs it), without decoding or encoding. The image is a
synthetic photo (Set14 pictures in a mosaic, slight noise) saved as a JPEG and read back as each path
reads it. Networks are loaded before timing; the two paths alternate and each keeps its best time.
Printed: the whole window path, its upscale part (the "Done in" figure of the status line; the rest is
the bicubic image of the before/after view), the command line's network time, and the ratios, in wall
seconds and in CPU seconds of this process (steadier on a loaded machine, where wall time is mostly
the scheduler's luck).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from app.upscaling import upscale_image_for_window
from sisr_core.bench import save_photo, synthetic_photo
from sisr_core.inference.engine import image_to_tensor
from sisr_core.io import read_image
from sisr_core.zoo import AutoUpscaler, default_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="481x321", help="photo width x height (default 481x321, a BSD photo's)")
    parser.add_argument("--model", help="network (default: the default network)")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--mode", choices=("auto", "fast", "patch"), default="auto", help="the panel's mode")
    parser.add_argument("--patch-size", type=int, default=128, help="the panel's patch size (patch mode)")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each path (best kept)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    model = args.model or default_model()
    upscalers: dict = {}

    def upscaler_for(name: str, device: str, variant: str):  # as MainWindow.upscaler_for: one per choice
        return upscalers.setdefault((name, device, variant), AutoUpscaler(name, device=device, requested=variant))

    options = {"model": model, "variant": "auto", "scale": args.scale, "mode": args.mode, "tile": args.patch_size,
               "device": "auto", "ensemble": False}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        save_photo(path, synthetic_photo(height, width))
        window_image, cli_image = read_image(path), read_image(path, native=True)
    cli = AutoUpscaler(model).for_image(cli_image)

    what = {}

    def window_path() -> tuple[float, float]:
        result = upscale_image_for_window(upscaler_for, window_image, options, progress=lambda d, t: None,
                                          cancel=lambda: False)
        what["window"] = f"{result.model}, {result.tiling}"
        return result.seconds

    def cli_path() -> None:
        cli.upscale(image_to_tensor(cli_image), args.scale, mode="auto", cancel=lambda: False)

    def timed(fn) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        return time.perf_counter() - wall, time.process_time() - cpu

    window_path(), cli_path()  # load the networks
    best = {key: [float("inf")] * 2 for key in ("window", "cli")}
    upscale_best = float("inf")
    for _ in range(args.repeat):
        seconds = []
        best["window"] = [min(b, t) for b, t in zip(best["window"], timed(lambda: seconds.append(window_path())))]
        upscale_best = min(upscale_best, seconds[0])
        best["cli"] = [min(b, t) for b, t in zip(best["cli"], timed(cli_path))]
    (window_wall, window_cpu), (cli_wall, cli_cpu) = best["window"], best["cli"]
    print(f"{width}x{height} JPEG photo x{args.scale}, best of {args.repeat}, wall / CPU seconds")
    print(f"window, whole worker (upscale_image_for_window, mode {args.mode}): {window_wall:.3f} / {window_cpu:.3f} s"
          f"  [{what['window']}]")
    print(f"window, upscale part (the status line's 'Done in'): {upscale_best:.3f} s wall")
    print(f"command line network (Upscaler.upscale, mode auto): {cli_wall:.3f} / {cli_cpu:.3f} s  [{cli.label}]")
    print(f"ratio window / command line: {window_wall / cli_wall:.2f} wall ({upscale_best / cli_wall:.2f} upscale part),"
          f" {window_cpu / cli_cpu:.2f} CPU")


if __name__ == "__main__":
    main()
