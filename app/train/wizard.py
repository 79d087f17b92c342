"""The training wizard: data, network, settings (with a time estimate measured on this computer),
then the run itself in a worker thread through ``sisr_core``'s ``TrainingRun``, with live loss and
validation-PSNR plots, a preview crop, pause/resume and cancel (which keeps the last checkpoint).

The rules are ``sisr_core``'s, shared with ``sisr train`` and ``sisr add-model``: the schedule for a
number of steps (``training_schedule``), the time of a step (``measure_step_seconds``, the trainer's own
step) and the installer (``install_weights``): when the run finishes, its weights go into the user's
model folder as a model of the user's own (``fsrcnn_x3``, ``fsrcnn_photo_x3``), never over our shipped
networks, asking before replacing a file, and ``weights_installed`` tells the window to refresh the picker.
"""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup, QComboBox, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
    QProgressBar, QPushButton, QRadioButton, QSpinBox, QVBoxLayout, QWidget, QWizard, QWizardPage,
)

from app.dialogs import ask
from app.screen import fit_to_screen
from app.theme import icon
from app.widgets.images import qimage_from_chw
from app.widgets.plot import LinePlot
from app.workers import Worker
from sisr_core.timefmt import format_duration

DEGRADATIONS = {"bicubic": "Bicubic (clean downscaling, the benchmark setting)",
                "photo": "Real photos: blur, noise, JPEG (recommended for photos)",
                "unknown": "Random blur, downscaling and noise (the NTIRE “unknown” track)",
                "bicubic_jpeg_75": "Bicubic + JPEG quality 75 (compressed web images)"}
PREVIEW_PX = 160


class DataPage(QWizardPage):
    """Training folder(s) and an optional validation folder; a folder without images is refused."""

    def __init__(self, settings):
        super().__init__()
        self.setTitle("Images")
        self.setSubTitle("Folders of high-resolution images to learn from. Low-resolution inputs are made from them.")
        self.settings = settings
        self.folders = QListWidget()
        add = QPushButton(icon("mdi6.folder-plus"), "Add folder…")
        remove = QPushButton(icon("mdi6.folder-remove"), "Remove")
        add.clicked.connect(self._add)
        remove.clicked.connect(self._remove_selected)
        self.counts: dict[str, int] = {}
        self.message = QLabel(textFormat=Qt.PlainText, wordWrap=True)
        self.validation = QLineEdit(settings.folder("val"))
        self.validation.setPlaceholderText("Optional: empty holds out two training images")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_validation)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        val_row = QHBoxLayout()
        val_row.addWidget(self.validation, 1)
        val_row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Training folders"))
        layout.addWidget(self.folders)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(QLabel("Validation folder"))
        layout.addLayout(val_row)
        if settings.folder("train") and Path(settings.folder("train")).is_dir():
            self.add_folder(settings.folder("train"))

    def add_folder(self, folder: str) -> None:
        """Add a training folder if it holds images (they are counted); otherwise say why it is refused."""
        if not self.folders.findItems(folder, Qt.MatchExactly) and (count := self._count(folder)):
            self.folders.addItem(folder)
            self.counts[folder] = count
            self._show_counts()
            self.completeChanged.emit()

    def _remove_selected(self) -> None:
        for item in self.folders.selectedItems():
            self.counts.pop(self.folders.takeItem(self.folders.row(item)).text())
        self._show_counts()
        self.completeChanged.emit()

    def _count(self, folder: str) -> int:
        """The images in ``folder`` that training reads; 0, with the reason shown, when there are none."""
        from sisr_core.data.datasets import TRAIN_SUFFIXES, find_images

        try:
            return len(find_images(folder))
        except OSError:  # no such folder, no images, or not readable
            self.message.setText(f"{folder} has no images ({' '.join(TRAIN_SUFFIXES)} files): choose another folder.")
            return 0

    def _show_counts(self) -> None:
        total, folders = sum(self.counts.values()), len(self.counts)
        images = f"{total:,} image{'' if total == 1 else 's'} in {folders} folder{'' if folders == 1 else 's'}"
        self.message.setText(images if folders else "")

    def _add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Training images", self.settings.folder("train"))
        if folder:
            self.add_folder(folder)

    def _browse_validation(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Validation images", self.validation.text())
        if folder:
            self.validation.setText(folder)

    def folder_list(self) -> list[str]:
        return [self.folders.item(i).text() for i in range(self.folders.count())]

    def isComplete(self) -> bool:
        return bool(self.folder_list())

    def validatePage(self) -> bool:
        validation = self.validation.text().strip()
        if validation and not self._count(validation):
            return False
        self.settings.set_folder("train", self.folder_list()[0])
        self.settings.set_folder("val", validation)
        return True


class NetworkPage(QWizardPage):
    """Network (new or fine-tuned from its weights), scale and degradation."""

    def __init__(self, rows: list[dict]):
        super().__init__()
        self.setTitle("Network")
        self.setSubTitle("Train a new network, or fine-tune weights you already have on your own images.")
        self.rows = {r["name"]: r for r in rows}
        self.model = QComboBox()
        for row in sorted(rows, key=lambda r: r["params"]):
            self.model.addItem(f"{row['name']}  ({row['params'] / 1e3:,.0f} k parameters)", row["name"])
        self.model.setCurrentIndex(max(self.model.findData("fsrcnn"), 0))
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.new = QRadioButton("New network (random start)")
        self.finetune = QRadioButton("Fine-tune the existing weights")
        self.new.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.new)
        group.addButton(self.finetune)
        self.scale = QSpinBox()
        self.scale.setRange(2, 4)
        self.scale.setPrefix("×")
        self.degradation = QComboBox()
        for name, text in DEGRADATIONS.items():
            self.degradation.addItem(text, name)
        form = QFormLayout(self)
        form.addRow("Network", self.model)
        form.addRow("", self.description)
        form.addRow("Scale", self.scale)
        form.addRow("Start from", self.new)
        form.addRow("", self.finetune)
        form.addRow("Degradation", self.degradation)
        self.model.currentIndexChanged.connect(self._update)
        self.scale.valueChanged.connect(self._update)
        self._update()

    def model_name(self) -> str:
        return self.model.currentData() or ""

    def _update(self) -> None:
        row = self.rows.get(self.model_name())
        if not row:
            return
        self.description.setText(row["description"])
        can_finetune = self.scale.value() in row["weights"]
        self.finetune.setEnabled(can_finetune)
        if not can_finetune:
            self.new.setChecked(True)


class SettingsPage(QWizardPage):
    """Steps, batch and patch size, with the time this computer needs, measured on a few real steps."""

    def __init__(self, workers):
        super().__init__()
        self.setTitle("Training settings")
        self.setSubTitle("The defaults suit a first run; more steps train a better network.")
        self.workers = workers
        self.steps = QSpinBox()
        self.steps.setRange(1, 1_000_000)
        self.steps.setSingleStep(500)
        self.steps.setValue(2000)
        self.batch = QSpinBox()
        self.batch.setRange(1, 256)
        self.batch.setValue(16)
        self.patch = QSpinBox()
        self.patch.setRange(8, 256)
        self.patch.setValue(48)
        self.patch.setSuffix(" px (low-resolution side)")
        self.estimate = QLabel("Measuring the speed of this computer…")
        self.estimate.setWordWrap(True)
        self.seconds_per_step: float | None = None
        self.measuring: Worker | None = None
        form = QFormLayout(self)
        form.addRow("Steps", self.steps)
        form.addRow("Batch size", self.batch)
        form.addRow("Patch size", self.patch)
        form.addRow("Estimated time", self.estimate)
        self.timer = QTimer(self, singleShot=True, interval=400, timeout=self.measure)
        self.batch.valueChanged.connect(self.timer.start)
        self.patch.valueChanged.connect(self.timer.start)
        self.steps.valueChanged.connect(self._show_estimate)

    def initializePage(self) -> None:
        self.measure()

    def measure(self) -> None:
        """Time training steps of the run these pages describe (the trainer's own step), in a worker."""
        if self.measuring is not None:
            self.timer.start()
            return
        config = self.wizard().train_config()

        def task(report, aborted):
            from sisr_core.training.trainer import measure_step_seconds

            return measure_step_seconds(config)

        self.measuring = Worker(task, "Could not measure the training speed")
        self.measuring.returned.connect(self._measured)
        self.measuring.finished.connect(lambda: setattr(self, "measuring", None))
        self.estimate.setText("Measuring the speed of this computer…")
        self.workers.start(self.measuring)

    def _measured(self, seconds: float) -> None:
        self.seconds_per_step = seconds
        self._show_estimate()

    def _show_estimate(self) -> None:
        if self.seconds_per_step is not None:
            total = self.seconds_per_step * self.steps.value()
            self.estimate.setText(f"{format_duration(total)} on this computer "
                                  f"({self.seconds_per_step * 1000:.0f} ms per step), plus validation")


class TrainPage(QWizardPage):
    """The run: progress, ETA, loss and PSNR plots, preview crop, pause/resume and cancel."""

    def __init__(self, workers):
        super().__init__()
        self.setTitle("Training")
        self.workers = workers
        self.worker: Worker | None = None
        self.run = None
        self.final_path: Path | None = None
        self.progress = QProgressBar()
        self.status = QLabel("Starting…")
        self.loss_plot = LinePlot("Training loss", QColor(53, 116, 240), log_y=True)
        self.psnr_plot = LinePlot("Validation PSNR (dB)", QColor(46, 160, 67))
        self.previews = {key: QLabel() for key in ("lr", "bicubic", "sr")}
        self.pause_button = QPushButton(icon("mdi6.pause"), "Pause")
        self.pause_button.setCheckable(True)
        self.cancel_button = QPushButton(icon("mdi6.stop"), "Cancel (keeps the checkpoint)")
        self.pause_button.toggled.connect(self._pause_toggled)
        self.cancel_button.clicked.connect(self.cancel)

        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.psnr_plot)
        grid = QGridLayout()
        for col, (key, caption) in enumerate((("lr", "Low-resolution input"), ("bicubic", "Bicubic"), ("sr", "Network now"))):
            label = self.previews[key]
            label.setFixedSize(PREVIEW_PX, PREVIEW_PX)
            label.setAlignment(Qt.AlignCenter)
            label.setStyleSheet("background: palette(base);")
            grid.addWidget(label, 0, col)
            grid.addWidget(QLabel(caption, alignment=Qt.AlignCenter), 1, col)
        buttons = QHBoxLayout()
        buttons.addWidget(self.pause_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(plots, 1)
        layout.addLayout(grid)
        layout.addLayout(buttons)

    def initializePage(self) -> None:
        self.start(self.wizard().train_config(), self.wizard().run_folder())

    def start(self, config, out_dir: Path) -> None:
        """Start ``TrainingRun(config, out_dir)`` in a worker; its events drive the plots and preview."""
        from sisr_core.training.trainer import TrainingRun

        self.final_path = None
        self.loss_plot.clear()
        self.psnr_plot.clear()
        self.progress.setRange(0, config.steps)
        self.progress.setValue(0)
        self.setSubTitle(f"{config.model} ×{config.scale}, {config.steps} steps. Folder: {out_dir}")
        self.run = TrainingRun(config, out_dir)
        run = self.run

        def task(report, aborted):
            run.callback = report
            return run.run()

        self.worker = Worker(task, "Training failed")
        self.worker.yielded.connect(self._on_event)
        self.worker.returned.connect(self._on_done)
        self.worker.aborted.connect(lambda: self.status.setText("Cancelled. The checkpoint is kept in the run folder."))
        self.worker.finished.connect(self._on_finished)
        self.pause_button.setEnabled(True)
        self.cancel_button.setEnabled(True)
        self.workers.start(self.worker)

    def _pause_toggled(self, paused: bool) -> None:
        if self.run is None:
            return
        if paused:
            self.run.pause()
            self.pause_button.setText("Resume")
            self.pause_button.setIcon(icon("mdi6.play"))
            self.status.setText("Pausing after this step…")
        else:
            self.run.unpause()
            self.pause_button.setText("Pause")
            self.pause_button.setIcon(icon("mdi6.pause"))

    def cancel(self) -> None:
        """Stop at the next step; the run writes its checkpoint so it can be resumed later."""
        if self.worker is not None:
            self.worker.abort()
            self.run.cancel()
            self.status.setText("Cancelling…")

    def _on_event(self, event) -> None:
        if event.kind == "progress":
            self.progress.setValue(event.step)
            losses = ", ".join(f"{k} {v:.4f}" for k, v in event.losses.items())
            eta = f", {format_duration(event.eta_seconds)} left" if event.eta_seconds is not None else ""
            self.status.setText(f"Step {event.step} / {event.total}: {losses}{eta}")
            self.loss_plot.add_point(event.step, sum(event.losses.values()))
        elif event.kind == "validation":
            self.psnr_plot.add_point(event.step, event.psnr)
        elif event.kind == "preview":
            for key, label in self.previews.items():
                pixmap = QPixmap.fromImage(qimage_from_chw(event.images[key]))
                label.setPixmap(pixmap.scaled(PREVIEW_PX, PREVIEW_PX, Qt.KeepAspectRatio, Qt.FastTransformation))
        elif event.kind == "paused":
            self.status.setText(f"Paused at step {event.step}.")
        elif event.kind == "message":
            self.status.setText(event.message)

    def _on_done(self, path) -> None:
        self.final_path = Path(path) if path else None
        self.status.setText("Finished. Press Finish to add the new weights to the network picker.")
        self.completeChanged.emit()

    def _on_finished(self) -> None:
        self.worker = None
        self.pause_button.setEnabled(False)
        self.cancel_button.setEnabled(False)

    def is_running(self) -> bool:
        """Training is under way: a run whose final weights are written is done, even before its thread ends
        (closing then asks nothing)."""
        return self.worker is not None and self.final_path is None

    def isComplete(self) -> bool:
        return self.final_path is not None


class TrainingWizard(QWizard):
    """Data → network → settings → training; on Finish the weights are installed for the picker."""

    weights_installed = Signal(str)

    def __init__(self, settings, rows: list[dict], parent: QWidget | None = None):
        super().__init__(parent)
        from app.workers import WorkerSet

        self.setWindowTitle("Train a network")
        self.setWizardStyle(QWizard.ModernStyle)
        self.setOption(QWizard.NoBackButtonOnLastPage)
        self.resize(820, 680)
        fit_to_screen(self)  # 680 px and a title bar run off a 700 px high screen
        self.workers = WorkerSet(self)
        self.settings = settings
        self.data_page = DataPage(settings)
        self.network_page = NetworkPage(rows)
        self.settings_page = SettingsPage(self.workers)
        self.train_page = TrainPage(self.workers)
        for page in (self.data_page, self.network_page, self.settings_page, self.train_page):
            self.addPage(page)
        self.installed_path: Path | None = None
        self.started_at = time.strftime("%Y%m%d-%H%M%S")

    def train_config(self):
        """The ``TrainConfig`` the pages describe, on the schedule ``training_schedule`` gives its steps."""
        from sisr_core.models.loading import weight_file_for
        from sisr_core.training.trainer import TrainConfig, training_schedule

        net, s = self.network_page, self.settings_page
        model, scale = net.model_name(), net.scale.value()
        steps = s.steps.value()
        validation = self.data_page.validation.text().strip()
        return TrainConfig(
            model=model, scale=scale, data=self.data_page.folder_list(), val=[validation] if validation else [],
            val_holdout=0 if validation else 2, degradation=net.degradation.currentData(), steps=steps,
            batch=s.batch.value(), patch=s.patch.value(), **training_schedule(steps),
            init=str(weight_file_for(model, scale)) if net.finetune.isChecked() else None,
            command=f"SISR Studio training wizard ({model} x{scale}, {steps} steps)",
        )

    def run_folder(self) -> Path:
        """A new run folder beside the user's model folder."""
        from sisr_core.weights import user_models_dir

        net = self.network_page
        return user_models_dir().parent / "runs" / f"{net.model_name()}_x{net.scale.value()}_{self.started_at}"

    def install_weights(self) -> Path | None:
        """Install the final weights as ``sisr add-model`` does (``install_weights``); asks before replacing."""
        from sisr_core.models.loading import install_target, install_weights

        source = self.train_page.final_path
        target = install_target(source)
        if target.exists() and not ask(self, "Replace weights?", f"{target} exists already.\n\nReplace it with the "
                                       f"weights just trained? (If not, they stay in {source.parent}.)"):
            return None
        target = install_weights(source, overwrite=True)
        self.installed_path = target
        self.weights_installed.emit(str(target))
        return target

    def accept(self) -> None:
        if self.train_page.final_path is not None:
            self.install_weights()
        super().accept()

    def stop_training(self) -> None:
        """Cancel a running training and any measurement, and wait for their threads."""
        self.train_page.cancel()
        self.workers.stop_all()

    def reject(self) -> None:
        if self.train_page.is_running():
            if not ask(self, "Stop training?", "Training is running. Stop it? (The checkpoint is kept.)"):
                return
            self.stop_training()
        super().reject()

    def done(self, result: int) -> None:
        self.workers.stop_all()
        super().done(result)
