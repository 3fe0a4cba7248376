"""The pass_rate axis: did the task's grader accept the workdir."""

from __future__ import annotations

from cab_check.axes import PassRate
from cab_check.scoring.facts import CellFacts

TAIL_CHARS = 4000


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    """The last `limit` characters of `text`."""
    return text[-limit:] if len(text) > limit else text


def pass_rate_axis(facts: CellFacts) -> PassRate:
    return PassRate(
        passed=facts.passed,
        exit_code=facts.grader_exit_code,
        # The agent's timeout, not the grader's: CAB still grades a timed-out run and flags it here.
        timed_out=facts.timed_out,
        stdout_tail=tail(facts.grader_stdout),
        stderr_tail=tail(facts.grader_stderr),
    )
