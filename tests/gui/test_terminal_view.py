"""The terminal shows agent output as a terminal would: colours, overwrites, cursor moves, and scrollback."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QFontInfo, QFontMetricsF, QImage, QWheelEvent
from PySide6.QtWidgets import QApplication

from cab_check.gui import terminal_view
from cab_check.gui.terminal_view import BACKGROUND, FOREGROUND, PALETTE, TerminalView

RED = PALETTE[1]


@pytest.fixture
def terminal(qtbot) -> TerminalView:
    view = TerminalView(columns=40, rows=10)
    qtbot.addWidget(view)
    view.resize(view.sizeHint())
    view.show()
    qtbot.waitExposed(view)
    return view


def cell_rect(view: TerminalView, row: int, first_column: int, last_column: int) -> QRect:
    """The viewport pixels of cells first..last of a row on screen (no scrollback above it)."""
    cell = view.cell_size
    return QRect(
        round(first_column * cell.width()),
        round(row * cell.height()),
        int((last_column - first_column + 1) * cell.width()),
        int(cell.height()),
    )


def pixels(image: QImage, area: QRect) -> list[QColor]:
    return [
        image.pixelColor(x, y)
        for y in range(area.top(), area.bottom() + 1)
        for x in range(area.left(), area.right() + 1)
    ]


def is_red(color: QColor) -> bool:
    return color.red() > 150 and color.green() < 90 and color.blue() < 90


def wheel(view: TerminalView, notches: int) -> None:
    """Turns the mouse wheel over the terminal: positive scrolls up (back in history)."""
    centre = QPointF(view.viewport().rect().center())
    event = QWheelEvent(
        centre,
        QPointF(view.viewport().mapToGlobal(centre.toPoint())),
        QPoint(),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)


def test_ansi_red_is_drawn_red_and_plain_text_is_not(terminal):
    terminal.feed("\x1b[31mred\x1b[0m plain")
    assert terminal.display_lines() == ["red plain"]
    assert terminal.cell_style(0, 0).foreground == RED and terminal.cell_style(0, 4).foreground == FOREGROUND

    image = terminal.viewport().grab().toImage()
    assert any(is_red(c) for c in pixels(image, cell_rect(terminal, 0, 0, 2)))
    assert not any(is_red(c) for c in pixels(image, cell_rect(terminal, 0, 4, 8)))
    assert any(c == FOREGROUND for c in pixels(image, cell_rect(terminal, 0, 4, 8)))


def test_256_colour_truecolour_bold_and_reverse_video_are_kept(terminal):
    terminal.feed(
        "\x1b[38;5;208mA\x1b[38;2;10;200;30mB\x1b[0m\x1b[38;5;1mC\x1b[0m\x1b[1mD\x1b[0m\x1b[7mE\x1b[0m\x1b[44mF\x1b[0m"
    )
    style = terminal.cell_style
    assert style(0, 0).foreground == QColor("#ff8700")  # xterm's colour 208
    assert style(0, 1).foreground == QColor(10, 200, 30)
    assert style(0, 2).foreground == RED  # the first 16 of the 256 take the terminal's own palette
    assert style(0, 3).bold and not style(0, 2).bold
    assert (style(0, 4).foreground, style(0, 4).background) == (BACKGROUND, FOREGROUND)
    assert style(0, 5).background == PALETTE[4]

    image = terminal.viewport().grab().toImage()
    reversed_cell = pixels(image, cell_rect(terminal, 0, 4, 4))
    blue_cell = pixels(image, cell_rect(terminal, 0, 5, 5))
    assert sum(c == FOREGROUND for c in reversed_cell) > len(reversed_cell) / 2  # a light block behind the E
    assert sum(c == PALETTE[4] for c in blue_cell) > len(blue_cell) / 2


def test_the_terminal_has_its_own_dark_background_whatever_the_app_palette(terminal):
    image = terminal.viewport().grab().toImage()
    corner = pixels(image, QRect(image.width() - 10, image.height() - 10, 5, 5))
    assert all(c == BACKGROUND for c in corner)


def test_a_carriage_return_overwrites_the_line_and_only_the_final_text_shows(terminal):
    terminal.feed("downloading 10%\rdownloading 55%\rdownloading 100%\n")
    terminal.feed("old status text\x1b[2K\rnew\n")
    assert terminal.display_lines() == ["downloading 100%", "new", ""]


def test_cursor_up_redraws_an_earlier_line(terminal):
    terminal.feed("step 1: running\nstep 2: waiting\n\x1b[2A\x1b[2K\rstep 1: done\n")
    assert terminal.screen_lines()[:2] == ["step 1: done", "step 2: waiting"]


def test_bare_newlines_from_a_container_without_a_tty_start_new_lines(terminal):
    terminal.feed("first\nsecond\n")
    assert terminal.display_lines() == ["first", "second", ""]
    terminal.reset()
    terminal.feed("after reset\n")
    assert terminal.display_lines() == ["after reset", ""]


def test_long_live_output_keeps_the_last_line_in_view(terminal):
    for number in range(1, 501):
        terminal.feed(f"line {number}\n")
    shown = terminal.display_lines()
    assert terminal.following
    assert "line 500" in shown and "line 1" not in shown
    assert len(shown) <= terminal.rows + 1


def test_scrolling_back_shows_earlier_lines_and_holds_still_until_the_bottom_again(terminal, qtbot):
    terminal.feed("".join(f"line {number}\n" for number in range(1, 201)))
    terminal.setFocus()

    qtbot.keyClick(terminal, Qt.Key.Key_PageUp)
    assert not terminal.following
    page_up = terminal.display_lines()
    assert "line 200" not in page_up and page_up[0].startswith("line 1")

    wheel(terminal, 5)  # a few notches further back
    wheel_back = terminal.display_lines()
    assert int(wheel_back[0].split()[1]) < int(page_up[0].split()[1])

    terminal.feed("line 201\n")  # new output does not pull a reader away from what they are reading
    assert terminal.display_lines() == wheel_back

    qtbot.keyClick(terminal, Qt.Key.Key_Home, Qt.KeyboardModifier.ShiftModifier)
    assert terminal.display_lines()[0] == "line 1"
    qtbot.keyClick(terminal, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert terminal.display_lines()[0] == "line 2"

    qtbot.keyClick(terminal, Qt.Key.Key_End, Qt.KeyboardModifier.ShiftModifier)
    assert terminal.following and "line 201" in terminal.display_lines()
    terminal.feed("line 202\n")
    assert "line 202" in terminal.display_lines()


def test_scrolling_down_to_the_bottom_by_wheel_resumes_following(terminal):
    terminal.feed("".join(f"line {number}\n" for number in range(1, 101)))
    wheel(terminal, 3)
    assert not terminal.following
    wheel(terminal, -10)
    assert terminal.following
    terminal.feed("line 101\n")
    assert "line 101" in terminal.display_lines()


def test_a_screen_taller_than_the_view_shows_the_output_not_the_blank_rows_below_it(qtbot):
    view = TerminalView(columns=40, rows=40)
    qtbot.addWidget(view)
    view.resize(view.sizeHint().width(), view.sizeHint().height() // 4)
    view.show()
    view.feed("".join(f"line {number}\n" for number in range(1, 16)))
    assert "line 15" in view.display_lines()


def test_resizing_the_screen_changes_its_size_and_size_hint(terminal):
    before = terminal.sizeHint()
    terminal.resize_screen(80, 24)
    assert (terminal.columns, terminal.rows) == (80, 24) and len(terminal.screen_lines()) == 24
    after = terminal.sizeHint()
    assert after.width() > before.width() and after.height() > before.height()


def test_the_font_is_fixed_pitch_and_scales_with_the_application_font(terminal):
    font = terminal.terminal_font
    assert font.pointSizeF() == pytest.approx(QApplication.font().pointSizeF())
    assert QFontInfo(font).fixedPitch()
    assert QFontMetricsF(font).horizontalAdvance("i") == QFontMetricsF(font).horizontalAdvance("M")
    before = terminal.sizeHint()
    bigger = terminal.font()
    bigger.setPointSizeF(font.pointSizeF() * 2)
    terminal.setFont(bigger)  # as at 200% scaling
    assert terminal.terminal_font.pointSizeF() == pytest.approx(bigger.pointSizeF())
    assert terminal.sizeHint().height() > 1.5 * before.height()


def test_the_terminal_takes_keyboard_focus_and_has_an_accessible_name(terminal):
    assert terminal.focusPolicy() & Qt.FocusPolicy.TabFocus
    assert terminal.accessibleName()


def test_many_small_feeds_are_painted_together(terminal, qtbot):
    paints = []
    counter = _PaintCounter(paints)
    terminal.viewport().installEventFilter(counter)
    qtbot.wait(0)  # let the first show's paints through
    paints.clear()
    for number in range(200):
        terminal.feed(f"chunk {number}\n")
    assert paints == []  # feeding does not paint by itself
    qtbot.waitUntil(lambda: len(paints) >= 1)
    assert len(paints) <= 2


class _PaintCounter(QObject):
    def __init__(self, paints: list) -> None:
        super().__init__()
        self.paints = paints

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints.append(event)
        return False


def test_a_reader_scrolled_back_keeps_their_lines_while_old_history_is_dropped(qtbot, monkeypatch):
    monkeypatch.setattr(terminal_view, "HISTORY_LINES", 50)
    view = TerminalView(columns=40, rows=10)
    qtbot.addWidget(view)
    view.resize(view.sizeHint())
    view.show()
    view.feed("".join(f"line {number}\n" for number in range(1, 101)))  # history is full: lines 1-50 are gone
    view.verticalScrollBar().setValue(20)
    reading = view.display_lines()
    view.feed("".join(f"line {number}\n" for number in range(101, 111)))
    assert view.display_lines() == reading and not view.following


def test_symbols_and_wide_characters_keep_their_columns(terminal):
    terminal.feed("✓ ok 日本 z\n")
    assert terminal.display_lines()[0] == "✓ ok 日本 z"
    image = terminal.viewport().grab().toImage()
    lit = [
        any(c.lightness() > 128 for c in pixels(image, cell_rect(terminal, 0, column, column))) for column in range(12)
    ]
    # Each wide character takes two cells, and the "z" after them is drawn in its own cell (10), not shifted.
    assert lit[10] and not lit[9] and not lit[11]
