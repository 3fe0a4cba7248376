"""Terminal rendering with rich: live progress from engine events, and the provisional score table."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from cab_check.models import (
    AgentOutput,
    CellFinished,
    CellResult,
    Event,
    ModelCallRecorded,
    PhaseFinished,
    PhaseProgress,
    PhaseStarted,
)
from cab_check.report import PROVISIONAL_TEXT
from cab_check.report.axes import AxisTile, axis_tiles

PROVISIONAL = PROVISIONAL_TEXT.upper()
PHASE_TITLES = {
    "images": "Images",
    "preflight": "Preflight",
    "setup": "Task setup",
    "agent": "Agent run",
    "grade": "Grading",
}


class ProgressView:
    """Turns engine events into a spinner line per phase, with the latest output beneath it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = Live(console=console, refresh_per_second=8, transient=True)
        self.phase: str | None = None
        self.phase_started = 0.0
        self.detail = ""
        self.latest = ""
        self.calls = 0

    def __enter__(self) -> ProgressView:
        self.live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.live.__exit__(kind, error, trace)

    def handle(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            self.phase, self.detail, self.latest = event.phase, event.detail, ""
            self.phase_started = time.monotonic()
        elif isinstance(event, PhaseProgress):
            self.latest = event.message
        elif isinstance(event, AgentOutput):
            for line in event.text.splitlines():
                if line.strip():
                    self.console.print(Text("  │ " + line, style="dim"), highlight=False)
                    self.latest = line
        elif isinstance(event, ModelCallRecorded):
            self.calls += 1
            call = event.call
            self.latest = (
                f"model call {call.index + 1}: HTTP {call.status}, {call.prompt_tokens}+{call.completion_tokens} "
                f"tokens, {call.latency_ms / 1000:.1f} s"
            )
        elif isinstance(event, PhaseFinished):
            elapsed = time.monotonic() - self.phase_started
            mark = "[green]✓[/]" if event.ok else "[yellow]![/]"
            title = PHASE_TITLES.get(event.phase, event.phase)
            detail = f" — {event.detail}" if event.detail else ""
            self.console.print(f"{mark} {title} [dim]({elapsed:.1f} s){detail}[/]", highlight=False)
            self.phase = None
        elif isinstance(event, CellFinished):
            self.phase = None
        self.live.update(self._render())

    def _render(self) -> Group:
        if self.phase is None:
            return Group()
        elapsed = time.monotonic() - self.phase_started
        title = PHASE_TITLES.get(self.phase, self.phase)
        line = Text(f" {title} {elapsed:.0f} s", style="bold")
        if self.detail:
            line.append(f" — {self.detail}", style="dim")
        latest = Text("   " + self.latest[-110:], style="dim") if self.latest else Text("")
        return Group(Spinner("dots", text=line), latest)


def _bar(tile: AxisTile, width: int = 20) -> Text:
    goodness = tile.goodness
    if tile.fraction is None or goodness is None:
        return Text("")
    filled = round(tile.fraction * width)
    style = "green" if goodness >= 0.75 else "yellow" if goodness >= 0.4 else "red"
    return Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")


def render_result(console: Console, result: CellResult) -> None:
    table = Table(show_header=True, header_style="bold", expand=False, box=None, padding=(0, 2))
    table.add_column("Axis")
    table.add_column("Score", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("Detail", style="dim")
    for tile in axis_tiles(result):
        style = "bold" if tile.key == "composite" else ""
        table.add_row(Text(tile.label, style=style), Text(tile.value, style=style), _bar(tile), tile.detail)

    identity = Table.grid(padding=(0, 2))
    identity.add_column(style="dim")
    identity.add_column()
    identity.add_row("cell", result.cell_id)
    identity.add_row("model", result.model_label + (f" at {result.endpoint}" if result.endpoint else ""))
    identity.add_row("image", f"{result.container_image} ({(result.image_digest or '')[:19]})")
    identity.add_row("agent exit", f"{result.exit_code}" + (" (timed out)" if result.timed_out else ""))
    for report in result.token_reports:
        approx = "" if report.exact else " (abbreviated by the TUI)"
        identity.add_row(
            f"tokens ({report.source})",
            f"{report.prompt_tokens:,} prompt + {report.completion_tokens:,} completion{approx}",
        )
    identity.add_row("result", f"cab show {result.run_id}")
    if result.recording:
        identity.add_row("recording", result.recording)

    parts: list[RenderableType] = [table]
    if result.composites_differ:
        assert result.corrected is not None
        parts += [
            Text(""),
            Text(f"cab-check's own composite {result.own_composite:.3f} — {result.corrected.reason}", style="yellow"),
        ]
    parts += [Text(""), identity]
    if result.l15 is not None:
        l15 = result.l15
        parts += [
            Text(""),
            Text(
                f"L15 constraints {l15.honored}/{l15.declared} honored (not in the composite, as CAB)",
                style="bold",
            ),
        ]
        parts += [
            Text(
                f"{'✓' if v.honored else '✗'} {v.constraint} — {v.detail}",
                style="green" if v.honored else "red",
            )
            for v in l15.verdicts
        ]
    if result.notes:
        parts += [Text(""), Text("Notes", style="bold")]
        parts += [Text(f"• {note}") for note in result.notes]
    title = f"[bold]{PROVISIONAL}[/] · {result.tui} × {result.model_label} · {result.task}"
    verdict = "[green]passed[/]" if result.passed else "[red]did not pass[/]"
    console.print(Panel(Group(*parts), title=title, subtitle=verdict, border_style="yellow", expand=False))
