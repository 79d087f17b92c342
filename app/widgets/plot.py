"""A small line plot drawn with QPainter (no plotting dependency): loss or PSNR against step."""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MAX_POINTS = 2000


class LinePlot(QWidget):
    """One series of (step, value) points with labelled min/max axes; ``log_y`` for losses."""

    def __init__(self, title: str, color: QColor, log_y: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.title, self.color, self.log_y = title, QColor(color), log_y
        self.points: list[tuple[float, float]] = []
        self.setMinimumSize(220, 140)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def add_point(self, step: float, value: float) -> None:
        if value is None or not math.isfinite(value) or (self.log_y and value <= 0):
            return
        self.points.append((float(step), float(value)))
        if len(self.points) > MAX_POINTS:  # keep every other old point so long runs stay cheap to draw
            self.points = self.points[: MAX_POINTS // 2 : 2] + self.points[MAX_POINTS // 2 :]
        self.update()

    def clear(self) -> None:
        self.points = []
        self.update()

    def _y(self, value: float) -> float:
        return math.log10(value) if self.log_y else value

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        text = self.palette().color(self.foregroundRole())
        painter.fillRect(self.rect(), self.palette().base())
        metrics = painter.fontMetrics()
        latest = f"  {self.points[-1][1]:.4g}" if self.points else ""
        painter.setPen(text)
        painter.drawText(QRectF(8, 4, self.width() - 16, metrics.height()), Qt.AlignLeft, self.title + latest)
        area = QRectF(56, metrics.height() + 10, self.width() - 66, self.height() - 2 * metrics.height() - 20)
        grid = QColor(text)
        grid.setAlpha(60)
        painter.setPen(grid)
        painter.drawRect(area)
        if len(self.points) < 1 or area.width() < 10 or area.height() < 10:
            return
        xs = [p[0] for p in self.points]
        ys = [self._y(p[1]) for p in self.points]
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x1 = x0 + 1
        if y1 - y0 < 1e-9:
            y0, y1 = y0 - 0.5, y1 + 0.5

        def at(x: float, y: float) -> QPointF:
            return QPointF(area.left() + (x - x0) / (x1 - x0) * area.width(),
                           area.bottom() - (y - y0) / (y1 - y0) * area.height())

        path = QPainterPath(at(xs[0], ys[0]))
        for x, y in zip(xs[1:], ys[1:]):
            path.lineTo(at(x, y))
        painter.setPen(QPen(self.color, 2))
        if len(self.points) == 1:
            painter.drawEllipse(at(xs[0], ys[0]), 3, 3)
        painter.drawPath(path)
        painter.setPen(text)
        label = (lambda v: f"{10**v:.3g}") if self.log_y else (lambda v: f"{v:.3g}")
        painter.drawText(QRectF(0, area.top() - 6, 52, 14), Qt.AlignRight, label(y1))
        painter.drawText(QRectF(0, area.bottom() - 8, 52, 14), Qt.AlignRight, label(y0))
        painter.drawText(QRectF(area.left(), area.bottom() + 2, 80, 16), Qt.AlignLeft, f"{x0:.0f}")
        painter.drawText(QRectF(area.right() - 80, area.bottom() + 2, 80, 16), Qt.AlignRight, f"step {x1:.0f}")
