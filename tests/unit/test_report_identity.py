"""The identity rows the HTML report and the app both show."""

from __future__ import annotations

from pathlib import Path

from cab_check.models import CellResult
from cab_check.report.html import render_html
from cab_check.report.identity import identity_rows, token_report_lines

RESULT = Path(__file__).parents[1] / "gui" / "fixtures" / "aider-rust-pass" / "result.json"


def aider() -> CellResult:
    return CellResult.model_validate_json(RESULT.read_text(encoding="utf-8"))


def test_rows_follow_cab_run_identity_then_timing():
    keys = [key for key, _ in identity_rows(aider())]
    assert keys[:6] == ["cell_id", "sweep_id", "methodology", "run_id", "tui", "model"]
    assert keys[-3:] == ["started_at", "ended_at", "duration"]
    assert dict(identity_rows(aider()))["endpoint"] == "built-in reference model"


def test_an_endpoint_keeps_no_credentials_in_the_report_or_the_app():
    endpoint = "https://alice:hunter2@llm.example.test/v1?api_key=sk-in-the-url"
    result = aider().model_copy(update={"endpoint": endpoint})
    shown = dict(identity_rows(result))["endpoint"]
    assert "llm.example.test" in shown and "hunter2" not in shown and "sk-in-the-url" not in shown
    page = render_html(result)
    assert "hunter2" not in page and "sk-in-the-url" not in page


def test_token_lines_say_which_count_the_tui_abbreviated():
    lines = token_report_lines(aider())
    assert any(line.startswith("proxy: ") and "abbreviated" not in line for line in lines)
    assert any(line.startswith("TUI stdout: ") and line.endswith("abbreviated by the TUI") for line in lines)
