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
import threading
import time
from dataclasses import dataclass

import pytest
from starlette.responses import JSONResponse, Response

from cab_check import catalog, store
from cab_check.asgi_server import AbortConnection, BackgroundServer
from cab_check.errors import EXIT_FAILED
from cab_check.models import CellRequest, CellResult, ModelCall, TuiSpec
from cab_check.reference_model import ReferenceModel
from cab_check.run import run_cell

TASK = "polyglot/rust-error-handling"
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
# aider waits 600 s for an answer by default (its --timeout); the hang case gives it this much, so that within the
# run's 60 s aider gives up on a hanging call twice (its client retries at once) and a third is still waiting when
# the run's timeout stops it.
AIDER_OWN_TIMEOUT_S = 20


class FaultyUpstream:
    """The task's reference model for the first `good` chat calls, then `fault` on every chat call after.

    Faults: "http_500", "http_429" (with Retry-After), "hang" (never answers), "not_json" (a 200 HTML page),
    "cut" (the reference answer cut off half-way: a stream for a streaming TUI, a body otherwise), "gone" (the
    server drops every connection and stops listening)."""

    def __init__(self, good: int, fault: str) -> None:
        self.reference = ReferenceModel.from_task(catalog.get_task(TASK)).app
        self.good = good
        self.fault = fault
        self.chat_calls = 0  # chat requests that reached this server
        self.server: BackgroundServer | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in CHAT_PATHS:
            await self.reference(scope, receive, send)
            return
        self.chat_calls += 1
        if self.chat_calls <= self.good:
            await self.reference(scope, receive, send)
            return
        await getattr(self, "_" + self.fault)(scope, receive, send)

    async def _http_500(self, scope, receive, send) -> None:
        error = {"message": "The server had an error while processing your request.", "type": "server_error"}
        await JSONResponse({"error": error}, status_code=500)(scope, receive, send)

    async def _http_429(self, scope, receive, send) -> None:
        error = {
            "message": "Rate limit reached; try again in 1 s.",
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
        }
        await JSONResponse({"error": error}, status_code=429, headers={"retry-after": "1"})(scope, receive, send)

    async def _hang(self, scope, receive, send) -> None:
        await _until_disconnect(receive)  # never answers; notices only that the client has gone

    async def _not_json(self, scope, receive, send) -> None:
        page = "<html><body><h1>Welcome to nginx!</h1></body></html>\n"
        await Response(page, status_code=200, media_type="text/html")(scope, receive, send)

    async def _cut(self, scope, receive, send) -> None:
        sent: list[dict] = []

        async def keep(message: dict) -> None:
            sent.append(message)

        await self.reference(scope, receive, keep)
        body = b"".join(m.get("body", b"") for m in sent[1:])
        await send(sent[0])
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        raise AbortConnection("the answer is cut off half-way")  # the connection closes with no final chunk

    async def _gone(self, scope, receive, send) -> None:
        assert self.server is not None
        for connection in self.server.connections():  # this call's connection too
            connection.transport.abort()
        threading.Thread(target=self.server.stop, daemon=True).start()  # stops listening: later calls are refused
        await _until_disconnect(receive)


async def _until_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@dataclass(frozen=True)
class Case:
    fault: str
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
    Case("http_500", "aider", "HTTP 500", 500, "upstream returned HTTP 500: The server had an error", True),
    Case("http_429", "aider", "HTTP 429", 429, "upstream returned HTTP 429: Rate limit reached", True),
    Case("hang", "aider", "abandoned by the agent", 499, "the client abandoned the call before the upstream", True),
    Case(
        "not_json",
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
    upstream = FaultyUpstream(case.good, case.fault)
    started = time.monotonic()
    with BackgroundServer(upstream, "127.0.0.1") as server:
        upstream.server = server
        result = run_cell(
            CellRequest(
                tui=case.tui,
                task=TASK,
                endpoint=f"{server.url}/v1",
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
        assert upstream.chat_calls == case.good + 1
        assert len(failed) >= 2, "no call after the server went away"
    else:
        assert upstream.chat_calls == len(result.model_calls)
    if case.fault == "hang":
        # aider gave up on hanging calls after its own timeout; the last was still waiting when the run's timeout
        # stopped aider, and is recorded all the same.
        *gave_up, stopped = failed
        assert gave_up and all(c.latency_ms >= AIDER_OWN_TIMEOUT_S * 1000 * 0.95 for c in gave_up), failed
        assert stopped.latency_ms < AIDER_OWN_TIMEOUT_S * 1000, failed


def test_cab_check_exits_1_when_the_endpoint_breaks_mid_cell(isolated_history, leftovers):
    """The real CLI, on a stream cut half-way: graded, saved, noted, and exit code 1 (it ran and did not pass)."""
    case = next(c for c in CASES if c.fault == "cut")
    upstream = FaultyUpstream(case.good, case.fault)
    with BackgroundServer(upstream, "127.0.0.1") as server:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cab_check",
                "check",
                "--tui",
                case.tui,
                "--endpoint",
                f"{server.url}/v1",
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
