"""Take the README screenshots from the real app on an X display (e.g. Xvfb) with ImageMagick's ``import``.

``DISPLAY=:99 SISR_USER_DIR=/tmp/u python -m app.screenshots resources/screenshots --train-data DIR``
drives the window the way a user would (open the sample, upscale, compare, compare photo and clean
weights on a JPEG made from ``--photo``, run a batch, train) and
captures the screen after each step. Settings go to a temporary file, never the user's.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QPointF, QSettings
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow, create_app
from app.settings import Settings
from app.theme import RESOURCES

DEFAULT_SIZE = "1280x820"  # the window's default size; the README also shows 1000x700, the smallest it fits


def wait_until(condition, timeout: float = 600.0) -> None:
    """Process events until ``condition()`` holds (raises TimeoutError after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        QApplication.processEvents()
        time.sleep(0.02)


def capture(out: Path, name: str) -> Path:
    """Let the window repaint, then grab the whole screen into ``out/name``."""
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)
    path = out / name
    subprocess.run(["import", "-window", "root", str(path)], check=True)
    print(path)
    return path


def make_batch_folder(folder: Path) -> None:
    """A few crops of the sample image and one corrupt file, so the batch shows every status."""
    from PIL import Image

    sample = Image.open(RESOURCES / "sample.png")
    for i, box in enumerate([(0, 0, 160, 110), (160, 0, 320, 110), (0, 110, 160, 220), (160, 110, 320, 220), (40, 20, 280, 200)]):
        sample.crop(box).save(folder / f"photo_{i + 1:02d}.png")
    (folder / "damaged.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated download")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--train-data", required=True, help="a folder of HR images for the training screenshot")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--size", default=DEFAULT_SIZE, help="window size WxH (run Xvfb with the same screen size)")
    parser.add_argument("--photo", help="an image to save as a JPEG and compare photo and clean weights on")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="sisr_screens_"))

    app = create_app([])
    window = MainWindow(Settings(QSettings(str(scratch / "settings.ini"), QSettings.IniFormat)))
    window.setGeometry(0, 0, *map(int, args.size.split("x")))
    window.show()
    wait_until(lambda: window.panel.model_name() != "")
    window.panel.scale.setValue(2)

    window.open_path(RESOURCES / "sample.png")
    wait_until(lambda: window.image is not None)
    window.start_upscale()
    wait_until(lambda: window.result is not None and window.upscale_worker is None)
    window.compare.look_at(2.0, QPointF(250, 150))
    window.compare.set_divider(0.5)
    capture(args.out, "slider.png")

    window.views.setCurrentIndex(1)
    wait_until(lambda: window.side_by_side.right.isVisible())
    window.side_by_side.right.look_at(4.0, QPointF(150, 110))
    capture(args.out, "side_by_side.png")

    if args.photo:  # a JPEG: the photo weights run by themselves; the left side shows the clean weights
        from PIL import Image

        jpeg = scratch / f"{Path(args.photo).stem}.jpg"
        Image.open(args.photo).convert("RGB").save(jpeg, quality=70)
        window.open_path(jpeg)
        wait_until(lambda: window.image is not None and window.source_path == jpeg)
        window.start_upscale()
        wait_until(lambda: window.result is not None and window.upscale_worker is None)
        model = window.panel.model_name()
        window.side_by_side.left_source.setCurrentText(f"{model} (clean weights)")
        wait_until(lambda: window.upscale_worker is None)
        window.side_by_side.right.look_at(3.0, QPointF(128, 128))
        capture(args.out, "photo_vs_clean.png")

    batch_in, batch_out = scratch / "photos", scratch / "upscaled"
    batch_in.mkdir()
    make_batch_folder(batch_in)
    window.pages.setCurrentWidget(window.batch)
    window.batch.input.setText(str(batch_in))
    window.batch.output.setText(str(batch_out))
    window.batch.start()
    wait_until(lambda: window.batch.worker is None and window.batch.summary_counts is not None)
    capture(args.out, "batch.png")

    wizard = window.open_training_wizard()
    wizard.move(220, 60)
    wizard.data_page.add_folder(args.train_data)
    wizard.next()
    wizard.network_page.model.setCurrentIndex(wizard.network_page.model.findData("fsrcnn"))
    wizard.network_page.scale.setValue(3)
    wizard.next()
    wait_until(lambda: "per step" in wizard.settings_page.estimate.text())
    capture(args.out, "wizard_settings.png")
    wizard.settings_page.steps.setValue(args.train_steps)
    wizard.settings_page.batch.setValue(8)
    wizard.settings_page.patch.setValue(32)
    wizard.next()
    wait_until(wizard.train_page.isComplete)
    capture(args.out, "wizard_training.png")
    wizard.reject()  # the screenshot run keeps nothing: no weights are installed
    window.close()
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
