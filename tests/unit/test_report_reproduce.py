"""The `cab check` command that reproduces a stored run: what it carries, and what it never carries."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from cab_check.catalog import get_task
from cab_check.cli import build_parser
from cab_check.models import CellResult
from cab_check.report.reproduce import reproduce_command

FIXTURES = Path(__file__).parents[1] / "gui" / "fixtures"  # real runs recorded by cab-check


@pytest.fixture
def reference_run() -> CellResult:
    return CellResult.model_validate_json((FIXTURES / "aider-rust-pass" / "result.json").read_text(encoding="utf-8"))


def with_agent_timeout(result: CellResult, timeout_s: int) -> CellResult:
    spans = [
        span.model_copy(update={"attrs": {**span.attrs, "timeout_s": timeout_s}})
        if span.kind == "adapter_run"
        else span
        for span in result.spans
    ]
    return result.model_copy(update={"spans": spans})


def parsed(command: str):
    argv = shlex.split(command)
    assert argv[0] == "cab"
    return build_parser().parse_args(argv[1:])


def test_a_reference_model_run_needs_only_tui_and_task(reference_run):
    assert reference_run.spans  # its agent ran with the task's own time limit
    assert reproduce_command(reference_run) == "cab check --tui aider --task polyglot/rust-error-handling"


def test_an_endpoint_run_names_endpoint_and_model_and_parses(reference_run):
    result = reference_run.model_copy(update={"endpoint": "http://localhost:8000/v1", "model": "qwen 3/coder"})
    args = parsed(reproduce_command(result))
    assert (args.command, args.tui, args.task) == ("check", "aider", "polyglot/rust-error-handling")
    assert (args.endpoint, args.model) == ("http://localhost:8000/v1", "qwen 3/coder")  # quoted, not split
    assert args.image is None and args.timeout is None


def test_credentials_in_the_endpoint_url_are_redacted(reference_run):
    endpoint = "https://alice:s3cret@llm.example.test/v1?api_key=k-123&deployment=eu&accessToken=t-456"
    command = reproduce_command(reference_run.model_copy(update={"endpoint": endpoint, "model": "m"}))
    for secret in ("alice", "s3cret", "k-123", "t-456"):
        assert secret not in command
    url = parsed(command).endpoint
    assert url.startswith("https://REDACTED@llm.example.test/v1?")
    assert "api_key=REDACTED" in url and "accessToken=REDACTED" in url and "deployment=eu" in url


def test_an_image_of_the_users_own_is_passed_with_image(reference_run):
    foreign = reference_run.model_copy(update={"container_image": "registry.local/my-aider:1.2"})
    assert parsed(reproduce_command(foreign)).image == "registry.local/my-aider:1.2"
    assert "--image" not in reproduce_command(reference_run)  # cab-check/… is built by cab-check itself


def test_a_changed_time_limit_is_kept_and_the_default_is_left_out(reference_run):
    default = get_task(reference_run.task).timeout_s
    assert "--timeout" not in reproduce_command(with_agent_timeout(reference_run, default))
    assert parsed(reproduce_command(with_agent_timeout(reference_run, 42))).timeout == 42


def test_a_task_folder_that_is_gone_keeps_the_recorded_time_limit(reference_run, tmp_path):
    gone = with_agent_timeout(reference_run.model_copy(update={"task": str(tmp_path / "removed-task")}), 600)
    args = parsed(reproduce_command(gone))
    assert args.task == str(tmp_path / "removed-task") and args.timeout == 600
