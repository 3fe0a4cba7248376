"""The permanent "Provisional — not for citation" mark, shown wherever a score is."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QSizePolicy, QWidget

from cab_check.gui.theme import provisional_color
from cab_check.report import PROVISIONAL_TEXT

TOOLTIP = "One local run scored with CAB's formulas — not CAB's sweep, so not for citation."


class ProvisionalMark(QLabel):
    """`PROVISIONAL_TEXT`, bold, in the provisional colour inside a border of the same colour.

    The colour follows the application palette, so switching between light and dark keeps the mark readable.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(PROVISIONAL_TEXT, parent)
        # A plain box frame is drawn in the foreground colour, so text and border share the provisional colour.
        self.setFrameShape(QFrame.Shape.Box)
        self.setFrameShadow(QFrame.Shadow.Plain)
        self.setLineWidth(2)
        self.setMargin(max(2, self.fontMetrics().height() // 6))
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.setAccessibleName(PROVISIONAL_TEXT)
        self.setAccessibleDescription(TOOLTIP)
        self.setToolTip(TOOLTIP)
        font = QFont()  # only the weight is set, so the size still follows the application font (200% scaling)
        font.setBold(True)
        self.setFont(font)
        self._colour()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._colour()

    def _colour(self) -> None:
        colour = provisional_color(QApplication.palette())
        palette = self.palette()
        if palette.color(QPalette.ColorRole.WindowText) == colour:
            return  # setting the palette sends another PaletteChange; stop here
        palette.setColor(QPalette.ColorRole.WindowText, colour)
        self.setPalette(palette)
