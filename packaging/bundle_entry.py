"""Entry point of the PyInstaller bundle: one script behind both executables.

``SISR Studio`` (windowed) runs ``main.py``: no arguments opens the window, ``IMAGE [options]`` the
Keras-compatible command line. ``sisr`` (console, same folder, same libraries) runs ``sisr_core.cli``.
The executable's own name picks which, so both share one analysis and one copy of torch and Qt.

``SISR_EXIT_AFTER_SHOWN_MS=N`` (used by ``packaging/check_bundle.py``) prints one line once the main
window has been shown and painted, then closes it after N ms: proof that the bundle starts.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from pathlib import Path

LAUNCHED = time.perf_counter()


def _report_when_shown(delay_ms: int) -> None:
    """Wrap MainWindow.showEvent: after the first paint, print the time and close the window later."""
    from PySide6.QtCore import QTimer

    from app import main_window
    from app.theme import RESOURCES

    original = main_window.MainWindow.showEvent

    def show_event(window, event):
        original(window, event)
        if getattr(window, "_bundle_reported", False):
            return
        window._bundle_reported = True

        def painted():
            image = window.grab()  # renders the whole window once
            if path := os.environ.get("SISR_SHOWN_SCREENSHOT"):
                image.save(path)
            elapsed_ms = (time.perf_counter() - LAUNCHED) * 1000
            from sisr_core.weights import shipped_weights_dir  # imports torch: only after the window is up

            found = "found" if (RESOURCES / "icon.svg").is_file() else "MISSING"
            print(f"SISR Studio window shown: {window.windowTitle()!r} {image.width()}x{image.height()} "
                  f"{elapsed_ms:.0f} ms after the interpreter started; "
                  f"resources {found} in {RESOURCES}; weights from {shipped_weights_dir()}", flush=True)
            QTimer.singleShot(delay_ms, window.close)

        QTimer.singleShot(0, painted)

    main_window.MainWindow.showEvent = show_event


def main() -> int:
    multiprocessing.freeze_support()  # DataLoader workers (--workers N) re-run this executable
    for stream in ("stdout", "stderr"):  # None in a Windows windowed executable; print/tqdm need a file
        if getattr(sys, stream) is None:
            setattr(sys, stream, open(os.devnull, "w"))
    if Path(sys.executable).stem.lower() == "sisr":
        from sisr_core.cli import run

        run()
    import main as studio

    if not sys.argv[1:] and (delay := os.environ.get("SISR_EXIT_AFTER_SHOWN_MS")):
        _report_when_shown(int(delay))
    return studio.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
