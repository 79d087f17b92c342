"""Light and dark palettes on the Fusion style, following the system unless the user picks one."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
THEMES = ("system", "light", "dark")


def system_is_dark() -> bool:
    """True when the desktop asks for a dark colour scheme."""
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def _dark_palette() -> QPalette:
    """Dark colours; the bevel shades (light, midlight, mid, dark, shadow) derive from the window colour,
    not from the light palette in use before (Fusion draws the tab bar's base line in ``light``)."""
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(223, 225, 229)
    p = QPalette(window, window)
    for role, color in {
        QPalette.Window: window, QPalette.WindowText: text, QPalette.Base: base,
        QPalette.AlternateBase: window, QPalette.ToolTipBase: window, QPalette.ToolTipText: text,
        QPalette.Text: text, QPalette.Button: window, QPalette.ButtonText: text,
        QPalette.BrightText: QColor(255, 100, 100), QPalette.Link: QColor(90, 160, 255),
        QPalette.Highlight: QColor(53, 116, 240), QPalette.HighlightedText: QColor(255, 255, 255),
        QPalette.PlaceholderText: QColor(130, 133, 140),
    }.items():
        p.setColor(role, color)
    for role in (QPalette.Text, QPalette.ButtonText, QPalette.WindowText):
        p.setColor(QPalette.Disabled, role, QColor(110, 112, 118))
    return p


def apply_theme(app: QApplication, theme: str) -> bool:
    """Apply ``system``, ``light`` or ``dark``; returns whether the result is dark."""
    dark = system_is_dark() if theme == "system" else theme == "dark"
    app.setStyle("Fusion")
    app.setPalette(_dark_palette() if dark else app.style().standardPalette())
    return dark


def icon(name: str) -> QIcon:
    """A qtawesome icon (``mdi6.*``) drawn in the current palette's text colour."""
    import qtawesome

    palette = QApplication.palette()
    return qtawesome.icon(
        name,
        color=palette.color(QPalette.ButtonText),
        color_disabled=palette.color(QPalette.Disabled, QPalette.ButtonText),
    )


def app_icon() -> QIcon:
    return QIcon(str(RESOURCES / "icon.svg"))
