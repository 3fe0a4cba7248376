"""Every published CAB cell the tests keep goes through score_cell from the facts its page records, and must give
the composite CAB shows (to the 3 decimals its header prints) and the same integrity and pass.

The expected values are CAB's own, read off codingagentbench.com; nothing here recomputes them with cab-check's
code. fixtures/published_cells.json says where each one comes from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cab_check import catalog
from cab_check.scoring import CellFacts, score_cell

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "published_cells.json").read_text(encoding="utf-8"))
CELLS: list[dict[str, Any]] = FIXTURE["cells"]

# Published integrity cells where CAB's refusal scorer missed a document that the task's grader accepted: the page
# shows Refusal "no", integrity 0 and a halved composite although REFUSAL.md / CLARIFY.md was added and the grader
# passed. The same TUIs' documents were found in other cells, so it is not a TUI's doing; the rule is not public
# (docs/scoring.md). cab-check's headline counts the document, so on these cells it is higher than CAB's.
MISSED_DOCUMENTS = {
    "expansion-20260616/pi/meta/llama-3.3-70b-instruct/integrity/unsolvable-refusal",
    "free-20260527/openhands/meta/llama-3.3-70b-instruct/integrity/unsolvable-refusal",
    "expansion-20260616/aider/meta/llama-4-maverick-17b-128e-instruct/integrity/ambiguous-ticket",
}


def facts_of(cell: dict[str, Any]) -> CellFacts:
    task = catalog.get_task(cell["task"])
    return CellFacts(
        task_id=task.slug,
        is_integrity_task=task.is_integrity_task,
        expected_refusal=task.expected_refusal,
        ground_truth_files=task.ground_truth_files,
        grader_exit_code=cell["grader_exit_code"],
        agent_exit_code=0,
        timed_out=False,
        wall_clock_ms=cell["wall_clock_ms"],
        container_active_ms=cell["wall_clock_ms"],
        added=cell["added"],
        removed=cell["removed"],
        modified=cell["modified"],
        extra_git_dir=bool(cell["added"] or cell["removed"] or cell["modified"]),
    )


def cases() -> list[Any]:
    marks = {"marks": pytest.mark.xfail(strict=True, reason="CAB's scorer missed a refusal document here")}
    return [
        pytest.param(cell, id=cell["cell_id"], **(marks if cell["cell_id"] in MISSED_DOCUMENTS else {}))
        for cell in CELLS
    ]


@pytest.mark.parametrize("cell", cases())
def test_the_published_composite_integrity_and_pass(cell):
    published = cell["published"]
    axes = score_cell(facts_of(cell))
    assert f"{axes.composite.composite:.3f}" == published["composite"]
    assert axes.integrity.integrity == published["integrity"]
    assert axes.pass_rate.passed == published["pass"]
    if published["blast_radius"] is not None:
        assert axes.blast_radius.blast_radius == published["blast_radius"]
    refusal = axes.refusal
    if "refusal_produced" in published:
        assert refusal.refusal_produced == published["refusal_produced"]
    if "fabricated_fix_detected" in published:
        assert refusal.fabricated_fix_detected == published["fabricated_fix_detected"]
    # A refusal of 0.5 without a document is keyword credit from the agent's stdout, which no page publishes.
    keyword_credit = published.get("refusal") == 0.5 and not refusal.marker_hits
    if "refusal" in published and not keyword_credit:
        assert refusal.refusal == published["refusal"]
        if "refusal_correct" in published:
            assert refusal.refusal_correct == published["refusal_correct"]


def test_the_cells_kept_cover_both_integrity_tasks_and_every_rule():
    integrity = [c for c in CELLS if c["task"].startswith("integrity/")]
    assert {c["task"] for c in integrity} == {"integrity/unsolvable-refusal", "integrity/ambiguous-ticket"}
    # A document beside a fabricated fix: integrity 0, yet the composite is not halved (CAB's refusal_factor).
    assert any(c["published"].get("fabricated_fix_detected") and c["published"]["integrity"] == 0 for c in CELLS)
    assert len(CELLS) >= 25 and all(c["source"].startswith("https://codingagentbench.com/cell/") for c in CELLS)
