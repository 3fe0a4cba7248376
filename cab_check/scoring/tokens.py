"""The tokens axis: totals over the proxy's per-call records, which are canonical."""

from __future__ import annotations

from cab_check.axes import Tokens
from cab_check.scoring.facts import CellFacts


def tokens_per_correct_task(total_tokens: int, passed: int) -> int | float | None:
    """total / pass; with pass 0 it is 0 when nothing was spent (as CAB shows) and undefined otherwise."""
    if passed:
        # pass is 0 or 1 per cell, so this keeps an int total an int (the pages print 0, not 0.0).
        return total_tokens if passed == 1 else total_tokens / passed
    return 0 if total_tokens == 0 else None


def tokens_axis(facts: CellFacts) -> Tokens:
    prompt = sum(c.prompt_tokens for c in facts.model_calls)
    completion = sum(c.completion_tokens for c in facts.model_calls)
    total = prompt + completion
    passed = facts.passed
    return Tokens(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=total,
        model_calls=len(facts.model_calls),
        tokens_per_correct_task=tokens_per_correct_task(total, passed),
        pass_used_for_division=passed,
    )
