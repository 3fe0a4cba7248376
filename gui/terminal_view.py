"""A terminal for the agent's output: a VT emulator (pyte) drawn in its own dark palette, with scrollback.

Live output and recording playback both `feed` text in. Colours (16, 256 and truecolour), bold, italics,
underline, reverse video and cursor movement (`\\r` overwrites, erase-line, cursor up) show as a terminal would.
While following, the newest output stays in view; the user scrolls back through history with the mouse wheel,
PageUp/PageDown or Shift+arrows, and scrolling back to the bottom follows again.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyte
import pyte.modes
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSlider, QWidget
from pyte.graphics import FG_BG_256
from pyte.screens import Char, Margins

HISTORY_LINES = 10_000  # lines kept above the screen; a long run's early output scrolls out after this

# The terminal keeps its own colours whatever the app's palette: agents' output is styled for a dark terminal.
BACKGROUND = QColor("#1e1e1e")
FOREGROUND = QColor("#d3d7cf")
# The 16 ANSI colours (black, red, green, yellow, blue, magenta, cyan, white, then their bright forms): the
# Tango palette many terminals ship, which unlike xterm's keeps blue readable on a dark background.
PALETTE: tuple[QColor, ...] = tuple(
    QColor(f"#{rgb}")
    for rgb in (
        "2e3436",
        "cc0000",
        "4e9a06",
        "c4a000",
        "3465a4",
        "75507b",
        "06989a",
        "d3d7cf",
        "555753",
        "ef2929",
        "8ae234",
        "fce94f",
        "729fcf",
        "ad7fa8",
        "34e2e2",
        "eeeeec",
    )
)

_ANSI_NAMES = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")
# pyte names the 16 colours ("brown" is its yellow; "bfightmagenta" is its typo for bright magenta background) ...
_NAMED: dict[str, int] = {
    **{name: i for i, name in enumerate(_ANSI_NAMES)},
    **{f"bright{name}": i + 8 for i, name in enumerate(_ANSI_NAMES)},
    "yellow": 3,
    "brightyellow": 11,
    "bfightmagenta": 13,
}
# ... and reports 256-colour indices 0-15 as xterm's hex values: those take this palette too, as in any terminal.
_INDEXED: dict[str, int] = {FG_BG_256[i]: i for i in range(16)}


@dataclass(frozen=True)
class CellStyle:
    """How one cell is drawn, with reverse video already applied."""

    foreground: QColor
    background: QColor
    bold: bool = False
    italic: bool = False
    underline: bool = False
    strikethrough: bool = False


def terminal_color(name: str, default: QColor) -> QColor:
    """The colour pyte reports (a name, an `rrggbb` hex, or "default") in this terminal's palette."""
    if name == "default":
        return default
    index = _NAMED.get(name, _INDEXED.get(name))
    if index is not None:
        return PALETTE[index]
    color = QColor(f"#{name}")
    return color if color.isValid() else default


def cell_style_of(char: Char) -> CellStyle:
    foreground = terminal_color(char.fg, FOREGROUND)
    background = terminal_color(char.bg, BACKGROUND)
    if char.reverse:
        foreground, background = background, foreground
    return CellStyle(foreground, background, char.bold, char.italics, char.underscore, char.strikethrough)


class _ScrollbackScreen(pyte.Screen):
    """A pyte screen that keeps the lines scrolled off its top, newest last.

    pyte's own HistoryScreen wraps every attribute access (feeding runs about twice as slow) and pages by moving
    the live screen, which live output would undo; the view only needs the lines, so it keeps just those.
    """

    def __init__(self, columns: int, lines: int) -> None:
        self.scrollback: collections.deque[Mapping[int, Char]] = collections.deque(maxlen=HISTORY_LINES)
        self.dropped = 0  # lines that fell off the far end of the scrollback, so a scrolled-back view can hold still
        super().__init__(columns, lines)
        self.set_mode(pyte.modes.LNM)  # pyte's __init__ sets its default modes after its reset()

    def reset(self) -> None:
        super().reset()
        self.scrollback.clear()
        # A container without a TTY writes bare "\n"; line-feed/new-line mode makes that a new line, as a tty would.
        self.set_mode(pyte.modes.LNM)

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y == bottom and top == 0:  # only a scroll of the whole screen pushes a line into history
            if len(self.scrollback) == self.scrollback.maxlen:
                self.dropped += 1
            self.scrollback.append(self.buffer[top])
        super().index()

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        super().erase_in_display(how, *args, **kwargs)
        if how == 3:  # "erase saved lines", as `clear` sends
            self.scrollback.clear()


_EMPTY_LINE: Mapping[int, Char] = {}


def _line_text(line: Mapping[int, Char], columns: int) -> str:
    cells = [" "] * columns
    for x, char in line.items():
        if x < columns:
            cells[x] = char.data
    return "".join(cells).rstrip()


def _style_runs(line: Mapping[int, Char], columns: int) -> Iterator[tuple[int, str, Char]]:
    """(first column, text, a char carrying the style) for each run of same-style cells in a line.

    A non-ASCII character is a run of its own, placed at its own cell: fallback fonts for symbols and wide
    characters do not keep the monospace advance, and must not push the rest of the line out of its columns.
    """
    start, text, style, style_key = 0, "", None, None
    for x in sorted(line):
        if x >= columns:
            break
        char = line[x]
        key = char[1:]
        if not char.data:  # the second cell of a wide character: already drawn with the first
            continue
        joins = (
            style is not None and key == style_key and x == start + len(text) and char.data.isascii() and text.isascii()
        )
        if joins:
            text += char.data
            continue
        if style is not None:
            yield start, text, style
        start, text, style, style_key = x, char.data, char, key
    if style is not None:
        yield start, text, style


def _visible_content(line: Mapping[int, Char]) -> bool:
    return any(c.data.strip() or c.bg != "default" or c.reverse for c in line.values())


class TerminalView(QAbstractScrollArea):
    """Shows what a program wrote to a `columns` × `rows` terminal, with scrollback above it.

    `feed` is cheap (it only runs the emulator) and repaints are coalesced, so it can take every chunk of
    live output as it comes.
    """

    def __init__(self, columns: int = 120, rows: int = 40, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._screen = _ScrollbackScreen(columns, rows)
        self._stream = pyte.Stream(self._screen)
        self._following = True
        self._syncing = False
        self._fonts: dict[tuple[bool, bool, bool, bool], QFont] = {}
        self._apply_font()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.viewport().setAutoFillBackground(False)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAccessibleName("Terminal")
        self.setAccessibleDescription(
            "Program output. Scroll back with PageUp, PageDown or Shift+arrow keys; "
            "Shift+End returns to the newest output."
        )
        self.verticalScrollBar().valueChanged.connect(self._scrolled)
        self.horizontalScrollBar().valueChanged.connect(lambda _: self.viewport().update())
        self._sync_scrollbars()

    # --- what callers use -----------------------------------------------------------------------------------

    @property
    def columns(self) -> int:
        return self._screen.columns

    @property
    def rows(self) -> int:
        return self._screen.lines

    @property
    def terminal_font(self) -> QFont:
        """The system's fixed-pitch font at the widget's (by default the application's) point size."""
        return QFont(self._font)

    @property
    def cell_size(self) -> QSizeF:
        """The size of one character cell in pixels."""
        return QSizeF(self._cell_width, self._cell_height)

    @property
    def following(self) -> bool:
        """True while the newest output is kept in view; False once the user has scrolled back."""
        return self._following

    def feed(self, text: str) -> None:
        """Runs `text` (with its escape sequences) through the terminal; the view repaints soon after."""
        if not text:
            return
        bar = self.verticalScrollBar()
        before = (len(self._screen.scrollback), self._screen.dropped, bar.value(), self._content_rows())
        cursor_row = self._screen.cursor.y
        self._stream.feed(text)
        dropped = self._screen.dropped - before[1]
        if dropped and not self._following:
            self._set_scroll(max(0, bar.value() - dropped))  # the lines in view moved up in the scrollback
        self._sync_scrollbars()
        after = (len(self._screen.scrollback), self._screen.dropped, bar.value(), self._content_rows())
        if after != before:
            self.viewport().update()
        else:
            self._update_screen_rows(self._screen.dirty | {cursor_row, self._screen.cursor.y})
        self._screen.dirty.clear()

    def reset(self) -> None:
        """Clears the screen and its scrollback, and follows new output again."""
        self._screen.reset()
        self._stream = pyte.Stream(self._screen)  # forget any half-read escape sequence
        self._following = True
        self._sync_scrollbars()
        self.viewport().update()

    def resize_screen(self, columns: int, rows: int) -> None:
        """Gives the emulated terminal a new size (as a recording's header asks for)."""
        self._screen.resize(rows, columns)
        self._sync_scrollbars()
        self.updateGeometry()
        self.viewport().update()

    def scroll_to_bottom(self) -> None:
        """Shows the newest output and follows it from now on."""
        self._set_scroll(self.verticalScrollBar().maximum())

    def display_lines(self) -> list[str]:
        """The text of the lines now in view, top to bottom, without trailing spaces (what a user reads)."""
        first, count = self.verticalScrollBar().value(), self._visible_rows()
        return [_line_text(self._line(i), self.columns) for i in range(first, min(first + count, self._total_lines()))]

    def screen_lines(self) -> list[str]:
        """The text of every row of the emulated screen, without trailing spaces, scrollback excluded."""
        return [_line_text(self._screen_row(y), self.columns) for y in range(self.rows)]

    def cell_style(self, row: int, column: int) -> CellStyle:
        """How the cell at `row`, `column` of the emulated screen is drawn (0-based, scrollback excluded)."""
        return cell_style_of(self._screen_row(row).get(column, self._screen.default_char))

    # --- Qt ---------------------------------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return self._size_for(self.columns, self.rows)

    def minimumSizeHint(self) -> QSize:
        return self._size_for(min(self.columns, 20), min(self.rows, 4))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._apply_font()
            self._sync_scrollbars()
            self.updateGeometry()
            self.viewport().update()
        super().changeEvent(event)

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.viewport().update()  # the cursor is a solid block with focus, an outline without

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.viewport().update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._sync_scrollbars()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        action = self._scroll_action(event)
        if action is None:
            super().keyPressEvent(event)
            return
        self.verticalScrollBar().triggerAction(action)
        event.accept()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self.viewport())
        area = event.rect()
        painter.fillRect(area, BACKGROUND)
        first, total = self.verticalScrollBar().value(), self._total_lines()
        top_row = first + area.top() // self._cell_height
        bottom_row = min(total, first + area.bottom() // self._cell_height + 1)
        for index in range(top_row, bottom_row):
            self._paint_line(painter, self._line(index), (index - first) * self._cell_height)
        self._paint_cursor(painter, first)
        painter.end()

    # --- inside -----------------------------------------------------------------------------------------------

    def _apply_font(self) -> None:
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        # The app's size, not the system's fixed-font size: the terminal scales with the rest of the UI.
        size = self.font().pointSizeF()
        if size > 0:
            font.setPointSizeF(size)
        else:
            font.setPixelSize(self.font().pixelSize())
        font.setStyleHint(QFont.StyleHint.Monospace)
        font.setFixedPitch(True)
        font.setKerning(False)
        self._font = font
        self._fonts.clear()
        metrics = QFontMetricsF(font)
        self._cell_width = metrics.horizontalAdvance("M")
        self._cell_height = max(1, math.ceil(metrics.lineSpacing()))
        self._ascent = metrics.ascent()
        self.verticalScrollBar().setSingleStep(1)
        self.horizontalScrollBar().setSingleStep(max(1, round(self._cell_width)))

    def _font_for(self, char: Char) -> QFont:
        key = (char.bold, char.italics, char.underscore, char.strikethrough)
        font = self._fonts.get(key)
        if font is None:
            font = QFont(self._font)
            font.setBold(char.bold)
            font.setItalic(char.italics)
            font.setUnderline(char.underscore)
            font.setStrikeOut(char.strikethrough)
            self._fonts[key] = font
        return font

    def _size_for(self, columns: int, rows: int) -> QSize:
        frame = 2 * self.frameWidth()
        return QSize(
            math.ceil(columns * self._cell_width) + frame + self.verticalScrollBar().sizeHint().width(),
            rows * self._cell_height + frame,
        )

    def _content_rows(self) -> int:
        """Screen rows down to the cursor or the last row showing anything: blank rows below are not 'output'."""
        screen = self._screen
        for y in range(screen.lines - 1, screen.cursor.y, -1):
            line = screen.buffer.get(y)
            if line and _visible_content(line):
                return y + 1
        return min(screen.cursor.y, screen.lines - 1) + 1

    def _total_lines(self) -> int:
        return len(self._screen.scrollback) + self._content_rows()

    def _visible_rows(self) -> int:
        return max(1, self.viewport().height() // self._cell_height)

    def _screen_row(self, row: int) -> Mapping[int, Char]:
        # `get`, not `[]`: pyte's buffer is a defaultdict, and reading must not add rows to it.
        return self._screen.buffer.get(row) or _EMPTY_LINE

    def _line(self, index: int) -> Mapping[int, Char]:
        """Line `index` of the scrollback followed by the screen."""
        history = len(self._screen.scrollback)
        if index < history:
            return self._screen.scrollback[index]
        return self._screen_row(index - history)

    def _sync_scrollbars(self) -> None:
        """Fits the scroll ranges to the content and the viewport; a following view moves to the bottom."""
        visible = self._visible_rows()
        vertical, horizontal = self.verticalScrollBar(), self.horizontalScrollBar()
        self._syncing = True
        try:
            vertical.setPageStep(visible)
            vertical.setRange(0, max(0, self._total_lines() - visible))
            if self._following:
                vertical.setValue(vertical.maximum())
            width = self.viewport().width()
            horizontal.setPageStep(max(1, width))
            horizontal.setRange(0, max(0, math.ceil(self.columns * self._cell_width) - width))
        finally:
            self._syncing = False
        self._following = self._following or vertical.value() >= vertical.maximum()

    def _set_scroll(self, value: int) -> None:
        self.verticalScrollBar().setValue(value)
        self._following = self.verticalScrollBar().value() >= self.verticalScrollBar().maximum()

    def _scrolled(self, value: int) -> None:
        if not self._syncing:
            self._following = value >= self.verticalScrollBar().maximum()
        self.viewport().update()

    def _update_screen_rows(self, rows: set[int]) -> None:
        """Repaints only these screen rows (the ones the emulator changed), where they are in view."""
        first_screen_row = len(self._screen.scrollback) - self.verticalScrollBar().value()
        visible, width = self._visible_rows(), self.viewport().width()
        for row in rows:
            view_row = first_screen_row + row
            if 0 <= view_row <= visible:
                self.viewport().update(QRect(0, view_row * self._cell_height, width, self._cell_height))

    @staticmethod
    def _scroll_action(event: QKeyEvent) -> QAbstractSlider.SliderAction | None:
        key, shift = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        control = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        action = QAbstractSlider.SliderAction
        if key == Qt.Key.Key_PageUp:
            return action.SliderPageStepSub
        if key == Qt.Key.Key_PageDown:
            return action.SliderPageStepAdd
        if shift and key == Qt.Key.Key_Up:
            return action.SliderSingleStepSub
        if shift and key == Qt.Key.Key_Down:
            return action.SliderSingleStepAdd
        if (shift or control) and key == Qt.Key.Key_Home:
            return action.SliderToMinimum
        if (shift or control) and key == Qt.Key.Key_End:
            return action.SliderToMaximum
        return None

    def _paint_line(self, painter: QPainter, line: Mapping[int, Char], top: int) -> None:
        left = -self.horizontalScrollBar().value()
        width, height = self._cell_width, self._cell_height
        for column, text, char in _style_runs(line, self.columns):
            style = cell_style_of(char)
            x = left + column * width
            if style.background != BACKGROUND:
                painter.fillRect(QRectF(x, top, len(text) * width, height), style.background)
            if text.strip() or style.underline or style.strikethrough:
                painter.setFont(self._font_for(char))
                painter.setPen(style.foreground)
                painter.drawText(QPointF(x, top + self._ascent), text)

    def _paint_cursor(self, painter: QPainter, first: int) -> None:
        screen = self._screen
        if screen.cursor.hidden:
            return
        row = len(screen.scrollback) + screen.cursor.y - first
        column = min(screen.cursor.x, self.columns - 1)
        if not 0 <= row < self._visible_rows() + 1:
            return
        cell = QRectF(
            column * self._cell_width - self.horizontalScrollBar().value(),
            row * self._cell_height,
            self._cell_width,
            self._cell_height,
        )
        if not self.hasFocus():
            painter.setPen(FOREGROUND)
            painter.drawRect(cell.adjusted(0.5, 0.5, -0.5, -0.5))
            return
        char = self._screen_row(screen.cursor.y).get(column, screen.default_char)
        painter.fillRect(cell, FOREGROUND)
        if char.data.strip():
            painter.setFont(self._font_for(char))
            painter.setPen(BACKGROUND)
            painter.drawText(QPointF(cell.left(), cell.top() + self._ascent), char.data)
