"""Zoomable, pannable image canvases: the plain one and the before/after slider view.

A view is (zoom, centre in image pixels); ``view_changed`` reports it so another canvas can
follow (the side-by-side view). Below 100 % pixels are smoothed, from 100 % up they stay sharp
(nearest neighbour), so 200 %+ shows the real pixels.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QMouseEvent, QPainter, QPalette, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
WHEEL_STEP = 1.25
CHECKER_PX = 8


def checkerboard() -> QBrush:
    """The usual grey checks that show through transparent pixels."""
    tile = QPixmap(2 * CHECKER_PX, 2 * CHECKER_PX)
    tile.fill(QColor(204, 204, 204))
    painter = QPainter(tile)
    painter.fillRect(0, 0, CHECKER_PX, CHECKER_PX, QColor(153, 153, 153))
    painter.fillRect(CHECKER_PX, CHECKER_PX, CHECKER_PX, CHECKER_PX, QColor(153, 153, 153))
    painter.end()
    return QBrush(tile)


class ImageCanvas(QWidget):
    """Shows one image with wheel zoom about the cursor, drag to pan, fit and fixed zooms."""

    view_changed = Signal(float, QPointF)

    def __init__(self, parent: QWidget | None = None, placeholder: str = ""):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(160, 120)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.placeholder = placeholder
        self.pixmap: QPixmap | None = None
        self.zoom = 1.0
        self.centre = QPointF()
        self.fitting = True
        self._pan_from: QPointF | None = None
        self.drop_target = False  # a file is dragged over the window: highlighted as the place to drop it

    # -- content and view -------------------------------------------------------------------------
    def set_image(self, image: QImage | None) -> None:
        """Show ``image`` (None clears); keeps the view if the size is unchanged, else fits."""
        old = self.pixmap.size() if self.pixmap else None
        self.pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        if self.pixmap is None or old != self.pixmap.size() or self.fitting:
            self.fit()
        self.update()

    def image_size(self):
        return self.pixmap.size() if self.pixmap else None

    def zoom_text(self) -> str:
        """The zoom as the views show it: ``200 %``."""
        return f"{self.zoom * 100:.0f} %"

    def set_drop_target(self, on: bool) -> None:
        self.drop_target = on
        self.update()

    def fit_zoom(self) -> float:
        if not self.pixmap:
            return 1.0
        return max(min(self.width() / self.pixmap.width(), self.height() / self.pixmap.height(), MAX_ZOOM), MIN_ZOOM)

    def fit(self) -> None:
        """Fit the whole image in the widget, and keep fitting as the widget resizes."""
        self.fitting = True
        if self.pixmap:
            self._apply(self.fit_zoom(), QPointF(self.pixmap.width() / 2, self.pixmap.height() / 2))

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` (1.0 = 100 %) keeping the image point under ``anchor`` (widget px) still."""
        if not self.pixmap:
            return
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        under = self.to_image(anchor)
        offset = anchor - QPointF(self.width() / 2, self.height() / 2)
        self.fitting = False
        self._apply(zoom, under - offset / zoom)

    def look_at(self, zoom: float, centre: QPointF) -> None:
        """Show image point ``centre`` in the middle at ``zoom`` (and tell followers)."""
        self.fitting = False
        self._apply(min(max(zoom, MIN_ZOOM), MAX_ZOOM), QPointF(centre))

    def set_view(self, zoom: float, centre: QPointF) -> None:
        """Take another canvas's view without echoing it back."""
        if abs(zoom - self.zoom) < 1e-9 and centre == self.centre:
            return
        self.fitting = False
        self.zoom, self.centre = zoom, QPointF(centre)
        self.update()

    def _apply(self, zoom: float, centre: QPointF) -> None:
        self.zoom, self.centre = zoom, centre
        self.update()
        self.view_changed.emit(self.zoom, QPointF(self.centre))

    def to_image(self, point: QPointF) -> QPointF:
        """Widget coordinates to image pixel coordinates."""
        return self.centre + (point - QPointF(self.width() / 2, self.height() / 2)) / self.zoom

    def image_rect(self) -> QRectF:
        """Where the whole image lies in widget coordinates."""
        if not self.pixmap:
            return QRectF()
        top_left = QPointF(self.width() / 2, self.height() / 2) - self.centre * self.zoom
        return QRectF(top_left.x(), top_left.y(), self.pixmap.width() * self.zoom, self.pixmap.height() * self.zoom)

    # -- painting ---------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(self.backgroundRole()).darker(115))
        if self.pixmap:
            if self.pixmap.hasAlphaChannel():
                painter.fillRect(self.image_rect().intersected(QRectF(self.rect())), checkerboard())
            painter.setRenderHint(QPainter.SmoothPixmapTransform, self.zoom < 1.0)
            self.paint_image(painter)
        else:
            painter.setPen(self.palette().color(self.foregroundRole()))
            painter.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.placeholder)
        if self.drop_target:
            highlight = self.palette().color(QPalette.Highlight)
            painter.fillRect(self.rect(), QColor(highlight.red(), highlight.green(), highlight.blue(), 40))
            painter.setPen(QPen(highlight, 4))
            painter.setBrush(Qt.NoBrush)
            painter.drawRect(QRectF(self.rect()).adjusted(2, 2, -2, -2))

    def paint_image(self, painter: QPainter) -> None:
        painter.drawPixmap(self.image_rect(), self.pixmap, QRectF(self.pixmap.rect()))

    # -- input ------------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        if self.fitting:
            self.fit()
        super().resizeEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.set_zoom(self.zoom * WHEEL_STEP**steps, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() in (Qt.LeftButton, Qt.MiddleButton) and self.pixmap:
            self._pan_from = event.position()
            self.setCursor(Qt.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.fitting = False
            self._apply(self.zoom, self.centre - delta / self.zoom)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._pan_from = None
        self.unsetCursor()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.fit()


class CompareView(ImageCanvas):
    """Before/after slider: one picture, the left of the divider ``before`` (bicubic), the right ``after`` (SR).

    Drag the divider (or use the arrow keys) to move it; drag elsewhere to pan. ``divider`` is the
    divider's position as a fraction of the image width.
    """

    divider_moved = Signal(float)
    GRAB_PX = 10

    def __init__(self, parent: QWidget | None = None, placeholder: str = ""):
        super().__init__(parent, placeholder)
        self.after: QPixmap | None = None
        self.divider = 0.5
        self._dragging = False
        self.labels = ("Bicubic", "Super-resolution")

    def set_images(self, before: QImage | None, after: QImage | None) -> None:
        """``before`` and ``after`` must have the same size (both at the output scale)."""
        self.after = QPixmap.fromImage(after) if after is not None else None
        self.set_image(before)

    def set_divider(self, fraction: float) -> None:
        self.divider = min(max(fraction, 0.0), 1.0)
        self.update()
        self.divider_moved.emit(self.divider)

    def divider_x(self) -> float:
        rect = self.image_rect()
        return rect.left() + rect.width() * self.divider

    def paint_image(self, painter: QPainter) -> None:
        """Both pictures split at the divider with their labels, and the zoom in the bottom-right corner."""
        if self.after is None:
            super().paint_image(painter)
        else:
            self._paint_split(painter)
        bottom = self.height() - painter.fontMetrics().height() - 14
        self._paint_label(painter, self.zoom_text(), QPointF(self.width() - 8, bottom), Qt.AlignRight)

    def _paint_split(self, painter: QPainter) -> None:
        rect = self.image_rect()
        x = self.divider_x()
        split = self.pixmap.width() * self.divider
        painter.drawPixmap(QRectF(rect.left(), rect.top(), x - rect.left(), rect.height()), self.pixmap,
                           QRectF(0, 0, split, self.pixmap.height()))
        painter.drawPixmap(QRectF(x, rect.top(), rect.right() - x, rect.height()), self.after,
                           QRectF(split, 0, self.after.width() - split, self.after.height()))
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(QPointF(x, max(rect.top(), 0)), QPointF(x, min(rect.bottom(), self.height())))
        handle_y = min(max(rect.center().y(), 20), self.height() - 20)
        painter.setBrush(QColor(40, 40, 40, 200))
        painter.drawEllipse(QPointF(x, handle_y), 12, 12)
        painter.drawText(QRectF(x - 12, handle_y - 12, 24, 24), Qt.AlignCenter, "⇔")
        self._paint_label(painter, self.labels[0], QPointF(x - 8, 8), Qt.AlignRight)
        self._paint_label(painter, self.labels[1], QPointF(x + 8, 8), Qt.AlignLeft)

    def _paint_label(self, painter: QPainter, text: str, at: QPointF, align) -> None:
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 12, metrics.height() + 6
        box = QRectF(at.x() - w if align == Qt.AlignRight else at.x(), at.y(), w, h)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(0, 0, 0, 150))
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignCenter, text)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.LeftButton and self.after is not None and abs(event.position().x() - self.divider_x()) <= self.GRAB_PX:
            self._dragging = True
            self.setCursor(Qt.SplitHCursor)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._dragging:
            rect = self.image_rect()
            self.set_divider((event.position().x() - rect.left()) / max(rect.width(), 1))
            return
        if self.after is not None and self._pan_from is None:
            near = abs(event.position().x() - self.divider_x()) <= self.GRAB_PX
            self.setCursor(Qt.SplitHCursor) if near else self.unsetCursor()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._dragging = False
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:
        step = {Qt.Key_Left: -0.05, Qt.Key_Right: 0.05}.get(event.key())
        if step is not None and self.after is not None:
            self.set_divider(self.divider + step)
        else:
            super().keyPressEvent(event)
