"""The endpoint misbehaving in the middle of a real cell: HTTP 500s, 429 with Retry-After, a hang past the TUI's own
timeout, a 200 that is not JSON, a stream cut half-way, the server going away.

The upstream is the task's reference model for the first calls, so the TUI starts as it would on a good model, then
fails every call after. Whatever the TUI does about it (retry, give up, wait), the cell ends (the agent exits or
the run's timeout stops it), is graded and saved, each failed call is in the model-call table with its status and
error, the notes say in one sentence how often and how the endpoint failed, and `cab check` exits as README says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
from fake_openai import Behaviour, FakeOpenAI

from cab_check import catalog, store
from cab_check.errors import EXIT_FAILED
from cab_check.models import CellRequest, CellResult, ModelCall, TuiSpec
from cab_check.reference_model import ReferenceModel
from cab_check.run import run_cell

TASK = "polyglot/rust-error-handling"
# aider waits 600 s for an answer by default (its --timeout); the hang case gives it this much, so that within the
# run's 60 s aider gives up on a hanging call twice (its client retries at once) and a third is still waiting when
# the run's timeout stops it.
AIDER_OWN_TIMEOUT_S = 20


def faulty_upstream(good: int, fault: str) -> FakeOpenAI:
    """The task's reference model for the first `good` chat calls, then tests/fake_openai.py's `chat=fault` on every
    chat call after: "500", "429" (with Retry-After), "hang" (never answers), "html" (a 200 web page), "cut" (the
    answer breaks off: a stream after its content, a body half-way), "gone" (the server drops every connection and
    stops listening). Its `chats` counts the chat requests that reached it."""
    reference = ReferenceModel.from_task(catalog.get_task(TASK)).app
    return FakeOpenAI(Behaviour(chat=fault), backend=reference, backend_chats=good)


@dataclass(frozen=True)
class Case:
    fault: str  # the fake's chat= fault
    tui: str
    kind: str  # how the note names each failed call
    status: int  # the status every failed call is recorded with
    error: str  # how each failed call's recorded error starts
    timed_out: bool  # the run's timeout ended the cell (else the agent exited)
    good: int = 1  # calls answered well first; the next carries the fix (aider: add files, edit; pi: read, edit, done)
    timeout_s: int = 60
    first: tuple[str, int, str] | None = None  # (kind, status, error) of the first failed call, when it differs


# aider retries every failure here (its own backoff 0.25 s doubling to 32 s, each try retried twice more at once by
# its OpenAI client): still at it when the run's 60 s are up. pi gives up on a cut stream at once and exits 1.
CASES = [
    Case("500", "aider", "HTTP 500", 500, "upstream returned HTTP 500: The server had an error", True),
    Case("429", "aider", "HTTP 429", 429, "upstream returned HTTP 429: Rate limit reached", True),
    Case("hang", "aider", "abandoned by the agent", 499, "the client abandoned the call before the upstream", True),
    Case(
        "html",
        "aider",
        "not a chat completion",
        200,
        "upstream answered 200 with a body that is not a chat completion (text/html",
        True,
    ),
    Case("cut", "pi", "cut off mid-stream", 200, "upstream stream broke: ", False),
    # The call in flight when the server goes is dropped unanswered; every later one finds no server.
    Case(
        "gone",
        "aider",
        "unreachable",
        502,
        "could not reach the upstream endpoint at 127.0.0.1:",
        True,
        first=("dropped before answering", 502, "upstream dropped the connection before answering: "),
    ),
]


@pytest.fixture
def aider_own_timeout(monkeypatch):
    """aider as shipped, but giving up on an unanswered call after AIDER_OWN_TIMEOUT_S (its --timeout)."""
    shipped = catalog.get_tui

    def get_tui(name: str) -> TuiSpec:
        tui = shipped(name)
        if name != "aider":
            return tui
        at = tui.argv.index("--message")
        argv = [*tui.argv[:at], "--timeout", str(AIDER_OWN_TIMEOUT_S), *tui.argv[at:]]
        return tui.model_copy(update={"argv": argv})

    monkeypatch.setattr(catalog, "get_tui", get_tui)


def describe(result: CellResult, started: float) -> str:
    """What happened, for the test's output: the cell's end and every call as the proxy recorded it."""
    lines = [
        f"{result.tui}: {time.monotonic() - started:.0f} s in all, agent exit {result.exit_code}, "
        f"timed out {result.timed_out}, pass {result.passed}"
    ]
    t0 = result.model_calls[0].timestamp if result.model_calls else result.started_at
    for c in result.model_calls:
        lines.append(
            f"  #{c.index} +{(c.timestamp - t0).total_seconds():5.1f}s {c.latency_ms:8.0f} ms "
            f"status {c.status} stream {c.stream}: {c.error}"
        )
    return "\n".join(lines)


def assert_recorded_and_noted(result: CellResult, case: Case, leftovers) -> list[ModelCall]:
    """The checks every fault shares; returns the failed calls."""
    # Ended (as this TUI ends on this fault), graded, saved.
    assert result.timed_out is case.timed_out
    assert store.load_result(result.run_id) == result
    assert result.axes.pass_rate.exit_code is not None  # the grader ran
    assert "bad_input_does_not_panic" in result.axes.pass_rate.stdout_tail
    assert result.passed is False  # the fix is never applied: the call that carries it fails
    assert leftovers(result.run_id) == []

    # The good calls first, then the failed ones, each with its status and error.
    calls = result.model_calls
    assert [c.index for c in calls] == sorted(c.index for c in calls)
    assert all(not c.failed and c.status == 200 for c in calls[: case.good]), calls
    failed = calls[case.good :]
    assert failed and all(c.failed for c in failed), calls
    rest = failed
    if case.first is not None:
        _, status, error = case.first
        assert failed[0].status == status and failed[0].error.startswith(error), failed[0]
        rest = failed[1:]
    for call in rest:
        assert call.status == case.status and call.error and call.error.startswith(case.error), call

    # One note says it, in one sentence.
    how = (f"{case.first[0]} ×1, " if case.first else "") + f"{case.kind} ×{len(rest)}"
    note = f"The endpoint failed {len(failed)} of {len(calls)} model calls ({how}); no score is adjusted for it."
    assert note in result.notes, result.notes
    return failed


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.fault}-{c.tui}")
def test_a_failing_endpoint_mid_cell_is_recorded_graded_and_noted(case, aider_own_timeout, leftovers):
    upstream = faulty_upstream(case.good, case.fault)
    started = time.monotonic()
    with upstream.serving() as base:
        result = run_cell(
            CellRequest(
                tui=case.tui,
                task=TASK,
                endpoint=base,
                model="faulty",
                skip_handshake=True,
                timeout_s=case.timeout_s,
            )
        )
    print(describe(result, started))

    # Not passed (asserted here), so `cab check` would exit 1 as README says; the last test runs the CLI for real.
    failed = assert_recorded_and_noted(result, case, leftovers)
    # Every chat call that reached the server was recorded (gone: only the first one reached it).
    if case.fault == "gone":
        assert upstream.chats == case.good + 1
        assert len(failed) >= 2, "no call after the server went away"
    else:
        assert upstream.chats == len(result.model_calls)
    if case.fault == "hang":
        # aider gave up on hanging calls after its own timeout; the last was still waiting when the run's timeout
        # stopped aider, and is recorded all the same.
        *gave_up, stopped = failed
        assert gave_up and all(c.latency_ms >= AIDER_OWN_TIMEOUT_S * 1000 * 0.95 for c in gave_up), failed
        assert stopped.latency_ms < AIDER_OWN_TIMEOUT_S * 1000, failed


def test_cab_check_exits_1_when_the_endpoint_breaks_mid_cell(isolated_history, leftovers):
    """The real CLI, on a stream cut half-way: graded, saved, noted, and exit code 1 (it ran and did not pass)."""
    case = next(c for c in CASES if c.fault == "cut")
    upstream = faulty_upstream(case.good, case.fault)
    with upstream.serving() as base:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cab_check",
                "check",
                "--tui",
                case.tui,
                "--endpoint",
                base,
                "--model",
                "faulty",
                "--key-env",
                "CAB_TEST_KEY",
                "--skip-handshake",
                "--timeout",
                str(case.timeout_s),
                "--json",
            ],
            env={**os.environ, "CAB_TEST_KEY": "sk-test"},
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == EXIT_FAILED, done.stderr[-4000:]
    result = CellResult.model_validate(json.loads(done.stdout))
    assert (isolated_history / "runs" / result.run_id / "result.json").is_file()
    assert_recorded_and_noted(result, case, leftovers)
