"""SISR Studio entry point.

``python main.py`` opens the window. ``python main.py IMAGE [--model=dsr] [--scale=2]
[--mode=fast|patch] [--patch_size=N] [--suffix=S] [--save_intermediate="True"]`` upscales from the
command line with the option spellings of the Keras "Image Super Resolution" project that SISR
Studio grew from, writing ``{name}_{suffix}({scale}x){ext}`` next to the input.
"""
from __future__ import annotations

import argparse
import sys

MIN_PATCH = 32  # the Keras default of 8 px tiles would be all overlap; smaller requests are raised to this


def _truthy(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "y"):
        return True
    if value in ("false", "0", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def keras_parser() -> argparse.ArgumentParser:
    """The Keras project's ``main.py`` options (both ``--patch_size`` and ``--patch-size`` spellings)."""
    from sisr_core.cli import _scale

    p = argparse.ArgumentParser(prog="main.py", description="Upscale an image (Keras-compatible options).")
    p.add_argument("imgpath", nargs="+", help="image file(s) or folder(s)")
    p.add_argument("--model", default=None, help="network name (default: the shipped default network)")
    p.add_argument("--scale", type=_scale, default=2)
    p.add_argument("--mode", choices=("fast", "patch", "auto"), default="auto")
    p.add_argument("--patch_size", "--patch-size", dest="patch_size", type=int, default=None)
    p.add_argument("--suffix", default="scaled")
    p.add_argument("--save_intermediate", "--save-intermediate", dest="save_intermediate", type=_truthy,
                   nargs="?", const=True, default=False)
    p.add_argument("--weights", default=None, help="a weight file to use instead of the shipped one")
    p.add_argument("--output", "-o", default=None, help="output folder (default: beside the input)")
    return p


def run_cli(argv: list[str]) -> int:
    """Translate the Keras-style options to ``sisr upscale`` and run it."""
    from sisr_core import cli

    args = keras_parser().parse_args(argv)
    forwarded = [*args.imgpath, "--scale", str(args.scale), "--mode", args.mode,
                 "--suffix", f"_{args.suffix}({{scale}}x)" if args.suffix else "({scale}x)"]
    if args.model:
        forwarded += ["--model", args.model]
    if args.weights:
        forwarded += ["--weights", args.weights]
    if args.output:
        forwarded += ["--output", args.output]
    if args.patch_size is not None:
        forwarded += ["--patch-size", str(max(args.patch_size, MIN_PATCH))]
    if args.save_intermediate:
        forwarded.append("--save-intermediate")
    return cli.main(["upscale", *forwarded])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        return run_cli(argv)
    from app.main_window import run_app

    return run_app()


if __name__ == "__main__":
    code = main()
    if sys.argv[1:]:  # the command line: done and written, so no interpreter teardown (see exit_now)
        from sisr_core.cli import exit_now

        exit_now(code)
    sys.exit(code)
