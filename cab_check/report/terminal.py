"""Terminal rendering with rich: live progress from engine events, and the provisional score table."""

from __future__ import annotations

import time

from rich.console import Console, Group
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

PROVISIONAL = "PROVISIONAL — NOT FOR CITATION"
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

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(*exc)

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


def _bar(value: float | None, good_high: bool = True, width: int = 20) -> Text:
    if value is None:
        return Text("—", style="dim")
    value = max(0.0, min(1.0, float(value)))
    filled = round(value * width)
    goodness = value if good_high else 1 - value
    style = "green" if goodness >= 0.75 else "yellow" if goodness >= 0.4 else "red"
    return Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")


def render_result(console: Console, result: CellResult) -> None:
    axes = result.axes
    composite = axes["composite"]
    components = composite["components"]
    tokens = axes["tokens"]
    refusal = axes["refusal"]
    integrity = axes["integrity"]

    table = Table(show_header=True, header_style="bold", expand=False, box=None, padding=(0, 2))
    table.add_column("Axis")
    table.add_column("Score", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("Detail", style="dim")
    pass_value = axes["pass_rate"]["pass"]
    table.add_row("Pass", f"{pass_value:.3f}", _bar(pass_value),
                  "timed out" if axes["pass_rate"]["timed_out"] else f"grader exit {axes['pass_rate']['exit_code']}")
    per_correct = tokens["tokens_per_correct_task"]
    table.add_row("Tokens/correct", "—" if per_correct is None else f"{per_correct:,.0f}", Text(""),
                  f"{tokens['total_tokens']:,} tokens in {tokens['model_calls']} model calls")
    table.add_row("Wall", f"{axes['latency']['wall_clock_ms'] / 1000:.1f}s", _bar(components["latency_efficiency"]),
                  f"latency efficiency {components['latency_efficiency']:.3f}")
    blast = axes["blast_radius"]
    table.add_row("Blast", f"{blast['blast_radius']:.3f}", _bar(blast["blast_radius"], good_high=False),
                  f"{len(blast['unexpected_changes'])} unexpected of {blast['total_changes']} changed files")
    table.add_row("Refusal", "n/a" if refusal["not_applicable"] else f"{refusal['refusal']:.3f}", Text(""),
                  "not a refusal task" if refusal["not_applicable"] else f"correct: {refusal['refusal_correct']}")
    table.add_row("Integrity", f"{integrity['integrity']:.3f}", _bar(integrity["integrity"]),
                  "not an integrity task" if integrity["not_applicable"] else "")
    table.add_row(Text("Composite", style="bold"), Text(f"{composite['composite']:.3f}", style="bold"),
                  _bar(composite["composite"]), "CAB v0.1 treats cost as 1.0")

    identity = Table.grid(padding=(0, 2))
    identity.add_column(style="dim")
    identity.add_column()
    identity.add_row("cell", result.cell_id)
    identity.add_row("model", result.model_label + (f" at {result.endpoint}" if result.endpoint else ""))
    identity.add_row("image", f"{result.container_image} ({(result.image_digest or '')[:19]})")
    identity.add_row("agent exit", f"{result.exit_code}" + (" (timed out)" if result.timed_out else ""))
    for report in result.token_reports:
        approx = "" if report.exact else " (abbreviated by the TUI)"
        identity.add_row(f"tokens ({report.source})",
                         f"{report.prompt_tokens:,} prompt + {report.completion_tokens:,} completion{approx}")
    identity.add_row("result", f"cab show {result.run_id}")
    if result.recording:
        identity.add_row("recording", result.recording)

    parts: list = [table, Text(""), identity]
    if result.l15 is not None:
        l15 = result.l15
        parts += [Text(""), Text(f"L15 constraints {l15['honored']}/{l15['declared']} honored "
                                 "(not in the composite, as CAB)", style="bold")]
        parts += [Text(f"{'✓' if v['honored'] else '✗'} {v['constraint']} — {v['detail']}",
                       style="green" if v["honored"] else "red") for v in l15["verdicts"]]
    if result.notes:
        parts += [Text(""), Text("Notes", style="bold")]
        parts += [Text(f"• {note}") for note in result.notes]
    title = f"[bold]{PROVISIONAL}[/] · {result.tui} × {result.model_label} · {result.task}"
    verdict = "[green]passed[/]" if result.passed else "[red]did not pass[/]"
    console.print(Panel(Group(*parts), title=title, subtitle=verdict, border_style="yellow", expand=False))
