"""Typed settings persisted with QSettings: last folders, chosen network, patch size, geometry, theme."""
from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "SISR Studio"
APPLICATION = "SISR Studio"
MAX_RECENT = 10


class Settings:
    """Named, typed access to one QSettings store (the user's, or a temporary one in tests)."""

    def __init__(self, store: QSettings | None = None):
        self.store = store if store is not None else QSettings(ORGANISATION, APPLICATION)

    def _get(self, key: str, default, kind=str):
        value = self.store.value(key, default)
        if value is None:
            return default
        if kind is bool:
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1")
        try:
            return kind(value)
        except (TypeError, ValueError):
            return default

    def _set(self, key: str, value) -> None:
        self.store.setValue(key, value)

    def folder(self, purpose: str) -> str:
        """The last folder used for ``purpose`` (open, save, batch_in, batch_out, train, val)."""
        return self._get(f"folders/{purpose}", "")

    def set_folder(self, purpose: str, path: str) -> None:
        self._set(f"folders/{purpose}", path)

    @property
    def model(self) -> str:
        return self._get("upscale/model", "")

    @model.setter
    def model(self, name: str) -> None:
        self._set("upscale/model", name)

    @property
    def scale(self) -> int:
        return self._get("upscale/scale", 2, int)

    @scale.setter
    def scale(self, value: int) -> None:
        self._set("upscale/scale", int(value))

    @property
    def mode(self) -> str:
        return self._get("upscale/mode", "auto")

    @mode.setter
    def mode(self, value: str) -> None:
        self._set("upscale/mode", value)

    @property
    def patch_size(self) -> int:
        return self._get("upscale/patch_size", 128, int)

    @patch_size.setter
    def patch_size(self, value: int) -> None:
        self._set("upscale/patch_size", int(value))

    @property
    def device(self) -> str:
        return self._get("upscale/device", "auto")

    @device.setter
    def device(self, value: str) -> None:
        self._set("upscale/device", value)

    @property
    def ensemble(self) -> bool:
        return self._get("upscale/ensemble", False, bool)

    @ensemble.setter
    def ensemble(self, value: bool) -> None:
        self._set("upscale/ensemble", bool(value))

    @property
    def theme(self) -> str:
        """``system``, ``light`` or ``dark``."""
        return self._get("window/theme", "system")

    @theme.setter
    def theme(self, value: str) -> None:
        self._set("window/theme", value)

    @property
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._set("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        """The window's dock and toolbar layout (the settings panel's width and visibility)."""
        value = self.store.value("window/state")
        return value if isinstance(value, QByteArray) else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._set("window/state", value)

    @property
    def recent_files(self) -> list[str]:
        value = self.store.value("files/recent", [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in (value or [])]

    def add_recent_file(self, path: str) -> None:
        files = [path] + [f for f in self.recent_files if f != path]
        self._set("files/recent", files[:MAX_RECENT])

    @property
    def save_options(self) -> dict:
        """Last Save As choices: suffix, format, quality, intermediate."""
        return {
            "suffix": self._get("save/suffix", "_x{scale}"),
            "format": self._get("save/format", "png"),
            "quality": self._get("save/quality", 95, int),
            "intermediate": self._get("save/intermediate", False, bool),
        }

    def set_save_options(self, suffix: str, format: str, quality: int, intermediate: bool) -> None:
        self._set("save/suffix", suffix)
        self._set("save/format", format)
        self._set("save/quality", int(quality))
        self._set("save/intermediate", bool(intermediate))

    def sync(self) -> None:
        self.store.sync()
