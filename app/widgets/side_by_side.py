"""Two canvases next to each other whose zoom and pan stay in sync (bicubic vs SR, or two networks)."""
from __future__ import annotations

from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.widgets.canvas import ImageCanvas

BICUBIC = "Bicubic"


class SideBySideView(QWidget):
    """Left: bicubic or another network (chosen in ``left_source``); right: the SR result."""

    left_source_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.left = ImageCanvas(placeholder="Bicubic")
        self.right = ImageCanvas(placeholder="Super-resolution")
        self.left_source = QComboBox()
        self.left_source.addItem(BICUBIC)
        self.left_source.setToolTip("What the left side shows: the bicubic enlargement or another network")
        self.left_source.currentTextChanged.connect(self.left_source_changed)
        self.right_caption = QLabel("Super-resolution")
        self.zoom_label = QLabel()

        header = QHBoxLayout()
        header.addWidget(QLabel("Left:"))
        header.addWidget(self.left_source)
        header.addStretch(1)
        header.addWidget(self.zoom_label)
        header.addStretch(1)
        header.addWidget(QLabel("Right:"))
        header.addWidget(self.right_caption)
        panes = QHBoxLayout()
        panes.setSpacing(4)
        panes.addWidget(self.left)
        panes.addWidget(self.right)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(header)
        layout.addLayout(panes, 1)

        for canvas, other in ((self.left, self.right), (self.right, self.left)):
            canvas.view_changed.connect(lambda zoom, centre, other=other: self._follow(other, zoom, centre))

    def _follow(self, other: ImageCanvas, zoom: float, centre: QPointF) -> None:
        other.set_view(zoom, centre)
        self.zoom_label.setText(other.zoom_text())

    def set_images(self, left: QImage | None, right: QImage | None, caption: str = "Super-resolution") -> None:
        """Show a new pair; ``caption`` names what made the right picture."""
        self.left.set_image(left)
        self.right.set_image(right)
        self.right_caption.setText(caption)

    def set_left(self, image: QImage | None) -> None:
        """Replace the left picture, keeping the shared view."""
        zoom, centre, fitting = self.right.zoom, QPointF(self.right.centre), self.right.fitting
        self.left.set_image(image)
        if not fitting:
            self.left.set_view(zoom, centre)

    def set_networks(self, names: list[str]) -> None:
        """Offer these networks (besides bicubic) for the left side, keeping the current choice."""
        current = self.left_source.currentText()
        self.left_source.blockSignals(True)
        self.left_source.clear()
        self.left_source.addItems([BICUBIC, *names])
        self.left_source.setCurrentText(current if current in names else BICUBIC)
        self.left_source.blockSignals(False)

    def canvases(self) -> tuple[ImageCanvas, ImageCanvas]:
        return self.left, self.right

    def fit(self) -> None:
        self.left.fit()
        self.right.fit()

    def set_zoom(self, zoom: float) -> None:
        self.right.set_zoom(zoom)
