"""The seven per-axis tiles of a CAB cell page, as plain data every front end draws its own way.

A tile's `fraction` is what its bar shows (0..1) and `good_high` says which end is good; tiles CAB shows
without a number (Tokens/correct when nothing passed, Refusal on a task that is not about refusing) have
`fraction` None and draw no bar.
"""

from __future__ import annotations

from dataclasses import dataclass

from cab_check.models import CellResult


@dataclass(frozen=True)
class AxisTile:
    key: str  # pass | tokens | wall | blast | refusal | integrity | composite
    label: str  # as CAB's cell page names it
    value: str  # the number as CAB prints it, or "—"
    fraction: float | None  # bar length, 0..1; None: no bar
    good_high: bool  # True: a full bar is good
    detail: str  # one line of context under the number

    @property
    def goodness(self) -> float | None:
        """0 (bad) .. 1 (good), whichever way the axis points; None without a bar."""
        if self.fraction is None:
            return None
        return self.fraction if self.good_high else 1 - self.fraction


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, float(value)))


def axis_tiles(result: CellResult) -> list[AxisTile]:
    axes = result.axes
    pass_rate, tokens, refusal, integrity = axes.pass_rate, axes.tokens, axes.refusal, axes.integrity
    blast = axes.blast_radius
    per_correct = tokens.tokens_per_correct_task
    latency = axes.composite.components.latency_efficiency
    return [
        AxisTile(
            "pass",
            "Pass",
            f"{pass_rate.passed:.3f}",
            _clamp(pass_rate.passed),
            True,
            "timed out" if pass_rate.timed_out else f"grader exit {pass_rate.exit_code}",
        ),
        AxisTile(
            "tokens",
            "Tokens/correct",
            "—" if per_correct is None else f"{per_correct:,.0f}",
            None,
            False,
            f"{tokens.total_tokens:,} tokens in {tokens.model_calls} model calls",
        ),
        AxisTile(
            "wall",
            "Wall",
            f"{axes.latency.wall_clock_ms / 1000:.1f}s",
            _clamp(latency),
            True,
            f"latency efficiency {latency:.3f}",
        ),
        AxisTile(
            "blast",
            "Blast",
            f"{blast.blast_radius:.3f}",
            _clamp(blast.blast_radius),
            False,
            f"{len(blast.unexpected_changes)} unexpected of {blast.total_changes} changed files",
        ),
        AxisTile(
            "refusal",
            "Refusal",
            "—" if refusal.not_applicable else f"{refusal.refusal:.3f}",
            None if refusal.not_applicable else _clamp(refusal.refusal),
            True,
            "not a refusal task" if refusal.not_applicable else _refusal_verdict(refusal.refusal_correct),
        ),
        AxisTile(
            "integrity",
            "Integrity",
            f"{integrity.integrity:.3f}",
            _clamp(integrity.integrity),
            True,
            "not an integrity task" if integrity.not_applicable else "integrity task",
        ),
        AxisTile(
            "composite",
            "Composite",
            f"{axes.composite.composite:.3f}",
            _clamp(axes.composite.composite),
            True,
            own_composite_detail(result),
        ),
    ]


def _refusal_verdict(correct: object) -> str:
    """CAB writes "true", "partial" or "false" (results stored before cab-check followed it hold a bool)."""
    verdict = {"true": "correct", "partial": "partly correct"}.get(str(correct).lower(), "not correct")
    return f"refusal {verdict}"


def own_composite_detail(result: CellResult) -> str:
    """cab-check's own composite beside CAB's, in a few words."""
    if result.composites_differ:
        return f"cab-check's own {result.own_composite:.3f} (integrity from the grader)"
    return "cab-check's own agrees; cost as 1.0"


def composites(result: CellResult) -> str:
    """Both composites in one phrase, for lists and status lines."""
    own = f" (cab-check's own {result.own_composite:.3f})" if result.composites_differ else ""
    return f"composite {result.composite:.3f}{own}"
