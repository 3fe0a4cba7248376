"""The latency axis and CAB's latency efficiency."""

from __future__ import annotations

import math

from cab_check.axes import Latency
from cab_check.scoring.facts import CellFacts


def latency_efficiency(wall_clock_ms: float) -> float:
    """CAB's 1 / (1 + log10(1 + wall/10 s)); reproduces the published values bit for bit."""
    return 1 / (1 + math.log10(1 + wall_clock_ms / 10000))


def latency_axis(facts: CellFacts) -> Latency:
    return Latency(
        wall_clock_ms=facts.wall_clock_ms,
        container_active_ms=facts.container_active_ms,
        # sum() of no calls is the int 0, as the pages show.
        model_call_ms=sum(c.latency_ms for c in facts.model_calls),
    )
