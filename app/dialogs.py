"""Small dialogs every part uses: message boxes in the app's theme, the yes/no question asked before
anything is replaced, and error boxes whose technical details go to a log file."""
from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget


def message_box(parent: QWidget | None, icon: QMessageBox.Icon, title: str, text: str,
                buttons=QMessageBox.Ok) -> QMessageBox:
    """A message box drawn by Qt in the app's palette (a native one keeps the system's light colours)."""
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setOption(QMessageBox.Option.DontUseNativeDialog)
    return box


def ask(parent: QWidget | None, title: str, text: str) -> bool:
    """Ask a yes/no question (default No); the one place tests replace to answer it."""
    box = message_box(parent, QMessageBox.Question, title, text, QMessageBox.Yes | QMessageBox.No)
    box.setDefaultButton(QMessageBox.No)
    return box.exec() == QMessageBox.Yes


def log_dir() -> Path:
    """The user's log folder: ``logs`` beside the models in $SISR_USER_DIR, else the platform's log folder."""
    if env := os.environ.get("SISR_USER_DIR"):
        return Path(env) / "logs"
    from platformdirs import user_log_dir

    return Path(user_log_dir("SISR Studio", appauthor=False))


def error_box(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    """A warning saying ``message``; ``details`` (a traceback) are appended to the log, whose path it names."""
    box = message_box(parent, QMessageBox.Warning, title, message)
    if details:
        log = log_dir() / "sisr-studio.log"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {title}: {message}\n{details.rstrip()}\n\n")
            box.setInformativeText(f"The technical details are in {log}.")
        except OSError:
            pass  # the message is what matters; a read-only home loses only the details
    return box
