"""Colours, the provisional mark and the monospace font, shared by the widgets.

Widgets take their ordinary colours from the application palette (light or dark); only what carries meaning —
good, middling, bad, and the provisional warning — is chosen here, in a shade readable on either palette.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def goodness_color(goodness: float, palette: QPalette | None = None) -> QColor:
    """Green from 0.75, amber from 0.4, red below: the same thresholds as the terminal report."""
    dark = is_dark(palette)
    if goodness >= 0.75:
        return QColor("#4caf50" if dark else "#2e7d32")
    if goodness >= 0.4:
        return QColor("#ffb300" if dark else "#b26a00")
    return QColor("#ef5350" if dark else "#c62828")


def provisional_color(palette: QPalette | None = None) -> QColor:
    return QColor("#ffb300" if is_dark(palette) else "#8a5a00")


def monospace_font() -> QFont:
    """The system's fixed-width family and nothing else: set on a widget, its size is still inherited, so it
    scales with the rest of the UI."""
    system = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font = QFont()
    font.setFamilies(system.families())
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setFixedPitch(True)
    return font
