"""The whole cell lifecycle on a fake sandbox: the real engine code, proxy, reference model, scorer and store; only
the containers are Python functions. What a user would notice: the phases in order, a cancel at any point
leaving nothing behind, and the notes a run carries."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
import pytest
from fake_sandbox import Behaviour, FakeSandbox
from temp_roots import temp_roots_of

from cab_check import store
from cab_check.catalog import get_task
from cab_check.errors import Cancelled
from cab_check.models import (
    CellFinished,
    CellRequest,
    ModelCallRecorded,
    PhaseFinished,
    PhaseProgress,
    PhaseStarted,
)
from cab_check.run import run_cell

TASK = get_task("polyglot/rust-error-handling")
FIXED = (TASK.solution_dir / "src/lib.rs").read_text()


def ask_the_model(spec) -> str:
    """What aider does first: one chat call to the URL and with the token its launch was given."""
    base_url = spec.command[spec.command.index("--openai-api-base") + 1]
    token = spec.environment["OPENAI_API_KEY"]
    answer = httpx.post(
        f"{base_url}/chat/completions",
        headers={"Authorization": f"Bearer {token}"},
        json={"model": "cab-reference", "messages": [{"role": "user", "content": "fix it"}]},
        timeout=30,
    )
    return answer.json()["choices"][0]["message"]["content"]


def fixing_agent(root: Path, spec, cancel: threading.Event):
    ask_the_model(spec)
    (root / "work/src/lib.rs").write_text(FIXED)
    return 0, "Tokens: 1 sent, 1 received.\n"


def cargo_test(root: Path, spec, cancel: threading.Event):
    if (root / "work/src/lib.rs").read_text() == FIXED:
        return 0, "test result: ok. 5 passed; 0 failed\n"
    return 101, "test result: FAILED. 3 passed; 2 failed\n"


def sandbox_with(agent=fixing_agent, grader=cargo_test, **kwargs) -> FakeSandbox:
    return FakeSandbox(Behaviour(agent), Behaviour(grader), **kwargs)


@pytest.fixture
def temp_roots():
    """This process's run temp folders that exist now and did not before the test."""
    before = temp_roots_of()
    return lambda: temp_roots_of() - before


def test_a_cell_runs_every_phase_in_order_and_leaves_nothing(temp_roots):
    sandbox = sandbox_with()
    events = []
    result = run_cell(CellRequest(), emit=events.append, sandbox=sandbox)

    phases = [(type(e).__name__, e.phase) for e in events if isinstance(e, (PhaseStarted, PhaseFinished))]
    assert phases == [
        (kind, phase)
        for phase in ("images", "preflight", "setup", "agent", "grade")
        for kind in ("PhaseStarted", "PhaseFinished")
    ]
    assert isinstance(events[-1], CellFinished)
    calls = [e for e in events if isinstance(e, ModelCallRecorded)]
    assert len(calls) == 1 and calls[0].call.status == 200
    assert sandbox.calls == [
        "sweep_orphans",
        "ensure_image aider",
        "ensure_image rust",
        "ensure_image relay",
        "open_network",
        "create agent",
        "run agent",
        "create grader",
        "run grader",
        "remove_run",
    ]
    assert result.passed and result.axes.blast_radius.modified == ["src/lib.rs"]
    assert result.engine == "Fake engine 1 at fake:// (on this machine)"
    assert result.model_calls[0].status == 200
    assert sandbox.containers == {} and all(n.closed for n in sandbox.networks)
    assert temp_roots() == set()
    assert [r.run_id for r in store.list_runs()] == [result.run_id]


def cancel_when(predicate):
    """An emit that sets the run's cancel event when an event matches."""
    cancel = threading.Event()
    return cancel, lambda event: cancel.set() if predicate(event) else None


def phase_is(kind, phase):
    return lambda e: isinstance(e, kind) and e.phase == phase


def cancelling(role):
    """A container behaviour that is cancelled while it runs (as the app's Cancel button does)."""

    def run(root: Path, spec, cancel: threading.Event):
        cancel.set()
        return 0, ""

    return run


@pytest.mark.parametrize(
    "where",
    [
        "while an image builds",
        "after the images",
        "after the preflight",
        "after the setup",
        "while the agent runs",
        "after the agent",
        "while the grader runs",
    ],
)
def test_a_cancel_at_any_point_removes_everything_and_saves_nothing(where, temp_roots):
    stop_at = {
        "while an image builds": phase_is(PhaseProgress, "images"),
        "after the images": phase_is(PhaseFinished, "images"),
        "after the preflight": phase_is(PhaseFinished, "preflight"),
        "after the setup": phase_is(PhaseFinished, "setup"),
        "after the agent": phase_is(PhaseFinished, "agent"),
    }
    if where in stop_at:
        cancel, emit = cancel_when(stop_at[where])
        sandbox = sandbox_with()
    else:
        cancel, emit = threading.Event(), lambda event: None
        sandbox = (
            sandbox_with(agent=cancelling("agent"))
            if where == "while the agent runs"
            else sandbox_with(grader=cancelling("grader"))
        )

    with pytest.raises(Cancelled):
        run_cell(CellRequest(), emit=emit, cancel=cancel, sandbox=sandbox)

    assert sandbox.containers == {}
    assert all(n.closed for n in sandbox.networks)
    assert sandbox.calls[-1] == "remove_run"
    assert temp_roots() == set()
    assert store.list_runs() == []


def test_a_timed_out_agent_is_still_graded_and_says_so():
    result = run_cell(CellRequest(timeout_s=5), sandbox=sandbox_with(agent=lambda root, spec, cancel: None))
    assert result.timed_out and result.axes.pass_rate.timed_out is True
    assert result.axes.pass_rate.passed == 0
    assert "3 passed; 2 failed" in result.axes.pass_rate.stdout_tail  # the grader ran
    assert "This run timed out — the agent ran but never finished within the harness limit." in result.notes


def test_a_skipped_handshake_is_noted():
    result = run_cell(CellRequest(skip_handshake=True), sandbox=sandbox_with())
    assert any(note.startswith("The preflight handshake was skipped") for note in result.notes)


def test_an_agent_network_with_more_than_loopback_is_noted():
    unfenced = run_cell(CellRequest(), sandbox=sandbox_with(interfaces=["eth0", "lo"]))
    fenced = run_cell(CellRequest(), sandbox=sandbox_with())
    assert any("interfaces besides loopback (eth0, lo)" in note for note in unfenced.notes)
    assert not any("interfaces besides loopback" in note for note in fenced.notes)


def test_links_and_fifos_the_agent_leaves_are_counted_named_and_kept_from_the_grader():
    """The host never opens what the agent leaves: a FIFO would block a reader forever, a link could lead out."""
    seen_by_grader = []

    def agent(root: Path, spec, cancel):
        os.mkfifo(root / "work/pipe")
        os.symlink("/etc/passwd", root / "work/peek")
        (root / "work/src/lib.rs").write_text(FIXED)
        return 0, ""

    def grader(root: Path, spec, cancel):
        seen_by_grader.extend(sorted(p.name for p in (root / "work").iterdir()))
        return cargo_test(root, spec, cancel)

    result = run_cell(CellRequest(), sandbox=sandbox_with(agent=agent, grader=grader))
    blast = result.axes.blast_radius
    assert blast.added == ["peek", "pipe"] and blast.modified == ["src/lib.rs"]
    assert "peek: symlink to /etc/passwd (added)" in result.diff
    assert "pipe: FIFO (named pipe) (added)" in result.diff
    assert "root:" not in result.diff  # the link was never followed
    assert "pipe" not in seen_by_grader and "peek" in seen_by_grader
    assert result.passed
    assert any("the grader was not given" in note and "pipe (FIFO (named pipe))" in note for note in result.notes)
