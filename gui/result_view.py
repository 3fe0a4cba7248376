"""The Result page: what a person reads after a run, laid out like a CAB cell page.

Top to bottom: the provisional mark (always in view), who ran what and whether it passed, the seven axis tiles,
then tabs for the scorer breakdown, the run's identity, its span timeline, the model calls, the diff, the notes
and the recording's playback. Everything shown comes from one `CellResult`; `show_result` replaces it all.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cab_check.axes import L15
from cab_check.gui.diff_view import DiffView
from cab_check.gui.provisional import ProvisionalMark
from cab_check.gui.theme import goodness_color
from cab_check.gui.tiles import AxisTileWidget, ScaledLabel, TileGrid
from cab_check.gui.timeline import SpanTimeline
from cab_check.models import CellResult, ModelCall
from cab_check.report.axes import axis_tiles
from cab_check.report.identity import compact_json, token_report_lines, utc_iso
from cab_check.report.identity import identity_rows as report_identity_rows

NO_RESULT = "No result yet — run a cell, or open a run from the History page."
NO_CALLS = "No model calls were recorded for this run."
NO_NOTES = "No notes for this run."
NO_PLAYER = "Playback is not available in this installation."
TAB_MIN_LINES = 14  # the tabs never get shorter than this many text lines; the page scrolls instead
TOOLTIP_JSON_CHARS = 4000

if TYPE_CHECKING:
    from cab_check.gui.playback import PlaybackView  # imported when the page is built: it needs pyte


def _tooltip_json(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= TOOLTIP_JSON_CHARS else text[:TOOLTIP_JSON_CHARS] + "\n…"


def identity_rows(result: CellResult) -> list[tuple[str, str]]:
    """The report's identity rows, and where this run's files are and how to see it again."""
    return [
        *report_identity_rows(result),
        ("recording", result.recording or "none"),
        ("show again", f"cab show {result.run_id}"),
    ]


def l15_heading(l15: L15) -> str:
    return f"L15 constraints {l15.honored}/{l15.declared} honored — not in the composite, as CAB"


class _SortableItem(QTableWidgetItem):
    """A table cell that sorts by a key of its own (a number, a time) rather than by its text."""

    def __init__(self, text: str, key: Any) -> None:
        super().__init__(text)
        self.key = key

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _SortableItem):
            try:
                return bool(self.key < other.key)
            except TypeError:  # None beside a number: empty cells sort first
                return self.key is None and other.key is not None
        return super().__lt__(other)


CALL_COLUMNS = ("#", "Time", "Path", "Model", "Stream", "HTTP", "Prompt", "Completion", "Latency", "Finish", "Error")
NUMERIC_CALL_COLUMNS = {0, 1, 5, 6, 7, 8}


def _call_cells(call: ModelCall, origin: datetime) -> list[tuple[str, Any]]:
    offset = (call.timestamp - origin).total_seconds()
    return [
        (str(call.index + 1), call.index),
        (f"+{offset:.3f} s", offset),
        (call.path, call.path),
        (call.model or "", call.model or ""),
        ("yes" if call.stream else "no", call.stream),
        (str(call.status), call.status),
        (f"{call.prompt_tokens:,}", call.prompt_tokens),
        (f"{call.completion_tokens:,}", call.completion_tokens),
        (f"{call.latency_ms:,.0f} ms", call.latency_ms),
        (call.finish_reason or "", call.finish_reason or ""),
        (call.error or "", call.error or ""),
    ]


def _selectable(label: QLabel) -> QLabel:
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


def _text_pane(name: str) -> QTextBrowser:
    pane = QTextBrowser()
    pane.setOpenLinks(False)
    pane.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByKeyboard | Qt.TextInteractionFlag.TextSelectableByMouse
    )
    pane.setAccessibleName(name)
    return pane


class DetailTabs(QTabWidget):
    """The tabs under the tiles. They take the height left over: their preferred height is their minimum, and
    their pages' heights-for-width are not asked, so a tall page (the player) cannot push the tiles out of view."""

    def hasHeightForWidth(self) -> bool:
        return False

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(hint.width(), max(self.minimumHeight(), self.minimumSizeHint().height()))


class ResultView(QWidget):
    """One run's result. `show_result` fills it (again and again); `clear` empties it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: CellResult | None = None
        self.mark = ProvisionalMark()
        self.empty_hint = QLabel(NO_RESULT)
        self.empty_hint.setWordWrap(True)

        self.heading = _selectable(ScaledLabel("", 1.3, bold=True))
        self.verdict = ScaledLabel("", 1.3, bold=True)
        self.subheading = _selectable(QLabel())
        self.tile_grid = TileGrid()

        self.tabs = DetailTabs()
        self.tabs.setAccessibleName("Result details")
        self.tabs.addTab(self._breakdown_page(), "Breakdown")
        self.tabs.addTab(self._identity_page(), "Identity")
        self.timeline = SpanTimeline()
        self.tabs.addTab(self.timeline, "Timeline")
        self.tabs.addTab(self._calls_page(), "Model calls")
        self.diff_view = DiffView()
        self.tabs.addTab(self.diff_view, "Diff")
        self.notes_view = _text_pane("Notes on this run")
        self.tabs.addTab(self.notes_view, "Notes")
        self.player: PlaybackView | None = None  # None in an installation without pyte
        self.playback = self._playback_page()
        self.tabs.addTab(self.playback, "Playback")

        self.content = QWidget()
        heading_row = QHBoxLayout()
        heading_row.addWidget(self.heading, 1)
        heading_row.addWidget(self.verdict, 0, Qt.AlignmentFlag.AlignTop)
        content_layout = QVBoxLayout(self.content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.addLayout(heading_row)
        content_layout.addWidget(self.subheading)
        content_layout.addWidget(self.tile_grid)
        content_layout.addWidget(self.tabs, 1)
        # The page scrolls as a whole when the window is too small (narrow, or a large font), so nothing is clipped;
        # the provisional mark stays outside it, always in view.
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(self.content)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        mark_row = QHBoxLayout()
        mark_row.addWidget(self.mark)
        mark_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(mark_row)
        layout.addWidget(self.empty_hint)
        layout.addWidget(self.scroll_area, 1)
        self._fit_to_font()
        self.clear()

    @property
    def tiles(self) -> list[AxisTileWidget]:
        return self.tile_grid.tiles

    # --- what callers use -------------------------------------------------------------------------------------

    def show_result(self, result: CellResult) -> None:
        """Shows `result`, replacing whatever was shown."""
        self.result = result
        self.heading.setText(f"{result.tui} × {result.model_label} · {result.task}")
        self._show_verdict(result.passed)
        started = result.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        timed_out = " · timed out" if result.timed_out else ""
        self.subheading.setText(f"Run {result.run_id} · started {started} · {result.duration:.1f} s{timed_out}")
        self.tile_grid.set_tiles(axis_tiles(result))
        self._show_breakdown(result)
        self.identity_view.setHtml(self._identity_html(result))
        self.timeline.set_run(result.spans, result.model_calls)
        self._show_calls(result)
        self.diff_view.set_diff(result.diff)
        self._show_notes(result.notes)
        self._show_recording(result.recording)
        self.empty_hint.hide()
        self.scroll_area.show()

    def clear(self) -> None:
        """Empties every part and says there is no result yet."""
        self.result = None
        self.heading.clear()
        self.verdict.clear()
        self.subheading.clear()
        self.tile_grid.clear()
        self.breakdown.clear()
        self.l15_label.hide()
        self.tokens_label.clear()
        self.identity_view.clear()
        self.timeline.clear()
        self.calls_table.setRowCount(0)
        self.calls_totals.setText(NO_CALLS)
        self.diff_view.set_diff("")
        self.notes_view.clear()
        self._show_recording(None)
        self.scroll_area.hide()
        self.empty_hint.show()

    # --- building ----------------------------------------------------------------------------------------------

    def _breakdown_page(self) -> QWidget:
        self.breakdown = QTreeWidget()
        self.breakdown.setColumnCount(3)
        self.breakdown.setHeaderLabels(["Axis", "Keys", "Values"])
        self.breakdown.setAccessibleName("Scorer breakdown")
        self.breakdown.setAccessibleDescription(
            "One row per axis; expand a row for each key's value. Ctrl+C copies the selected row."
        )
        self.breakdown.setUniformRowHeights(True)
        self.breakdown.setAlternatingRowColors(True)
        header = self.breakdown.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        copy = QShortcut(QKeySequence(QKeySequence.StandardKey.Copy), self.breakdown)
        copy.setContext(Qt.ShortcutContext.WidgetShortcut)
        copy.activated.connect(self._copy_breakdown_row)
        label = QLabel("Scorer &breakdown (as CAB computes it)")
        label.setWordWrap(True)
        label.setBuddy(self.breakdown)

        self.l15_label = _selectable(QLabel())
        self.l15_label.setTextFormat(Qt.TextFormat.RichText)
        self.l15_label.setAccessibleName("L15 constraints")
        self.tokens_label = _selectable(QLabel())
        self.tokens_label.setAccessibleName("Token reports")

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(label)
        layout.addWidget(self.breakdown, 1)
        layout.addWidget(self.l15_label)
        layout.addWidget(self.tokens_label)
        return page

    def _identity_page(self) -> QWidget:
        self.identity_view = _text_pane("Run identity")
        return self.identity_view

    def _calls_page(self) -> QWidget:
        self.calls_table = QTableWidget(0, len(CALL_COLUMNS))
        self.calls_table.setHorizontalHeaderLabels(list(CALL_COLUMNS))
        self.calls_table.setAccessibleName("Model calls")
        self.calls_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.calls_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.calls_table.setTabKeyNavigation(False)
        self.calls_table.setAlternatingRowColors(True)
        self.calls_table.verticalHeader().hide()
        self.calls_table.setSortingEnabled(True)
        header = self.calls_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.calls_totals = _selectable(QLabel(NO_CALLS))
        self.calls_totals.setAccessibleName("Model call totals")
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.calls_table, 1)
        layout.addWidget(self.calls_totals)
        return page

    def _playback_page(self) -> QWidget:
        # Imported here so the rest of the page works in an installation without the player (pyte).
        try:
            from cab_check.gui.playback import PlaybackView
        except ImportError:
            missing = QLabel(NO_PLAYER)
            missing.setAlignment(Qt.AlignmentFlag.AlignCenter)
            return missing
        self.player = PlaybackView()
        return self.player

    def _fit_to_font(self) -> None:
        line = self.fontMetrics().height()
        self.tabs.setMinimumHeight(line * TAB_MIN_LINES)
        self.breakdown.setMinimumHeight(line * 8)  # the table keeps a few rows beside the L15 and token lines

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit_to_font()
        elif event.type() == QEvent.Type.PaletteChange and self.result is not None:
            # Light ↔ dark: the few colours set by hand are chosen again for the new palette.
            self._show_verdict(self.result.passed)
            if self.result.l15 is not None:
                self.l15_label.setText(self._l15_html(self.result.l15))

    # --- filling -------------------------------------------------------------------------------------------------

    def _show_verdict(self, passed: bool) -> None:
        # A mark as well as a colour, so the verdict does not rest on colour alone.
        self.verdict.setText("✓ passed" if passed else "✗ did not pass")
        palette = self.verdict.palette()
        palette.setColor(self.verdict.foregroundRole(), goodness_color(1.0 if passed else 0.0, self.palette()))
        self.verdict.setPalette(palette)
        self.verdict.setAccessibleName("passed" if passed else "did not pass")

    def _show_breakdown(self, result: CellResult) -> None:
        self.breakdown.clear()
        for axis, values in result.axes.model_dump().items():
            item = QTreeWidgetItem([axis, ", ".join(values), compact_json(values)])
            item.setToolTip(2, _tooltip_json(values))
            for key, value in values.items():
                child = QTreeWidgetItem([key, "", compact_json(value)])
                child.setToolTip(2, value if isinstance(value, str) else _tooltip_json(value))
                item.addChild(child)
            self.breakdown.addTopLevelItem(item)
        self.breakdown.setColumnWidth(1, self.fontMetrics().averageCharWidth() * 40)
        if first := self.breakdown.topLevelItem(0):
            self.breakdown.setCurrentItem(first)

        if result.l15 is None:
            self.l15_label.clear()
            self.l15_label.hide()
        else:
            self.l15_label.setText(self._l15_html(result.l15))
            self.l15_label.show()
        lines = token_report_lines(result) or ["No token reports."]
        self.tokens_label.setText("Tokens by source:\n" + "\n".join(f"• {line}" for line in lines))

    def _l15_html(self, l15: L15) -> str:
        lines = [f"<b>{html.escape(l15_heading(l15))}</b>"]
        for verdict in l15.verdicts:
            honored = verdict.honored
            colour = goodness_color(1.0 if honored else 0.0, self.palette()).name()
            mark = "✓" if honored else "✗"
            lines.append(
                f'<span style="color:{colour}">{mark}</span> {html.escape(verdict.constraint)}'
                f" — {html.escape(verdict.detail)}"
            )
        return "<br>".join(lines)

    def _copy_breakdown_row(self) -> None:
        item = self.breakdown.currentItem()
        if item is not None:
            QGuiApplication.clipboard().setText("\t".join(item.text(column) for column in range(3)))

    def _identity_html(self, result: CellResult) -> str:
        rows = "".join(
            f"<tr><td style='padding-right:1em'><b>{html.escape(key)}</b></td><td>{html.escape(value)}</td></tr>"
            for key, value in identity_rows(result)
        )
        return f"<table>{rows}</table>"

    def _show_calls(self, result: CellResult) -> None:
        table = self.calls_table
        table.setSortingEnabled(False)  # filling a sorted table moves rows under our feet
        table.setRowCount(len(result.model_calls))
        origin = min([span.start for span in result.spans] or [result.started_at])
        bad = goodness_color(0.0, self.palette())
        for row, call in enumerate(result.model_calls):
            for column, (text, key) in enumerate(_call_cells(call, origin)):
                item = _SortableItem(text, key)
                if column in NUMERIC_CALL_COLUMNS:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if call.failed and column in (5, 10):
                    item.setForeground(bad)
                if column == 1:
                    item.setToolTip(utc_iso(call.timestamp))
                elif column == 10 and text:
                    item.setToolTip(text)
                table.setItem(row, column, item)
        table.setSortingEnabled(True)
        table.sortItems(0, Qt.SortOrder.AscendingOrder)
        self.calls_totals.setText(self._calls_totals(result.model_calls))

    @staticmethod
    def _calls_totals(calls: list[ModelCall]) -> str:
        if not calls:
            return NO_CALLS
        prompt = sum(call.prompt_tokens for call in calls)
        completion = sum(call.completion_tokens for call in calls)
        latency = sum(call.latency_ms for call in calls)
        failed = sum(1 for call in calls if call.failed)
        failures = f" · {failed} failed" if failed else ""
        return (
            f"Total: {len(calls)} model call{'s' if len(calls) != 1 else ''} · {prompt:,} prompt + "
            f"{completion:,} completion = {prompt + completion:,} tokens · {latency:,.0f} ms in the model"
            f"{failures}"
        )

    def _show_notes(self, notes: list[str]) -> None:
        if not notes:
            self.notes_view.setPlainText(NO_NOTES)
            return
        items = "".join(f"<li style='margin-bottom:0.5em'>{html.escape(note)}</li>" for note in notes)
        self.notes_view.setHtml(f"<ul>{items}</ul>")

    def _show_recording(self, recording: str | None) -> None:
        if self.player is None:
            return
        if recording:
            self.player.load(Path(recording))
        else:
            self.player.clear()
