"""Files and folders in, upscaled files out: the batch logic shared by ``sisr upscale`` and the app.

Outputs are named ``{stem}{suffix}.{ext}``, written atomically, never overwrite an existing file
unless asked (so a re-run resumes), and a file that fails is reported and skipped: the batch goes on.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from sisr_core.inference.engine import Upscaler, bicubic_image, upscale_image
from sisr_core.io import ImageReadError, ImageWriteError, is_image_file, output_format_for, read_image, write_image

FORMAT_SUFFIX = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tiff": ".tif"}


@dataclass
class Job:
    """One input file and where its output (and optional intermediate) goes."""

    source: Path
    output: Path
    intermediate: Path | None = None


@dataclass
class JobResult:
    """What happened to one job: ``done``, ``skipped`` or ``failed`` (with a one-line reason)."""

    job: Job
    status: str
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def collect_inputs(inputs: list[str | Path], recursive: bool = False) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files and folders to (file, folder it was found under); returns them and error lines."""
    found, errors = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            pattern = item.rglob("*") if recursive else item.glob("*")
            files = sorted(p for p in pattern if p.is_file() and is_image_file(p) and not p.name.startswith("."))
            found += [(f, item) for f in files]
        elif item.exists():
            found.append((item, item.parent))
        else:
            errors.append(f"{item}: no such file or folder")
    return found, errors


def plan_jobs(
    inputs: list[str | Path],
    out_dir: str | Path | None = None,
    suffix: str = "_x{scale}",
    fmt: str = "same",
    scale: int = 2,
    recursive: bool = False,
    save_intermediate: bool = False,
) -> tuple[list[Job], list[str]]:
    """Jobs for files and folders: outputs beside the input, or under ``out_dir`` keeping sub-folders."""
    found, errors = collect_inputs(inputs, recursive)
    suffix = suffix.format(scale=scale)
    jobs = []
    for src, root in found:
        ext = src.suffix.lower() if fmt == "same" else FORMAT_SUFFIX[fmt]
        if fmt == "same" and ext in (".gif", ".bmp"):
            ext = ".png"  # GIF cannot hold a photo's colours; BMP keeps no metadata
        folder = src.parent if out_dir is None else Path(out_dir) / src.parent.relative_to(root)
        output = folder / f"{src.stem}{suffix}{ext}"
        intermediate = folder / f"{src.stem}{suffix}_bicubic{ext}" if save_intermediate else None
        if output.resolve() == src.resolve():
            errors.append(f"{src}: the output would replace the input; give a suffix or another folder")
            continue
        jobs.append(Job(src, output, intermediate))
    return jobs, errors


def run_job(
    job: Job, upscaler: Upscaler, scale: int, overwrite: bool = False, quality: int = 95, **options
) -> JobResult:
    """Upscale one file; errors become a ``failed`` result with a one-line reason, never an exception."""
    started = time.perf_counter()
    for target in (job.output, job.intermediate):  # temporary files left by a run that was killed
        if target is not None:
            for stale in target.parent.glob(f".{target.name}.*.part"):
                stale.unlink(missing_ok=True)
    if job.output.exists() and not overwrite:
        return JobResult(job, "skipped", f"{job.output}: exists (use overwrite to replace it)")
    try:
        image = read_image(job.source)
        result = upscale_image(upscaler, image, scale, **options)
        job.output.parent.mkdir(parents=True, exist_ok=True)
        warnings = list(image.warnings)
        warnings += write_image(job.output, result, format=output_format_for(job.output), quality=quality, overwrite=overwrite)
        if job.intermediate is not None:
            warnings += write_image(job.intermediate, bicubic_image(image, scale), quality=quality, overwrite=overwrite)
    except (ImageReadError, ImageWriteError) as exc:
        return JobResult(job, "failed", str(exc), seconds=time.perf_counter() - started)
    except (ValueError, LookupError, RuntimeError, OSError) as exc:
        return JobResult(job, "failed", f"{job.source}: {exc}", seconds=time.perf_counter() - started)
    return JobResult(job, "done", str(job.output), [f"{job.source}: {w}" for w in warnings], time.perf_counter() - started)


def run_batch(
    jobs: list[Job],
    upscaler: Upscaler,
    scale: int,
    overwrite: bool = False,
    cancel: Callable[[], bool] | None = None,
    **options,
) -> Iterator[JobResult]:
    """Run jobs one by one, yielding each result; stops between files when ``cancel()`` is true."""
    for job in jobs:
        if cancel is not None and cancel():
            return
        yield run_job(job, upscaler, scale, overwrite=overwrite, cancel=cancel, **options)
