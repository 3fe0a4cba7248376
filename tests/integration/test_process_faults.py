"""cab-check itself killed, run twice at once, without a history it can write, and its engine dying under it: the
next run (or `cab cleanup`) leaves nothing of a dead run, and nothing half-written is ever listed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import hostile
import pytest
from fake_openai import Behaviour, FakeOpenAI
from temp_roots import temp_roots_of

from cab_check import store
from cab_check.catalog import image_dir, relay_dir
from cab_check.sandbox.images import image_chain

pytest_plugins = ["engines"]
CAB = [sys.executable, "-m", "cab_check"]


def containers_of(client, pid: int, role: str | None = None) -> list:
    labels = [f"cab-check.pid={pid}"] + ([f"cab-check.role={role}"] if role else [])
    return client.containers.list(all=True, filters={"label": labels}, sparse=True)


def wait_for(condition, what: str, timeout_s: float = 600, child: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if child is not None and child.poll() is not None:
            pytest.fail(f"cab check ended before {what}: {child.communicate()[1][-2000:]}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("phase", ["preflight", "relay", "agent", "grader"])
def test_kill_9_at_any_phase_leaves_nothing_after_the_next_sweep(phase, docker_client, isolated_history):
    hanging = FakeOpenAI(Behaviour(chat="hang"))  # lists its models, never answers a chat
    with hanging.serving() as endpoint:
        if phase == "preflight":  # the handshake waits on an endpoint that never answers
            argv = ["--endpoint", endpoint, "--model", "m", "--key-env", "NO_KEY_NEEDED"]
        else:  # the reference model, and an agent that takes its time when it must be caught running
            argv = ["--image", hostile.image("sleeper")] if phase == "agent" else []
        child = subprocess.Popen(
            [*CAB, "check", *argv],
            env={**os.environ, "NO_KEY_NEEDED": "x"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if phase == "preflight":
            wait_for(lambda: hanging.chats, "the handshake", child=child)
        else:
            wait_for(lambda: containers_of(docker_client, child.pid, phase), f"the {phase} container", child=child)
        child.send_signal(signal.SIGKILL)
        child.wait()

    sweep = subprocess.run([*CAB, "cleanup"], capture_output=True, text=True, timeout=300)
    assert sweep.returncode == 0, sweep.stderr
    assert containers_of(docker_client, child.pid) == []
    assert temp_roots_of(child.pid) == set()
    assert store.list_runs() == [] and not list((isolated_history / "runs").glob(f"{store.STAGING_PREFIX}*"))


def test_the_next_cab_check_sweeps_a_killed_runs_leftovers(docker_client, isolated_history):
    child = subprocess.Popen(
        [*CAB, "check", "--image", hostile.image("sleeper")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: containers_of(docker_client, child.pid, "agent"), "the agent", child=child)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert containers_of(docker_client, child.pid) and temp_roots_of(child.pid)  # what a kill -9 leaves

    after = subprocess.run([*CAB, "check", "--json"], capture_output=True, text=True, timeout=900)
    assert after.returncode == 0, after.stderr[-2000:]
    assert containers_of(docker_client, child.pid) == [] and temp_roots_of(child.pid) == set()
    assert [r.run_id for r in store.list_runs()] == [json.loads(after.stdout)["run_id"]]


APP = textwrap.dedent("""
    import sys
    from cab_check.gui.app import make_app
    from cab_check.gui.app_settings import GuiSettings
    from cab_check.gui.main_window import MainWindow

    app = make_app(sys.argv[:1])
    window = MainWindow(GuiSettings())
    window.form.image_edit.setText(sys.argv[1])
    window.show()
    window.start_run()
    app.exec()
""")


def test_the_desktop_app_killed_mid_run_leaves_nothing_after_cab_cleanup(docker_client, isolated_history):
    app = subprocess.Popen(
        [sys.executable, "-c", APP, hostile.image("sleeper")],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: containers_of(docker_client, app.pid, "agent"), "the app's agent", child=app)
    app.send_signal(signal.SIGKILL)
    app.wait()
    assert subprocess.run([*CAB, "cleanup"], capture_output=True, timeout=300).returncode == 0
    assert containers_of(docker_client, app.pid) == [] and temp_roots_of(app.pid) == set()
    assert store.list_runs() == []


def test_two_runs_at_once_on_one_engine_both_finish_with_their_own_records(isolated_history, leftovers):
    runs = [
        subprocess.Popen([*CAB, "check", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for child in runs:
        out, err = child.communicate(timeout=900)
        assert child.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    assert results[0]["run_id"] != results[1]["run_id"]
    assert sorted(r.run_id for r in store.list_runs()) == sorted(r["run_id"] for r in results)
    assert all(r["axes"]["pass_rate"]["pass"] == 1 and r["model_calls"] for r in results)
    assert all(leftovers(r["run_id"]) == [] for r in results)


def test_a_history_that_cannot_be_written_stops_the_run_before_it_starts(docker_client, isolated_history):
    earlier = isolated_history / "runs" / "earlier"
    earlier.mkdir(parents=True)
    (earlier / "result.json").write_text("{}")
    runs = isolated_history / "runs"
    subprocess.run(["mount", "--bind", "-o", "ro", str(runs), str(runs)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(runs)], check=True)
    try:
        done = subprocess.run([*CAB, "check"], capture_output=True, text=True, timeout=120)
    finally:
        subprocess.run(["umount", str(runs)], check=True)
    assert done.returncode == 3
    err = " ".join(done.stderr.split())
    assert f"error: The history folder {runs} cannot be written" in err and "CAB_CHECK_HOME" in err
    assert "Traceback" not in done.stderr
    assert (earlier / "result.json").read_text() == "{}"  # the earlier history is untouched


def test_the_engine_dying_mid_run_is_one_sentence_and_the_next_sweep_cleans_up(isolated_history):
    from engines import netns_dockerd

    name = "cab-test-dying"
    folders = {"relay": relay_dir(), "rust": image_dir("rust")}
    tags = [hostile.image("sleeper"), *(t for n, f in folders.items() for t in image_chain(n, f))]
    with netns_dockerd(name) as engine:
        engine.load(tags)
        client = engine.client()
        child = subprocess.Popen(
            [*CAB, "check", "--engine", engine.url, "--image", tags[0]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: containers_of(client, child.pid, "agent"), "the agent", child=child)
        dockerd = int((Path("/run") / name / "docker.pid").read_text())
        os.kill(dockerd, signal.SIGKILL)  # the engine dies mid-run
        _, stderr = child.communicate(timeout=180)
    assert child.returncode == 3, stderr[-2000:]
    err = " ".join(stderr.split())
    assert f"error: The container engine at {engine.url} stopped answering" in err and "cab cleanup" in err
    assert "Traceback" not in stderr
    assert store.list_runs() == [] and temp_roots_of(child.pid) == set()

    with netns_dockerd(name) as engine:  # it comes back; what the run left is swept
        client = engine.client()
        assert (
            subprocess.run([*CAB, "cleanup", "--engine", engine.url], capture_output=True, timeout=300).returncode == 0
        )
        assert containers_of(client, child.pid) == []
