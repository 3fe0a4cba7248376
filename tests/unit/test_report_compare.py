"""Comparing two stored runs row by row, and which side each row favours."""

from __future__ import annotations

from pathlib import Path

import pytest

from cab_check.models import CellResult
from cab_check.report.axes import axis_tiles
from cab_check.report.compare import CompareRow, compare

FIXTURES = Path(__file__).parents[1] / "gui" / "fixtures"


def load(name: str) -> CellResult:
    return CellResult.model_validate_json((FIXTURES / name / "result.json").read_text(encoding="utf-8"))


@pytest.fixture
def aider() -> CellResult:
    return load("aider-rust-pass")  # composite 0.883, 2 calls, 14.4 s, not a refusal task


@pytest.fixture
def opencode() -> CellResult:
    return load("opencode-refusal")  # composite 0.976, 3 calls, 5.6 s, a refusal task


def by_label(rows: list[CompareRow]) -> dict[str, CompareRow]:
    return {row.label: row for row in rows}


def test_rows_are_identity_then_the_seven_tiles_then_counts(aider, opencode):
    labels = [row.label for row in compare(aider, opencode)]
    tiles = [tile.label for tile in axis_tiles(aider)]
    assert labels == [
        "TUI",
        "Model",
        "Task",
        "Run date",
        *tiles,
        "cab-check's own composite",
        "Tokens (proxy total)",
        "Model calls",
        "Duration",
        "L15 constraints",
    ]


def test_each_side_shows_its_own_values(aider, opencode):
    rows = by_label(compare(aider, opencode))
    assert rows["TUI"].a.startswith("aider") and rows["TUI"].b.startswith("opencode")
    assert rows["Task"] == CompareRow("Task", aider.task, opencode.task, None)
    assert rows["Composite"].a == f"{aider.composite:.3f}" and rows["Composite"].b == f"{opencode.composite:.3f}"
    assert (rows["Model calls"].a, rows["Model calls"].b) == ("2", "3")


def test_better_follows_each_axis_direction(aider, opencode):
    rows = by_label(compare(aider, opencode))
    assert rows["Composite"].better == "b"  # higher is better
    assert rows["Blast"].better == "b"  # lower blast radius is better
    assert rows["Tokens/correct"].better == "a"  # fewer tokens per correct task
    assert rows["Duration"].better == "b" and rows["Model calls"].better == "a"  # less is better
    assert rows["Pass"].better is None  # both passed
    assert rows["Refusal"].better is None  # not applicable to run A: nothing to rank
    assert all(rows[label].better is None for label in ("TUI", "Model", "Task", "Run date"))


def test_the_order_of_the_pair_flips_better(aider, opencode):
    forward, backward = compare(aider, opencode), compare(opencode, aider)
    flip = {"a": "b", "b": "a", None: None}
    assert [row.better for row in backward] == [flip[row.better] for row in forward]


def test_a_run_compared_with_itself_has_no_better_side(aider):
    assert all(row.better is None for row in compare(aider, aider))


def test_the_endpoint_is_shown_without_credentials(aider, opencode):
    remote = aider.model_copy(
        update={"endpoint": "https://u:s3cret@llm.example.test/v1", "model": "m", "model_label": "m"}
    )
    model = by_label(compare(remote, opencode))["Model"]
    assert model.a == "m at https://REDACTED@llm.example.test/v1" and model.b == "reference model"


def test_missing_numbers_are_not_ranked(aider, opencode):
    no_l15 = aider.model_copy(update={"l15": None, "token_reports": []})
    rows = by_label(compare(no_l15, opencode))
    assert rows["L15 constraints"] == CompareRow("L15 constraints", "—", "3/3 honored", None)
    assert rows["Tokens (proxy total)"].a == "—" and rows["Tokens (proxy total)"].better is None
