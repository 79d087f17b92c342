"""Batch folder conversion: input and output folders, a per-file status list, overall progress with
ETA, Cancel and a summary. The work is ``sisr_core.batch`` (``plan_jobs`` + ``run_batch``, the calls
``sisr upscale`` makes, reading, upscaling and writing overlapped) in a worker: a failed file is listed
with its reason and the batch goes on; outputs are written atomically, so a cancelled or crashed batch
leaves no half-written file, and with "skip" a re-run resumes."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar,
    QPushButton, QSpinBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from app.dialogs import ask
from app.theme import icon
from app.upscaling import engine_options
from app.workers import Worker
from sisr_core.timefmt import format_duration

STATUS_COLOURS = {"done": QColor(46, 160, 67), "skipped": QColor(150, 150, 150), "failed": QColor(218, 54, 51),
                  "running": QColor(53, 116, 240)}


def batch_task(jobs_args: dict, upscaler_for, options: dict, overwrite: bool, quality: int):
    """Plan the jobs, then run them through ``run_batch`` as ``sisr upscale`` does, reporting
    ``("planned", names, errors)``, ``("running", i)`` (the file the network works on next) and
    ``("result", i, status, message, seconds)``; returns the counts per status."""

    def task(report, aborted):
        from sisr_core.batch import plan_jobs, run_batch

        jobs, errors = plan_jobs(**jobs_args)
        root = Path(jobs_args["inputs"][0])
        report(("planned", [str(j.source.relative_to(root)) for j in jobs], errors))
        counts = {"done": 0, "skipped": 0, "failed": 0}
        if not jobs:
            return counts
        upscaler = upscaler_for(options["model"], options["device"], options["variant"])  # photo/clean per file
        report(("running", 0))
        results = run_batch(jobs, upscaler, options["scale"], overwrite=overwrite, cancel=aborted, quality=quality,
                            **engine_options(options))
        try:
            for i, result in enumerate(results):
                counts[result.status] += 1
                message = "; ".join(result.warnings) if result.status == "done" else result.message
                report(("result", i, result.status, message, result.seconds))
                if i + 1 < len(jobs) and not aborted():
                    report(("running", i + 1))
        finally:
            results.close()
        return counts

    return task


class BatchPage(QWidget):
    """The batch page; network and scale come from the shared model panel."""

    def __init__(self, settings, panel, workers, upscaler_for, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings, self.panel, self.workers, self.upscaler_for = settings, panel, workers, upscaler_for
        self.worker: Worker | None = None
        self.summary_counts: dict | None = None
        self.output_folder: Path | None = None  # where the running or last batch writes
        self.setAcceptDrops(True)

        self.input = QLineEdit(settings.folder("batch_in"))
        self.input.setPlaceholderText("Folder with the images to upscale (or drop one here)")
        self.output = QLineEdit(settings.folder("batch_out"))
        self.output.setPlaceholderText("Output folder (empty: beside the inputs)")
        self.recursive = QCheckBox("Include sub-folders (their structure is kept)")
        self.format = QComboBox()
        for label, fmt in (("Same as input", "same"), ("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"), ("TIFF", "tiff")):
            self.format.addItem(label, fmt)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(95)
        self.suffix = QLineEdit("_x{scale}")
        self.intermediate = QCheckBox("Also save the intermediate (bicubic) images")
        self.existing = QComboBox()
        self.existing.addItem("Skip them (a re-run resumes)", "skip")
        self.existing.addItem("Overwrite them (asks first)", "overwrite")
        self.network_label = QLabel()
        self.start_button = QPushButton(icon("mdi6.play"), "Start")
        self.cancel_button = QPushButton(icon("mdi6.stop"), "Cancel")
        self.cancel_button.setEnabled(False)
        self.files = QTreeWidget()
        self.files.setHeaderLabels(["File", "Status", "Details"])
        self.files.setRootIsDecorated(False)
        self.files.setUniformRowHeights(True)
        self.files.header().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.files.header().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.progress = QProgressBar()
        self.eta = QLabel()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.open_output_button = QPushButton(icon("mdi6.folder-open"), "Open output folder")
        self.open_output_button.setEnabled(False)  # until a batch has written (or kept) results
        self.open_output_button.clicked.connect(self.open_output_folder)

        form = QFormLayout()
        form.addRow("Input folder", self._folder_row(self.input, "batch_in"))
        form.addRow("Output folder", self._folder_row(self.output, "batch_out"))
        form.addRow("", self.recursive)
        form.addRow("Network", self.network_label)
        options = QHBoxLayout()
        options.addWidget(self.format)
        options.addWidget(QLabel("Quality"))
        options.addWidget(self.quality)
        options.addWidget(QLabel("Suffix"))
        options.addWidget(self.suffix)
        options.addStretch(1)
        form.addRow("Format", options)
        form.addRow("Existing outputs", self.existing)
        form.addRow("", self.intermediate)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.eta)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.files, 1)
        summary = QHBoxLayout()
        summary.addWidget(self.summary, 1)
        summary.addWidget(self.open_output_button)
        layout.addLayout(summary)

        self.input.textChanged.connect(self._forget_results)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.panel.changed.connect(self._show_network)
        self.panel.network.currentIndexChanged.connect(self._show_network)
        self._show_network()

    def _forget_results(self) -> None:
        """A new input folder: the previous batch's list, progress and summary no longer apply."""
        if self.worker is None:
            self.files.clear()
            self.progress.reset()
            self.eta.clear()
            self.summary.clear()
            self.summary_counts = None
            self.open_output_button.setEnabled(False)

    def open_output_folder(self) -> None:
        """Show the last batch's output folder in the system's file manager."""
        if self.output_folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.output_folder)))

    def _folder_row(self, edit: QLineEdit, purpose: str) -> QHBoxLayout:
        browse = QPushButton(icon("mdi6.folder-open"), "Browse…")
        browse.clicked.connect(lambda: self._browse(edit, purpose))
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        return row

    def _browse(self, edit: QLineEdit, purpose: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text() or self.settings.folder(purpose))
        if folder:
            edit.setText(folder)

    def _show_network(self) -> None:
        o = self.panel.options()
        self.network_label.setText(f"<b>{o['model'] or '—'}</b> ×{o['scale']} (change it in Upscale settings)")

    def set_input_folder(self, folder: str) -> None:
        self.input.setText(folder)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            path = Path(urls[0].toLocalFile())
            self.input.setText(str(path if path.is_dir() else path.parent))
            event.acceptProposedAction()

    # -- running ----------------------------------------------------------------------------------
    def start(self) -> Worker | None:
        """Check the folders, ask before overwriting, then run the batch in a worker."""
        if self.worker is not None:
            return None
        source = Path(self.input.text().strip())
        if not self.input.text().strip() or not source.is_dir():
            self.summary.setText(f"<b>Choose an existing input folder</b> ({source} is not one).")
            return None
        options = self.panel.options()
        if not options["model"]:
            self.summary.setText("<b>No network with weights</b>: train one first (Tools › Train a network).")
            return None
        overwrite = self.existing.currentData() == "overwrite"
        if overwrite and not ask(self, "Overwrite outputs?", "Existing output files will be replaced. Continue?"):
            return None
        out = self.output.text().strip()
        self.settings.set_folder("batch_in", str(source))
        self.settings.set_folder("batch_out", out)
        jobs_args = {"inputs": [source], "out_dir": Path(out) if out else None, "suffix": self.suffix.text(),
                     "fmt": self.format.currentData(), "scale": options["scale"], "recursive": self.recursive.isChecked(),
                     "save_intermediate": self.intermediate.isChecked()}
        self.worker = Worker(batch_task(jobs_args, self.upscaler_for, options, overwrite, self.quality.value()), "Batch failed")
        self.worker.yielded.connect(self._on_event)
        self.worker.returned.connect(self._on_done)
        self.worker.aborted.connect(self._on_aborted)
        self.worker.finished.connect(self._on_finished)
        self.files.clear()
        self.summary.setText("Planning…")
        self.summary_counts = None
        self.output_folder = Path(out) if out else source  # empty: the outputs go beside the inputs
        self.open_output_button.setEnabled(False)
        self.eta.clear()
        self.started = time.perf_counter()
        self.converted = 0  # files the network ran on (not skipped), for the ETA
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        return self.workers.start(self.worker)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.abort()
            self.summary.setText("Cancelling…")

    def _set_status(self, index: int, status: str, details: str = "") -> None:
        item = self.files.topLevelItem(index)
        item.setText(1, status)
        item.setText(2, details)
        item.setToolTip(2, details)
        if status in STATUS_COLOURS:
            item.setForeground(1, QBrush(STATUS_COLOURS[status]))
        self.files.scrollToItem(item)

    def _on_event(self, event) -> None:
        kind = event[0]
        if kind == "planned":
            _, names, errors = event
            self.files.addTopLevelItems([QTreeWidgetItem([name, "waiting", ""]) for name in names])
            self.progress.setRange(0, max(len(names), 1))
            self.progress.setValue(0)
            self.summary.setText("; ".join(errors) if errors else f"{len(names)} images to convert")
        elif kind == "running":
            self._set_status(event[1], "running")
        elif kind == "result":
            _, index, status, message, seconds = event
            self._set_status(index, status, message)
            if status != "skipped":
                self.converted += 1
            self.progress.setValue(index + 1)
            remaining = self.files.topLevelItemCount() - index - 1
            if self.converted and remaining:  # by the batch's pace: reading and writing overlap the network
                pace = (time.perf_counter() - self.started) / self.converted
                self.eta.setText(f"{format_duration(pace * remaining)} left")
            else:
                self.eta.clear()

    def _on_done(self, counts: dict) -> None:
        self.summary_counts = counts
        self.open_output_button.setEnabled(counts["done"] + counts["skipped"] > 0 and self.output_folder.is_dir())
        total = sum(counts.values())
        seconds = time.perf_counter() - self.started
        text = f"<b>Finished</b>: {total} files in {format_duration(seconds)} — {counts['done']} done, " \
               f"{counts['skipped']} skipped, {counts['failed']} failed."
        if not total:
            text = "<b>No images</b> found in the input folder."
        if counts["failed"]:
            failed = [self.files.topLevelItem(i) for i in range(self.files.topLevelItemCount())
                      if self.files.topLevelItem(i).text(1) == "failed"]
            text += "<br>Failed: " + "; ".join(f"{it.text(0)} ({it.text(2)})" for it in failed[:5])
        self.summary.setText(text)

    def _on_aborted(self) -> None:
        done = sum(1 for i in range(self.files.topLevelItemCount()) if self.files.topLevelItem(i).text(1) in ("done", "skipped", "failed"))
        for i in range(self.files.topLevelItemCount()):
            if self.files.topLevelItem(i).text(1) == "running":
                self._set_status(i, "cancelled")
        kept = any(self.files.topLevelItem(i).text(1) in ("done", "skipped") for i in range(self.files.topLevelItemCount()))
        self.open_output_button.setEnabled(kept and self.output_folder.is_dir())
        self.summary.setText(f"<b>Cancelled</b> after {done} of {self.files.topLevelItemCount()} files. "
                             "Start again with “skip” to resume.")

    def _on_finished(self) -> None:
        self.worker = None
        self.eta.clear()
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
