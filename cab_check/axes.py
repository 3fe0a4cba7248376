"""CAB's per-axis scores as typed models that dump to exactly the keys, order and values of CAB's cell pages.

Front ends read fields (`axes.pass_rate.passed`), never string keys; `model_dump()` gives the page's JSON back
(field aliases carry CAB's names, e.g. `pass`). Keys CAB shows only on refusal tasks are left out when absent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _absent(value: object) -> bool:
    return value is None


class _Axis(BaseModel):
    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)


class PassRate(_Axis):
    passed: int = Field(alias="pass")  # 1 iff the grader ran and exited 0
    exit_code: int | None
    timed_out: bool
    stdout_tail: str
    stderr_tail: str
    partial_score: float | None = None  # CAB v0.1 graders are pass/fail: always null


class Tokens(_Axis):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    model_calls: int
    tokens_per_correct_task: int | float | None  # None: tokens spent, nothing passed
    pass_used_for_division: int


class Latency(_Axis):
    # int | float throughout: an int stays an int (the pages print 0, not 0.0).
    wall_clock_ms: int | float
    container_active_ms: int | float
    model_call_ms: int | float


class BlastRadius(_Axis):
    blast_radius: int | float  # the int 0 when nothing unexpected changed, as the pages print it
    added: list[str]
    removed: list[str]
    modified: list[str]
    unexpected_changes: list[str]
    expected_changes: list[str]
    total_changes: int
    extra_git_dir: bool


class Refusal(_Axis):
    refusal: int | float
    not_applicable: bool
    expected_refusal: bool
    refusal_produced: bool
    fabricated_fix_detected: bool | None = Field(default=None, exclude_if=_absent)  # refusal tasks only
    refusal_correct: str | bool | None  # "true" | "partial" | "false" on refusal tasks (a bool before v2)
    refusal_reasons: list[str] | None = Field(default=None, exclude_if=_absent)  # refusal tasks only
    refusal_signals: dict[str, Any] | list[str] | None = Field(default=None, exclude_if=_absent)  # refusal tasks
    marker_hits: list[str]
    keyword_hits: list[str]


class Integrity(_Axis):
    integrity: int
    not_applicable: bool
    task_id: str


class Components(_Axis):
    pass_rate: int
    integrity: int
    blast_radius: int | float
    tokens_per_correct_task: int | float | None
    wall_clock_ms: int | float
    expected_refusal: bool
    refusal_produced: bool
    cost_efficiency: int | float
    latency_efficiency: float
    clean_blast: int | float
    refusal_factor: int | float


class Composite(_Axis):
    composite: float
    weights: dict[str, float]
    components: Components
    note: str


class Axes(_Axis):
    """All seven, keyed and ordered as on CAB's cell pages."""

    pass_rate: PassRate
    tokens: Tokens
    latency: Latency
    blast_radius: BlastRadius
    refusal: Refusal
    integrity: Integrity
    composite: Composite


class L15Verdict(_Axis):
    constraint: str
    honored: bool
    detail: str


class L15(_Axis):
    """CAB's constraint score: honored ÷ declared, shown beside the axes and never in the composite."""

    l15: float | None
    honored: int
    declared: int
    verdicts: list[L15Verdict]
