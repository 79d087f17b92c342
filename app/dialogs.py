"""Small dialogs every part uses: message boxes in the app's theme, and the yes/no question asked before
anything is replaced."""
from __future__ import annotations

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
