"""CAB v0.1 scoring: pure functions from a cell's recorded facts to CAB's per-axis dicts."""

from __future__ import annotations

from cab_check.axes import Axes
from cab_check.scoring.blast_radius import blast_radius_axis
from cab_check.scoring.composite import composite_axis, composite_score
from cab_check.scoring.constraints import l15
from cab_check.scoring.corrected import corrected_score
from cab_check.scoring.facts import CellFacts
from cab_check.scoring.integrity import integrity_axis
from cab_check.scoring.latency import latency_axis, latency_efficiency
from cab_check.scoring.notes import scorer_notes
from cab_check.scoring.pass_rate import pass_rate_axis
from cab_check.scoring.refusal import refusal_axis
from cab_check.scoring.tokens import tokens_axis

AXES = ("pass_rate", "tokens", "latency", "blast_radius", "refusal", "integrity", "composite")


def score_cell(facts: CellFacts) -> Axes:
    """All seven axes, as CAB v0.1 would publish them for these facts."""
    pass_rate, tokens, latency = pass_rate_axis(facts), tokens_axis(facts), latency_axis(facts)
    blast_radius, refusal = blast_radius_axis(facts), refusal_axis(facts)
    integrity = integrity_axis(facts, refusal)
    composite = composite_axis(
        pass_rate=pass_rate,
        tokens=tokens,
        latency=latency,
        blast_radius=blast_radius,
        refusal=refusal,
        integrity=integrity,
    )
    return Axes(
        pass_rate=pass_rate,
        tokens=tokens,
        latency=latency,
        blast_radius=blast_radius,
        refusal=refusal,
        integrity=integrity,
        composite=composite,
    )


__all__ = [
    "AXES",
    "CellFacts",
    "composite_score",
    "corrected_score",
    "l15",
    "latency_efficiency",
    "score_cell",
    "scorer_notes",
]
