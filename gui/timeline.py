"""A run's spans as a Gantt chart, with the model calls marked on their own row beneath.

Rows are the spans in tree order (a parent, then its children, each level by start time), indented by depth;
times are relative to the earliest span's start. Up/Down (or a click) selects a span and shows its details below.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QHelpEvent, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from cab_check.gui.theme import goodness_color
from cab_check.models import ModelCall, Span

NO_SPANS = "This run recorded no spans."
NO_SELECTION = "Select a span (Up/Down or a click) to see its details."
CALLS_ROW_LABEL = "model calls"
ATTR_VALUE_CHARS = 160  # a long attr (a command line, a path) is cut in tooltips and details


@dataclass(frozen=True)
class SpanRow:
    """A span placed on the chart: its depth in the span tree and its times in seconds from the start."""

    span: Span
    depth: int
    offset_s: float
    duration_s: float

    @property
    def label(self) -> str:
        return f"{self.span.kind}:{self.span.name}"

    @property
    def end_s(self) -> float:
        return self.offset_s + self.duration_s


@dataclass(frozen=True)
class CallMark:
    call: ModelCall
    offset_s: float
    latency_s: float


def span_rows(spans: list[Span]) -> list[SpanRow]:
    """The spans in tree order with their depths; a span whose parent is missing is a root."""
    if not spans:
        return []
    origin = min(span.start for span in spans)
    known = {span.span_id for span in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in known and span.parent_id != span.span_id else None
        children.setdefault(parent, []).append(span)
    rows: list[SpanRow] = []
    placed: set[str] = set()

    def visit(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start):
            if span.span_id in placed:
                continue
            placed.add(span.span_id)
            rows.append(SpanRow(span, depth, _seconds(span.start, origin), span.duration_ms / 1000))
            visit(span.span_id, depth + 1)

    visit(None, 0)
    # Spans caught in a parent cycle are unreachable from a root; they still get a row, at the top level.
    for span in sorted(spans, key=lambda s: s.start):
        if span.span_id not in placed:
            placed.add(span.span_id)
            rows.append(SpanRow(span, 0, _seconds(span.start, origin), span.duration_ms / 1000))
    return rows


def call_marks(calls: list[ModelCall], spans: list[Span]) -> list[CallMark]:
    """Model calls on the spans' clock. A call's timestamp is when it finished, so it starts `latency` earlier."""
    if not calls:
        return []
    origin = min([span.start for span in spans] or [call.timestamp for call in calls])
    return [
        CallMark(call, _seconds(call.timestamp, origin) - call.latency_ms / 1000, call.latency_ms / 1000)
        for call in calls
    ]


def tick_step(span_s: float, max_ticks: int) -> float:
    """A round step (1, 2 or 5 × a power of ten, in seconds) giving at most `max_ticks` ticks over `span_s`."""
    if span_s <= 0 or max_ticks < 1:
        return 1.0
    raw = span_s / max_ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def tick_label(seconds: float, step: float) -> str:
    """A tick's time without needless digits: "0", "500 ms", "2.5 s", "10 s"."""
    if seconds == 0:
        return "0"
    if step < 1:
        return f"{seconds * 1000:g} ms" if seconds < 1 else f"{round(seconds, 3):g} s"
    return f"{round(seconds, 3):g} s"


def format_seconds(seconds: float) -> str:
    if abs(seconds) < 1:
        return f"{seconds * 1000:.0f} ms"
    if abs(seconds) < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s"


def describe_attrs(attrs: dict[str, Any], separator: str = "\n") -> str:
    return separator.join(f"{key}: {_short(value)}" for key, value in attrs.items())


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= ATTR_VALUE_CHARS else text[: ATTR_VALUE_CHARS - 1] + "…"


def _seconds(moment: datetime, origin: datetime) -> float:
    return (moment - origin).total_seconds()


class TimelineChart(QWidget):
    """The drawn chart: a time axis, one row per span, and a row of model-call marks. Owned by `SpanTimeline`."""

    def __init__(self, owner: SpanTimeline) -> None:
        super().__init__(owner)
        self.owner = owner
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Span timeline")

    # --- geometry, all from the font so the chart scales with it ----------------------------------------------

    @property
    def row_height(self) -> int:
        return round(self.fontMetrics().height() * 1.6)

    @property
    def axis_height(self) -> int:
        return round(self.fontMetrics().height() * 1.8)

    @property
    def row_count(self) -> int:
        """Span rows, plus the model-call row when there are calls."""
        return len(self.owner.rows) + (1 if self.owner.calls else 0)

    def label_width(self) -> int:
        metrics = self.fontMetrics()
        indent = metrics.averageCharWidth() * 2
        widest = max(
            [metrics.horizontalAdvance(row.label) + row.depth * indent for row in self.owner.rows]
            + [metrics.horizontalAdvance(CALLS_ROW_LABEL)],
            default=0,
        )
        # Labels take what they need, up to 40% of the width: a long name is elided rather than squeeze the bars.
        return min(widest + metrics.averageCharWidth() * 2, int(self.width() * 0.4))

    def chart_rect(self) -> QRect:
        """Where the bars go: right of the labels, below the axis, with room for the last tick's text."""
        left = self.label_width()
        # Room right of the last bar for its duration ("59.99 s") and for the last tick's label.
        right_margin = self.fontMetrics().horizontalAdvance("00.00 s") + self.fontMetrics().averageCharWidth() * 2
        width = max(1, self.width() - left - right_margin)
        return QRect(left, self.axis_height, width, self.row_count * self.row_height)

    def row_rect(self, index: int) -> QRect:
        return QRect(0, self.axis_height + index * self.row_height, self.width(), self.row_height)

    def row_at(self, point: QPoint) -> int | None:
        """The row under `point`: a span's index, len(rows) for the model-call row, or None."""
        if point.y() < self.axis_height:
            return None
        index = (point.y() - self.axis_height) // self.row_height
        return index if 0 <= index < self.row_count else None

    def x_of(self, seconds: float) -> float:
        chart = self.chart_rect()
        total = self.owner.total_s
        return chart.left() + (seconds / total * chart.width() if total > 0 else 0.0)

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 90, self.minimumSizeHint().height())

    def minimumSizeHint(self) -> QSize:
        height = self.axis_height + max(1, self.row_count) * self.row_height + self.fontMetrics().height() // 2
        return QSize(self.fontMetrics().averageCharWidth() * 40, height)

    # --- drawing -------------------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        if not self.owner.rows and not self.owner.calls:
            painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, NO_SPANS)
            painter.end()
            return
        self._draw_axis(painter)
        for index, row in enumerate(self.owner.rows):
            self._draw_span_row(painter, index, row)
        if self.owner.calls:
            self._draw_calls_row(painter, len(self.owner.rows))
        if self.hasFocus():
            painter.setPen(palette.color(QPalette.ColorRole.Highlight))
            painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    def _draw_axis(self, painter: QPainter) -> None:
        palette = self.palette()
        chart = self.chart_rect()
        metrics = self.fontMetrics()
        tick_room = metrics.horizontalAdvance("00.00 s") * 2
        step = tick_step(self.owner.total_s, max(1, chart.width() // max(1, tick_room)))
        baseline = self.axis_height - metrics.descent() - metrics.height() // 3
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawLine(chart.left(), self.axis_height - 1, chart.right(), self.axis_height - 1)
        grid = QColor(palette.color(QPalette.ColorRole.Mid))
        count = int(self.owner.total_s / step + 1e-9) + 1 if self.owner.total_s > 0 else 1
        for number in range(count):
            seconds = number * step
            x = round(self.x_of(seconds))
            painter.setPen(grid)
            painter.drawLine(x, self.axis_height, x, chart.bottom())
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            painter.drawLine(x, self.axis_height - metrics.height() // 3, x, self.axis_height - 1)
            text = tick_label(seconds, step)
            painter.drawText(x - metrics.horizontalAdvance(text) // 2, baseline, text)

    def _draw_row_background(self, painter: QPainter, index: int, selected: bool) -> None:
        palette = self.palette()
        rect = self.row_rect(index)
        if selected:
            highlight = QColor(palette.color(QPalette.ColorRole.Highlight))
            highlight.setAlpha(70)
            painter.fillRect(rect, highlight)
        elif index % 2:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))

    def _draw_label(self, painter: QPainter, index: int, text: str, indent: int) -> None:
        metrics = self.fontMetrics()
        rect = self.row_rect(index)
        space = max(0, self.label_width() - indent - metrics.averageCharWidth())
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        painter.drawText(
            QRect(indent + metrics.averageCharWidth() // 2, rect.top(), space, rect.height()),
            int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
            metrics.elidedText(text, Qt.TextElideMode.ElideRight, space),
        )

    def _draw_span_row(self, painter: QPainter, index: int, row: SpanRow) -> None:
        palette = self.palette()
        metrics = self.fontMetrics()
        selected = index == self.owner.selected
        self._draw_row_background(painter, index, selected)
        self._draw_label(painter, index, row.label, row.depth * metrics.averageCharWidth() * 2)

        rect = self.row_rect(index)
        pad = max(2, rect.height() // 5)
        left = self.x_of(row.offset_s)
        width = max(2.0, self.x_of(row.end_s) - left)  # an instant span still shows as a sliver
        bar = QRectF(left, rect.top() + pad, width, rect.height() - 2 * pad)
        colour = goodness_color(0.0, palette) if row.span.error else QColor(palette.color(QPalette.ColorRole.Highlight))
        if not selected and not row.span.error:
            colour.setAlpha(170)
        painter.fillRect(bar, colour)
        if selected:
            painter.setPen(palette.color(QPalette.ColorRole.Text))
            painter.drawRect(bar)

        self._draw_duration(painter, rect, bar, format_seconds(row.duration_s))

    def _draw_duration(self, painter: QPainter, rect: QRect, bar: QRectF, text: str) -> None:
        """The duration goes right of the bar; where that runs off the chart, left of it; failing both, inside."""
        palette = self.palette()
        metrics = self.fontMetrics()
        gap = metrics.averageCharWidth() / 2
        width = metrics.horizontalAdvance(text)
        pen = palette.color(QPalette.ColorRole.Text)
        if bar.right() + gap + width <= self.width():
            x = bar.right() + gap
        elif bar.left() - gap - width >= self.label_width():
            x = bar.left() - gap - width
        else:
            x, pen = max(bar.left(), bar.right() - gap - width), palette.color(QPalette.ColorRole.HighlightedText)
        painter.setPen(pen)
        painter.drawText(
            QRectF(x, rect.top(), width + 2, rect.height()),
            int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
            text,
        )

    def _draw_calls_row(self, painter: QPainter, index: int) -> None:
        palette = self.palette()
        self._draw_row_background(painter, index, False)
        self._draw_label(painter, index, CALLS_ROW_LABEL, 0)
        rect = self.row_rect(index)
        pad = max(2, rect.height() // 6)
        for mark in self.owner.calls:
            colour = goodness_color(0.0, palette) if mark.call.failed else palette.color(QPalette.ColorRole.Text)
            left = self.x_of(mark.offset_s)
            width = max(2.0, self.x_of(mark.offset_s + mark.latency_s) - left)  # the call's latency, or a tick
            painter.fillRect(QRectF(left, rect.top() + pad, width, rect.height() - 2 * pad), colour)

    # --- interaction -------------------------------------------------------------------------------------------------

    def tooltip_at(self, point: QPoint) -> str | None:
        """What hovering at `point` shows: a span's timing and attrs, or the model calls near that time."""
        index = self.row_at(point)
        if index is None:
            return None
        if index < len(self.owner.rows):
            return self.owner.describe(index)
        return self._calls_near(point.x())

    def _calls_near(self, x: int) -> str:
        reach = self.fontMetrics().averageCharWidth()
        near = [
            mark
            for mark in self.owner.calls
            if self.x_of(mark.offset_s) - reach <= x <= self.x_of(mark.offset_s + mark.latency_s) + reach
        ]
        if not near:
            return f"{len(self.owner.calls)} model calls; hover over a mark for one call."
        return "\n".join(describe_call(mark) for mark in near)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self.tooltip_at(event.pos())
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.owner.handle_key(event):
            super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.row_at(event.position().toPoint())
        if index is not None and index < len(self.owner.rows):
            self.owner.select(index)
        super().mousePressEvent(event)


def describe_call(mark: CallMark) -> str:
    call = mark.call
    tokens = f"{call.prompt_tokens:,} + {call.completion_tokens:,} tokens"
    failure = f", error: {call.error}" if call.error else ""
    return (
        f"call #{call.index + 1} at +{mark.offset_s:.2f} s: HTTP {call.status}, {tokens}, "
        f"{call.latency_ms:,.0f} ms{failure}"
    )


class SpanTimeline(QWidget):
    """The chart in a scroll area, with the selected span's details in a label beneath it.

    Focusable (its focus goes to the chart); Up/Down/Home/End select a span.
    """

    span_selected = Signal(int)  # the selected row's index in `rows`

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[SpanRow] = []
        self.calls: list[CallMark] = []
        self.total_s = 0.0
        self.selected: int | None = None

        self.chart = TimelineChart(self)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(self.chart)
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.StyledPanel)
        self.scroll_area.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the chart, not its frame, takes the keyboard
        self.details = QLabel(NO_SELECTION)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAccessibleName("Selected span")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(self.details)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFocusProxy(self.chart)
        self.setAccessibleName("Span timeline")
        self.setAccessibleDescription("One row per span; Up and Down select a span and show its details.")

    def set_run(self, spans: list[Span], calls: list[ModelCall]) -> None:
        """Shows these spans and model calls, replacing what was shown; nothing is selected."""
        self.rows = span_rows(spans)
        self.calls = call_marks(calls, spans)
        ends = [row.end_s for row in self.rows] + [mark.offset_s + mark.latency_s for mark in self.calls]
        self.total_s = max(ends, default=0.0)
        self.selected = None
        self.details.setText(NO_SELECTION if self.rows else NO_SPANS)
        self.chart.setAccessibleDescription(
            f"{len(self.rows)} spans and {len(self.calls)} model calls over "
            f"{format_seconds(self.total_s)}; Up and Down select a span."
        )
        self.chart.updateGeometry()
        self.chart.update()

    def clear(self) -> None:
        self.set_run([], [])

    def select(self, index: int) -> None:
        """Selects row `index` (clamped to the rows), shows its details and scrolls it into view."""
        if not self.rows:
            return
        index = max(0, min(len(self.rows) - 1, index))
        self.selected = index
        self.details.setText(self.describe(index, separator="; "))
        rect = self.chart.row_rect(index)
        self.scroll_area.ensureVisible(0, rect.center().y(), 0, rect.height())
        self.chart.update()
        self.span_selected.emit(index)

    def describe(self, index: int, separator: str = "\n") -> str:
        """A span's name, timing, parent, error and attrs, as the details label and its tooltip show them."""
        row = self.rows[index]
        span = row.span
        parts = [f"{row.label} — starts at +{row.offset_s:.3f} s, lasts {format_seconds(row.duration_s)}"]
        if span.parent_id:
            parent = next((r.label for r in self.rows if r.span.span_id == span.parent_id), span.parent_id)
            parts.append(f"inside {parent}")
        if span.error:
            parts.append(f"error: {span.error}")
        if span.attrs:
            parts.append(describe_attrs(span.attrs, separator))
        return separator.join(parts)

    def handle_key(self, event: QKeyEvent) -> bool:
        """Moves the selection for Up/Down/Home/End/PageUp/PageDown; returns whether the key was used."""
        if not self.rows:
            return False
        current = -1 if self.selected is None else self.selected
        page = max(1, self.scroll_area.viewport().height() // max(1, self.chart.row_height))
        moves = {
            Qt.Key.Key_Down: current + 1,
            Qt.Key.Key_Up: current - 1 if current >= 0 else 0,
            Qt.Key.Key_Home: 0,
            Qt.Key.Key_End: len(self.rows) - 1,
            Qt.Key.Key_PageDown: current + page,
            Qt.Key.Key_PageUp: current - page,
        }
        target = moves.get(Qt.Key(event.key()))
        if target is None:
            return False
        self.select(target)
        event.accept()
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.handle_key(event):
            super().keyPressEvent(event)
