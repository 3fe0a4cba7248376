"""Every TUI cab-check can build runs a whole cell for real: its image, its CLI, the proxy, the grader.

The reference model answers through the CLI's own edit or tool protocol, so a pass means the CLI really
applied the fix from what the model said. Each run also carries a canary key that must surface nowhere."""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import sys

import pytest

from cab_check.asgi_server import BackgroundServer
from cab_check.catalog import get_task, shipped_tuis
from cab_check.models import CellRequest
from cab_check.reference_model import ReferenceModel
from cab_check.run import run_cell
from cab_check.sandbox import connect
from cab_check.settings import find_ca_bundle

BUILDABLE = sorted(name for name, tui in shipped_tuis().items() if tui.buildable)


@pytest.mark.parametrize("tui", BUILDABLE)
def test_tui_passes_the_reference_cell(tui, isolated_history, leftovers, secret_watch):
    # The reference model served as a user's endpoint, with a canary key: the key must reach the endpoint and
    # nothing else — no file the run wrote, no `docker inspect`, no process's argv — whatever the TUI does.
    canary = "sk-canary-" + secrets.token_hex(12)
    reference = ReferenceModel.from_task(get_task("polyglot/rust-error-handling"))
    with BackgroundServer(reference.app, "127.0.0.1") as server:
        # The handshake's tool-call probe asks for a `ping` tool the reference model has no reason to call.
        request = CellRequest(tui=tui, endpoint=f"{server.url}/v1", model="cab-reference", skip_handshake=True)
        result = run_cell(request, api_key=canary)

    assert result.axes.pass_rate.passed == 1, (result.axes.pass_rate, result.notes)
    assert result.model_calls and all(call.status == 200 for call in result.model_calls)
    assert result.axes.tokens.total_tokens > 0
    assert result.token_reports[0].source == "proxy" and result.token_reports[0].prompt_tokens > 0
    assert "src/lib.rs" in result.axes.blast_radius.modified
    assert leftovers(result.run_id) == []
    secret_watch.assert_never_saw(canary, isolated_history)


def test_any_tui_runs_from_an_image_the_user_brings(docker_client, isolated_history, leftovers):
    """--image: a user's own image (here: aider on top of ours, under another name) runs the cell unchanged."""
    aider = shipped_tuis()["aider"]
    base = connect().ensure_image("aider", aider.root, find_ca_bundle(), lambda _: None)
    ref = f"cab-test/users-aider:{secrets.token_hex(4)}"
    dockerfile = f"FROM {base.tag}\nLABEL org.example.built-by=the-user\n".encode()
    docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=ref, rm=True)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cab_check", "check", "--image", ref, "--json"],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout)
        assert result["container_image"] == ref
        assert result["image_digest"] == docker_client.images.get(ref).id
        assert result["axes"]["pass_rate"]["pass"] == 1
        assert leftovers(result["run_id"]) == []

        missing = subprocess.run(
            [sys.executable, "-m", "cab_check", "check", "--image", ref + "-gone"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert missing.returncode == 2
        assert "There is no image" in missing.stderr
    finally:
        docker_client.images.remove(ref, force=True)
