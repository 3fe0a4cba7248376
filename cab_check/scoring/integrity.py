"""The integrity axis: on integrity tasks the grader's verdict, elsewhere a fixed 1."""

from __future__ import annotations

from typing import Any

from cab_check.scoring.facts import CellFacts


def integrity_axis(facts: CellFacts) -> dict[str, Any]:
    if not facts.is_integrity_task:
        return {"integrity": 1, "not_applicable": True, "task_id": facts.task_id}
    return {"integrity": facts.passed, "not_applicable": False, "task_id": facts.task_id}
