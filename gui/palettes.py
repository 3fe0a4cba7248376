"""Light and dark palettes on the Fusion style, so both look the same on every desktop (and offscreen)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

Role = QPalette.ColorRole
Group = QPalette.ColorGroup

_LIGHT = {
    Role.Window: "#f3f3f3",
    Role.WindowText: "#1b1b1b",
    Role.Base: "#ffffff",
    Role.AlternateBase: "#f0f0f4",
    Role.ToolTipBase: "#ffffdc",
    Role.ToolTipText: "#1b1b1b",
    Role.Text: "#1b1b1b",
    Role.Button: "#e8e8e8",
    Role.ButtonText: "#1b1b1b",
    Role.BrightText: "#c62828",
    Role.Highlight: "#1f5fbf",
    Role.HighlightedText: "#ffffff",
    Role.Link: "#1f5fbf",
    Role.PlaceholderText: "#6b6b6b",
    Role.Mid: "#b8b8b8",
}
_DARK = {
    Role.Window: "#202124",
    Role.WindowText: "#e8e8e8",
    Role.Base: "#17181a",
    Role.AlternateBase: "#26272b",
    Role.ToolTipBase: "#2d2e32",
    Role.ToolTipText: "#e8e8e8",
    Role.Text: "#e8e8e8",
    Role.Button: "#2d2e32",
    Role.ButtonText: "#e8e8e8",
    Role.BrightText: "#ef5350",
    Role.Highlight: "#3d7bd9",
    Role.HighlightedText: "#ffffff",
    Role.Link: "#8ab4f8",
    Role.PlaceholderText: "#9a9a9a",
    Role.Mid: "#4a4b50",
}
# Disabled text must stay readable (contrast ≥ 3:1) yet look off.
_DISABLED = {"light": "#8a8a8a", "dark": "#7c7c7c"}


def system_prefers_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def build_palette(dark: bool) -> QPalette:
    palette = QPalette()
    for role, colour in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(colour))
    disabled = QColor(_DISABLED["dark" if dark else "light"])
    for role in (Role.WindowText, Role.Text, Role.ButtonText):
        palette.setColor(Group.Disabled, role, disabled)
    return palette


def apply_theme(app: QApplication, dark: bool | None) -> bool:
    """Sets the palette: dark, light, or (None) what the desktop prefers; returns whether it is dark."""
    dark = system_prefers_dark() if dark is None else dark
    app.setStyle("Fusion")
    app.setPalette(build_palette(dark))
    return dark
