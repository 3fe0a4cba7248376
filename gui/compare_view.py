"""The Compare page: two stored runs side by side, the better value of each row emphasised, and both diffs.

The rows are `cab_check.report.compare.compare()`; this page only draws them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cab_check.gui.diff_view import DiffView
from cab_check.gui.provisional import ProvisionalMark
from cab_check.gui.theme import goodness_color
from cab_check.models import CellResult
from cab_check.report.compare import CompareRow, compare

NO_PAIR = "Select two runs on the History page and press Compare."


class CompareView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[CompareRow] = []
        self.mark = ProvisionalMark()
        self.heading = QLabel(NO_PAIR)
        self.heading.setWordWrap(True)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Run A", "Run B"])
        self.table.setAccessibleName("Comparison of the two runs")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setTabKeyNavigation(False)
        self.table.setWordWrap(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table_label = QLabel("Sc&ores and identity (the better value of a row in bold)")
        table_label.setBuddy(self.table)

        self.diff_a = DiffView()
        self.diff_a.setAccessibleName("Changes in run A")
        self.diff_b = DiffView()
        self.diff_b.setAccessibleName("Changes in run B")
        self.diff_label_a = QLabel("Changes in run &A")
        self.diff_label_a.setBuddy(self.diff_a)
        self.diff_label_b = QLabel("Changes in run &B")
        self.diff_label_b.setBuddy(self.diff_b)

        diffs = QSplitter(Qt.Orientation.Horizontal)
        for label, pane in ((self.diff_label_a, self.diff_a), (self.diff_label_b, self.diff_b)):
            side = QWidget()
            side_layout = QVBoxLayout(side)
            side_layout.setContentsMargins(0, 0, 0, 0)
            side_layout.addWidget(label)
            side_layout.addWidget(pane, 1)
            diffs.addWidget(side)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(table_label)
        top_layout.addWidget(self.table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(diffs)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.mark)
        layout.addWidget(self.heading)
        layout.addWidget(splitter, 1)
        self.setTabOrder(self.table, self.diff_a)
        self.setTabOrder(self.diff_a, self.diff_b)

    def show_pair(self, a: CellResult, b: CellResult) -> None:
        """Shows run `a` on the left and run `b` on the right."""
        self.rows = compare(a, b)
        self.heading.setText(f"A: {_describe(a)}\nB: {_describe(b)}")
        self.table.setHorizontalHeaderLabels([f"Run A — {a.tui}", f"Run B — {b.tui}"])
        self.table.setRowCount(len(self.rows))
        self.table.setVerticalHeaderLabels([row.label for row in self.rows])
        for number, row in enumerate(self.rows):
            for column, (side, value) in enumerate((("a", row.a), ("b", row.b))):
                self.table.setItem(number, column, self._cell(value, row.better == side))
        self.diff_label_a.setText(f"Changes in run &A — {a.tui}")
        self.diff_label_b.setText(f"Changes in run &B — {b.tui}")
        self.diff_a.set_diff(a.diff)
        self.diff_b.set_diff(b.diff)

    def _cell(self, value: str, better: bool) -> QTableWidgetItem:
        item = QTableWidgetItem(value)
        if better:
            font = item.font()
            font.setBold(True)
            item.setFont(font)
            item.setForeground(goodness_color(1.0, self.palette()))
            item.setToolTip("The better of the two")
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{value}, better")
        return item


def _describe(result: CellResult) -> str:
    verdict = "passed" if result.passed else "did not pass"
    started = result.started_at.astimezone().strftime("%Y-%m-%d %H:%M")
    return f"{result.tui} × {result.model_label} · {result.task} — {verdict}, run {result.run_id} ({started})"
