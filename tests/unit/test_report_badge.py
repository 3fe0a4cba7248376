"""The shareable badge: a valid SVG that says, visibly and to screen readers, that the score is provisional."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cab_check.models import CellResult
from cab_check.report.badge import badge_svg

FIXTURES = Path(__file__).parents[1] / "gui" / "fixtures"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def passed_run() -> CellResult:
    return CellResult.model_validate_json((FIXTURES / "aider-rust-pass" / "result.json").read_text(encoding="utf-8"))


def failed(result: CellResult) -> CellResult:
    pass_rate = result.axes.pass_rate.model_copy(update={"passed": 0})
    return result.model_copy(update={"axes": result.axes.model_copy(update={"pass_rate": pass_rate})})


def visible_text(root: ET.Element) -> str:
    return " ".join(text.text or "" for text in root.iter(f"{SVG}text"))


def test_the_badge_is_valid_svg_that_says_provisional(passed_run):
    root = ET.fromstring(badge_svg(passed_run))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert "provisional" in visible_text(root)
    assert f"composite {passed_run.composite:.3f} · pass" in visible_text(root)
    for description in (root.get("aria-label"), root.find(f"{SVG}title").text):
        assert "provisional" in description.lower() and "not for citation" in description.lower()


def test_pass_and_fail_are_coloured_apart(passed_run):
    def fills(result):
        return {rect.get("fill") for rect in ET.fromstring(badge_svg(result)).iter(f"{SVG}rect")}

    assert fills(passed_run) != fills(failed(passed_run))
    assert "· fail" in visible_text(ET.fromstring(badge_svg(failed(passed_run))))


def test_names_from_the_run_are_escaped(passed_run):
    odd = passed_run.model_copy(update={"model_label": 'm<o>d"e&l', "tui": "a'b"})
    root = ET.fromstring(badge_svg(odd))  # still well-formed XML
    assert 'm<o>d"e&l' in root.find(f"{SVG}title").text and 'm<o>d"e&l' in root.get("aria-label")


def test_the_badge_is_self_contained(passed_run):
    svg = badge_svg(passed_run)
    assert "href" not in svg and "<image" not in svg and "@import" not in svg
