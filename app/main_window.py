"""The main window: menus, toolbar, drag-and-drop, the image page (slider and side-by-side views),
the batch page, the model panel they share, and the status bar.

Start-up stays fast because nothing here imports torch or ``sisr_core.inference``/``training`` at
module level: the network list is read by a worker once the window is up, and every upscale, read
and write runs in a :class:`~app.workers.Worker`.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QByteArray, QEvent, QObject, QSize, Qt, QTimer, QUrl, qVersion
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QComboBox, QDockWidget, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMainWindow, QMessageBox,
    QProgressBar, QPushButton, QScrollArea, QSizePolicy, QTabWidget, QToolBar, QVBoxLayout, QWidget,
)

from app.batch.page import BatchPage
from app.dialogs import ask, error_box, message_box
from app.screen import fit_to_screen
from app.settings import APPLICATION, ORGANISATION, Settings
from app.theme import THEMES, app_icon, apply_theme, icon
from app.upscaling import UpscaleResult, upscale_task
from app.widgets.canvas import CompareView
from app.widgets.images import qimage_from_imagedata
from app.widgets.model_panel import ModelPanel
from app.widgets.save_dialog import SaveDialog, intermediate_path
from app.widgets.side_by_side import BICUBIC, SideBySideView
from app.workers import Worker, WorkerSet, error_hub

MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".h5")  # dropped files that are models, not images

IMAGE_FILTER_SUFFIXES = "*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.gif"

DEFAULT_SIZE = QSize(1280, 820)


def image_from_qimage(qimage: QImage):
    """A pasted QImage as ``sisr_core.io.ImageData`` (RGB, with alpha if it has any)."""
    import numpy as np
    from sisr_core.io import ImageData

    rgba = qimage.convertToFormat(QImage.Format_RGBA8888)
    h, w = rgba.height(), rgba.width()
    arr = np.frombuffer(rgba.constBits(), dtype=np.uint8).reshape(h, rgba.bytesPerLine())[:, : w * 4]
    arr = arr.reshape(h, w, 4).astype(np.float32) / 255.0
    alpha = arr[..., 3].copy() if qimage.hasAlphaChannel() else None
    return ImageData(pixels=np.ascontiguousarray(arr[..., :3]), alpha=alpha, format="PNG")


class ShortcutKeys(QObject):
    """The window's shortcuts win over a focused field's own use of their keys (with Linux key bindings a
    line edit takes Ctrl+U to erase itself): the field's claim (ShortcutOverride) is refused, so the action
    runs, and the key of a disabled action does nothing."""

    def __init__(self, window: QWidget, actions: list[QAction]):
        super().__init__(window)
        self.actions = actions
        QApplication.instance().focusChanged.connect(self._watch)

    def _watch(self, old: QWidget | None, new: QWidget | None) -> None:
        if new is not None and new.window() is self.parent():
            new.installEventFilter(self)  # once per widget: installing it again only moves it first

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.ShortcutOverride, QEvent.KeyPress) and any(
                QKeySequence(event.keyCombination()) in action.shortcuts() for action in self.actions):
            event.setAccepted(event.type() == QEvent.KeyPress)  # an unclaimed override lets the shortcut run
            return True
        return False


class MainWindow(QMainWindow):
    """SISR Studio's window. ``settings`` defaults to the user's QSettings (tests pass a temporary one)."""

    def __init__(self, settings: Settings | None = None):
        super().__init__()
        self.settings = settings or Settings()
        self.workers = WorkerSet(self)
        self.upscalers: dict[tuple[str, str, str], object] = {}
        self.source_path: Path | None = None
        self.image = None
        self.result: UpscaleResult | None = None
        self.saved_to: Path | None = None
        self.queue: list[Path] = []  # images opened together (a multi-file drop or Open), stepped with Previous/Next
        self.upscale_worker: Worker | None = None
        self.comparison_due = False  # the side-by-side network is to run (again) once the upscale worker is free
        self.last_error = ""
        self._icon_targets: list[tuple[object, str]] = []
        self.setWindowTitle("SISR Studio")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._build_panel()
        self._build_pages()
        self._build_actions()
        self._build_status_bar()
        error_hub().error.connect(self.show_error)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_theme_changed)
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(DEFAULT_SIZE)
        fit_to_screen(self)
        if self.settings.window_state is None or not self.restoreState(self.settings.window_state):
            self.resizeDocks([self.dock], [360], Qt.Horizontal)
        self._set_busy(False)
        QTimer.singleShot(0, self.load_models)

    # -- building ---------------------------------------------------------------------------------
    def _build_panel(self) -> None:
        self.panel = ModelPanel()
        s = self.settings
        self.panel.set_options(s.scale, s.mode, s.patch_size, s.device, s.ensemble)
        self.panel.changed.connect(self._remember_options)
        for combo in self.panel.findChildren(QComboBox):  # long entries elide: the dock, not they, sets the width
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        left, right = 8, 4
        scroll.setViewportMargins(left, 0, right, 0)
        scroll.setMinimumWidth(self.panel.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
                               + left + right)  # never a horizontal scrollbar
        self.dock = QDockWidget("Upscale settings", self)
        self.dock.setObjectName("upscale_settings")
        self.dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                              | QDockWidget.DockWidgetClosable)
        self.dock.setWidget(scroll)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.dock)

    def _build_pages(self) -> None:
        self.compare = CompareView(placeholder="Drop an image here, paste one (Ctrl+V) or use File › Open")
        self.side_by_side = SideBySideView()
        self.side_by_side.left_source_changed.connect(self._left_source_changed)
        self.views = QTabWidget()
        self.views.setDocumentMode(True)
        self.views.addTab(self.compare, "Before / after")
        self.views.addTab(self.side_by_side, "Side by side")

        self.upscale_button = QPushButton("Upscale")
        self.cancel_button = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m tiles")
        self.progress.setTextVisible(False)
        self.result_label = QLabel("No image yet")
        self.result_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # long texts must not widen it
        self.save_button = QPushButton("Save")
        self.save_as_button = QPushButton("Save As…")
        self.upscale_button.clicked.connect(self.start_upscale)
        self.cancel_button.clicked.connect(self.cancel_upscale)
        self.save_button.clicked.connect(self.save)
        self.save_as_button.clicked.connect(self.save_as)
        bar = QHBoxLayout()
        bar.addWidget(self.upscale_button)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.result_label, 2)
        bar.addWidget(self.save_button)
        bar.addWidget(self.save_as_button)
        self.queue_previous = QPushButton(icon("mdi6.chevron-left"), "Previous")
        self.queue_next = QPushButton(icon("mdi6.chevron-right"), "Next")
        self.queue_label = QLabel()
        self.queue_previous.clicked.connect(lambda: self.step_queue(-1))
        self.queue_next.clicked.connect(lambda: self.step_queue(1))
        self.queue_row = QWidget()  # shown only while several images are queued
        queue_bar = QHBoxLayout(self.queue_row)
        queue_bar.setContentsMargins(0, 0, 0, 0)
        queue_bar.addWidget(self.queue_previous)
        queue_bar.addWidget(self.queue_label)
        queue_bar.addWidget(self.queue_next)
        queue_bar.addStretch(1)
        self.queue_row.setVisible(False)
        image_page = QWidget()
        layout = QVBoxLayout(image_page)
        layout.setContentsMargins(4, 0, 4, 4)
        layout.addWidget(self.views, 1)
        layout.addWidget(self.queue_row)
        layout.addLayout(bar)

        self.batch = BatchPage(self.settings, self.panel, self.workers, self.upscaler_for)
        self.batch.cancel_button.installEventFilter(self)  # enabled while a batch runs: Esc may cancel it
        self.pages = QTabWidget()
        self.pages.addTab(image_page, "Image")
        self.pages.addTab(self.batch, "Batch folder")
        self.setCentralWidget(self.pages)

    def _action(self, text: str, slot, shortcut=None, icon_name: str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
        if icon_name:
            action.setIcon(icon(icon_name))
            self._icon_targets.append((action, icon_name))
        if tip:
            action.setStatusTip(tip)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a("&Open…", self.open_dialog, QKeySequence.Open, "mdi6.folder-open", "Open an image")
        self.paste_action = a("&Paste image", self.paste, QKeySequence.Paste, "mdi6.content-paste", "Paste an image")
        self.save_action = a("&Save", self.save, QKeySequence.Save, "mdi6.content-save", "Save name_x2 beside the input")
        self.save_as_action = a("Save &As…", self.save_as, QKeySequence("Ctrl+Shift+S"), "mdi6.content-save-edit")
        quit_action = a("&Quit", self.close, QKeySequence.Quit)
        self.upscale_action = a("&Upscale", self.start_upscale, [QKeySequence("Ctrl+U"), QKeySequence("Ctrl+Return")],
                                "mdi6.image-size-select-large", "Upscale the image with the chosen network")
        self.cancel_action = a("&Cancel", self.cancel_work, QKeySequence("Esc"), "mdi6.stop", "Cancel the running work")
        fit = a("&Fit", lambda: self._zoom("fit"), QKeySequence("Ctrl+0"), "mdi6.fit-to-screen")
        z100 = a("&100 %", lambda: self._zoom(1.0), QKeySequence("Ctrl+1"))
        z200 = a("&200 % (pixels)", lambda: self._zoom(2.0), QKeySequence("Ctrl+2"))
        z400 = a("&400 % (pixels)", lambda: self._zoom(4.0), QKeySequence("Ctrl+4"))
        zin = a("Zoom &in", lambda: self._zoom("in"), [QKeySequence("Ctrl++"), QKeySequence("Ctrl+=")],
                "mdi6.magnify-plus")
        zout = a("Zoom &out", lambda: self._zoom("out"), QKeySequence.ZoomOut, "mdi6.magnify-minus")
        slider = a("&Before / after slider", lambda: self._show_view(0), QKeySequence("F5"), "mdi6.compare")
        side = a("&Side by side", lambda: self._show_view(1), QKeySequence("F6"), "mdi6.view-split-vertical")
        batch = a("&Batch folder…", lambda: self.pages.setCurrentWidget(self.batch), QKeySequence("Ctrl+B"),
                  "mdi6.folder-multiple-image", "Convert a whole folder")
        train = a("&Train a network…", self.open_training_wizard, QKeySequence("Ctrl+T"), "mdi6.school",
                  "Train or fine-tune a network on your images")
        keys = a("&Keyboard shortcuts", self.show_shortcuts, QKeySequence("F1"), "mdi6.keyboard")
        about = a("&About SISR Studio", self.about, None, "mdi6.information")
        add_model = a("Add &model…", self.add_model_dialog, None, "mdi6.brain",
                      "Check a weight file (ours, or a community ESRGAN, SwinIR, HAT, … file) and add it to Your models")
        remove_model = a("&Remove model…", self.remove_model_dialog, None, "mdi6.delete",
                         "Remove one of your models (our networks stay)")

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addActions([self.open_action])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addActions([self.paste_action])
        file_menu.addSeparator()
        file_menu.addActions([self.save_action, self.save_as_action])
        file_menu.addSeparator()
        file_menu.addActions([add_model, remove_model])
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        image_menu = menu.addMenu("&Image")
        image_menu.addActions([self.upscale_action, self.cancel_action])
        view_menu = menu.addMenu("&View")
        view_menu.addActions([slider, side])
        view_menu.addSeparator()
        view_menu.addActions([fit, z100, z200, z400, zin, zout])
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        group = QActionGroup(self)
        for name in THEMES:
            action = theme_menu.addAction(name.capitalize())
            action.setCheckable(True)
            action.setChecked(name == self.settings.theme)
            action.triggered.connect(lambda checked, name=name: self.set_theme(name))
            group.addAction(action)
        view_menu.addAction(self.dock.toggleViewAction())
        tools = menu.addMenu("&Tools")
        tools.addActions([batch, train])
        menu.addMenu("&Help").addActions([keys, about])

        toolbar = QToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setIconSize(QSize(20, 20))
        toolbar.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        toolbar.addActions([self.open_action, self.paste_action, self.save_action])
        toolbar.addSeparator()
        toolbar.addActions([self.upscale_action, self.cancel_action])
        toolbar.addSeparator()
        for action in (slider, side, fit, zin, zout):  # icons only, so the toolbar fits a 1000 px window
            action.setPriority(QAction.LowPriority)
        toolbar.addActions([slider, side, fit, zin, zout])
        toolbar.addSeparator()
        toolbar.addActions([batch, train])
        self.addToolBar(toolbar)
        self.shortcut_keys = ShortcutKeys(self, [action for action in self.findChildren(QAction)
                                                 if action.shortcuts() and action is not self.paste_action])
        for button, name in ((self.upscale_button, "mdi6.image-size-select-large"), (self.cancel_button, "mdi6.stop"),
                             (self.save_button, "mdi6.content-save"), (self.save_as_button, "mdi6.content-save-edit"),
                             (self.queue_previous, "mdi6.chevron-left"), (self.queue_next, "mdi6.chevron-right")):
            button.setIcon(icon(name))
            self._icon_targets.append((button, name))

    def _build_status_bar(self) -> None:
        self.device_label = QLabel("Device: …")
        self.memory_label = QLabel()
        self.open_folder_button = QPushButton(icon("mdi6.folder-open"), "Open folder")
        self.open_folder_button.setToolTip("Open the folder of the saved file")
        self.open_folder_button.clicked.connect(self.open_saved_folder)
        self.open_folder_button.setVisible(False)  # until a save
        self._icon_targets.append((self.open_folder_button, "mdi6.folder-open"))
        self.statusBar().addPermanentWidget(self.open_folder_button)
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().addPermanentWidget(self.memory_label)
        self.memory_timer = QTimer(self, interval=2000, timeout=self._update_memory)
        self.memory_timer.start()
        self._update_memory()

    def _update_memory(self) -> None:
        import psutil

        self.memory_label.setText(f"Memory: {psutil.Process().memory_info().rss / 2**20:,.0f} MB")

    # -- networks ---------------------------------------------------------------------------------
    def load_models(self) -> Worker:
        """Read the network list (imports torch) in a worker, then fill the pickers."""

        def task(report, aborted):
            from sisr_core.startup import loading_torch

            with loading_torch():
                import sisr_core.io  # noqa: F401 - warm the image readers while off the GUI thread
                from sisr_core.devices import available_devices, select_device
                from sisr_core.zoo import model_rows

            return model_rows(), available_devices(), str(select_device("auto"))

        worker = Worker(task, "Could not read the list of networks")
        worker.returned.connect(self._models_loaded)
        self.models_worker = worker
        return self.workers.start(worker)

    def _models_loaded(self, payload) -> None:
        rows, devices, auto_device = payload
        self.upscalers.clear()
        self.panel.set_devices(devices)
        self.panel.set_options(self.settings.scale, self.settings.mode, self.settings.patch_size,
                               self.settings.device, self.settings.ensemble)
        self.panel.set_rows(rows, self.settings.model)
        self.side_by_side.set_networks(list(self.panel.comparison_choices()))
        self.device_label.setText(f"Device: {auto_device.upper()}")
        self._set_busy(self.upscale_worker is not None)
        if not self.panel.trained_names():
            self.statusBar().showMessage("No network has weights yet: train one with Tools › Train a network", 10000)

    def upscaler_for(self, model: str, device: str, variant: str = "auto"):
        """A cached ``AutoUpscaler`` per (network, device, weights choice): its ``for_image`` gives the
        photo or clean weights for an image; networks load on first use, in the worker."""
        from sisr_core.zoo import AutoUpscaler

        key = (model, device, variant)
        if key not in self.upscalers:
            self.upscalers[key] = AutoUpscaler(model, device=device, requested=variant)
        return self.upscalers[key]

    def _remember_options(self) -> None:
        o = self.panel.options()
        if o["model"]:
            self.settings.model = o["model"]
        self.settings.scale, self.settings.mode, self.settings.patch_size = o["scale"], o["mode"], o["tile"]
        self.settings.device, self.settings.ensemble = o["device"], o["ensemble"]

    # -- opening ----------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", self.settings.folder("open"),
                                                f"Images ({IMAGE_FILTER_SUFFIXES});;All files (*)")
        if paths:
            self.open_paths(paths)

    def open_paths(self, paths: list) -> Worker:
        """Queue several images and open the first; Previous/Next step through the rest."""
        self.queue = [Path(p) for p in paths]
        self._show_queue()
        return self.open_path(self.queue[0])

    def step_queue(self, step: int) -> Worker | None:
        """Open the queued image ``step`` places from the current one."""
        index = self._queue_index() + step
        if not self.queue or not 0 <= index < len(self.queue):
            return None
        return self.open_path(self.queue[index])

    def _queue_index(self) -> int:
        return self.queue.index(self.source_path) if self.source_path in self.queue else 0

    def _show_queue(self) -> None:
        """"2 of 3: name" with Previous/Next while several images are queued; hidden otherwise."""
        self.queue_row.setVisible(len(self.queue) > 1)
        if len(self.queue) > 1:
            index = self._queue_index()
            self.queue_label.setText(f"{index + 1} of {len(self.queue)}: {self.queue[index].name}")
            self.queue_previous.setEnabled(index > 0)
            self.queue_next.setEnabled(index + 1 < len(self.queue))

    def open_path(self, path: str | Path) -> Worker:
        """Read an image in a worker, then show it (the result of the previous image is cleared)."""
        path = Path(path)

        def task(report, aborted):
            from sisr_core.io import read_image

            return read_image(path)

        worker = Worker(task, f"Could not open {path.name}")
        worker.returned.connect(lambda image: self.set_image(image, path))
        self.statusBar().showMessage(f"Opening {path}…")
        self.settings.set_folder("open", str(path.parent))
        return self.workers.start(worker)

    def set_image(self, image, path: Path) -> None:
        """Show a decoded image as the current input."""
        self.image, self.source_path, self.result, self.saved_to = image, path, None, None
        self.open_folder_button.setVisible(False)
        if path not in self.queue:  # an image from elsewhere (recent, paste) ends the queue
            self.queue = []
        self._show_queue()
        qimage = qimage_from_imagedata(image)
        self.compare.set_images(qimage, None)
        self.side_by_side.set_images(qimage, None)
        self.result_label.setText(self._result_text())
        self.setWindowTitle(f"{path.name} — SISR Studio")
        if path.exists():
            self.settings.add_recent_file(str(path))
        self.statusBar().showMessage("; ".join(image.warnings) or f"Opened {path}", 8000)
        self._set_busy(self.upscale_worker is not None)

    def paste(self) -> None:
        """Paste an image, or a copied image file, from the clipboard."""
        mime = QApplication.clipboard().mimeData()
        if mime.hasImage():
            qimage = QApplication.clipboard().image()
            folder = Path(self.settings.folder("open") or Path.home())
            self.set_image(image_from_qimage(qimage), folder / "pasted.png")
        elif mime.hasUrls() and mime.urls()[0].isLocalFile():
            self.open_path(mime.urls()[0].toLocalFile())
        else:
            self.statusBar().showMessage("The clipboard holds no image", 4000)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            self.recent_menu.addAction(path, lambda path=path: self.open_path(path))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()
            self._show_drop_zone(True)

    def dragLeaveEvent(self, event) -> None:
        self._show_drop_zone(False)

    def _show_drop_zone(self, on: bool) -> None:
        for canvas in (self.compare, *self.side_by_side.canvases()):
            canvas.set_drop_target(on)

    def dropEvent(self, event) -> None:
        """An image file opens on the image page; a folder becomes the batch input; a weight file is added."""
        self._show_drop_zone(False)
        mime = event.mimeData()
        urls = [u for u in mime.urls() if u.isLocalFile()]
        if urls:
            path = Path(urls[0].toLocalFile())
            if path.is_dir():
                self.batch.set_input_folder(str(path))
                self.pages.setCurrentWidget(self.batch)
            elif path.suffix.lower() in MODEL_SUFFIXES:
                self.ask_and_add_model(path)
            else:
                self.pages.setCurrentIndex(0)
                self.open_paths([Path(u.toLocalFile()) for u in urls if not Path(u.toLocalFile()).is_dir()])
            event.acceptProposedAction()
        elif mime.hasImage():
            self.set_image(image_from_qimage(QImage(mime.imageData())), Path(self.settings.folder("open") or Path.home()) / "dropped.png")
            event.acceptProposedAction()

    # -- upscaling --------------------------------------------------------------------------------
    def start_upscale(self) -> Worker | None:
        if self.upscale_worker is not None:
            return None
        if self.image is None:
            self.statusBar().showMessage("Open an image first (drop one onto the window)", 4000)
            return None
        options = self.panel.options()
        if not options["model"]:
            self.statusBar().showMessage("No network with weights to upscale with", 4000)
            return None
        worker = Worker(upscale_task(self.upscaler_for, self.image, options), "Upscaling failed")
        worker.yielded.connect(self._upscale_progress)
        worker.returned.connect(self._upscale_done)
        worker.aborted.connect(lambda: self.statusBar().showMessage("Upscale cancelled", 5000))
        worker.finished.connect(self._upscale_finished)
        self.upscale_worker = worker
        self.progress.setRange(0, 0)
        self.result_label.setText(f"Upscaling ×{options['scale']} with {options['model']}…")
        self.statusBar().showMessage(self.result_label.text())
        self._set_busy(True)
        return self.workers.start(worker)

    def _upscale_progress(self, value) -> None:
        done, total = value
        self.progress.setTextVisible(True)
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _upscale_done(self, result: UpscaleResult) -> None:
        self.result, self.saved_to = result, None
        self.open_folder_button.setVisible(False)  # the new result is not saved yet
        before, after = qimage_from_imagedata(result.bicubic), qimage_from_imagedata(result.sr)
        self.compare.set_images(before, after)
        self.side_by_side.set_images(before, after, f"{result.model} ×{result.scale}")
        self.comparison_due = self.side_by_side.left_source.currentText() != BICUBIC
        self.statusBar().showMessage(self._result_text(), 8000)

    def _result_text(self) -> str:
        """The line under the views: the current result, else the input."""
        if (r := self.result) is not None:
            return f"Done in {r.seconds:.2f} s: {r.sr.width} × {r.sr.height} px ({r.model} ×{r.scale}, {r.tiling})"
        return f"{self.source_path.name}: {self.image.width} × {self.image.height} px"

    def _upscale_finished(self) -> None:
        """After any upscale (done, cancelled or failed) the result line describes what is shown."""
        self.upscale_worker = None
        self.result_label.setText(self._result_text())
        self.progress.setTextVisible(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self._set_busy(False)
        if self.comparison_due:
            self.comparison_due = False
            self._left_source_changed(self.side_by_side.left_source.currentText())

    def cancel_upscale(self) -> None:
        if self.upscale_worker is not None:
            self.upscale_worker.abort()
            self.statusBar().showMessage("Cancelling…")

    def cancel_work(self) -> None:
        """Esc: cancel the upscale or the batch, whichever runs."""
        self.cancel_upscale()
        self.batch.cancel()

    def _left_source_changed(self, source: str) -> None:
        """Show bicubic, or run a second network for the side-by-side comparison (after a running upscale)."""
        if self.result is None:
            return
        if source == BICUBIC:
            self.side_by_side.set_left(qimage_from_imagedata(self.result.bicubic))
            return
        if self.upscale_worker is not None:
            self.comparison_due = True
            return
        model, variant = self.panel.comparison_choices().get(source, (source, "auto"))
        options = {**self.panel.options(), "model": model, "variant": variant, "scale": self.result.scale}
        worker = Worker(upscale_task(self.upscaler_for, self.image, options, with_bicubic=False), f"{source} failed")
        worker.returned.connect(lambda r: self.side_by_side.set_left(qimage_from_imagedata(r.sr)))
        worker.yielded.connect(self._upscale_progress)
        worker.finished.connect(self._upscale_finished)
        self.upscale_worker = worker
        self._set_busy(True)
        self.statusBar().showMessage(f"Upscaling with {source} for the comparison…", 4000)
        self.workers.start(worker)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.batch.cancel_button and event.type() == QEvent.EnabledChange:
            self._set_busy(self.upscale_worker is not None)
        return False

    def _set_busy(self, busy: bool) -> None:
        """Enable what can run now: Upscale with an image and a network, Cancel while an upscale or batch runs."""
        can_upscale = not busy and self.image is not None and bool(self.panel.model_name())
        self.upscale_button.setEnabled(can_upscale)
        self.upscale_action.setEnabled(can_upscale)
        self.cancel_button.setEnabled(busy)
        self.cancel_action.setEnabled(busy or self.batch.cancel_button.isEnabled())
        self.progress.setVisible(busy)  # idle, its room goes to the result line
        for widget in (self.save_button, self.save_as_button, self.save_action, self.save_as_action):
            widget.setEnabled(not busy and self.result is not None)

    # -- saving -----------------------------------------------------------------------------------
    def save(self) -> Worker | None:
        """Save ``{name}_x{scale}`` beside the input, in its format as ``sisr upscale`` does (asks before
        replacing); the Save As choices are only Save As's defaults."""
        if self.result is None:
            return None
        from sisr_core.batch import output_name

        return self.write_result(self.source_path.with_name(output_name(self.source_path, scale=self.result.scale)))

    def save_as(self) -> Worker | None:
        if self.result is None:
            return None
        dialog = SaveDialog(self.source_path, self.settings.folder("save"), self.result.scale, self.settings.save_options, self)
        if dialog.exec() != SaveDialog.Accepted:
            return None
        c = dialog.choice()
        self.settings.set_save_options(c["suffix"], c["format"], c["quality"], c["intermediate"])
        self.settings.set_folder("save", str(c["path"].parent))
        return self.write_result(c["path"], c["format"], c["quality"], c["intermediate"])

    def write_result(self, path: Path, fmt: str | None = None, quality: int = 95,
                     intermediate: bool = False) -> Worker | None:
        """Write the SR (and bicubic) image in a worker, in ``fmt`` or the format of the path's suffix;
        existing files are replaced only if the user says so."""
        targets = [path] + ([intermediate_path(path)] if intermediate else [])
        existing = [p for p in targets if p.exists()]
        if existing and not ask(self, "Replace files?", "These files exist already:\n" + "\n".join(map(str, existing))
                                + "\n\nReplace them?"):
            return None
        result = self.result

        def task(report, aborted):
            from sisr_core.io import write_image

            warnings = write_image(path, result.sr, format=fmt, quality=quality, overwrite=bool(existing))
            if intermediate:
                warnings += write_image(targets[1], result.bicubic, format=fmt, quality=quality, overwrite=bool(existing))
            return warnings

        worker = Worker(task, f"Could not save {path.name}")
        worker.returned.connect(lambda warnings: self._saved(targets, warnings))
        return self.workers.start(worker)

    def _saved(self, paths: list[Path], warnings: list[str]) -> None:
        self.saved_to = paths[0]
        self.open_folder_button.setVisible(True)
        notes = "; ".join(dict.fromkeys(warnings))  # the SR and bicubic files share their warnings: each once
        self.statusBar().showMessage(f"Saved {' and '.join(map(str, paths))}" + (f" ({notes})" if notes else ""), 8000)

    def open_saved_folder(self) -> None:
        """Show the folder of the last saved file in the system's file manager."""
        if self.saved_to is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.saved_to.parent)))

    # -- views, theme, training, about --------------------------------------------------------------
    def _show_view(self, index: int) -> None:
        self.pages.setCurrentIndex(0)
        self.views.setCurrentIndex(index)

    def _zoom(self, how) -> None:
        canvas = self.compare if self.views.currentIndex() == 0 else self.side_by_side.right
        if how == "fit":
            canvas.fit()
        elif how == "in":
            canvas.set_zoom(canvas.zoom * 1.25)
        elif how == "out":
            canvas.set_zoom(canvas.zoom / 1.25)
        else:
            canvas.set_zoom(how)

    def set_theme(self, theme: str) -> None:
        self.settings.theme = theme
        apply_theme(QApplication.instance(), theme)
        for target, name in self._icon_targets:
            target.setIcon(icon(name))

    def _system_theme_changed(self) -> None:
        if self.settings.theme == "system":
            self.set_theme("system")

    def open_training_wizard(self):
        """Open the training wizard; weights it installs appear in the network picker."""
        from app.train.wizard import TrainingWizard

        wizard = TrainingWizard(self.settings, list(self.panel.rows.values()), self)
        wizard.weights_installed.connect(lambda path: (self.load_models(), self.statusBar().showMessage(
            f"New weights installed: {path}", 10000)))
        wizard.setAttribute(Qt.WA_DeleteOnClose)
        wizard.show()
        self.wizard = wizard
        return wizard

    def add_model_dialog(self) -> Worker | None:
        """Pick a weight file, then add it (:meth:`ask_and_add_model`)."""
        path, _ = QFileDialog.getOpenFileName(self, "Add a model", self.settings.folder("model"),
                                              "Weights (*.safetensors *.pth *.pt *.ckpt *.h5)")
        return self.ask_and_add_model(Path(path)) if path else None

    def ask_and_add_model(self, path: Path) -> Worker | None:
        """Ask which network a Keras or official file holds (ours and community files say it themselves) and
        the name the model gets, asking before replacing a model of yours; then add it in a worker."""
        from sisr_core.importers import INFERABLE_MODELS, KERAS_MODELS
        from sisr_core.models.loading import default_model_name
        from sisr_core.weights import read_metadata

        network = None
        if path.suffix.lower() != ".safetensors":
            detect = "Detect it (a community model: ESRGAN, SwinIR, HAT, SPAN, …)"
            choices = list(KERAS_MODELS) if path.suffix.lower() == ".h5" else [detect, *INFERABLE_MODELS]
            choice, ok = QInputDialog.getItem(self, "Add a model", "Which network are these weights for?", choices, 0, False)
            if not ok:
                return None
            network = None if choice == detect else choice
        try:
            default = default_model_name(path, read_metadata(path) if path.suffix.lower() == ".safetensors" else {})
        except Exception:  # an unreadable file: the worker reports it; the name comes from the file name
            default = default_model_name(path, {})
        name, ok = QInputDialog.getText(self, "Add a model", "Name in Your models:", text=default)
        name = name.strip()
        if not ok or not name:
            return None
        mine = self.panel.rows.get(name, {}).get("yours", False)
        if mine and not ask(self, "Replace model?", f"You have a model called {name} already. Replace it?"):
            return None
        return self.add_model(path, network, name, overwrite=mine)

    def add_model(self, path: str | Path, network: str | None = None, name: str | None = None,
                  overwrite: bool = False) -> Worker:
        """Check and install a weight file as model ``name`` (sisr_core's ``add_model``), then refresh the picker."""
        self.settings.set_folder("model", str(Path(path).parent))

        def task(report, aborted):
            from sisr_core.models.loading import add_model

            return add_model(path, network, name, overwrite)

        worker = Worker(task, f"Could not add {Path(path).name}")
        worker.returned.connect(lambda target: (self.load_models(), self.statusBar().showMessage(
            f"Model added to Your models: {target.stem}", 10000)))
        return self.workers.start(worker)

    def remove_model_dialog(self) -> Path | None:
        """Pick one of your models (the current one first), confirm, and remove it; our networks cannot be."""
        yours = [n for n, r in self.panel.rows.items() if r.get("yours")]
        if not yours:
            self.show_error("Remove a model", "You have added no models of your own.")
            return None
        current = self.panel.model_name()
        name, ok = QInputDialog.getItem(self, "Remove a model", "Which of your models?", yours,
                                        yours.index(current) if current in yours else 0, False)
        if not ok or not ask(self, "Remove model?", f"Remove {name} from Your models? Its file is deleted."):
            return None
        return self.remove_model(name)

    def remove_model(self, name: str) -> Path | None:
        """Remove the user's model ``name`` (sisr_core's ``remove_model``) and refresh the picker."""
        from sisr_core.models.loading import remove_model

        try:
            path = remove_model(name)
        except (ValueError, OSError) as exc:
            self.show_error("Could not remove the model", str(exc))
            return None
        self.load_models()
        self.statusBar().showMessage(f"Removed {name}", 10000)
        return path

    def show_shortcuts(self) -> None:
        """List every menu command that has keys (read from the actions, so the list cannot go stale)."""
        rows = []
        for menu in (a.menu() for a in self.menuBar().actions()):
            for action in menu.actions():
                if action.shortcuts():
                    keys = ", ".join(k.toString(QKeySequence.NativeText) for k in action.shortcuts())
                    rows.append(f"<tr><td>{action.text().replace('&', '')}</td><td><b>{keys}</b></td></tr>")
        box = message_box(self, QMessageBox.NoIcon, "Keyboard shortcuts",
                          f"<table cellspacing='4'>{''.join(rows)}</table><p>In the views: the wheel zooms, dragging "
                          "pans, double-click fits; ← and → move the before/after divider.</p>")
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def about(self) -> None:
        versions = {"SISR Studio": metadata.version("sisr-studio"), "Python": platform.python_version(),
                    "Qt": qVersion(), "PySide6": pyside_version, "PyTorch": metadata.version("torch"),
                    "qtawesome": metadata.version("qtawesome")}
        rows = "".join(f"<tr><td>{k}</td><td><b>{v}</b></td></tr>" for k, v in versions.items())
        box = message_box(self, QMessageBox.NoIcon, "About SISR Studio",
                          "<h3>SISR Studio</h3><p>Single-image super-resolution: upscale photos with neural "
                          f"networks, convert folders, train your own.</p><table>{rows}</table>"
                          f"<p>{platform.system()} {platform.machine()}</p>")
        box.setIconPixmap(app_icon().pixmap(64))
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    # -- errors and closing -------------------------------------------------------------------------
    def show_error(self, title: str, message: str, details: str = "") -> None:
        """The one place errors are shown: a status line and a non-blocking dialog; the traceback goes to the log."""
        self.last_error = f"{title}: {message}"
        self.statusBar().showMessage(self.last_error, 10000)
        box = error_box(self, title, message, details)
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()

    def closeEvent(self, event) -> None:
        """Close, after asking whether to cancel a running batch; running work is cancelled and waited for."""
        if self.batch.worker is not None and not ask(
                self, "Cancel the batch?", "A batch conversion is running. Cancel it and close SISR Studio?\n\n"
                "Files already converted are kept; a re-run with “skip” resumes."):
            event.ignore()
            return
        self.settings.geometry = QByteArray(self.saveGeometry())
        self.settings.window_state = QByteArray(self.saveState())
        self.settings.sync()
        self.batch.cancel()
        if getattr(self, "wizard", None) is not None:
            try:
                self.wizard.stop_training()
            except RuntimeError:  # the wizard was already closed and deleted
                pass
        self.workers.stop_all()
        super().closeEvent(event)


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication with names, icon and theme set (exceptions in slots go to the error hub)."""
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setWindowIcon(app_icon())
    apply_theme(app, Settings().theme)
    sys.excepthook = lambda kind, exc, tb: error_hub().report("Unexpected error", exc.with_traceback(tb))
    return app


def run_app() -> int:
    """Open the window and run the event loop until it closes."""
    app = create_app()
    window = MainWindow()
    window.show()
    return app.exec()

