"""The History page: every stored run, whether `cab check` or the app made it (they share the store).

From here a run is opened, two are compared, and one is exported (JSON, a self-contained HTML report) or shared
(a provisional badge, the `cab check` command that reproduces it). The exports are plain methods, so they work
without their file dialogs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cab_check import store
from cab_check.gui.theme import goodness_color
from cab_check.models import CellResult
from cab_check.report.badge import badge_svg
from cab_check.report.html import render_html
from cab_check.report.reproduce import reproduce_command

EMPTY_HINT = "No runs yet — run a cell from the Run tab or with `cab check`."
RUN_ID_ROLE = Qt.ItemDataRole.UserRole

Index = QModelIndex | QPersistentModelIndex


def _started(result: CellResult) -> str:
    return result.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


# One entry per column: title, the text shown, and the key it sorts by.
COLUMNS: list[tuple[str, Callable[[CellResult], str], Callable[[CellResult], Any]]] = [
    ("Started", _started, lambda r: r.started_at),
    ("TUI", lambda r: r.tui, lambda r: r.tui.lower()),
    ("Model", lambda r: r.model_label, lambda r: r.model_label.lower()),
    ("Task", lambda r: r.task, lambda r: r.task.lower()),
    ("Pass", lambda r: "✓ pass" if r.passed else "✗ fail", lambda r: r.passed),
    ("Composite", lambda r: f"{r.composite:.3f}", lambda r: r.composite),
    ("Own", lambda r: f"{r.own_composite:.3f}", lambda r: r.own_composite),  # cab-check's own composite
    ("Duration", lambda r: f"{r.duration:.1f} s", lambda r: r.duration),
]
PASS_COLUMN = 4
NUMERIC_COLUMNS = (5, 6, 7)


def unreadable_text(unreadable: list[store.UnreadableRun]) -> str:
    lines = [f"{len(unreadable)} stored run(s) could not be read:"]
    lines += [f"• {run.path}: {run.reason}" for run in unreadable]
    return "\n".join(lines)


class HistoryModel(QAbstractTableModel):
    """Stored runs as table rows; sorting is by each column's value (dates as dates, numbers as numbers)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[CellResult] = []
        self._sort = (0, Qt.SortOrder.DescendingOrder)  # newest first

    def set_runs(self, runs: list[CellResult]) -> None:
        self.beginResetModel()
        self.runs = list(runs)
        self._apply_sort()
        self.endResetModel()

    def run_at(self, row: int) -> CellResult:
        return self.runs[row]

    def row_of(self, run_id: str) -> int | None:
        return next((row for row, run in enumerate(self.runs) if run.run_id == run_id), None)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's own default
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        run = self.runs[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return COLUMNS[column][1](run)
        if role == RUN_ID_ROLE:
            return run.run_id
        if role == Qt.ItemDataRole.ForegroundRole and column == PASS_COLUMN:
            return goodness_color(1.0 if run.passed else 0.0)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMERIC_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"Run {run.run_id}: {run.tui} × {run.model_label} on {run.task}"
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        self._sort = (column, order)
        self._apply_sort()
        self.layoutChanged.emit()

    def _apply_sort(self) -> None:
        column, order = self._sort
        # Ties keep the newest first, whatever the column.
        self.runs.sort(key=lambda r: r.started_at, reverse=True)
        self.runs.sort(key=COLUMNS[column][2], reverse=order == Qt.SortOrder.DescendingOrder)


class RunTable(QTableView):
    """The run list; Enter or Return opens the current run on every platform (Qt's own `activated` does not)."""

    open_current = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.open_current.emit()
            event.accept()
            return
        super().keyPressEvent(event)


def _button(text: str, tooltip: str, slot: Callable[[], None]) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(text.replace("&", "").rstrip("…"))
    button.setToolTip(tooltip)
    button.clicked.connect(slot)
    return button


class HistoryView(QWidget):
    open_requested = Signal(str)  # run_id
    compare_requested = Signal(str, str)  # run_ids, the earlier run first

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = HistoryModel(self)
        self.table = RunTable()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Run history")
        self.table.setAccessibleDescription("Every stored run, newest first. Enter opens the selected run.")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab leaves the list for the buttons
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        self.table.open_current.connect(self.open_selected)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.empty_hint = QLabel(EMPTY_HINT)
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setAccessibleName("History is empty")
        font = self.empty_hint.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.empty_hint.setFont(font)

        self.open_button = _button("&Open", "Show the selected run on the Result page (Enter)", self.open_selected)
        self.compare_button = _button("Co&mpare", "Compare the two selected runs side by side", self.compare_selected)
        self.json_button = _button(
            "Export &JSON…", "Save the selected run's full result as JSON", self._export_json_dialog
        )
        self.html_button = _button(
            "Export H&TML…", "Save the selected run as one self-contained HTML report", self._export_html_dialog
        )
        self.badge_button = _button(
            "Copy &badge",
            "Copy a provisional SVG badge of the selected run",
            lambda: self._for_selected(self.copy_badge),
        )
        self.command_button = _button(
            "Copy comman&d",
            "Copy the `cab check` command that runs the selected cell again",
            lambda: self._for_selected(self.copy_command),
        )
        self.refresh_button = _button("Re&fresh", "Read the history again (F5)", self.refresh)
        QShortcut(
            QKeySequence(QKeySequence.StandardKey.Refresh),
            self,
            self.refresh,
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self.single_run_buttons = (
            self.open_button,
            self.json_button,
            self.html_button,
            self.badge_button,
            self.command_button,
        )

        # Stored runs that cannot be read (a newer format, a damaged file): named with why, never hidden.
        self.unreadable_label = QLabel("")
        self.unreadable_label.setWordWrap(True)
        self.unreadable_label.setAccessibleName("Runs that cannot be read")
        self.unreadable_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.unreadable_label.hide()

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setAccessibleName("History status")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QHBoxLayout()
        for button in (self.open_button, self.compare_button):
            buttons.addWidget(button)
        buttons.addSpacing(self.fontMetrics().horizontalAdvance("MM"))  # single-run actions apart from Open/Compare
        for button in (self.json_button, self.html_button, self.badge_button, self.command_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty_hint)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.unreadable_label)
        layout.addWidget(self.status)

        self.export_dir = Path.home()
        self.refresh()

    # --- the list --------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reads the store again, keeping the selection where those runs are still there."""
        kept = self.selected_run_ids()
        history = store.read_history()
        self.model.set_runs(history.runs)
        self.unreadable_label.setText(unreadable_text(history.unreadable))
        self.unreadable_label.setVisible(bool(history.unreadable))
        empty = not self.model.runs
        self.empty_hint.setVisible(empty)
        self.table.setVisible(not empty)
        selection = self.table.selectionModel()
        for run_id in kept:
            row = self.model.row_of(run_id)
            if row is not None:
                selection.select(
                    self.model.index(row, 0), selection.SelectionFlag.Select | selection.SelectionFlag.Rows
                )
        self._selection_changed()

    def selected_run_ids(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.model.run_at(row).run_id for row in rows]

    def select_run(self, run_id: str, add: bool = False) -> bool:
        """Selects a run's row (added to the selection with `add`) and makes it current; False if it is not listed."""
        row = self.model.row_of(run_id)
        if row is None:
            return False
        selection = self.table.selectionModel()
        flags = selection.SelectionFlag.Rows | (
            selection.SelectionFlag.Select if add else selection.SelectionFlag.ClearAndSelect
        )
        selection.setCurrentIndex(self.model.index(row, 0), flags)
        return True

    def open_selected(self) -> None:
        index = self.table.currentIndex()
        ids = self.selected_run_ids()
        if index.isValid() and (not ids or self.model.run_at(index.row()).run_id in ids):
            self.open_requested.emit(self.model.run_at(index.row()).run_id)
        elif ids:
            self.open_requested.emit(ids[0])

    def compare_selected(self) -> None:
        ids = self.selected_run_ids()
        if len(ids) != 2:
            self.say("Select exactly two runs to compare (Ctrl+click or Shift+click the second).")
            return
        first, second = sorted((run for run in self.model.runs if run.run_id in ids), key=lambda r: r.started_at)
        self.compare_requested.emit(first.run_id, second.run_id)

    def _selection_changed(self, *_: object) -> None:
        count = len(self.selected_run_ids())
        for button in self.single_run_buttons:
            button.setEnabled(count == 1)
        self.compare_button.setEnabled(count == 2)

    def _for_selected(self, action: Callable[[str], object]) -> None:
        ids = self.selected_run_ids()
        if len(ids) == 1:
            action(ids[0])

    # --- exports (what the buttons do, callable without a dialog) ----------------------------------------------

    def export_json(self, run_id: str, path: Path) -> bool:
        """Writes the run's full result as JSON to `path` (atomically); the status line says how it went."""
        result = self._load(run_id)
        if result is None:
            return False
        return self._write(path, result.model_dump_json(indent=2) + "\n", f"Saved run {run_id} as JSON")

    def export_html(self, run_id: str, path: Path) -> bool:
        """Writes the run as a self-contained HTML report, with the agent's recorded output, to `path`."""
        result = self._load(run_id)
        if result is None:
            return False
        return self._write(path, render_html(result, _recording_path(result)), f"Saved the report of run {run_id}")

    def copy_badge(self, run_id: str) -> bool:
        """Puts the run's provisional SVG badge on the clipboard, as the SVG's text."""
        result = self._load(run_id)
        if result is None:
            return False
        # Text only: a QMimeData made in Python and left on the clipboard is destroyed by Qt's exit handlers
        # after the interpreter has gone, which crashes the process on some platforms (PySide6 6.11, offscreen).
        QGuiApplication.clipboard().setText(badge_svg(result))
        self.say(f"Copied the provisional badge of run {run_id} (SVG).")
        return True

    def copy_command(self, run_id: str) -> bool:
        """Puts the `cab check …` command that reproduces the run on the clipboard; it never holds a key."""
        result = self._load(run_id)
        if result is None:
            return False
        QGuiApplication.clipboard().setText(reproduce_command(result))
        self.say(
            f"Copied the `cab check` command for run {run_id}; it takes the key from the keyring, not the command."
        )
        return True

    def say(self, text: str) -> None:
        self.status.setText(text)

    def _load(self, run_id: str) -> CellResult | None:
        try:
            return store.load_result(run_id)
        except (OSError, ValueError):
            self.say(f"Run {run_id} could not be read; it may have been removed. Press Refresh.")
            return None

    def _write(self, path: Path, text: str, done: str) -> bool:
        try:
            store.write_atomic(path, text)
        except OSError as exc:
            self.say(f"Could not save {path} ({exc.strerror or exc}).")
            return False
        self.export_dir = path.parent
        self.say(f"{done} to {path}.")
        return True

    def _export_json_dialog(self) -> None:
        self._export_dialog("Export run as JSON", "json", "JSON files (*.json)", self.export_json)

    def _export_html_dialog(self) -> None:
        self._export_dialog("Export run as an HTML report", "html", "HTML files (*.html *.htm)", self.export_html)

    def _export_dialog(self, title: str, suffix: str, filter_: str, export: Callable[[str, Path], bool]) -> None:
        ids = self.selected_run_ids()
        if len(ids) != 1:
            return
        default = self.export_dir / f"cab-check-{ids[0]}.{suffix}"
        chosen, _ = QFileDialog.getSaveFileName(self, title, str(default), filter_)
        if chosen:
            export(ids[0], Path(chosen))


def _recording_path(result: CellResult) -> Path:
    """Where the run's recording is: as the result says, else in its folder (a store that was moved)."""
    if result.recording and Path(result.recording).is_file():
        return Path(result.recording)
    return store.run_dir(result.run_id) / store.RECORDING_FILE
