"""Two stored results side by side, row by row, each row saying which run did better (if either did)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cab_check.models import CellResult
from cab_check.report.axes import AxisTile, axis_tiles
from cab_check.report.reproduce import redact_endpoint

Better = Literal["a", "b"] | None
_EQUAL = 1e-9


@dataclass(frozen=True)
class CompareRow:
    label: str
    a: str
    b: str
    better: Better  # None: equal, or nothing to rank (identity rows, an axis that does not apply)


def compare(a: CellResult, b: CellResult) -> list[CompareRow]:
    """Identity (TUI, model, task, run date), the seven axis tiles, tokens, model calls, duration and L15."""
    rows = [
        CompareRow("TUI", f"{a.tui} {a.tui_version}", f"{b.tui} {b.tui_version}", None),
        CompareRow("Model", _model(a), _model(b), None),
        CompareRow("Task", a.task, b.task, None),
        CompareRow("Run date", _date(a), _date(b), None),
    ]
    for tile_a, tile_b in zip(axis_tiles(a), axis_tiles(b), strict=True):
        rows.append(CompareRow(tile_a.label, tile_a.value, tile_b.value, _better_tile(tile_a, tile_b, a, b)))
    rows.append(
        CompareRow(
            "cab-check's own composite",
            f"{a.own_composite:.3f}",
            f"{b.own_composite:.3f}",
            _higher(a.own_composite, b.own_composite),
        )
    )
    tokens_a, tokens_b = _proxy_tokens(a), _proxy_tokens(b)
    rows += [
        CompareRow("Tokens (proxy total)", _count(tokens_a), _count(tokens_b), _lower(tokens_a, tokens_b)),
        CompareRow(
            "Model calls",
            str(len(a.model_calls)),
            str(len(b.model_calls)),
            _lower(len(a.model_calls), len(b.model_calls)),
        ),
        CompareRow("Duration", f"{a.duration:.1f} s", f"{b.duration:.1f} s", _lower(a.duration, b.duration)),
        CompareRow("L15 constraints", _l15(a), _l15(b), _higher(_l15_share(a), _l15_share(b))),
    ]
    return rows


def _model(result: CellResult) -> str:
    return result.model_label + (f" at {redact_endpoint(result.endpoint)}" if result.endpoint else "")


def _date(result: CellResult) -> str:
    return result.started_at.astimezone().strftime("%Y-%m-%d %H:%M")


def _better_tile(tile_a: AxisTile, tile_b: AxisTile, a: CellResult, b: CellResult) -> Better:
    if tile_a.goodness is not None and tile_b.goodness is not None:
        return _higher(tile_a.goodness, tile_b.goodness)
    if tile_a.key == "tokens":  # no bar, but a number where something passed: fewer tokens per correct task wins
        return _lower(a.axes.tokens.tokens_per_correct_task, b.axes.tokens.tokens_per_correct_task)
    return None


def _higher(a: float | None, b: float | None) -> Better:
    if a is None or b is None or abs(a - b) <= _EQUAL:
        return None
    return "a" if a > b else "b"


def _lower(a: float | None, b: float | None) -> Better:
    if a is None or b is None or abs(a - b) <= _EQUAL:
        return None
    return "a" if a < b else "b"


def _proxy_tokens(result: CellResult) -> int | None:
    return next((r.total_tokens for r in result.token_reports if r.source == "proxy"), None)


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _l15(result: CellResult) -> str:
    if result.l15 is None:
        return "—"
    return f"{result.l15.honored}/{result.l15.declared} honored"


def _l15_share(result: CellResult) -> float | None:
    if result.l15 is None or not result.l15.declared:
        return None
    return result.l15.honored / result.l15.declared
