"""Whole cells for real: Docker, the aider image, the recording proxy, the grader in the toolchain image."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fake_openai import Behaviour, FakeOpenAI

from cab_check.catalog import get_task
from cab_check.models import CellRequest, PhaseStarted
from cab_check.reference_model import ReferenceModel
from cab_check.run import run_cell

AXES = ["pass_rate", "tokens", "latency", "blast_radius", "refusal", "integrity", "composite"]


def test_default_cell_passes_on_the_reference_model(isolated_history, leftovers):
    done = subprocess.run(
        [sys.executable, "-m", "cab_check", "check", "--json"], capture_output=True, text=True, timeout=2400
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)

    assert result["provisional"] is True
    assert result["model_label"] == "reference model"
    assert result["cell_id"] == "local/aider/cab-reference/polyglot/rust-error-handling"
    assert list(result["axes"]) == AXES
    assert result["axes"]["pass_rate"]["pass"] == 1
    assert "5 passed" in result["axes"]["pass_rate"]["stdout_tail"]
    assert "src/lib.rs" in result["axes"]["blast_radius"]["modified"]
    assert len(result["model_calls"]) >= 1
    assert result["axes"]["tokens"]["total_tokens"] > 0
    assert result["model_calls"][0]["status"] == 200
    proxy, *tui_reports = result["token_reports"]
    assert proxy["source"] == "proxy" and proxy["prompt_tokens"] > 0
    assert [r["source"] for r in tui_reports] == ["TUI stdout"]  # aider's own "Tokens: … sent" line
    kinds = [span["kind"] for span in result["spans"]]
    assert {"task_setup", "container", "adapter_run", "grade", "cleanup"} <= set(kinds)
    assert "+" in result["diff"] and "src/lib.rs" in result["diff"]

    saved = isolated_history / "runs" / result["run_id"] / "result.json"
    assert json.loads(saved.read_text())["run_id"] == result["run_id"]
    cast = Path(result["recording"]).read_text().splitlines()
    assert json.loads(cast[0])["version"] == 2 and len(cast) > 1
    workdir = next(s for s in result["spans"] if s["kind"] == "task_setup")["attrs"]["workdir"]
    assert not Path(workdir).exists()
    assert leftovers(result["run_id"]) == []


def test_wrong_fix_fails_is_scored_and_the_key_stays_out(secret_watch, isolated_history, leftovers):
    task = get_task("polyglot/rust-error-handling")
    original = (task.workdir / "src/lib.rs").read_text()
    # The model "fixes" the file by adding a comment: the file changes, the bug stays.
    wrong = ReferenceModel({"src/lib.rs": original}, {"src/lib.rs": "// Handled the error, promise.\n" + original})
    upstream = FakeOpenAI(backend=wrong.app)  # the wrong fixer, every request it gets recorded
    canary = "sk-canary-" + secrets.token_hex(12)
    with upstream.serving() as base:
        result = run_cell(CellRequest(endpoint=base, model="wrong-fixer"), api_key=canary)

    assert result.passed is False
    assert result.axes.pass_rate.passed == 0
    assert result.axes.pass_rate.exit_code != 0
    assert 0 < result.axes.composite.composite < 0.6
    assert result.axes.blast_radius.modified == ["src/lib.rs"]
    assert result.model_label == "wrong-fixer"
    assert len(result.model_calls) >= 1

    # The key reached the upstream, and only the upstream.
    assert f"Bearer {canary}" in upstream.authorizations
    secret_watch.assert_never_saw(canary, isolated_history)
    assert leftovers(result.run_id) == []


def never_answering() -> FakeOpenAI:
    return FakeOpenAI(Behaviour(chat="hang"))


def test_a_model_that_never_answers_times_out_and_is_still_graded(leftovers):
    events = []
    with never_answering().serving() as base:
        result = run_cell(
            CellRequest(endpoint=base, model="silent", timeout_s=20, skip_handshake=True),
            emit=events.append,
        )
    assert result.timed_out is True
    assert result.axes.pass_rate.timed_out is True
    assert result.axes.pass_rate.passed == 0
    assert "bad_input_does_not_panic" in result.axes.pass_rate.stdout_tail  # the grader really ran
    assert any("timed out" in note for note in result.notes)
    launch = next(s for s in result.spans if s.kind == "container")
    assert launch.attrs["timed_out"] is True and 19_000 < launch.duration_ms < 60_000
    assert [e.phase for e in events if isinstance(e, PhaseStarted)] == [
        "images",
        "preflight",
        "setup",
        "agent",
        "grade",
    ]
    assert leftovers(result.run_id) == []


def test_ctrl_c_mid_run_cleans_up_everything(docker_client, isolated_history):
    temp_root = Path(tempfile.gettempdir())
    before = set(temp_root.glob("cab-check-*"))
    with never_answering().serving() as base:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cab_check",
                "check",
                "--endpoint",
                base,
                "--model",
                "silent",
                "--skip-handshake",
                "--key-env",
                "CAB_TEST_KEY",
            ],
            env={**os.environ, "CAB_TEST_KEY": "sk-canary-" + secrets.token_hex(8)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        label = {"label": f"cab-check.pid={child.pid}"}
        deadline = time.monotonic() + 1200
        while not docker_client.containers.list(filters=label, sparse=True):  # sparse: no inspect race
            assert child.poll() is None, child.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the agent container never started"
            time.sleep(0.5)
        ours = set(temp_root.glob("cab-check-*")) - before
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=120)

    assert child.returncode == 130, stderr[-3000:]
    assert "Cancelled" in stderr
    assert docker_client.containers.list(all=True, filters=label, sparse=True) == []
    assert docker_client.networks.list(filters=label) == []
    assert ours and not any(p.exists() for p in ours)
