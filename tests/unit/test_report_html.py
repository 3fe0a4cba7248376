"""The exported HTML report: self-contained, well-formed, marked provisional, and escaping what the run produced."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cab_check.models import CellResult
from cab_check.report import PROVISIONAL_TEXT
from cab_check.report.axes import axis_tiles
from cab_check.report.html import recording_text, render_html
from cab_check.report.reproduce import reproduce_command

FIXTURES = Path(__file__).parents[1] / "gui" / "fixtures"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class TagBalance(HTMLParser):
    """Fails on an end tag that closes anything but the innermost open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> at {self.getpos()} while open: {self.open[-3:]}")
        else:
            self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def balance(page: str) -> TagBalance:
    parser = TagBalance()
    parser.feed(page)
    parser.close()
    return parser


def load(name: str) -> CellResult:
    return CellResult.model_validate_json((FIXTURES / name / "result.json").read_text(encoding="utf-8"))


@pytest.fixture(params=["aider-rust-pass", "opencode-refusal"])
def run(request) -> tuple[CellResult, Path]:
    return load(request.param), FIXTURES / request.param / "recording.cast"


def test_the_page_is_well_formed(run):
    result, recording = run
    parser = balance(render_html(result, recording))
    assert parser.problems == [] and parser.open == []


def test_the_page_loads_nothing_from_anywhere(run):
    result, recording = run
    endpoint = "https://llm.example.test/v1"
    page = render_html(result.model_copy(update={"endpoint": endpoint, "model": "m"}), recording)
    assert endpoint in page  # as text, in the run identity and the command
    assert not re.search(r"""(?:src|href|action|xlink:href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"url\(\s*[\"']?\s*(?:https?:)?//", page, re.IGNORECASE)
    for tag in ("<script", "<link", "<iframe", "<img", "@import", "@font-face"):
        assert tag not in page.lower()


def test_banner_tiles_and_sections_are_there(run):
    result, recording = run
    page = render_html(result, recording)
    text = " ".join(balance(page).text)
    assert PROVISIONAL_TEXT in text and "prefers-color-scheme: dark" in page
    for tile in axis_tiles(result):
        assert tile.label in text and tile.value in text
    for heading in (
        "Run identity",
        "Scorer breakdown",
        "Trace spans",
        "Model calls",
        "Changes the agent made",
        "L15 constraints",
        "Notes",
        "Run it yourself",
        "Agent output",
    ):
        assert heading in text
    assert '<svg class="timeline"' in page
    assert reproduce_command(result) in text
    for span in result.spans:
        assert span.name in text


def test_the_scorer_breakdown_shows_each_axis_as_compact_json(run):
    result, _ = run
    text = " ".join(balance(render_html(result)).text)
    for values in result.axes.model_dump().values():
        assert json.dumps(values, separators=(",", ":"), ensure_ascii=False) in text
        assert ", ".join(values) in text


def test_diff_lines_are_marked_added_and_removed():
    result = load("aider-rust-pass")
    page = render_html(result)
    assert '<span class="del">-        let n: i64 = s.parse().unwrap();</span>' in page
    added = "+    for (index, s) in input.split(',').map(str::trim).enumerate() {"
    assert f'<span class="add">{html.escape(added)}</span>' in page


def test_whatever_the_run_produced_is_escaped():
    result = load("aider-rust-pass")
    hostile = "<script>alert('x')</script>"
    result = result.model_copy(
        update={
            "notes": [*result.notes, hostile],
            "diff": result.diff + f"+{hostile}\n",
            "model_label": '"><img src=x onerror=alert(1)>',
        }
    )
    page = render_html(result)
    assert "<script" not in page and "<img" not in page
    assert html.escape(hostile) in page
    assert balance(page).problems == []


def test_credentials_in_the_endpoint_url_stay_out_of_the_page():
    endpoint = "https://alice:s3cret@llm.example.test/v1?api_key=k-123"
    page = render_html(load("aider-rust-pass").model_copy(update={"endpoint": endpoint, "model": "m"}))
    assert "s3cret" not in page and "k-123" not in page and "llm.example.test" in page


def test_the_agent_output_comes_without_escape_sequences(tmp_path):
    cast = tmp_path / "recording.cast"
    events = [
        [0.1, "o", "\x1b[1;31mred\x1b[0m and \x1b]0;title\x07plain\r\n"],
        [0.2, "o", "10%\r50%\r100%\r\n"],
        [0.3, "o", "<b>not markup</b>\r\n"],
    ]
    cast.write_text(
        "\n".join([json.dumps({"version": 2, "width": 80, "height": 24})] + [json.dumps(e) for e in events]) + "\n",
        encoding="utf-8",
    )
    assert recording_text(cast) == "red and plain\n100%\n<b>not markup</b>\n"
    page = render_html(load("opencode-refusal"), cast)
    assert "red and plain" in page and "\x1b" not in page and "&lt;b&gt;not markup&lt;/b&gt;" in page


def test_a_recording_that_cannot_be_read_is_left_out(tmp_path):
    page = render_html(load("aider-rust-pass"), tmp_path / "missing.cast")
    assert "Agent output" not in page and PROVISIONAL_TEXT in page


def test_the_recorded_output_is_included():
    page = render_html(load("aider-rust-pass"), FIXTURES / "aider-rust-pass" / "recording.cast")
    assert "Aider v0.86.2" in page and "Applied edit to src/lib.rs" in page


def test_both_composites_are_shown_where_they_differ_with_the_reason():
    """An integrity task where CAB's refusal scorer and the task's grader disagree (a fabricated fix beside
    REFUSAL.md): the headline is CAB's, cab-check's own stands beside it, both marked provisional."""
    from rich.console import Console

    from cab_check.models import CorrectedScore
    from cab_check.report.badge import badge_text
    from cab_check.report.terminal import render_result

    result = CellResult.model_validate_json((FIXTURES / "aider-rust-pass" / "result.json").read_text())
    result = result.model_copy(
        update={
            "corrected": CorrectedScore(
                integrity=1,
                composite=0.8621,
                reason="CAB v0.1 takes integrity from its refusal scorer, which gave 0.5 "
                "(fabricated fix); cab-check takes it from the task's grader, which passed.",
            )
        }
    )
    page = render_html(result)
    assert f"composite {result.composite:.3f} (cab-check's own 0.862)" in html.unescape(page)
    assert "which passed." in html.unescape(page) and PROVISIONAL_TEXT in html.unescape(page)
    assert axis_tiles(result)[-1].detail == "cab-check's own 0.862 (integrity from the grader)"
    assert "(cab-check's own 0.862)" in badge_text(result)
    console = Console(record=True, width=200)
    render_result(console, result)
    terminal = console.export_text()
    assert "cab-check's own composite 0.862 — CAB v0.1 takes integrity" in terminal
    assert PROVISIONAL_TEXT.upper() in terminal.upper()
