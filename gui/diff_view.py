"""A unified diff, read-only, in a monospace font with added, removed and hunk lines coloured."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFont, QPalette, QSyntaxHighlighter, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from cab_check.gui.theme import goodness_color, monospace_font

NO_CHANGES = "The agent changed no files."


class DiffHighlighter(QSyntaxHighlighter):
    """Added lines in the theme's good colour, removed lines in its bad colour, hunk headers in the link colour
    and file headers in bold. Colours come from `palette_source`'s palette, so they follow light or dark."""

    def __init__(self, document: QTextDocument, palette_source: QWidget) -> None:
        super().__init__(document)
        self._palette_source = palette_source

    def line_format(self, text: str) -> QTextCharFormat | None:
        """The format of a whole diff line, or None for context lines (drawn in the ordinary text colour)."""
        palette = self._palette_source.palette()
        fmt = QTextCharFormat()
        if text.startswith(("+++ ", "--- ", "diff ", "index ", "new file", "deleted file", "rename ", "similarity ")):
            fmt.setFontWeight(QFont.Weight.Bold)
        elif text.startswith("@@"):
            fmt.setForeground(palette.color(QPalette.ColorRole.Link))
        elif text.startswith("+"):
            fmt.setForeground(goodness_color(1.0, palette))
        elif text.startswith("-"):
            fmt.setForeground(goodness_color(0.0, palette))
        elif text.startswith("\\"):  # "\ No newline at end of file"
            fmt.setForeground(palette.color(QPalette.ColorRole.PlaceholderText))
        else:
            return None
        return fmt

    def highlightBlock(self, text: str) -> None:
        fmt = self.line_format(text)
        if fmt is not None:
            self.setFormat(0, len(text), fmt)


class DiffView(QPlainTextEdit):
    """Shows a unified diff (`set_diff`); when there is none, says the agent changed no files."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByKeyboard | Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(monospace_font())
        self.setPlaceholderText(NO_CHANGES)
        self.setAccessibleName("Changes the agent made (unified diff)")
        self.highlighter = DiffHighlighter(self.document(), self)

    def set_diff(self, diff: str) -> None:
        self.setPlainText(diff)
        self.setAccessibleDescription(
            NO_CHANGES
            if not diff.strip()
            else f"{diff.count(chr(10)) + 1} lines; added lines start with +, removed with -"
        )

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.highlighter.rehighlight()
