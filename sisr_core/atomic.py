"""The one way files the user keeps are written: whole or not at all.

Every writer (images, weight files and checkpoints, installed models, JSON and ONNX outputs) writes
through :func:`atomic_file`: a hidden ``.{name}.{random}.part`` file beside the target, fsynced, then
moved into place, so a crash, a full disk or a kill never leaves a half-written file under the real
name. Appended logs (a training run's ``log.csv``, the app's error log) are not rewritten this way: an
append never destroys what was there.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, overwrite: bool = True, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; when the block ends without an error it is
    fsynced and moved to ``path``, otherwise removed.

    Without ``overwrite`` the move is a hard link, which raises FileExistsError if ``path`` exists
    (also when it appeared meanwhile), so two writers cannot clobber each other.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
    # open(mode "x") rather than mkstemp, whose 0o600 mode the output would keep
    f = open(temporary, mode.replace("w", "x"), **({} if "b" in mode else {"encoding": "utf-8"}))
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _move_into_place(temporary, path, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_bytes(path: str | os.PathLike, data: bytes | str, overwrite: bool = True) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`atomic_file`."""
    with atomic_file(path, overwrite, "w" if isinstance(data, str) else "wb") as f:
        f.write(data)
    return Path(path)


def stale_partials(path: str | os.PathLike) -> list[Path]:
    """Temporary files that a killed :func:`atomic_file` left for ``path``."""
    path = Path(path)
    return list(path.parent.glob(f".{path.name}.*.part"))


def _move_into_place(temporary: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links (FAT, some network shares)
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(temporary, path)
        return
    os.unlink(temporary)
