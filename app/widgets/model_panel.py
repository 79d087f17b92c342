"""The upscale options: network (with its parameters, benchmark PSNR and expected speed), which of its
weights (photo, clean, or automatic by the input), scale, mode and patch size, device, self-ensemble.
Filled from ``sisr_core.zoo.model_rows()`` rows."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFormLayout, QLabel, QSpinBox, QWidget,
)

# Rough CPU throughput for the speed estimate when the weights carry no measured time.
CPU_FLOPS = 15e9


def estimated_seconds(row: dict, scale: int, megapixels: float = 1.0) -> float:
    """Seconds to upscale a ``megapixels`` photo: ~2 FLOPs per parameter per pixel the network runs at."""
    pixels = megapixels * 1e6 * (scale * scale if row.get("any_integer_scale") else 1)
    return 2 * row["params"] * pixels / CPU_FLOPS


WEIGHT_CHOICES = (("Automatic: photo weights for JPEGs", "auto"), ("Photos & JPEGs", "photo"),
                  ("Clean / lossless images", "clean"))


def figures(row: dict, variant: str, scale: int) -> str:
    """One variant's measured figures at ``scale``: Set5 on clean input, Set14 on JPEG-75 input."""
    v = row.get("variants", {}).get(variant, {})
    parts = []
    set5 = v.get("metrics", {}).get(f"x{scale}", {}).get("Set5", {})
    if "psnr" in set5:
        parts.append(f"Set5 ×{scale} <b>{set5['psnr']:.2f} dB</b>")
    jpeg = v.get("metrics_degraded", {}).get("jpeg75", {}).get(f"x{scale}", {}).get("Set14", {})
    if "psnr" in jpeg:
        parts.append(f"Set14 JPEG ×{scale} <b>{jpeg['psnr']:.2f} dB</b>")
    return ", ".join(parts)


def describe(row: dict, scale: int) -> str:
    """Rich text: description, parameters, each weights variant's PSNR at ``scale`` and expected speed."""
    lines = [row["description"], f"<b>{row['params'] / 1e3:,.0f} k</b> parameters · {row['color'].upper()} network"]
    set5 = row.get("metrics", {}).get(f"x{scale}", {}).get("Set5", {})
    if "photo" in row.get("variants", {}):
        for variant, label in (("photo", "Photos & JPEGs"), ("clean", "Clean")):
            if text := figures(row, variant, scale):
                lines.append(f"{label}: {text}")
    elif "psnr" in set5:
        lines.append(f"Set5 ×{scale}: <b>{set5['psnr']:.2f} dB</b> PSNR")
    if "seconds_per_mp" in set5:
        lines.append(f"Speed: {set5['seconds_per_mp']:.2f} s per output megapixel (measured)")
    else:
        lines.append(f"Speed: ≈ {estimated_seconds(row, scale):.1f} s per megapixel (estimate)")
    if row["weights"]:
        lines.append("Trained scales: " + ", ".join(f"×{s}" for s in row["weights"]))
    else:
        lines.append("<i>No weights yet: train it with Tools › Train a network.</i>")
    return "<br>".join(lines)


def picker_groups(rows: list[dict]) -> list[tuple[str, list[tuple[str, str, bool]]]]:
    """The picker's groups as (heading, [(label, network, selectable)]): the recommended networks with a
    plain "good for", the user's own, then every network by its research name."""
    trained = [r for r in rows if r["weights"]]
    recommended = [(f"Best quality: {r['name']}", r["name"], True)
                   for r in trained if r["default"]]
    recommended += [(f"Fastest: {r['name']}", r["name"], True) for r in trained if r.get("fastest") and not r["default"]]
    yours = [(r["name"], r["name"], True) for r in trained if r.get("yours")]
    everything = [(r["name"] + ("" if r["weights"] else "  (no weights)"), r["name"], bool(r["weights"]))
                  for r in sorted(rows, key=lambda r: (not r["weights"], r["name"])) if not r.get("yours")]
    groups = [("Recommended", recommended), ("Your models", yours), ("All networks (research)", everything)]
    return [(heading, entries) for heading, entries in groups if entries]


class ModelPanel(QWidget):
    """Pickers for how to upscale; ``options()`` gives the chosen values as keyword arguments."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: dict[str, dict] = {}
        self.network = QComboBox()
        self.network.setPlaceholderText("Loading networks…")
        self.info = QLabel("Loading the list of networks…")
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.RichText)
        self.info.setMinimumHeight(90)
        self.info.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.variant = QComboBox()
        for text, value in WEIGHT_CHOICES:
            self.variant.addItem(text, value)
        self.variant.setToolTip("Photo weights remove JPEG blocks, noise and mild blur and invent no texture; "
                                "clean weights are sharpest on lossless input. Automatic picks photo weights for "
                                "JPEG and lossy WebP files, clean ones otherwise. Networks without photo weights "
                                "always run their clean weights")
        self.chosen_variant = "auto"  # the user's choice, kept while a network without photo weights is shown
        self.scale = QSpinBox()
        self.scale.setRange(1, 16)
        self.scale.setValue(2)
        self.scale.setPrefix("×")
        self.scale.setToolTip("The network's trained scales run in one pass; any other integer is reached "
                              "by chaining passes (then a high-quality downscale)")
        self.native = QLabel()
        self.mode = QComboBox()
        self.mode.addItem("Automatic (as sisr upscale)", "auto")
        self.mode.addItem("Patch (low memory)", "patch")
        self.mode.addItem("Fast (whole image)", "fast")
        self.mode.setToolTip("All give the same pixels: automatic runs the whole image, or tiles when it would not "
                             "fit in memory, exactly as the command line; patch uses tiles of the chosen size; fast "
                             "the whole image at once. Cancel stops within a second in every mode")
        self.patch = QSpinBox()
        self.patch.setRange(32, 1024)
        self.patch.setSingleStep(32)
        self.patch.setValue(128)
        self.patch.setSuffix(" px")
        self.device = QComboBox()
        self.device.addItem("Automatic", "auto")
        self.device.addItem("CPU", "cpu")
        self.ensemble = QCheckBox("Self-ensemble (×8 slower, a little sharper)")

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Network", self.network)
        form.addRow("Weights", self.variant)
        form.addRow(self.info)
        form.addRow("Scale", self.scale)
        form.addRow("", self.native)
        form.addRow("Mode", self.mode)
        form.addRow("Patch size", self.patch)
        form.addRow("Device", self.device)
        form.addRow(self.ensemble)

        self.network.currentIndexChanged.connect(self._network_changed)
        self.variant.currentIndexChanged.connect(lambda: setattr(self, "chosen_variant", self.variant.currentData()))
        self.scale.valueChanged.connect(self._refresh_info)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        for signal in (self.variant.currentIndexChanged, self.scale.valueChanged, self.mode.currentIndexChanged, self.patch.valueChanged,
                       self.device.currentIndexChanged, self.ensemble.toggled):
            signal.connect(self.changed)

    def set_rows(self, rows: list[dict], preferred: str = "") -> None:
        """Show these networks grouped by purpose (:func:`picker_groups`); networks without weights are
        listed but not selectable. Keeps the choice if possible, else the default network."""
        current = self.model_name() or preferred
        self.rows = {r["name"]: r for r in rows}
        self.network.blockSignals(True)
        self.network.clear()
        for heading, entries in picker_groups(rows):
            self.network.addItem(heading)
            header = self.network.model().item(self.network.count() - 1)
            header.setEnabled(False)
            font = header.font()
            font.setBold(True)
            header.setFont(font)
            for label, name, selectable in entries:
                self.network.addItem("   " + label, name)
                self.network.model().item(self.network.count() - 1).setEnabled(selectable)
        names = self.trained_names()
        default = next((r["name"] for r in rows if r["default"] and r["weights"]), names[0] if names else "")
        choice = current if current in names else default
        self.network.setCurrentIndex(self.network.findData(choice) if choice else -1)
        self.network.blockSignals(False)
        self._network_changed()

    def set_devices(self, devices: list[str]) -> None:
        """Add accelerators found at run time (``cuda``, ``mps``) to the device list."""
        for device in devices:
            if self.device.findData(device) < 0:
                self.device.addItem(device.upper(), device)

    def model_name(self) -> str:
        return self.network.currentData() or ""

    def trained_names(self) -> list[str]:
        return [n for n, r in self.rows.items() if r["weights"]]

    def has_photo_weights(self) -> bool:
        return "photo" in self.rows.get(self.model_name(), {}).get("variants", {})

    def comparison_choices(self) -> dict[str, tuple[str, str]]:
        """Networks for the side-by-side comparison: label -> (network, weights); a network with photo
        weights is offered with each of its weights, so they can be compared on one image."""
        out = {}
        for name in self.trained_names():
            if "photo" in self.rows[name].get("variants", {}):
                out[f"{name} (photo weights)"] = (name, "photo")
                out[f"{name} (clean weights)"] = (name, "clean")
            else:
                out[name] = (name, "clean")
        return out

    def native_scales(self) -> list[int]:
        row = self.rows.get(self.model_name())
        return list(row["weights"]) if row else []

    def options(self) -> dict:
        """The choice as ``model``, ``variant``, ``scale``, ``mode``, ``tile``, ``device``, ``ensemble``."""
        variant = self.variant.currentData()
        return {"model": self.model_name(), "variant": variant, "scale": self.scale.value(), "mode": self.mode.currentData(),
                "tile": self.patch.value(), "device": self.device.currentData(), "ensemble": self.ensemble.isChecked()}

    def set_options(self, scale: int, mode: str, tile: int, device: str, ensemble: bool) -> None:
        """Restore saved choices (the network is restored by :meth:`set_rows`)."""
        self.scale.setValue(scale)
        self.mode.setCurrentIndex(max(self.mode.findData(mode), 0))
        self.patch.setValue(tile)
        self.device.setCurrentIndex(max(self.device.findData(device), 0))
        self.ensemble.setChecked(ensemble)
        self._mode_changed()

    def _network_changed(self) -> None:
        natives = self.native_scales()
        row = self.rows.get(self.model_name())
        photo = self.has_photo_weights()
        self.variant.blockSignals(True)
        self.variant.setCurrentIndex(self.variant.findData(self.chosen_variant if photo else "clean"))
        self.variant.setEnabled(photo)
        self.variant.blockSignals(False)
        if row and row["any_integer_scale"]:
            self.native.setText("Any integer scale in one pass")
        elif natives:
            self.native.setText("One pass: " + ", ".join(f"×{s}" for s in natives) + "; others by chaining")
        else:
            self.native.setText("")
        if natives and self.scale.value() not in natives and not (row and row["any_integer_scale"]):
            self.scale.setValue(natives[0])
        self._refresh_info()
        self.changed.emit()

    def _refresh_info(self) -> None:
        row = self.rows.get(self.model_name())
        if row:
            self.info.setText(describe(row, self.scale.value()))
        elif self.rows:
            self.info.setText("No network has trained weights yet: train one with Tools › Train a network.")

    def _mode_changed(self) -> None:
        self.patch.setEnabled(self.mode.currentData() == "patch")
