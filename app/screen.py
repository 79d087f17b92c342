"""Fitting a top-level window to its screen, shared by the main window and the training wizard."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QStyle, QWidget

FRAME_ROOM = QSize(16, 40)  # the title bar and borders a window manager adds: unknown until the window is shown


def fit_to_screen(widget: QWidget) -> None:
    """Cap a top-level ``widget``, with room for its frame, to its screen's available area, and centre it there
    unless it lies on it whole already (a geometry saved on a bigger monitor must not run off a smaller one)."""
    if widget.windowState() & (Qt.WindowMaximized | Qt.WindowFullScreen):
        return
    area = widget.screen().availableGeometry()
    size = widget.size().boundedTo(area.size() - FRAME_ROOM)
    if size != widget.size() or not area.contains(QRect(widget.pos(), size + FRAME_ROOM)):
        widget.resize(size)
        widget.move(QStyle.alignedRect(Qt.LeftToRight, Qt.AlignCenter, size + FRAME_ROOM, area).topLeft())
