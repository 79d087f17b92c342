"""Save As: folder and name (from a suffix), format, quality, and whether to save the bicubic image too."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
    QPushButton, QSpinBox, QWidget,
)

FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp", "tiff": ".tif"}


def output_name(source: Path, suffix: str, fmt: str, scale: int) -> str:
    """``{stem}{suffix}.{ext}`` with ``{scale}`` filled in, like the batch outputs."""
    return f"{source.stem}{suffix.format(scale=scale)}{FORMATS[fmt]}"


def intermediate_path(output: Path) -> Path:
    """Where the bicubic image goes beside an output: ``{stem}_bicubic.{ext}``."""
    return output.with_name(f"{output.stem}_bicubic{output.suffix}")


class SaveDialog(QDialog):
    """Choose where and how to save the result; :meth:`choice` gives path, format, quality, intermediate."""

    def __init__(self, source: Path, folder: str, scale: int, options: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Save As")
        self.source, self.scale = source, scale
        self.folder = QLineEdit(folder or str(source.parent))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.suffix = QLineEdit(options["suffix"])
        self.suffix.setToolTip("Added to the input's name; {scale} becomes the scale")
        self.format = QComboBox()
        for fmt in FORMATS:
            self.format.addItem(fmt.upper(), fmt)
        self.format.setCurrentIndex(max(self.format.findData(options["format"]), 0))
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(options["quality"])
        self.quality.setToolTip("JPEG and WEBP quality (WEBP 100 = lossless)")
        self.intermediate = QCheckBox("Also save the intermediate (bicubic) image")
        self.intermediate.setChecked(options["intermediate"])
        self.name = QLineEdit()
        self.name.setReadOnly(True)

        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        form = QFormLayout(self)
        form.addRow("Folder", row)
        form.addRow("Suffix", self.suffix)
        form.addRow("Format", self.format)
        form.addRow("Quality", self.quality)
        form.addRow("File name", self.name)
        form.addRow(self.intermediate)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        for signal in (self.suffix.textChanged, self.format.currentIndexChanged):
            signal.connect(self._update_name)
        self.format.currentIndexChanged.connect(self._update_quality)
        self._update_name()
        self._update_quality()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save into", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def _update_name(self) -> None:
        try:
            self.name.setText(output_name(self.source, self.suffix.text(), self.format.currentData(), self.scale))
        except (KeyError, IndexError, ValueError):
            self.name.setText(f"{self.source.stem}{self.suffix.text()}{FORMATS[self.format.currentData()]}")

    def _update_quality(self) -> None:
        self.quality.setEnabled(self.format.currentData() in ("jpg", "webp"))

    def choice(self) -> dict:
        """``path``, ``format``, ``quality``, ``intermediate`` and the ``suffix`` typed."""
        return {"path": Path(self.folder.text()) / self.name.text(), "format": self.format.currentData(),
                "quality": self.quality.value(), "intermediate": self.intermediate.isChecked(),
                "suffix": self.suffix.text()}
