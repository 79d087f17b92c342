"""Files and folders in, upscaled files out: the batch logic shared by ``sisr upscale`` and the app.

Outputs are named ``{stem}{suffix}.{ext}``, written atomically, never overwrite an existing file
unless asked (so a re-run resumes), and a file that fails is reported and skipped: the batch goes on.

A job is three stages: read (decode, pixels kept in their stored integers), upscale, write (encode).
``run_batch`` overlaps them: a reader thread decodes the next image and a writer (the caller's
thread) encodes the previous result while the network runs in between; torch and the codecs release
the GIL, so the batch costs about its inference time. An image that the network runs in tiles anyway (to
PNG or TIFF), or whose float result would not fit the memory budget, is upscaled in bands of rows that are
encoded while the next band computes (``upscale_image_bands``).
"""
from __future__ import annotations

import queue
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, TypeVar

from sisr_core.atomic import stale_partials
from sisr_core.io import (
    STREAMED_FORMATS,
    ImageData,
    ImageReadError,
    ImageWriteError,
    is_image_file,
    output_format_for,
    plan_banded_write,
    read_image,
    sample_dtype,
    write_image,
    write_image_bands,
)

if TYPE_CHECKING:  # torch is imported by the functions that run the network, so that planning and reading
    import torch  # start before it has loaded (see ``read_ahead``)

    from sisr_core.inference.engine import TilePlan, Upscaler
    from sisr_core.zoo import AutoUpscaler

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
    model: str = ""  # which network and weights ran, e.g. "wdsr-a (photo weights)"


def collect_inputs(
    inputs: list[str | Path], recursive: bool = False, suffix: str = "_x{scale}"
) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand files and folders to (file, folder it was found under); returns them and error lines.

    A folder's :func:`earlier_outputs` (for ``suffix``) are left out; a file named explicitly is an input."""
    found, errors = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            pattern = item.rglob("*") if recursive else item.glob("*")
            files = sorted(p for p in pattern if p.is_file() and is_image_file(p) and not p.name.startswith("."))
            outputs = earlier_outputs(files, suffix)
            found += [(f, item) for f in files if f not in outputs]
        elif item.exists():
            found.append((item, item.parent))
        else:
            errors.append(f"{item}: no such file or folder")
    return found, errors


def earlier_outputs(files: list[Path], suffix: str) -> set[Path]:
    """The files that this app wrote beside their input: ``{stem}{suffix}`` (``{scale}`` any number), or its
    ``_bicubic`` intermediate, in the folder of an image ``{stem}.*`` among ``files``."""
    named = re.compile(r"\d+".join(map(re.escape, suffix.split("{scale}"))) + "(_bicubic)?")
    stems = {(f.parent, f.stem) for f in files}
    return {f for f in files
            if any((f.parent, f.stem[:i]) in stems and named.fullmatch(f.stem[i:]) for i in range(1, len(f.stem)))}


def output_name(source: Path, suffix: str = "_x{scale}", fmt: str = "same", scale: int = 2) -> str:
    """``{stem}{suffix}.{ext}`` with ``{scale}`` filled in; ``same`` keeps the input's format (GIF, BMP: PNG)."""
    ext = source.suffix.lower() if fmt == "same" else FORMAT_SUFFIX[fmt]
    if fmt == "same" and ext in (".gif", ".bmp"):
        ext = ".png"  # GIF cannot hold a photo's colours; BMP keeps no metadata
    return f"{source.stem}{suffix.format(scale=scale)}{ext}"


def plan_jobs(
    inputs: list[str | Path],
    out_dir: str | Path | None = None,
    suffix: str = "_x{scale}",
    fmt: str = "same",
    scale: int = 2,
    recursive: bool = False,
    save_intermediate: bool = False,
) -> tuple[list[Job], list[str]]:
    """Jobs for files and folders: outputs beside the input, or under ``out_dir`` keeping sub-folders.

    Outputs of an earlier run beside their inputs are not inputs (see :func:`collect_inputs`), so a re-run
    skips what is done instead of upscaling its own outputs."""
    found, errors = collect_inputs(inputs, recursive, suffix)
    jobs = []
    for src, root in found:
        folder = src.parent if out_dir is None else Path(out_dir) / src.parent.relative_to(root)
        output = folder / output_name(src, suffix, fmt, scale)
        intermediate = output.with_name(f"{output.stem}_bicubic{output.suffix}") if save_intermediate else None
        if output.resolve() == src.resolve():
            errors.append(f"{src}: the output would replace the input; give a suffix or another folder")
            continue
        jobs.append(Job(src, output, intermediate))
    return jobs, errors


T = TypeVar("T")
_ERRORS = (ValueError, LookupError, RuntimeError, OSError)  # a file's failure, reported as "file: reason"


@dataclass
class _Stage:
    """A job between stages: its decoded image and upscaled tensor, or its final result already."""

    job: Job
    started: float
    image: ImageData | None = None
    upscaled: torch.Tensor | None = None
    result: JobResult | None = None
    model: str = ""


def run_job(
    job: Job, upscaler: Upscaler | AutoUpscaler, scale: int, overwrite: bool = False, quality: int = 95, **options
) -> JobResult:
    """Upscale one file; errors become a ``failed`` result with a one-line reason, never an exception."""
    stage = _upscale(_read(job, overwrite), upscaler, scale, overwrite, quality, options)
    return _write(stage, scale, overwrite, quality)


def read_ahead(jobs: list[Job], overwrite: bool = False, prefetch: int = 1) -> in_background[_Stage]:
    """Decode ``jobs`` in a thread, ``prefetch`` images ahead of their use, for ``run_batch(reading=...)``.
    Reading needs no torch: started first, the first image decodes while the network's libraries load."""
    return in_background((_read(job, overwrite) for job in jobs), prefetch)


def run_batch(
    jobs: list[Job],
    upscaler: Upscaler | AutoUpscaler,
    scale: int,
    overwrite: bool = False,
    cancel: Callable[[], bool] | None = None,
    quality: int = 95,
    prefetch: int = 1,
    reading: in_background[_Stage] | None = None,
    **options,
) -> Iterator[JobResult]:
    """Run jobs in order, yielding each result; stops between files when ``cancel()`` is true.

    Reading runs ``prefetch`` images ahead in a thread (``reading``: the ``read_ahead`` of these jobs,
    already started), the network in another, writing in the caller's thread; the bounded hand-overs keep
    at most a few images in memory.
    """
    from sisr_core.inference.tiling import Cancelled

    stopping = threading.Event()

    def stop() -> bool:
        return stopping.is_set() or (cancel is not None and cancel())

    read = reading if reading is not None else read_ahead(jobs, overwrite, prefetch)
    upscaled = in_background(
        (_upscale(stage, upscaler, scale, overwrite, quality, {**options, "cancel": stop}) for stage in read), 1
    )
    try:
        for stage in upscaled:
            if cancel is not None and cancel():
                return
            yield _write(stage, scale, overwrite, quality)
            if cancel is not None and cancel():
                return
    except Cancelled:
        if cancel is None or not cancel():
            raise
    finally:
        stopping.set()
        upscaled.close()
        read.close()


def _read(job: Job, overwrite: bool) -> _Stage:
    """Clean stale temporary files, skip an existing output, decode the input (stored integers kept)."""
    stage = _Stage(job, time.perf_counter())
    for target in (job.output, job.intermediate):  # temporary files left by a run that was killed
        if target is not None:
            for stale in stale_partials(target):
                stale.unlink(missing_ok=True)
    if job.output.exists() and not overwrite:
        stage.result = JobResult(job, "skipped", f"{job.output}: exists (use overwrite to replace it)")
        return stage
    try:
        stage.image = read_image(job.source, native=True)
    except ImageReadError as exc:
        stage.result = _failed(stage, str(exc))
    except _ERRORS as exc:
        stage.result = _failed(stage, f"{job.source}: {exc}")
    return stage


def _upscale(stage: _Stage, upscaler: Upscaler | AutoUpscaler, scale: int, overwrite: bool, quality: int, options: dict) -> _Stage:
    """Run the network: in memory for images that fit the budget, else in bands written as they finish."""
    from sisr_core.inference.engine import DEFAULT_MEMORY_BUDGET, image_to_tensor

    if stage.result is not None:
        return stage
    options = dict(options)
    budget = options.pop("memory_budget", DEFAULT_MEMORY_BUDGET)
    try:
        upscaler = upscaler.for_image(stage.image)  # a network's photo or clean weights, by the input
        stage.model = upscaler.label
        tiles = streamed_tiles(stage, upscaler, scale, budget, options)
        if tiles is not None:
            stage.result = _upscale_in_bands(stage, upscaler, scale, overwrite, quality, budget,
                                             {**options, "tile": tiles.tile})
        elif needs_bands(stage.image, scale, budget, options.get("mode", "auto")):
            stage.result = _upscale_in_bands(stage, upscaler, scale, overwrite, quality, budget, options)
        else:
            stage.upscaled = upscaler.upscale(image_to_tensor(stage.image), scale, memory_budget=budget, **options)
    except (ImageReadError, ImageWriteError) as exc:
        stage.result = _failed(stage, str(exc))
    except _ERRORS as exc:
        stage.result = _failed(stage, f"{stage.job.source}: {exc}")
    return stage


def needs_bands(image: ImageData, scale: int, memory_budget: int, mode: str = "auto") -> bool:
    """True when the float result and the writer's copies of it would exceed ``memory_budget``
    (never in ``fast`` mode, which runs the whole image as asked)."""
    channels = image.channels + (image.alpha is not None)
    return mode != "fast" and image.height * image.width * scale * scale * channels * 4 * 3 > memory_budget


def streamed_tiles(stage: _Stage, upscaler: Upscaler, scale: int, budget: int, options: dict) -> TilePlan | None:
    """The network's tiles when they can be written as they finish, the same pixels as in memory: the image
    runs in tiles anyway (``Upscaler.streamed_tiles``), the output streams (PNG, TIFF) and a band of one
    row of tiles fits a writer's share of ``budget``. Tiles sized by the whole budget stream only an image
    that would otherwise be held in memory: one that ``needs_bands`` runs in the banded path's tiles, which
    leave the bands their share (a 6000x6000 photo x2 with `wdsr-a` peaked at 1,458 MB streamed and 804 MB
    banded in fp32, 806 and 656 MB in bf16)."""
    image = stage.image
    if output_format_for(stage.job.output) not in STREAMED_FORMATS:
        return None
    mode = options.get("mode", "auto")
    tiles = upscaler.streamed_tiles(scale, image.height, image.width, mode, options.get("tile"),
                                    options.get("overlap"), budget)
    if tiles is None or (not tiles.speed and needs_bands(image, scale, budget, mode)):
        return None
    row_bytes = image.width * scale * scale * (image.channels + (image.alpha is not None)) * 4
    return tiles if tiles.tile * row_bytes <= budget // 8 else None


def _upscale_in_bands(stage: _Stage, upscaler: Upscaler, scale: int, overwrite: bool, quality: int, budget: int,
                      options: dict) -> JobResult:
    """Upscale and write at once, band by band: the network runs in a thread while bands are encoded."""
    from sisr_core.inference.engine import bicubic_image_bands, upscale_image_bands

    job, image = stage.job, stage.image
    size = (image.height * scale, image.width * scale)
    plans = [plan_banded_write(job.output, image, *size, memory_budget=budget)]
    job.output.parent.mkdir(parents=True, exist_ok=True)
    if job.intermediate is not None:
        plans.append(plan_banded_write(job.intermediate, image, *size, memory_budget=budget))
    warnings = list(image.warnings)
    for plan, make in zip(plans, (upscale_image_bands, bicubic_image_bands)):
        remaining = max(budget - plan.held_bytes, budget // 4)
        if make is upscale_image_bands:
            bands = make(upscaler, image, scale, plan.dtype, memory_budget=remaining, **options)
        else:
            bands = make(image, scale, plan.dtype, memory_budget=remaining, cancel=options.get("cancel"))
        warnings += write_image_bands(plan, in_background(bands, 1), image, quality=quality, overwrite=overwrite)
    return JobResult(job, "done", str(job.output), [f"{job.source}: {w}" for w in warnings],
                     time.perf_counter() - stage.started, stage.model)


def _write(stage: _Stage, scale: int, overwrite: bool, quality: int) -> JobResult:
    """Encode an in-memory result (and its bicubic intermediate); a stage with a result passes through."""
    from sisr_core.inference.engine import bicubic_image, tensor_to_image

    if stage.result is not None:
        return stage.result
    job, image = stage.job, stage.image
    try:
        fmt = output_format_for(job.output)
        result = tensor_to_image(stage.upscaled, image, sample_dtype(image, fmt))  # the samples to write
        stage.upscaled = None
        job.output.parent.mkdir(parents=True, exist_ok=True)
        warnings = list(image.warnings)
        warnings += write_image(job.output, result, format=fmt, quality=quality,
                                overwrite=overwrite)
        del result
        if job.intermediate is not None:
            warnings += write_image(job.intermediate, bicubic_image(image, scale), quality=quality, overwrite=overwrite)
    except (ImageReadError, ImageWriteError) as exc:
        return _failed(stage, str(exc))
    except _ERRORS as exc:
        return _failed(stage, f"{job.source}: {exc}")
    return JobResult(job, "done", str(job.output), [f"{job.source}: {w}" for w in warnings],
                     time.perf_counter() - stage.started, stage.model)


def _failed(stage: _Stage, message: str) -> JobResult:
    return JobResult(stage.job, "failed", message, seconds=time.perf_counter() - stage.started)


class in_background(Iterator[T]):
    """Iterate ``items`` in a thread, at most ``depth`` items ahead of the consumer (taken or being made).

    Errors of the producer are re-raised to the consumer; ``close()`` (or garbage collection) stops the
    producer after its current item and closes ``items``.
    """

    _DONE = object()

    def __init__(self, items: Iterable[T], depth: int = 1):
        self._items = iter(items)
        self._queue: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(max(depth, 1))
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(target=self._produce, name="sisr-prefetch", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            while True:
                while not self._slots.acquire(timeout=0.1):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                try:
                    item = next(self._items)
                except StopIteration:
                    self._queue.put((self._DONE, None))
                    return
                self._queue.put((item, None))
                del item
        except BaseException as error:  # handed to the consumer
            self._queue.put((self._DONE, error))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item, error = self._queue.get()
        self._slots.release()
        if item is self._DONE:
            self._finished = True
            self._thread.join()
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the producer (after the item it is making) and drop what it made."""
        self._stop.set()
        self._finished = True
        if self._thread is not threading.current_thread():
            self._thread.join()
        while not self._queue.empty():
            self._queue.get_nowait()
