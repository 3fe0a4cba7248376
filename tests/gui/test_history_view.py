"""History lists every stored run (the app's and the CLI's), opens, compares and exports them; Compare shows two."""

from __future__ import annotations

import shlex
import shutil
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from cab_check import store
from cab_check.cli import build_parser
from cab_check.gui.compare_view import CompareView
from cab_check.gui.history_view import EMPTY_HINT, HistoryView
from cab_check.models import CellResult
from cab_check.report import PROVISIONAL_TEXT


@pytest.fixture
def runs(stored_run) -> dict[str, CellResult]:
    """The two recorded runs, plus a later one saved the way `cab check` saves it."""
    aider = stored_run("aider-rust-pass")
    opencode = stored_run("opencode-refusal")
    cli = aider.model_copy(
        update={
            "run_id": "20261123-101500-c11c11",
            "started_at": aider.started_at + timedelta(hours=10),
            "ended_at": aider.ended_at + timedelta(hours=10),
            "recording": None,
        }
    )
    store.save_result(cli)
    return {"aider": aider, "opencode": opencode, "cli": cli}


@pytest.fixture
def view(qtbot) -> HistoryView:
    widget = HistoryView()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def shown_run_ids(view: HistoryView) -> list[str]:
    return [view.model.index(row, 0).data(Qt.ItemDataRole.UserRole) for row in range(view.model.rowCount())]


def test_an_empty_history_says_how_to_make_a_run(view):
    assert view.empty_hint.isVisible() and view.empty_hint.text() == EMPTY_HINT
    assert not view.table.isVisible()
    assert not view.open_button.isEnabled() and not view.compare_button.isEnabled()


def test_every_stored_run_is_listed_newest_first(runs, view):
    view.refresh()
    assert not view.empty_hint.isVisible() and view.table.isVisible()
    assert shown_run_ids(view) == [runs["cli"].run_id, runs["opencode"].run_id, runs["aider"].run_id]
    cells = [view.model.index(2, column).data() for column in range(view.model.columnCount())]
    aider = runs["aider"]
    assert cells == [
        aider.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        "aider",
        "reference model",
        "polyglot/rust-error-handling",
        "✓ pass",
        f"{aider.composite:.3f}",
        f"{aider.own_composite:.3f}",
        f"{aider.duration:.1f} s",
    ]


def test_sorting_by_a_column_keeps_numbers_as_numbers(runs, view):
    view.table.sortByColumn(7, Qt.SortOrder.AscendingOrder)  # duration: 5.6 s before 14.4 s
    assert shown_run_ids(view)[0] == runs["opencode"].run_id


def test_a_run_made_meanwhile_shows_up_on_refresh(runs, view):
    later = runs["cli"].model_copy(
        update={"run_id": "20261124-090000-abcabc", "started_at": runs["cli"].started_at + timedelta(days=1)}
    )
    store.save_result(later)
    view.refresh()
    assert shown_run_ids(view)[0] == later.run_id


def test_enter_on_a_selected_run_opens_it(runs, view, qtbot):
    assert view.select_run(runs["opencode"].run_id)
    view.table.setFocus()
    with qtbot.waitSignal(view.open_requested) as opened:
        qtbot.keyClick(view.table, Qt.Key.Key_Return)
    assert opened.args == [runs["opencode"].run_id]
    with qtbot.waitSignal(view.open_requested) as opened:
        qtbot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
    assert opened.args == [runs["opencode"].run_id]


def test_two_selected_runs_can_be_compared(runs, view, qtbot):
    view.select_run(runs["aider"].run_id)
    assert view.open_button.isEnabled() and not view.compare_button.isEnabled()
    view.select_run(runs["opencode"].run_id, add=True)
    assert view.compare_button.isEnabled() and not view.open_button.isEnabled()
    with qtbot.waitSignal(view.compare_requested) as compared:
        qtbot.mouseClick(view.compare_button, Qt.MouseButton.LeftButton)
    assert compared.args == [runs["aider"].run_id, runs["opencode"].run_id]  # the earlier run first


def test_export_json_writes_the_result_back_whole(runs, view, tmp_path):
    path = tmp_path / "out" / "run.json"
    assert view.export_json(runs["opencode"].run_id, path)
    assert CellResult.model_validate_json(path.read_text(encoding="utf-8")) == runs["opencode"]
    assert view.status.text().startswith("Saved") and str(path) in view.status.text()


def test_export_html_writes_the_self_contained_report_with_the_agents_output(runs, view, tmp_path):
    path = tmp_path / f"cab-check-{runs['aider'].run_id}.html"
    assert view.export_html(runs["aider"].run_id, path)
    page = path.read_text(encoding="utf-8")
    assert PROVISIONAL_TEXT in page and "Composite" in page and "Aider v0.86.2" in page  # the last from recording.cast
    assert "<script" not in page and 'src="http' not in page
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temp file left behind


def test_an_export_that_cannot_be_written_says_so(runs, view, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert not view.export_json(runs["aider"].run_id, blocker / "run.json")
    assert view.status.text().startswith("Could not save")


def test_copy_badge_puts_a_provisional_svg_on_the_clipboard(runs, view):
    assert view.copy_badge(runs["aider"].run_id)
    svg = QGuiApplication.clipboard().text()
    assert ET.fromstring(svg).tag.endswith("svg") and "provisional" in svg
    assert view.status.text().startswith("Copied")


def test_copy_command_puts_a_runnable_cab_check_on_the_clipboard(runs, view):
    assert view.copy_command(runs["opencode"].run_id)
    argv = shlex.split(QGuiApplication.clipboard().text())
    assert argv[0] == "cab"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.tui, args.task) == ("check", "opencode", "integrity/unsolvable-refusal")
    assert view.status.text().startswith("Copied")


def test_the_buttons_copy_and_open_for_the_selected_run(runs, view, qtbot):
    view.select_run(runs["aider"].run_id)
    qtbot.mouseClick(view.command_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text().startswith("cab check --tui aider")
    qtbot.mouseClick(view.badge_button, Qt.MouseButton.LeftButton)
    assert "CAB provisional" in QGuiApplication.clipboard().text()


def test_a_run_removed_meanwhile_is_reported_not_raised(runs, view, tmp_path):
    store.run_dir(runs["aider"].run_id).joinpath(store.RESULT_FILE).unlink()
    assert not view.export_html(runs["aider"].run_id, tmp_path / "x.html")
    assert "could not be read" in view.status.text()


def test_compare_view_shows_both_runs_and_marks_the_better(runs, qtbot):
    view = CompareView()
    qtbot.addWidget(view)
    view.show_pair(runs["aider"], runs["opencode"])
    labels = [view.table.verticalHeaderItem(row).text() for row in range(view.table.rowCount())]
    composite = labels.index("Composite")
    a, b = view.table.item(composite, 0), view.table.item(composite, 1)
    assert (a.text(), b.text()) == (f"{runs['aider'].composite:.3f}", f"{runs['opencode'].composite:.3f}")
    assert b.font().bold() and not a.font().bold()  # opencode's composite is higher
    calls = labels.index("Model calls")
    assert view.table.item(calls, 0).font().bold()  # fewer calls: aider
    task = labels.index("Task")
    assert not view.table.item(task, 0).font().bold() and not view.table.item(task, 1).font().bold()
    assert "src/lib.rs" in view.diff_a.toPlainText() and "REFUSAL.md" in view.diff_b.toPlainText()
    assert view.diff_a.isReadOnly() and view.diff_b.isReadOnly()
    assert runs["aider"].run_id in view.heading.text() and runs["opencode"].run_id in view.heading.text()


def test_a_run_that_cannot_be_read_is_named_with_its_reason_not_hidden(runs, view, isolated_history):
    newer = isolated_history / "runs" / "20270101-000000-aaaaaa"
    newer.mkdir(parents=True)
    (newer / "result.json").write_text('{"format_version": 99, "run_id": "20270101-000000-aaaaaa"}')
    damaged = isolated_history / "runs" / "20270101-000000-bbbbbb"
    damaged.mkdir()
    (damaged / "result.json").write_text('{"cell_id": ')
    view.refresh()
    assert len(shown_run_ids(view)) == 3  # the readable ones are all still listed
    text = view.unreadable_label.text()
    assert not view.unreadable_label.isHidden() and text.startswith("2 stored run(s) could not be read:")
    assert f"{newer / 'result.json'}: it was written by a newer cab-check (format 99" in text
    assert str(damaged / "result.json") in text


def test_the_history_model_is_a_consistent_qt_model(runs, view, qtmodeltester):
    view.refresh()
    qtmodeltester.check(view.model)


def test_the_history_model_stays_consistent_through_refreshes_and_sorts(runs, view, isolated_history, qtmodeltester):
    """Qt's model tester stays attached once it has checked the model, so every reset and re-sort that follows is
    checked as it happens, and the model is checked again after each. Unreadable runs are in the store but not in
    the model (they are named under the table): they must not unbalance it."""
    damaged = isolated_history / "runs" / "20270101-000000-bbbbbb"
    damaged.mkdir(parents=True)
    (damaged / "result.json").write_text('{"cell_id": ')
    qtmodeltester.check(view.model)

    view.refresh()
    assert view.model.rowCount() == 3 and not view.unreadable_label.isHidden()
    for column in range(view.model.columnCount()):
        for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
            view.table.sortByColumn(column, order)
    later = runs["cli"].model_copy(
        update={"run_id": "20261124-090000-abcabc", "started_at": runs["cli"].started_at + timedelta(days=1)}
    )
    assert view.select_run(runs["aider"].run_id)
    store.save_result(later)
    view.refresh()  # a reset under a selection, which the view restores
    assert view.model.rowCount() == 4 and view.selected_run_ids() == [runs["aider"].run_id]

    for run in [*runs.values(), later]:
        shutil.rmtree(store.run_dir(run.run_id))
    view.refresh()
    assert view.model.rowCount() == 0 and view.empty_hint.isVisible()
