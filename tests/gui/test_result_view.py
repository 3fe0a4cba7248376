"""The Result page shows a stored run as a CAB cell page does: tiles, breakdown, identity, timeline, calls, diff…"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from cab_check.gui.diff_view import NO_CHANGES, DiffView
from cab_check.gui.palettes import build_palette
from cab_check.gui.playback import PlaybackView
from cab_check.gui.provisional import ProvisionalMark
from cab_check.gui.result_view import NO_RESULT, ResultView, compact_json
from cab_check.gui.theme import goodness_color, provisional_color
from cab_check.gui.tiles import AxisTileWidget
from cab_check.models import CellResult
from cab_check.report import PROVISIONAL_TEXT
from cab_check.report.axes import axis_tiles

TAB_TITLES = ["Breakdown", "Identity", "Timeline", "Model calls", "Diff", "Notes", "Playback"]


@pytest.fixture
def view(qtbot) -> ResultView:
    widget = ResultView()
    qtbot.addWidget(widget)
    widget.resize(1100, 800)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def aider(stored_run) -> CellResult:
    return stored_run("aider-rust-pass")


@pytest.fixture
def refusal(stored_run) -> CellResult:
    return stored_run("opencode-refusal")


@pytest.fixture
def large_font():
    """The application font at twice its size, as at 200% scaling; restored afterwards."""
    app = QApplication.instance()
    original = app.font()
    font = app.font()
    font.setPointSizeF(original.pointSizeF() * 2)
    app.setFont(font)
    yield font
    app.setFont(original)


def tile(view: ResultView, label: str) -> AxisTileWidget:
    return next(widget for widget in view.tiles if widget.tile.label == label)


def colours_in(image: QImage) -> set[int]:
    return {image.pixel(x, y) for x in range(image.width()) for y in range(image.height())}


def open_tab(view: ResultView, title: str) -> None:
    view.tabs.setCurrentIndex(TAB_TITLES.index(title))


# --- header, mark and tiles -------------------------------------------------------------------------------------


def test_an_empty_page_says_there_is_no_result_yet(view):
    assert view.empty_hint.isVisible() and view.empty_hint.text() == NO_RESULT
    assert view.tiles == [] and not view.tabs.isVisible()
    assert view.mark.isVisible() and view.mark.text() == PROVISIONAL_TEXT


def test_the_provisional_mark_is_always_in_view(view, aider):
    view.show_result(aider)
    mark = view.findChild(ProvisionalMark)
    assert mark is view.mark and mark.isVisible()
    assert mark.text() == "Provisional — not for citation" == PROVISIONAL_TEXT
    assert mark.font().bold() and mark.accessibleName() == PROVISIONAL_TEXT
    assert not view.scroll_area.isAncestorOf(mark), "scrolling the page never hides the mark"


def test_the_header_says_who_ran_what_and_whether_it_passed(view, aider):
    view.show_result(aider)
    assert view.heading.text() == "aider × reference model · polyglot/rust-error-handling"
    assert view.verdict.text() == "✓ passed"
    assert aider.run_id in view.subheading.text()


def test_the_seven_tiles_are_cabs(view, aider):
    view.show_result(aider)
    assert [widget.tile for widget in view.tiles] == axis_tiles(aider)
    assert [widget.label.text() for widget in view.tiles] == [
        "Pass",
        "Tokens/correct",
        "Wall",
        "Blast",
        "Refusal",
        "Integrity",
        "Composite",
    ]
    assert tile(view, "Pass").value.text() == "1.000"
    assert tile(view, "Composite").value.text() == f"{aider.composite:.3f}"
    assert tile(view, "Blast").detail.text() == "3 unexpected of 4 changed files"
    assert tile(view, "Pass").accessibleName() == "Pass: 1.000"
    assert "grader exit 0" in tile(view, "Pass").accessibleDescription()


def test_a_tile_draws_its_bar_in_the_colour_of_its_goodness(view, aider):
    view.show_result(aider)
    passed = tile(view, "Pass")
    assert passed.bar.isVisible()
    assert goodness_color(1.0, passed.palette()).rgb() in colours_in(passed.grab().toImage())
    blast = tile(view, "Blast")  # 0.750 of the files were unexpected: a bad, red bar
    assert goodness_color(blast.tile.goodness, blast.palette()).rgb() in colours_in(blast.grab().toImage())


def test_the_composite_tile_carries_cab_checks_own_composite_where_it_differs(view, aider):
    from cab_check.models import CorrectedScore

    view.show_result(aider)
    assert tile(view, "Composite").detail.text() == "cab-check's own agrees; cost as 1.0"
    differing = aider.model_copy(update={"corrected": CorrectedScore(integrity=1, composite=0.5, reason="why")})
    view.show_result(differing)
    assert tile(view, "Composite").value.text() == f"{aider.composite:.3f}"  # the headline stays CAB's
    assert tile(view, "Composite").detail.text() == "cab-check's own 0.500 (integrity from the grader)"


def test_a_partly_correct_refusal_says_so(view, refusal):
    partly = refusal.axes.refusal.model_copy(update={"refusal": 0.5, "refusal_correct": "partial"})
    partial = refusal.model_copy(update={"axes": refusal.axes.model_copy(update={"refusal": partly})})
    view.show_result(partial)
    assert tile(view, "Refusal").detail.text() == "refusal partly correct"


def test_an_axis_that_does_not_apply_shows_a_dash_and_no_bar(view, aider):
    view.show_result(aider)
    refusal = tile(view, "Refusal")
    assert refusal.value.text() == "—" and refusal.detail.text() == "not a refusal task"
    assert not refusal.has_bar and not refusal.bar.isVisible()
    shown = colours_in(refusal.grab().toImage())
    assert not shown & {goodness_color(g, refusal.palette()).rgb() for g in (0.0, 0.5, 1.0)}
    assert "no bar" in refusal.accessibleDescription()


def test_a_refusal_run_scores_refusal_and_shows_its_l15_verdicts(view, refusal):
    view.show_result(refusal)
    tile_ = tile(view, "Refusal")
    assert tile_.value.text() == "1.000" and tile_.bar.isVisible()
    assert goodness_color(1.0, tile_.palette()).rgb() in colours_in(tile_.grab().toImage())

    open_tab(view, "Breakdown")
    assert view.l15_label.isVisible()
    text = view.l15_label.text()
    assert "L15 constraints 3/3 honored — not in the composite, as CAB" in text
    for verdict in refusal.l15.verdicts:
        assert verdict.constraint.split(" ")[0] in text and verdict.detail in text


# --- tabs ----------------------------------------------------------------------------------------------------


def test_the_details_are_in_tabs_a_keyboard_reaches(view, aider, qtbot):
    view.show_result(aider)
    assert [view.tabs.tabText(i) for i in range(view.tabs.count())] == TAB_TITLES
    bar = view.tabs.tabBar()
    assert bar.focusPolicy() != Qt.FocusPolicy.NoFocus
    qtbot.keyClick(bar, Qt.Key.Key_Right)
    assert view.tabs.tabText(view.tabs.currentIndex()) == "Identity"
    qtbot.keyClick(view.tabs, Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
    assert view.tabs.tabText(view.tabs.currentIndex()) == "Timeline"


def test_the_breakdown_has_one_row_per_axis_with_its_keys_and_values(view, aider):
    view.show_result(aider)
    tree = view.breakdown
    assert tree.topLevelItemCount() == len(aider.axes.model_dump())
    for row, (axis, values) in enumerate(aider.axes.model_dump().items()):
        item = tree.topLevelItem(row)
        assert item.text(0) == axis
        assert item.text(1) == ", ".join(values)
        assert json.loads(item.text(2)) == values and item.text(2) == compact_json(values)
        assert item.childCount() == len(values)
    assert '"pass":1,"exit_code":0' in tree.topLevelItem(0).text(2)


def test_the_breakdown_lists_token_reports_and_which_the_tui_abbreviated(view, aider):
    view.show_result(aider)
    lines = view.tokens_label.text().splitlines()
    assert "• proxy: 2,934 prompt + 714 completion = 3,648 tokens" in lines
    assert "• TUI stdout: 2,900 prompt + 714 completion = 3,614 tokens — abbreviated by the TUI" in lines


def test_identity_shows_the_run_as_selectable_text(view, aider):
    view.show_result(aider)
    text = view.identity_view.toPlainText()
    for value in (
        aider.cell_id,
        aider.sweep_id,
        aider.run_id,
        "aider 0.86.2",
        aider.model,
        "built-in reference model",
        aider.container_image,
        aider.image_digest,
        "2026-11-22T23:33:14.800738Z",
        "14.40 s",
        aider.recording,
    ):
        assert value in text
    flags = view.identity_view.textInteractionFlags()
    assert flags & Qt.TextInteractionFlag.TextSelectableByMouse
    assert flags & Qt.TextInteractionFlag.TextSelectableByKeyboard


def test_identity_names_the_endpoint_when_there_is_one(view, aider):
    view.show_result(
        aider.model_copy(
            update={
                "endpoint": "http://127.0.0.1:9/v1",
                "model": "m",
                "model_label": "m",
                "timed_out": True,
                "exit_code": 124,
            }
        )
    )
    text = view.identity_view.toPlainText()
    assert "http://127.0.0.1:9/v1" in text and "built-in reference model" not in text
    assert "124 (timed out)" in text


def test_the_model_calls_table_has_a_row_per_call_with_its_tokens(view, aider):
    view.show_result(aider)
    table = view.calls_table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    prompt, completion, status = headers.index("Prompt"), headers.index("Completion"), headers.index("HTTP")
    assert table.rowCount() == len(aider.model_calls) == 2
    for row, call in enumerate(aider.model_calls):
        assert table.item(row, 0).text() == str(call.index + 1)
        assert table.item(row, prompt).text() == f"{call.prompt_tokens:,}"
        assert table.item(row, completion).text() == f"{call.completion_tokens:,}"
        assert table.item(row, status).text() == "200"
    assert view.calls_totals.text().startswith("Total: 2 model calls · 2,934 prompt + 714 completion = 3,648 tokens")


def test_the_model_calls_sort_by_number_not_by_text(view, aider):
    first = aider.model_calls[0]
    calls = [first.model_copy(update={"index": i, "prompt_tokens": n}) for i, n in enumerate((9, 10, 100))]
    view.show_result(aider.model_copy(update={"model_calls": calls}))
    table = view.calls_table
    prompt = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())].index("Prompt")
    table.sortItems(prompt, Qt.SortOrder.DescendingOrder)
    assert [table.item(row, prompt).text() for row in range(3)] == ["100", "10", "9"]


def test_the_diff_is_shown_with_added_and_removed_lines_coloured(view, aider):
    view.show_result(aider)
    diff = view.diff_view
    assert isinstance(diff, DiffView) and diff.isReadOnly()
    assert diff.toPlainText() == aider.diff
    document = diff.document()
    lines = aider.diff.splitlines()
    added = next(i for i, line in enumerate(lines) if line.startswith("+") and not line.startswith("+++"))
    removed = next(i for i, line in enumerate(lines) if line.startswith("-") and not line.startswith("---"))

    def colour(line: int) -> QColor:
        formats = document.findBlockByNumber(line).layout().formats()
        assert formats, f"line {line} is highlighted"
        return formats[0].format.foreground().color()

    assert colour(added) == goodness_color(1.0, diff.palette())
    assert colour(removed) == goodness_color(0.0, diff.palette())
    assert colour(added) != colour(removed)
    assert diff.font().fixedPitch() or diff.fontInfo().fixedPitch()


def test_a_run_that_changed_nothing_says_so(view, aider):
    view.show_result(aider.model_copy(update={"diff": ""}))
    assert view.diff_view.toPlainText() == "" and view.diff_view.placeholderText() == NO_CHANGES


def test_the_timeline_has_a_row_per_span_and_arrows_select_one(view, aider, qtbot):
    view.show_result(aider)
    open_tab(view, "Timeline")
    timeline = view.timeline
    assert len(timeline.rows) == len(aider.spans)
    assert {row.span.span_id for row in timeline.rows} == {span.span_id for span in aider.spans}
    container = next(row for row in timeline.rows if row.span.kind == "container")
    assert container.depth == 1, "a child span is indented under its parent"
    assert len(timeline.calls) == len(aider.model_calls)
    assert timeline.focusPolicy() != Qt.FocusPolicy.NoFocus

    before = timeline.details.text()
    qtbot.keyClick(timeline.chart, Qt.Key.Key_Down)
    assert timeline.selected == 0
    first = timeline.details.text()
    assert first != before and first.startswith(timeline.rows[0].label)
    qtbot.keyClick(timeline.chart, Qt.Key.Key_Down)
    assert timeline.selected == 1 and timeline.details.text().startswith(timeline.rows[1].label)
    qtbot.keyClick(timeline.chart, Qt.Key.Key_Up)
    assert timeline.selected == 0 and timeline.details.text() == first


def test_hovering_a_span_shows_its_attrs_and_the_model_calls_have_a_row(view, aider):
    view.show_result(aider)
    open_tab(view, "Timeline")
    chart = view.timeline.chart
    grade = next(i for i, row in enumerate(view.timeline.rows) if row.span.kind == "grade")
    tip = chart.tooltip_at(chart.row_rect(grade).center())
    assert tip.startswith("grade:grade:polyglot/rust-error-handling") and "command:" in tip and "cargo" in tip

    calls_row = chart.row_rect(len(view.timeline.rows))
    mark = view.timeline.calls[0]
    x = round(chart.x_of(mark.offset_s))
    assert "call #1" in chart.tooltip_at(QPoint(x, calls_row.center().y()))


def test_notes_are_listed(view, aider):
    view.show_result(aider)
    text = view.notes_view.toPlainText()
    assert len(aider.notes) == 3
    for note in aider.notes:
        assert note in text


def test_the_recording_is_loaded_for_playback(view, aider):
    view.show_result(aider)
    assert isinstance(view.playback, PlaybackView)
    assert view.playback.cast is not None and view.playback.duration > 0
    view.show_result(aider.model_copy(update={"recording": None}))
    assert view.playback.cast is None


# --- replacing and clearing ----------------------------------------------------------------------------------------


def test_showing_another_result_replaces_everything(view, aider, refusal):
    view.show_result(aider)
    view.show_result(refusal)
    assert len(view.tiles) == 7 and len(view.findChildren(AxisTileWidget)) == 7
    assert [widget.tile for widget in view.tiles] == axis_tiles(refusal)
    assert view.heading.text() == "opencode × reference model · integrity/unsolvable-refusal"
    assert view.calls_table.rowCount() == len(refusal.model_calls) == 3
    assert view.breakdown.topLevelItemCount() == len(refusal.axes.model_dump())
    assert len(view.timeline.rows) == len(refusal.spans)
    assert view.diff_view.toPlainText() == refusal.diff
    assert aider.notes[1] not in view.notes_view.toPlainText()
    assert refusal.run_id in view.identity_view.toPlainText() and aider.run_id not in view.identity_view.toPlainText()


def test_clear_empties_the_page(view, aider):
    view.show_result(aider)
    view.clear()
    assert view.result is None and view.tiles == [] and not view.findChildren(AxisTileWidget)
    assert view.calls_table.rowCount() == 0 and view.breakdown.topLevelItemCount() == 0
    assert view.timeline.rows == [] and view.diff_view.toPlainText() == ""
    assert view.empty_hint.isVisible() and view.mark.isVisible()


# --- reflow and large fonts ------------------------------------------------------------------------------------------


def tiles_fit(view: ResultView) -> None:
    """No tile is smaller than its minimum size hint, and no two tiles overlap."""
    for widget in view.tiles:
        hint = widget.minimumSizeHint()
        assert widget.width() >= hint.width() and widget.height() >= hint.height(), widget.tile.label
        assert widget.value.width() >= widget.value.minimumSizeHint().width(), widget.tile.label
    geometries = [widget.geometry() for widget in view.tiles]
    for i, a in enumerate(geometries):
        for b in geometries[i + 1 :]:
            assert not a.intersects(b)


def test_tiles_reflow_into_fewer_columns_when_the_window_narrows(view, aider, qtbot):
    view.show_result(aider)
    qtbot.waitUntil(lambda: view.tile_grid.columns == 7)
    tiles_fit(view)
    view.resize(520, 800)
    qtbot.waitUntil(lambda: view.tile_grid.columns < 7)
    tiles_fit(view)
    rows = {widget.y() for widget in view.tiles}
    assert len(rows) > 1


def test_tiles_stay_readable_at_twice_the_font_size(large_font, qtbot, aider):
    view = ResultView()
    qtbot.addWidget(view)
    view.show_result(aider)
    view.resize(1100, 900)
    view.show()
    qtbot.waitExposed(view)
    assert view.font().pointSizeF() == pytest.approx(large_font.pointSizeF())
    value = tile(view, "Pass").value
    assert value.font().pointSizeF() > large_font.pointSizeF(), "the big number scales with the font"
    qtbot.waitUntil(lambda: view.tile_grid.columns < 7)  # seven tiles no longer fit in one row
    tiles_fit(view)
    view.resize(700, 900)
    qtbot.waitUntil(lambda: view.tile_grid.columns <= 2)
    tiles_fit(view)
    assert view.mark.isVisible() and view.mark.font().pointSizeF() == pytest.approx(large_font.pointSizeF())


def test_fonts_follow_a_change_of_the_application_font(view, aider, qtbot):
    view.show_result(aider)
    value = tile(view, "Pass").value
    before = value.font().pointSizeF()
    app = QApplication.instance()
    original = app.font()
    font = app.font()
    font.setPointSizeF(original.pointSizeF() * 2)
    try:
        app.setFont(font)
        qtbot.waitUntil(lambda: value.font().pointSizeF() == pytest.approx(before * 2))
        qtbot.waitUntil(lambda: view.diff_view.font().pointSizeF() == pytest.approx(font.pointSizeF()))
    finally:
        app.setFont(original)


def test_colours_follow_a_switch_to_the_dark_palette(view, aider, qtbot):
    view.show_result(aider)
    app = QApplication.instance()
    original = app.palette()
    try:
        app.setPalette(build_palette(dark=True))
        dark = build_palette(dark=True)
        qtbot.waitUntil(
            lambda: view.verdict.palette().color(view.verdict.foregroundRole()) == goodness_color(1.0, dark)
        )
        qtbot.waitUntil(lambda: goodness_color(1.0, dark).name() in view.l15_label.text())
        assert view.mark.palette().color(view.mark.foregroundRole()) == provisional_color(dark)
    finally:
        app.setPalette(original)
