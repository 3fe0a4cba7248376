"""The Run page: the cell's phases with their progress, the image build log, and the agent's live terminal.

It only renders engine events (`handle(event)`); starting and cancelling belong to the main window.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cab_check.gui.terminal_view import TerminalView
from cab_check.gui.theme import monospace_font
from cab_check.gui.tiles import ScaledLabel
from cab_check.models import (
    AgentOutput,
    CellFinished,
    Event,
    ModelCallRecorded,
    PhaseFinished,
    PhaseProgress,
    PhaseStarted,
)
from cab_check.report.terminal import PHASE_TITLES

PHASES = list(PHASE_TITLES)  # images, preflight, setup, agent, grade — the order a run goes through them
BUILD_LOG_LINES = 5000
MARKS = {"waiting": "○", "running": "▶", "done": "✓", "failed": "✗", "stopped": "■"}


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class PhaseRow:
    """One line of the phase list: a mark, the phase's title, its time and what it said."""

    def __init__(self, grid: QGridLayout, row: int, phase: str) -> None:
        self.phase = phase
        self.state = "waiting"
        self.started = 0.0
        self.elapsed = 0.0
        self.mark = QLabel(MARKS["waiting"])
        self.title = QLabel(PHASE_TITLES[phase])
        self.time = QLabel("")
        self.detail = QLabel("")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for column, widget in enumerate((self.mark, self.title, self.time, self.detail)):
            grid.addWidget(widget, row, column, Qt.AlignmentFlag.AlignTop)

    def set_state(self, state: str, detail: str | None = None) -> None:
        self.state = state
        self.mark.setText(MARKS[state])
        font = self.title.font()
        font.setBold(state == "running")
        self.title.setFont(font)
        if detail is not None:
            self.detail.setText(detail)
        self.title.setAccessibleDescription(f"{self.title.text()}: {state}. {self.detail.text()}")

    def tick(self, now: float) -> None:
        if self.state == "running":
            self.elapsed = now - self.started
            self.time.setText(f"{self.elapsed:.0f} s")


class RunView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Scaled from the window's font and kept so, like the Result page's heading, when the font changes.
        self.headline = ScaledLabel("No run yet — fill in the Configure page and press Run.", 1.2, bold=True)
        self.headline.setWordWrap(True)

        phases_box = QGroupBox("Phases")
        grid = QGridLayout(phases_box)
        grid.setColumnStretch(3, 1)
        self.rows = {phase: PhaseRow(grid, i, phase) for i, phase in enumerate(PHASES)}

        self.progress = QProgressBar()
        self.progress.setAccessibleName("Run progress")
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.latest = QLabel("")  # the latest build line or model call, so a long step visibly moves
        self.latest.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.calls = QLabel("")
        self.message = QLabel("")  # the outcome: failed with a sentence, cancelled, finished
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.log_toggle = QToolButton()
        self.log_toggle.setText("Show image build &log")
        self.log_toggle.setCheckable(True)
        self.log_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.log_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.build_log = QPlainTextEdit()
        self.build_log.setReadOnly(True)
        self.build_log.setMaximumBlockCount(BUILD_LOG_LINES)
        self.build_log.setAccessibleName("Image build log")
        self.build_log.setFont(monospace_font())
        self.build_log.hide()
        self.log_toggle.toggled.connect(self._show_log)

        self.terminal = TerminalView()
        self.terminal.setAccessibleName("Agent output")
        terminal_box = QGroupBox("Agent output (live)")
        QVBoxLayout(terminal_box).addWidget(self.terminal)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        for widget in (
            self.headline,
            phases_box,
            self.progress,
            self.latest,
            self.calls,
            self.message,
            self.log_toggle,
            self.build_log,
        ):
            top_layout.addWidget(widget)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(terminal_box)
        splitter.setStretchFactor(1, 1)
        QVBoxLayout(self).addWidget(splitter)

        self.phase: str | None = None
        self.timeout_s = 0
        self.model_calls = 0
        self.ticker = QTimer(self)
        self.ticker.setInterval(250)
        self.ticker.timeout.connect(self._tick)

    # --- what the main window calls ---------------------------------------------------------------------------

    def start(self, headline: str, timeout_s: int) -> None:
        self.headline.setText(headline)
        self.timeout_s = timeout_s
        self.model_calls = 0
        self.phase = None
        for row in self.rows.values():
            row.time.setText("")
            row.set_state("waiting", "")
        self.latest.setText("")
        self.calls.setText("")
        self.message.setText("")
        self.build_log.clear()
        self.terminal.reset()
        self.progress.show()
        self.ticker.start()

    def stop(self, state: str, message: str) -> None:
        """The run is over: `state` is "done", "failed" or "stopped"; any phase still running takes that mark."""
        self.ticker.stop()
        self.progress.hide()
        if self.phase is not None:
            self.rows[self.phase].set_state("failed" if state == "failed" else state)
            self.phase = None
        self.message.setText(message)

    def handle(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            self._phase_started(event)
        elif isinstance(event, PhaseProgress):
            self.build_log.appendPlainText(event.message)
            self.latest.setText(event.message.strip()[:160])
        elif isinstance(event, PhaseFinished):
            row = self.rows.get(event.phase)
            if row is not None:
                row.tick(time.monotonic())
                row.set_state("done" if event.ok else "failed", event.detail)
            self.phase = None
        elif isinstance(event, AgentOutput):
            self.terminal.feed(event.text)
        elif isinstance(event, ModelCallRecorded):
            self.model_calls += 1
            call = event.call
            self.calls.setText(
                f"{self.model_calls} model call{'s' if self.model_calls != 1 else ''} — latest: "
                f"HTTP {call.status}, {call.prompt_tokens:,} + {call.completion_tokens:,} tokens, "
                f"{call.latency_ms / 1000:.1f} s"
            )
        elif isinstance(event, CellFinished):
            self.stop("done", "Finished — the result is on the Result page.")

    # --- inside ----------------------------------------------------------------------------------------------

    def _phase_started(self, event: PhaseStarted) -> None:
        row = self.rows.get(event.phase)
        if row is None:
            return
        self.phase = event.phase
        row.started = time.monotonic()
        row.set_state("running", event.detail)
        self.latest.setText("")
        if event.phase == "agent" and self.timeout_s:
            self.progress.setRange(0, self.timeout_s)  # elapsed time against the timeout
            self.progress.setValue(0)
        else:
            self.progress.setRange(0, 0)  # busy: a build or a probe has no known length
        self._tick()

    def _tick(self) -> None:
        now = time.monotonic()
        for row in self.rows.values():
            row.tick(now)
        if self.phase == "agent" and self.timeout_s:
            elapsed = min(self.rows["agent"].elapsed, self.timeout_s)
            self.progress.setValue(int(elapsed))
            self.progress.setFormat(f"Agent run {_clock(elapsed)} of {_clock(self.timeout_s)} timeout")
        elif self.phase is not None:
            self.progress.setFormat(f"{PHASE_TITLES[self.phase]} {self.rows[self.phase].elapsed:.0f} s")

    def _show_log(self, shown: bool) -> None:
        self.build_log.setVisible(shown)
        self.log_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.log_toggle.setText("Hide image build &log" if shown else "Show image build &log")
