"""One way to run long work off the GUI thread: a QThread running a task with progress and abort.

Modelled on napari/superqt workers: signals ``started``, ``yielded`` (progress), ``returned``,
``errored``, ``aborted`` and ``finished``. A task is a plain callable ``task(report, aborted)``:
``report(value)`` emits ``yielded`` and ``aborted()`` says whether :meth:`Worker.abort` was called,
so ``sisr_core`` receives them as the plain progress/cancel callables it expects. An exception
raised after an abort was asked for (such as the engine's ``Cancelled``) counts as the abort, not
as an error. Errors not handled by the owner go to :func:`error_hub`, the one place that shows them.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

Task = Callable[[Callable[[Any], None], Callable[[], bool]], Any]


class ErrorHub(QObject):
    """Where every error meant for the user is sent: ``error(title, message, details)``."""

    error = Signal(str, str, str)

    def report(self, title: str, exc: BaseException) -> None:
        """Send an exception as a one-line message plus its traceback for the details box."""
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.error.emit(title, str(exc) or type(exc).__name__, details)


_hub: ErrorHub | None = None


def error_hub() -> ErrorHub:
    """The application's single ErrorHub (created on first use, in the GUI thread)."""
    global _hub
    if _hub is None:
        _hub = ErrorHub()
    return _hub


class Worker(QThread):
    """Runs ``task(report, aborted)`` in its own thread; ``title`` names the work in error messages."""

    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)
    aborted = Signal()

    def __init__(self, task: Task, title: str = "Error", parent: QObject | None = None, report_errors: bool = True):
        super().__init__(parent)
        self._task = task
        self._abort = threading.Event()
        self.title = title
        if report_errors:
            self.errored.connect(lambda exc: error_hub().report(self.title, exc))

    def abort(self) -> None:
        """Ask the task to stop at its next check."""
        self._abort.set()

    def is_aborted(self) -> bool:
        return self._abort.is_set()

    def run(self) -> None:
        try:
            result = self._task(self.yielded.emit, self.is_aborted)
        except Exception as exc:  # noqa: BLE001 - every failure must reach the user, not kill the thread
            if self.is_aborted():
                self.aborted.emit()
            else:
                self.errored.emit(exc)
            return
        if self.is_aborted():
            self.aborted.emit()
        else:
            self.returned.emit(result)


class WorkerSet(QObject):
    """Keeps running workers alive until they finish, so callers can start and forget them."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._running: set[Worker] = set()

    def start(self, worker: Worker) -> Worker:
        self._running.add(worker)
        worker.finished.connect(lambda: self._running.discard(worker))
        worker.start()
        return worker

    def running(self) -> list[Worker]:
        return [w for w in self._running if w.isRunning()]

    def stop_all(self, timeout_ms: int = 10000) -> None:
        """Abort every running worker and wait for it (used when the window closes)."""
        for worker in list(self._running):
            worker.abort()
        for worker in list(self._running):
            worker.wait(timeout_ms)
