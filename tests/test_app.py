"""GUI tests (pytest-qt, offscreen) driving the real widgets: open, upscale, views, batch, training."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QEvent, QMimeData, QObject, QPoint, QPointF, QRect, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QColor, QDragEnterEvent, QDragLeaveEvent, QDropEvent, QImage, QMouseEvent, QPalette, QScreen, QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox, QToolBar

from app import dialogs, main_window
from app.batch import page as batch_page
from app.main_window import MainWindow
from app.screen import FRAME_ROOM
from app.settings import Settings
from app.train import wizard as wizard_module
from app.widgets.canvas import CompareView
from app.widgets.model_panel import picker_groups
from app.widgets.side_by_side import SideBySideView
from tests.conftest import random_image

ROOT = Path(__file__).resolve().parents[1]


def save_png(path: Path, h: int, w: int, seed: int = 0) -> Path:
    Image.fromarray((random_image(h, w, seed=seed) * 255).astype(np.uint8)).save(path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def solid(color: QColor, w: int = 200, h: int = 100) -> QImage:
    image = QImage(w, h, QImage.Format_RGB888)
    image.fill(color)
    return image


def mouse(widget, kind: QEvent.Type, pos: QPointF, buttons=Qt.LeftButton) -> None:
    button = Qt.LeftButton if kind != QEvent.MouseMove else Qt.NoButton
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.NoModifier)
    QApplication.sendEvent(widget, event)


def drop_file(widget, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    QApplication.sendEvent(widget, QDragEnterEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    QApplication.sendEvent(widget, QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))


@pytest.fixture()
def settings(tmp_path) -> Settings:
    """Settings in a temporary INI file: the user's real settings are never touched."""
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))


@pytest.fixture()
def window(qtbot, model_dir, settings):
    """The main window with the temporary fsrcnn weights loaded into the picker."""
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.panel.model_name() == "fsrcnn", timeout=60000)
    yield win
    win.close()
    assert not win.workers.running()


def test_window_module_does_not_import_torch():
    code = "import sys, app.main_window; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_drop_image_upscale_and_save(window, qtbot, tmp_path, monkeypatch):
    source = save_png(tmp_path / "photo.png", 40, 48)
    drop_file(window, source)
    qtbot.waitUntil(lambda: window.image is not None, timeout=10000)
    assert window.upscale_button.isEnabled()
    qtbot.mouseClick(window.upscale_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.result is not None and window.upscale_worker is None, timeout=30000)
    assert (window.result.sr.width, window.result.sr.height) == (96, 80)
    assert window.compare.after is not None and window.compare.image_size().width() == 96
    assert "Done in" in window.result_label.text() and "96 × 80 px" in window.result_label.text()
    assert window.settings.recent_files == [str(source)]

    window.save()
    saved = tmp_path / "photo_x2.png"
    qtbot.waitUntil(lambda: window.saved_to == saved, timeout=10000)
    assert Image.open(saved).size == (96, 80)
    before = digest(saved)
    asked = []
    monkeypatch.setattr(main_window, "ask", lambda *args: asked.append(args) or False)
    assert window.save() is None  # the file exists and the answer was No: nothing is written
    assert asked and digest(saved) == before


def test_open_corrupt_image_shows_error(window, qtbot, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    window.open_path(bad)
    qtbot.waitUntil(lambda: "Could not open broken.png" in window.last_error, timeout=10000)
    assert window.image is None and window.isVisible()


def test_cancel_upscale_stops_within_a_second(window, qtbot, tmp_path):
    """Cancel lands inside the network: the image runs as one whole pass of seconds (fast mode, no tiles to
    stop between), and the worker stops within a second of the click, before the pass ends."""
    import threading

    window.panel.mode.setCurrentIndex(window.panel.mode.findData("fast"))
    source = save_png(tmp_path / "big.png", 1200, 1200)
    window.open_path(source)
    qtbot.waitUntil(lambda: window.image is not None, timeout=10000)
    options = window.panel.options()
    network = window.upscaler_for("fsrcnn", options["device"], options["variant"]).for_variant("clean").model_for(2).network
    entered, finished = threading.Event(), threading.Event()
    network.register_forward_pre_hook(lambda *args: entered.set())
    network.register_forward_hook(lambda *args: finished.set())
    worker = window.start_upscale()
    qtbot.waitUntil(entered.is_set, timeout=30000)
    qtbot.wait(100)
    started = time.perf_counter()
    qtbot.mouseClick(window.cancel_button, Qt.LeftButton)
    assert worker.wait(5000)
    elapsed = time.perf_counter() - started
    qtbot.waitUntil(lambda: window.upscale_worker is None, timeout=5000)
    assert elapsed < 1.0, f"cancel took {elapsed:.2f} s"
    assert not finished.is_set(), "the pass ended before the cancel landed"
    assert window.result is None and "cancelled" in window.statusBar().currentMessage()
    assert window.upscale_button.isEnabled()


def test_slider_drag_moves_divider(qtbot):
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(400, 200)
    view.show()
    view.set_images(solid(QColor("red")), solid(QColor("blue")))
    rect = view.image_rect()
    assert rect.width() == pytest.approx(400)
    y = rect.center().y()
    mouse(view, QEvent.MouseButtonPress, QPointF(view.divider_x(), y))
    mouse(view, QEvent.MouseMove, QPointF(rect.left() + rect.width() * 0.25, y))
    mouse(view, QEvent.MouseButtonRelease, QPointF(rect.left() + rect.width() * 0.25, y), Qt.NoButton)
    assert view.divider == pytest.approx(0.25, abs=0.01)
    shot = view.grab().toImage()
    assert shot.pixelColor(40, 150) == QColor("red")  # left of the divider: the "before" image
    assert shot.pixelColor(300, 150) == QColor("blue")  # right of it: the "after" image


def test_side_by_side_zoom_and_pan_stay_in_sync(qtbot):
    view = SideBySideView()
    qtbot.addWidget(view)
    view.resize(800, 400)
    view.show()
    view.set_images(solid(QColor("red")), solid(QColor("blue")))
    left, right = view.canvases()
    fit = left.zoom
    pos = QPointF(left.width() / 3, left.height() / 2)
    wheel = QWheelEvent(pos, left.mapToGlobal(pos), QPoint(), QPoint(0, 240), Qt.NoButton, Qt.NoModifier,
                        Qt.NoScrollPhase, False)
    QApplication.sendEvent(left, wheel)
    assert left.zoom == pytest.approx(fit * 1.25**2)
    assert right.zoom == pytest.approx(left.zoom) and right.centre == left.centre
    mouse(right, QEvent.MouseButtonPress, QPointF(100, 100))
    mouse(right, QEvent.MouseMove, QPointF(60, 80))
    mouse(right, QEvent.MouseButtonRelease, QPointF(60, 80), Qt.NoButton)
    assert left.centre == right.centre and left.zoom == right.zoom
    view.set_zoom(2.0)
    assert left.zoom == 2.0 and not left.fitting


def test_batch_with_a_corrupt_file(window, qtbot, tmp_path, monkeypatch):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    save_png(inputs / "a.png", 24, 32, seed=1)
    Image.fromarray((random_image(20, 20, seed=2) * 255).astype(np.uint8)).save(inputs / "b.jpg")
    (inputs / "bad.png").write_bytes(b"garbage, not an image")
    before = {p.name: digest(p) for p in inputs.iterdir()}
    drop_file(window, inputs)
    assert window.pages.currentWidget() is window.batch and window.batch.input.text() == str(inputs)
    window.batch.output.setText(str(outputs))
    qtbot.mouseClick(window.batch.start_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.batch.summary_counts is not None and window.batch.worker is None, timeout=30000)
    assert window.batch.summary_counts == {"done": 2, "skipped": 0, "failed": 1}
    rows = {window.batch.files.topLevelItem(i).text(0): window.batch.files.topLevelItem(i) for i in range(3)}
    assert rows["bad.png"].text(1) == "failed" and "bad.png" in rows["bad.png"].text(2)
    assert rows["a.png"].text(1) == "done" and rows["b.jpg"].text(1) == "done"
    assert "2 done, 0 skipped, 1 failed" in window.batch.summary.text()
    assert sorted(p.name for p in outputs.iterdir()) == ["a_x2.png", "b_x2.jpg"]  # nothing partial left
    assert Image.open(outputs / "a_x2.png").size == (64, 48)
    assert {p.name: digest(p) for p in inputs.iterdir()} == before

    qtbot.mouseClick(window.batch.start_button, Qt.LeftButton)  # a re-run skips what is done
    qtbot.waitUntil(lambda: window.batch.worker is None and window.batch.summary_counts is not None, timeout=30000)
    assert window.batch.summary_counts == {"done": 0, "skipped": 2, "failed": 1}

    monkeypatch.setattr(batch_page, "ask", lambda *args: False)
    window.batch.existing.setCurrentIndex(window.batch.existing.findData("overwrite"))
    assert window.batch.start() is None  # overwriting needs a Yes


def test_training_wizard_adds_weights_to_picker(window, qtbot, tiny_data, model_dir, monkeypatch):
    wizard = window.open_training_wizard()
    wizard.data_page.add_folder(str(tiny_data))
    wizard.next()
    net = wizard.network_page
    net.model.setCurrentIndex(net.model.findData("fsrcnn"))
    net.scale.setValue(3)
    wizard.next()
    wizard.settings_page.steps.setValue(6)
    wizard.settings_page.batch.setValue(4)
    wizard.settings_page.patch.setValue(16)
    qtbot.waitUntil(lambda: "per step" in wizard.settings_page.estimate.text(), timeout=30000)
    wizard.next()
    train = wizard.train_page
    qtbot.waitUntil(train.isComplete, timeout=90000)
    assert train.loss_plot.points and train.psnr_plot.points
    assert train.previews["sr"].pixmap() is not None and not train.previews["sr"].pixmap().isNull()
    final = train.final_path
    wizard.accept()
    yours = model_dir.parent / "user" / "models"  # the user's models, apart from the shipped ones (model_dir)
    assert (yours / "fsrcnn_x3.safetensors").read_bytes() == final.read_bytes()
    qtbot.waitUntil(lambda: "fsrcnn_x3" in window.panel.rows, timeout=30000)
    assert window.panel.rows["fsrcnn_x3"]["yours"] and 3 not in window.panel.rows["fsrcnn"]["weights"]

    replaced = window.open_training_wizard()  # an existing model of yours is replaced only after a Yes
    replaced.train_page.final_path = final  # named by the file's metadata (x3), as sisr add-model names it
    x2 = (model_dir / "fsrcnn_x2.safetensors").read_bytes()
    (yours / "fsrcnn_x3.safetensors").write_bytes(x2)
    answers = []
    monkeypatch.setattr(wizard_module, "ask", lambda *args: answers.append(args[2]) or False)
    assert replaced.install_weights() is None and (yours / "fsrcnn_x3.safetensors").read_bytes() == x2
    assert "fsrcnn_x3.safetensors exists already" in answers[0]
    monkeypatch.setattr(wizard_module, "ask", lambda *args: True)
    assert replaced.install_weights() == yours / "fsrcnn_x3.safetensors"
    assert (yours / "fsrcnn_x3.safetensors").read_bytes() == final.read_bytes()
    assert (model_dir / "fsrcnn_x2.safetensors").read_bytes() == x2 and not list(yours.glob(".*"))
    replaced.reject()


def test_settings_persist(window, settings):
    window.panel.patch.setValue(96)
    window.close()
    again = Settings(settings.store)
    assert again.model == "fsrcnn" and again.patch_size == 96 and again.geometry is not None


def test_add_model_lists_it_and_refuses_a_bad_file(window, qtbot, tmp_path):
    keras = ROOT.parent / "shared" / "anchors" / "seed_keras_weights" / "SR Weights 2X.h5"
    window.add_model(keras, "sr")  # a Keras file of our "sr" network, named from the file
    qtbot.waitUntil(lambda: "sr-weights-2x" in window.panel.trained_names(), timeout=60000)
    assert window.panel.rows["sr-weights-2x"]["yours"] and not window.panel.rows["sr"]["weights"]
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not weights")
    window.add_model(bad, "edsr")
    qtbot.waitUntil(lambda: "Could not add bad.pth" in window.last_error, timeout=30000)
    assert window.isVisible()


def test_a_dropped_community_model_is_listed_apart_runs_and_can_be_removed(window, qtbot, community_files, tmp_path,
                                                                            monkeypatch):
    path, network = community_files["compact"]
    asked = []
    monkeypatch.setattr(QInputDialog, "getItem", lambda *args: asked.append(args[3]) or (args[3][0], True))
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kw: asked.append(kw["text"]) or ("my-compact", True))
    drop_file(window, path)  # asks which network (detect: a community .pth) and the name (from the file)
    qtbot.waitUntil(lambda: "my-compact" in window.panel.rows, timeout=30000)
    assert asked[0][0].startswith("Detect") and "edsr" in asked[0] and asked[1] == "tiny-compact"
    groups = {heading: [name for _, name, _ in entries] for heading, entries in picker_groups(list(window.panel.rows.values()))}
    assert groups["Your models"] == ["my-compact"] and "my-compact" not in groups["All networks (research)"]
    assert "fsrcnn" in groups["All networks (research)"]

    window.panel.network.setCurrentIndex(window.panel.network.findData("my-compact"))
    window.panel.scale.setValue(4)
    source = save_png(tmp_path / "photo.png", 24, 28)
    window.open_paths([source])
    qtbot.waitUntil(lambda: window.image is not None, timeout=10000)
    qtbot.mouseClick(window.upscale_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.result is not None and window.upscale_worker is None, timeout=30000)
    assert "RealESRGAN Compact" in window.result.model
    x = torch.from_numpy(np.asarray(Image.open(source), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = network(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    levels = np.abs(np.round(window.result.sr.pixels * 255) - np.round(expected * 255))
    assert levels.shape == (96, 112, 3) and levels.mean() < 1 and levels.max() <= 8  # bf16 where the CPU has it

    monkeypatch.setattr(main_window, "ask", lambda *args: True)
    removed = window.remove_model_dialog()  # offers your models, the current one first
    assert asked[-1] == ["my-compact"] and removed is not None and removed.stem == "my-compact" and not removed.exists()
    qtbot.waitUntil(lambda: "my-compact" not in window.panel.rows, timeout=30000)
    assert window.remove_model("fsrcnn") is None and "only your own models" in window.last_error


def test_cancel_during_batch_leaves_no_partial_file(window, qtbot, tmp_path):
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for i in range(8):
        save_png(inputs / f"p{i}.png", 200, 240, seed=i)
    window.batch.input.setText(str(inputs))
    window.batch.output.setText(str(outputs))
    qtbot.mouseClick(window.batch.start_button, Qt.LeftButton)
    first = lambda: window.batch.files.topLevelItemCount() == 8 and window.batch.files.topLevelItem(0).text(1) == "done"
    qtbot.waitUntil(first, timeout=60000)
    qtbot.mouseClick(window.batch.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.batch.worker is None, timeout=30000)
    written = sorted(outputs.iterdir())
    assert 1 <= len(written) < 8
    for path in written:  # only complete outputs, each a whole image
        assert not path.name.startswith(".") and Image.open(path).size == (480, 400)


def test_training_estimate_reads_in_words(window):
    wizard = window.open_training_wizard()
    page = wizard.settings_page
    page.steps.setValue(2000)
    page._measured(0.569)  # 1,138 s
    assert page.estimate.text().startswith("about 19 min on this computer")
    wizard.reject()


def test_window_and_batch_make_the_command_lines_engine_call(model_dir, tmp_path, monkeypatch):
    """The window's upscale and the batch page pass the panel's mode and patch size as `sisr upscale` passes
    --mode and --patch-size (with a cancel), and the batch page runs sisr_core's run_batch, reporting per file."""
    from app.upscaling import upscale_image_for_window
    from sisr_core import batch as core_batch
    from sisr_core.inference.engine import Upscaler
    from sisr_core.io import read_image
    from sisr_core.zoo import AutoUpscaler

    calls, batches = [], []
    upscale, run_batch = Upscaler.upscale, core_batch.run_batch

    def spy(self, image, scale, **kw):
        calls.append((kw["mode"], kw["tile"], kw["cancel"] is not None))
        return upscale(self, image, scale, **kw)

    monkeypatch.setattr(Upscaler, "upscale", spy)
    monkeypatch.setattr(core_batch, "run_batch", lambda *a, **kw: batches.append(kw) or run_batch(*a, **kw))
    upscalers = {}

    def upscaler_for(model, device, variant):
        return upscalers.setdefault((model, device, variant), AutoUpscaler(model, device=device, requested=variant))

    options = {"model": "fsrcnn", "variant": "auto", "scale": 2, "mode": "auto", "tile": 32, "device": "cpu",
               "ensemble": False}
    image = read_image(save_png(tmp_path / "one.png", 40, 72))
    result = upscale_image_for_window(upscaler_for, image, options, cancel=lambda: False)
    assert calls == [("auto", None, True)] and result.tiling == "whole image" and result.sr.width == 144
    result = upscale_image_for_window(upscaler_for, image, {**options, "mode": "patch"})
    assert calls[-1] == ("patch", 32, False) and result.tiling == "6 tiles"
    assert result.model == "fsrcnn (clean weights)" and result.bicubic.width == 144

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        save_png(folder / f"p{i}.png", 24, 20, seed=i)
    jobs_args = {"inputs": [folder], "out_dir": tmp_path / "out", "suffix": "_x{scale}", "fmt": "same", "scale": 2,
                 "recursive": False, "save_intermediate": False}
    events = []
    counts = batch_page.batch_task(jobs_args, upscaler_for, options, False, 95)(events.append, lambda: False)
    assert counts == {"done": 3, "skipped": 0, "failed": 0} and batches[-1]["mode"] == "auto"
    assert events[0] == ("planned", ["p0.png", "p1.png", "p2.png"], [])
    assert [e[:3] for e in events[1:]] == [("running", 0), ("result", 0, "done"), ("running", 1),
                                           ("result", 1, "done"), ("running", 2), ("result", 2, "done")]
    events.clear()  # a cancel after the first file: the batch stops there; a re-run skips what is done
    jobs_args["out_dir"] = tmp_path / "cancelled"
    counts = batch_page.batch_task(jobs_args, upscaler_for, options, False, 95)(
        events.append, lambda: any(e[0] == "result" for e in events))
    assert counts == {"done": 1, "skipped": 0, "failed": 0} and [p.name for p in (tmp_path / "cancelled").iterdir()] == ["p0_x2.png"]


def test_batch_rerun_beside_the_inputs_skips_its_own_outputs(window, qtbot, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    save_png(folder / "101085.png", 24, 24, seed=1)
    Image.fromarray((random_image(20, 20, seed=2) * 255).astype(np.uint8)).save(folder / "101086.jpg")
    window.batch.input.setText(str(folder))
    window.batch.output.setText("")
    for counts in ({"done": 2, "skipped": 0, "failed": 0}, {"done": 0, "skipped": 2, "failed": 0}):
        qtbot.mouseClick(window.batch.start_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: window.batch.summary_counts is not None and window.batch.worker is None, timeout=30000)
        assert window.batch.summary_counts == counts
    assert sorted(p.name for p in folder.iterdir()) == ["101085.png", "101085_x2.png", "101086.jpg", "101086_x2.jpg"]


def test_save_writes_beside_the_input_whatever_save_as_chose(window, qtbot, tmp_path, monkeypatch):
    folder, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    rgb = (random_image(24, 28) * 255).astype(np.uint8)
    alpha = np.full((24, 28, 1), 128, np.uint8)
    source = folder / "logo.png"
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(source)
    window.open_path(source)
    qtbot.waitUntil(lambda: window.image is not None, timeout=10000)
    window.start_upscale()
    qtbot.waitUntil(lambda: window.result is not None and window.upscale_worker is None, timeout=30000)

    def choose_jpeg(dialog):
        dialog.folder.setText(str(elsewhere))
        dialog.format.setCurrentIndex(dialog.format.findData("jpg"))
        dialog.intermediate.setChecked(True)
        return main_window.SaveDialog.Accepted

    monkeypatch.setattr(main_window.SaveDialog, "exec", choose_jpeg)
    window.save_as()
    jpeg = elsewhere / "logo_x2.jpg"
    qtbot.waitUntil(lambda: window.saved_to == jpeg, timeout=10000)
    message = window.statusBar().currentMessage()
    assert message.count("alpha dropped") == 1 and "logo_x2_bicubic.jpg" in message

    window.save()  # plain Save: the README's name_x2.png beside the input, not the Save As choices
    saved = folder / "logo_x2.png"
    qtbot.waitUntil(lambda: window.saved_to == saved, timeout=10000)
    with Image.open(saved) as image:
        assert image.mode == "RGBA" and image.size == (56, 48)
    assert sorted(p.name for p in folder.iterdir()) == ["logo.png", "logo_x2.png"]
    assert window.statusBar().currentMessage() == f"Saved {saved}"
    assert window.settings.save_options["format"] == "jpg" and window.settings.folder("save") == str(elsewhere)


class LinuxCtrlU(QObject):
    """Ctrl+U as a line edit takes it with Linux (X11) key bindings, which offscreen Qt lacks: it claims the
    key in ShortcutOverride, then erases the line."""

    def eventFilter(self, watched, event):
        if event.type() in (QEvent.ShortcutOverride, QEvent.KeyPress) and event.keyCombination() == Qt.CTRL | Qt.Key_U:
            if event.type() == QEvent.KeyPress:
                watched.clear()
            event.accept()
            return True
        return False


def test_ctrl_u_upscales_while_the_scale_field_has_focus(window, qtbot, tmp_path):
    window.open_path(save_png(tmp_path / "photo.png", 24, 32))
    qtbot.waitUntil(lambda: window.image is not None, timeout=10000)
    linux = LinuxCtrlU(window.panel.scale)
    window.panel.scale.installEventFilter(linux)
    window.activateWindow()
    window.panel.scale.setFocus()
    qtbot.waitUntil(lambda: window.panel.scale.hasFocus(), timeout=5000)
    text = window.panel.scale.text()
    qtbot.keyClick(window.panel.scale, Qt.Key_U, Qt.ControlModifier)
    assert window.panel.scale.text() == text
    qtbot.waitUntil(lambda: window.result is not None and window.upscale_worker is None, timeout=30000)


def test_training_wizard_refuses_a_folder_without_images(window, tmp_path, tiny_data):
    empty = tmp_path / "no_images"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    wizard = window.open_training_wizard()
    page = wizard.data_page
    page.add_folder(str(empty))
    assert not page.isComplete() and not wizard.button(wizard_module.QWizard.NextButton).isEnabled()
    assert page.folder_list() == [] and f"{empty} has no images" in page.message.text()
    page.add_folder(str(tiny_data))
    assert page.message.text() == "6 images in 1 folder" and wizard.button(wizard_module.QWizard.NextButton).isEnabled()
    page.validation.setText(str(empty))  # an empty validation folder is refused on Next
    assert not page.validatePage() and f"{empty} has no images" in page.message.text()
    wizard.reject()


def test_training_wizard_trains_with_the_photo_degradation(window, qtbot, tiny_data):
    wizard = window.open_training_wizard()
    wizard.data_page.add_folder(str(tiny_data))
    wizard.next()
    net = wizard.network_page
    net.model.setCurrentIndex(net.model.findData("fsrcnn"))
    net.degradation.setCurrentIndex(net.degradation.findData("photo"))
    assert net.degradation.currentText().startswith("Real photos: blur, noise, JPEG")
    wizard.next()
    wizard.settings_page.steps.setValue(4)
    wizard.settings_page.batch.setValue(4)
    wizard.settings_page.patch.setValue(16)
    wizard.next()
    qtbot.waitUntil(wizard.train_page.isComplete, timeout=90000)
    config = json.loads((wizard.train_page.final_path.parent / "config.json").read_text())
    assert config["degradation"] == "photo"
    wizard.reject()


def test_jpeg_gets_photo_weights_png_clean_ones_and_the_choice_wins(photo_model_dir, window, qtbot, tmp_path):
    assert window.panel.variant.isEnabled() and window.panel.options()["variant"] == "auto"
    pixels = (random_image(24, 28) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "p.jpg", quality=90)
    Image.fromarray(pixels).save(tmp_path / "p.png")

    def upscale(path: Path) -> str:
        window.result = None
        window.open_path(path)
        qtbot.waitUntil(lambda: window.image is not None and window.source_path == path, timeout=10000)
        window.start_upscale()
        qtbot.waitUntil(lambda: window.result is not None and window.upscale_worker is None, timeout=30000)
        return window.result.model

    assert upscale(tmp_path / "p.jpg") == "fsrcnn (photo weights)"
    assert "photo weights" in window.result_label.text()
    assert upscale(tmp_path / "p.png") == "fsrcnn (clean weights)"
    window.panel.variant.setCurrentIndex(window.panel.variant.findData("clean"))
    assert upscale(tmp_path / "p.jpg") == "fsrcnn (clean weights)"
    # both weights are offered for the side-by-side comparison
    choices = [window.side_by_side.left_source.itemText(i) for i in range(window.side_by_side.left_source.count())]
    assert {"fsrcnn (photo weights)", "fsrcnn (clean weights)"} <= set(choices)
    window.side_by_side.left_source.setCurrentText("fsrcnn (photo weights)")
    qtbot.waitUntil(lambda: window.upscale_worker is None, timeout=30000)


def test_window_fits_from_1000x700(window, qtbot, tmp_path):
    window.open_path(save_png(tmp_path / "photo.png", 24, 32))
    qtbot.waitUntil(lambda: window.image is not None, timeout=10000)
    window.start_upscale()  # the long "Done in …" line must not widen the window
    qtbot.waitUntil(lambda: window.result is not None and window.upscale_worker is None, timeout=30000)
    toolbar = window.findChild(QToolBar, "main_toolbar")
    scroll = window.dock.widget()
    for width, height in ((1280, 820), (1000, 700)):
        window.resize(width, height)
        qtbot.waitUntil(lambda: window.width() == width, timeout=5000)
        qtbot.wait(50)  # let the layouts settle
        assert window.minimumSizeHint().width() <= 1000 and window.minimumWidth() <= 1000
        assert not scroll.horizontalScrollBar().isVisible()
        assert window.panel.width() <= scroll.viewport().width()
        hidden = [a.text() for a in toolbar.actions() if not a.isSeparator() and not toolbar.widgetForAction(a).isVisible()]
        assert hidden == [], f"in the toolbar's overflow at {width} px: {hidden}"


@pytest.mark.parametrize("saved_on_a_big_monitor", [False, True], ids=["fresh", "restored"])
def test_window_opens_whole_on_a_1000x700_screen(qtbot, model_dir, settings, monkeypatch, saved_on_a_big_monitor):
    """Fresh, or with a geometry saved on a big monitor, the window's frame opens within the available area."""
    if saved_on_a_big_monitor:
        big = MainWindow(settings)
        qtbot.addWidget(big)
        big.setGeometry(600, 400, 1800, 1100)
        settings.geometry = big.saveGeometry()
    area = QRect(40, 30, 1000, 700)
    monkeypatch.setattr(QScreen, "availableGeometry", lambda screen: area)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    assert area.contains(win.frameGeometry()), f"the frame {win.frameGeometry()} runs off {area}"
    win.close()


def test_training_wizard_opens_whole_on_a_1000x700_screen(window, qtbot, monkeypatch):
    """The wizard at 820x680 plus a window manager's frame ran off a 700 px high screen, hiding its buttons:
    its frame, with the allowance for the title bar and borders, opens within the available area."""
    area = QRect(40, 30, 1000, 700)
    monkeypatch.setattr(QScreen, "availableGeometry", lambda screen: area)
    wizard = window.open_training_wizard()
    qtbot.waitExposed(wizard)
    framed = QRect(wizard.frameGeometry().topLeft(), wizard.size() + FRAME_ROOM)
    assert area.contains(framed), f"the wizard's frame {framed} runs off {area}"
    wizard.reject()


def test_settings_panel_width_is_remembered(window, qtbot, settings, monkeypatch):
    """On a screen with room for the default size (the offscreen one is 800 px wide: the window, capped to it,
    would squeeze the panel), the panel's width comes back."""
    monkeypatch.setattr(QScreen, "availableGeometry", lambda screen: QRect(0, 0, 1920, 1080))
    window.resize(1280, 820)
    window.resizeDocks([window.dock], [420], Qt.Horizontal)
    qtbot.waitUntil(lambda: window.dock.width() == 420, timeout=5000)
    window.close()
    settings.store.remove("window/geometry")  # Qt itself clamps a restored geometry to the 800 px screen
    again = MainWindow(settings)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.dock.width() == 420, timeout=5000)
    again.close()


def upscale_file(window, qtbot, path: Path) -> None:
    window.open_path(path)
    qtbot.waitUntil(lambda: window.image is not None and window.source_path == path, timeout=10000)
    window.start_upscale()
    qtbot.waitUntil(lambda: window.result is not None and window.upscale_worker is None, timeout=30000)


def test_side_by_side_caption_is_cleared_by_a_new_image(window, qtbot, tmp_path):
    upscale_file(window, qtbot, save_png(tmp_path / "a.png", 24, 32))
    assert window.side_by_side.right_caption.text().startswith("fsrcnn")
    window.open_path(save_png(tmp_path / "b.png", 20, 20, seed=1))
    qtbot.waitUntil(lambda: window.source_path.name == "b.png", timeout=10000)
    assert "fsrcnn" not in window.side_by_side.right_caption.text()


def test_result_line_shows_the_running_upscale(window, qtbot, tmp_path):
    upscale_file(window, qtbot, save_png(tmp_path / "a.png", 24, 32))
    assert "Done in" in window.result_label.text()
    window.start_upscale()
    assert "Done in" not in window.result_label.text() and "Upscaling" in window.result_label.text()
    qtbot.waitUntil(lambda: window.upscale_worker is None, timeout=30000)
    assert "Done in" in window.result_label.text()


def test_comparison_network_is_kept_and_rerun_for_a_new_result(window, qtbot, tmp_path):
    upscale_file(window, qtbot, save_png(tmp_path / "a.png", 24, 32))
    window.side_by_side.left_source.setCurrentText("fsrcnn")  # the same network: left and right must match
    qtbot.waitUntil(lambda: window.upscale_worker is None, timeout=30000)
    upscale_file(window, qtbot, save_png(tmp_path / "b.png", 20, 28, seed=1))
    qtbot.waitUntil(lambda: window.upscale_worker is None, timeout=30000)
    assert window.side_by_side.left_source.currentText() == "fsrcnn"
    left, right = (canvas.pixmap.toImage() for canvas in window.side_by_side.canvases())
    assert left.size() == right.size() and left == right


def test_closing_during_a_batch_asks_then_cancels_it_promptly(window, qtbot, tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(16):
        save_png(inputs / f"p{i}.png", 400, 400, seed=i)
    window.batch.input.setText(str(inputs))
    window.batch.output.setText(str(tmp_path / "out"))
    worker = window.batch.start()
    qtbot.waitUntil(lambda: window.batch.files.topLevelItemCount() == 16, timeout=60000)
    asked = []
    monkeypatch.setattr(main_window, "ask", lambda *args: asked.append(args) or False)
    window.close()  # "No": the window and the batch go on
    assert asked and window.isVisible() and worker.isRunning()
    monkeypatch.setattr(main_window, "ask", lambda *args: True)
    started = time.perf_counter()
    window.close()
    assert not window.isVisible() and worker.isFinished()
    assert time.perf_counter() - started < 3.0
    assert window.batch.files.topLevelItem(15).text(1) != "done"


def test_picker_groups_networks_by_purpose(window):
    from app.widgets.model_panel import picker_groups

    combo = window.panel.network
    texts = [combo.itemText(i) for i in range(combo.count())]
    for heading in ("Recommended", "All networks (research)"):
        assert heading in texts and not combo.model().item(texts.index(heading)).isEnabled()
    assert "Your models" not in texts  # none added yet: the fsrcnn weights are the shipped ones
    assert any(t.strip().startswith("Best quality: fsrcnn") for t in texts)  # the only trained network: the default
    assert not combo.model().item(texts.index("   rnsr  (no weights)")).isEnabled()
    rows = [{"name": n, "weights": w, "default": d, "fastest": f, "yours": y}
            for n, w, d, f, y in (("big", [2], True, False, False), ("small", [2], False, True, False),
                                  ("mine", [2], False, False, True), ("bare", [], False, False, False))]
    groups = dict(picker_groups(rows))
    assert [e[1] for e in groups["Recommended"]] == ["big", "small"] and "Fastest" in groups["Recommended"][1][0]
    assert [e[1] for e in groups["Your models"]] == ["mine"]
    assert "mine" not in [e[1] for e in groups["All networks (research)"]]
    assert ("bare  (no weights)", "bare", False) in groups["All networks (research)"]


def test_dark_theme_draws_no_light_line_above_the_canvas(window, qtbot):
    try:
        window.set_theme("dark")
        qtbot.wait(50)  # the palette reaches the widgets by events
        shot = window.views.grab().toImage()
        x = shot.width() - 10  # right of the tabs: across the tab bar's base line and the canvas's top
        assert max(shot.pixelColor(x, y).lightness() for y in range(shot.height() // 2)) < 128
    finally:
        window.set_theme("light")


def test_about_and_message_boxes_follow_the_dark_theme(window, qtbot):
    seen = []

    def answer():  # records and closes the box that is up (modal or not)
        box = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
        seen.append((box.testOption(QMessageBox.Option.DontUseNativeDialog), box.palette().color(QPalette.Window).lightness()))
        box.reject()

    try:
        window.set_theme("dark")
        QTimer.singleShot(200, answer)
        window.about()
        qtbot.waitUntil(lambda: len(seen) == 1, timeout=5000)
        QTimer.singleShot(200, answer)
        dialogs.ask(window, "Replace files?", "Replace them?")
        qtbot.waitUntil(lambda: len(seen) == 2, timeout=5000)
        assert all(qt_drawn and lightness < 128 for qt_drawn, lightness in seen)
    finally:
        window.set_theme("light")


def test_transparent_pixels_show_a_checkerboard(qtbot):
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(400, 200)
    clear = QImage(200, 100, QImage.Format_ARGB32)
    clear.fill(Qt.transparent)
    view.set_images(clear, None)
    shot = view.grab().toImage()
    rect = view.image_rect().toRect()
    colours = {shot.pixelColor(x, rect.center().y()).name() for x in range(rect.left() + 2, rect.left() + 40)}
    assert len(colours) == 2  # two alternating greys, not the flat background


def test_error_details_go_to_a_log_file_not_the_dialog(window, qtbot, tmp_path, model_dir):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    window.open_path(bad)
    qtbot.waitUntil(lambda: "Could not open broken.png" in window.last_error, timeout=10000)
    box = next(w for w in window.findChildren(QMessageBox) if w.windowTitle() == "Could not open broken.png")
    log = model_dir.parent / "user" / "logs" / "sisr-studio.log"  # beside the user's models ($SISR_USER_DIR)
    assert box.detailedText() == "" and "Traceback" not in box.text() + box.informativeText()
    assert str(log) in box.informativeText() and "Traceback" in log.read_text()


def test_toolbar_upscale_and_cancel_follow_the_work(window, qtbot, tmp_path):
    actions = lambda: (window.upscale_action.isEnabled(), window.cancel_action.isEnabled())
    assert actions() == (False, False)  # no image yet
    window.open_path(save_png(tmp_path / "a.png", 24, 32))
    qtbot.waitUntil(lambda: window.image is not None, timeout=10000)
    assert actions() == (True, False)
    window.start_upscale()
    assert actions() == (False, True)
    qtbot.waitUntil(lambda: window.upscale_worker is None, timeout=30000)
    assert actions() == (True, False)
    folder = tmp_path / "in"
    folder.mkdir()
    save_png(folder / "b.png", 24, 32)
    window.batch.input.setText(str(folder))
    window.batch.start()
    assert actions() == (True, True)  # Esc cancels a batch too
    qtbot.waitUntil(lambda: window.batch.worker is None, timeout=30000)
    assert actions() == (True, False)


def test_ctrl_equals_and_ctrl_plus_zoom_in(window, qtbot, tmp_path):
    window.open_path(save_png(tmp_path / "a.png", 240, 320))
    qtbot.waitUntil(lambda: window.image is not None, timeout=10000)
    window.activateWindow()
    window.compare.setFocus()
    qtbot.waitUntil(window.compare.hasFocus, timeout=5000)
    for key in (Qt.Key_Equal, Qt.Key_Plus):
        zoom = window.compare.zoom
        qtbot.keyClick(window.compare, key, Qt.ControlModifier)
        assert window.compare.zoom == pytest.approx(zoom * 1.25)


def test_before_after_view_shows_its_zoom(qtbot):
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(400, 200)
    view.set_images(solid(QColor("white"), 400, 200), solid(QColor("white"), 400, 200))
    view.set_zoom(2.0)
    assert view.zoom_text() == "200 %"
    shot = view.grab().toImage()
    corner = [shot.pixelColor(x, y).lightness() for x in range(330, 396) for y in range(165, 196)]
    assert min(corner) < 128  # the zoom's dark label sits in the bottom-right corner of the white picture


def test_dragging_a_file_over_the_window_highlights_the_drop_zone(window, qtbot, tmp_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(save_png(tmp_path / "a.png", 24, 32)))])
    highlight = window.compare.palette().color(QPalette.Highlight)
    edge = lambda: window.compare.grab().toImage().pixelColor(1, window.compare.height() // 2)
    assert edge() != highlight
    QApplication.sendEvent(window, QDragEnterEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    assert edge() == highlight
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert edge() != highlight


def test_f1_lists_the_keyboard_shortcuts(window, qtbot):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    qtbot.keyClick(window, Qt.Key_F1)
    box = next(w for w in window.findChildren(QMessageBox) if w.isVisible())
    assert box.windowTitle() == "Keyboard shortcuts"
    assert "Zoom in" in box.text() and "Ctrl+=" in box.text() and "Upscale" in box.text()
    box.reject()
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert [a.text() for a in help_menu.actions()] == ["&Keyboard shortcuts", "&About SISR Studio"]


def test_view_menu_toggles_the_settings_panel(window, qtbot):
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    toggle = next(a for a in view_menu.actions() if a.text() == "Upscale settings")
    assert toggle.isEnabled() and toggle.isChecked()
    toggle.trigger()
    assert not window.dock.isVisible() and not toggle.isChecked()
    toggle.trigger()
    assert window.dock.isVisible() and toggle.isChecked()


def test_dropping_another_folder_clears_the_previous_batch(window, qtbot, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        save_png(folder / "p.png", 16, 16)
    drop_file(window, first)
    window.batch.output.setText(str(tmp_path / "out"))
    qtbot.mouseClick(window.batch.start_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.batch.summary_counts is not None and window.batch.worker is None, timeout=30000)
    assert window.batch.files.topLevelItemCount() == 1 and window.batch.summary.text()
    drop_file(window, second)
    assert window.batch.files.topLevelItemCount() == 0 and window.batch.summary.text() == ""
    assert window.batch.summary_counts is None and window.batch.progress.value() <= 0


def test_window_upscales_in_the_command_lines_automatic_mode_by_default(window, settings):
    assert settings.mode == "auto" and window.panel.options()["mode"] == "auto"


def drop_files(widget, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    QApplication.sendEvent(widget, QDragEnterEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    QApplication.sendEvent(widget, QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))


def test_several_dropped_images_form_a_queue_to_step_through(window, qtbot, tmp_path, monkeypatch):
    paths = [save_png(tmp_path / f"p{i}.png", 16 + 4 * i, 20, seed=i) for i in range(3)]
    assert not window.queue_label.isVisible()  # one image at a time: no queue shown
    drop_files(window, paths)
    qtbot.waitUntil(lambda: window.image is not None and window.source_path == paths[0], timeout=10000)
    assert window.pages.currentIndex() == 0 and window.queue_label.isVisible()
    assert window.queue_label.text().startswith("1 of 3")
    assert not window.queue_previous.isEnabled() and window.queue_next.isEnabled()
    qtbot.mouseClick(window.queue_next, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.source_path == paths[1] and window.image.height == 20, timeout=10000)
    assert window.queue_label.text().startswith("2 of 3") and window.queue_previous.isEnabled()
    window.start_upscale()  # each one upscales and saves as a single image does
    qtbot.waitUntil(lambda: window.result is not None and window.upscale_worker is None, timeout=30000)
    window.save()
    qtbot.waitUntil(lambda: window.saved_to == tmp_path / "p1_x2.png", timeout=10000)
    qtbot.mouseClick(window.queue_next, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.source_path == paths[2], timeout=10000)
    assert window.queue_label.text().startswith("3 of 3") and not window.queue_next.isEnabled()
    assert window.result is None
    qtbot.mouseClick(window.queue_previous, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.source_path == paths[1], timeout=10000)

    monkeypatch.setattr(main_window.QFileDialog, "getOpenFileNames", lambda *args, **kw: ([str(p) for p in paths[1:]], ""))
    window.open_dialog()  # File › Open takes several files too
    qtbot.waitUntil(lambda: window.source_path == paths[1] and window.queue_label.text().startswith("1 of 2"), timeout=10000)

    folder = tmp_path / "folder"
    folder.mkdir()
    drop_files(window, [folder, paths[0]])  # a folder still goes to the batch page
    assert window.pages.currentWidget() is window.batch and window.batch.input.text() == str(folder)


def test_open_folder_after_save_and_after_a_batch(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    folder = tmp_path / "photos"
    folder.mkdir()
    source = save_png(folder / "photo.png", 16, 20)
    assert not window.open_folder_button.isVisible()
    upscale_file(window, qtbot, source)
    assert not window.open_folder_button.isVisible()
    window.save()
    qtbot.waitUntil(lambda: window.saved_to is not None, timeout=10000)
    assert window.open_folder_button.isVisible()
    qtbot.mouseClick(window.open_folder_button, Qt.LeftButton)
    assert opened == [QUrl.fromLocalFile(str(folder))]
    window.open_path(source)  # a new image: nothing saved from it yet
    qtbot.waitUntil(lambda: window.saved_to is None and window.result is None, timeout=10000)
    assert not window.open_folder_button.isVisible()

    outputs = tmp_path / "out"
    drop_file(window, folder)
    assert not window.batch.open_output_button.isEnabled()
    window.batch.output.setText(str(outputs))
    qtbot.mouseClick(window.batch.start_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: window.batch.summary_counts is not None and window.batch.worker is None, timeout=30000)
    assert window.batch.open_output_button.isEnabled() and window.batch.open_output_button.isVisible()
    qtbot.mouseClick(window.batch.open_output_button, Qt.LeftButton)
    assert opened[-1] == QUrl.fromLocalFile(str(outputs))
    empty = tmp_path / "empty"
    empty.mkdir()
    drop_file(window, empty)  # another input: the previous output no longer applies
    assert not window.batch.open_output_button.isEnabled()


def test_batch_page_shows_output_folder_and_format_before_start(window, qtbot, tmp_path):
    drop_file(window, tmp_path)
    assert window.pages.currentWidget() is window.batch
    assert window.batch.output.isVisible() and window.batch.output.placeholderText().startswith("Output folder")
    assert window.batch.format.isVisible() and window.batch.format.currentText() == "Same as input"
