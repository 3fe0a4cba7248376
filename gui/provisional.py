"""The permanent "Provisional — not for citation" mark, shown wherever a score is."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from cab_check.gui.theme import PROVISIONAL_TEXT, provisional_color


class ProvisionalMark(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(PROVISIONAL_TEXT, parent)
        colour = provisional_color().name()
        self.setStyleSheet(f"QLabel {{ color: {colour}; border: 2px solid {colour}; border-radius: 4px;"
                           " padding: 2px 8px; font-weight: bold; }")
        self.setAccessibleName(PROVISIONAL_TEXT)
        self.setToolTip("One local run scored with CAB's formulas — not CAB's sweep, so not for citation.")
