"""Cells on engines whose networks and files are not this host's: a second dockerd in its own network namespace (no
route to this host at all, like Docker Desktop's VM or a remote DOCKER_HOST) and Podman's Docker-compatible API.

On each: a reference cell passes for aider and for pi (a streaming, tool-calling CLI) with its model calls and
tokens recorded; the agent reaches the model and nothing else; a canary key is in no container config, argv or
file; and nothing labelled by the run is left."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import pytest

from cab_check import catalog, isolation
from cab_check.asgi_server import BackgroundServer
from cab_check.catalog import get_task
from cab_check.models import CellRequest
from cab_check.reference_model import ReferenceModel
from cab_check.run import run_cell
from cab_check.sandbox import connect
from cab_check.sandbox.images import image_chain
from cab_check.settings import find_ca_bundle

pytest_plugins = ["engines"]

TASK = "polyglot/rust-error-handling"
TUIS = ["aider", "pi"]


def images_for_the_cells() -> list[str]:
    """Every image a reference cell of TUIS needs, built on the local engine first (the others cannot build)."""
    local = connect()
    folders = {name: catalog.get_tui(name).root for name in TUIS}
    folders |= {"rust": catalog.image_dir("rust"), "relay": catalog.relay_dir()}
    for name, folder in folders.items():
        local.ensure_image(name, folder, find_ca_bundle(), lambda _: None)
    return list(dict.fromkeys(tag for name, folder in folders.items() for tag in image_chain(name, folder)))


@pytest.fixture(scope="module", params=["netns", "podman"])
def engine(request):
    """A second engine holding every image the tests need."""
    started = request.getfixturevalue(f"{request.param}_engine")
    started.load(images_for_the_cells())
    return started


@pytest.mark.parametrize("tui", TUIS)
def test_a_reference_cell_passes_with_the_key_kept_out(engine, tui, isolated_history, leftovers, watch_secrets):
    canary = "sk-canary-" + secrets.token_hex(12)
    client = engine.client()
    watcher = watch_secrets(client)
    with BackgroundServer(ReferenceModel.from_task(get_task(TASK)).app, "127.0.0.1") as server:
        request = CellRequest(
            tui=tui,
            task=TASK,
            endpoint=f"{server.url}/v1",
            model="cab-reference",
            skip_handshake=True,
            engine=engine.url,
        )
        result = run_cell(request, api_key=canary)

    assert result.axes.pass_rate.passed == 1, (result.axes.pass_rate, result.notes)
    assert result.model_calls and all(call.status == 200 for call in result.model_calls)
    if tui == "pi":
        assert all(call.stream for call in result.model_calls)  # streamed through the relay
    assert result.token_reports[0].source == "proxy" and result.token_reports[0].prompt_tokens > 0
    assert result.axes.tokens.total_tokens > 0
    assert engine.url in (result.engine or "")
    assert not any("interfaces besides loopback" in note for note in result.notes)
    assert leftovers(result.run_id, client) == []
    watcher.assert_never_saw(canary, isolated_history)


# --- isolation ---------------------------------------------------------------------------------------------------


def host_addresses() -> list[str]:
    """Every IPv4 address of this host but loopback: where an agent would look for the host's services."""
    listing = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    return sorted({line.split()[3].split("/")[0] for line in listing.splitlines()} - {"127.0.0.1"})


@pytest.fixture
def host_service():
    """A service of the user's on this host, listening on every address; yields its port."""
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "0.0.0.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield int(server.stdout.readline().split("port ")[1].split()[0])
    finally:
        server.kill()


def probe_on_default_network(client, image: str, targets: list[isolation.Target]) -> dict[str, isolation.Outcome]:
    """The same probe from an ordinary container on the engine's default network: the control that shows each
    target is really there to be reached."""
    wire = [{"name": t.name, "kind": t.kind, "address": t.address, "headers": t.headers} for t in targets]
    output = client.containers.run(
        image, ["python3", "-c", isolation.PROBE, json.dumps(wire)], remove=True, labels={"cab-check-test": "control"}
    )
    report = json.loads(output.decode().strip().splitlines()[-1])
    return {name: isolation.Outcome(r["outcome"], r["ms"]) for name, r in report["results"].items()}


@pytest.mark.parametrize("where", ["local", "netns", "podman"])
def test_the_agent_reaches_the_model_and_nothing_else(where, request, docker_client, host_service, leftovers):
    if where == "local":
        url, client = None, docker_client
    else:
        started = request.getfixturevalue(f"{where}_engine")
        started.load(images_for_the_cells())
        url, client = started.url, started.client()
    sandbox = connect(url)
    relay = connect().ensure_image("relay", catalog.relay_dir(), find_ca_bundle(), lambda _: None).tag

    neighbour = client.containers.run(
        relay, ["python3", "-m", "http.server", "8000"], detach=True, labels={"cab-check-test": "neighbour"}
    )
    try:
        neighbour.reload()
        networks = neighbour.attrs["NetworkSettings"]["Networks"]
        neighbour_ip = next(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))
        services = [
            isolation.Target(f"this host's service at {address}", "tcp", f"{address}:{host_service}")
            for address in host_addresses()
        ]
        others = [
            isolation.Target("another container", "http", f"http://{neighbour_ip}:8000/"),
            isolation.Target("the docker socket", "unix", "/var/run/docker.sock"),
            isolation.Target("the podman socket", "unix", "/run/podman/podman.sock"),
        ]
        run_id = "isolation-" + secrets.token_hex(3)
        report = isolation.probe(sandbox, relay, [*isolation.OUTSIDE, *services, *others], run_id=run_id)
        # From this host's own engine an ordinary container reaches the host's service (the others have no route).
        control = probe_on_default_network(client, relay, others[:1] + (services if where == "local" else []))
    finally:
        neighbour.remove(force=True)

    assert report.interfaces == ["lo"], report.output
    assert report.outcomes["the model"].text == "answered 401", report.output  # the proxy, wanting the run's token
    reached = [name for name, outcome in report.outcomes.items() if outcome.reached and name != "the model"]
    assert reached == [], report.output
    assert control["another container"].reached  # it was there to be reached from an ordinary container
    if where == "local":
        assert any(outcome.reached for name, outcome in control.items() if name.startswith("this host's"))
    assert leftovers(run_id, client) == []


def test_doctor_names_each_engine_and_measures_its_isolation(netns_engine, podman_engine):
    for started, product in ((netns_engine, "Docker 20.10"), (podman_engine, "Podman 4.3")):
        started.load(images_for_the_cells())
        done = subprocess.run(
            [sys.executable, "-m", "cab_check", "doctor", "--engine", started.url],
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = " ".join(done.stdout.split())
        assert f"engine {product}" in lines and started.url in lines, done.stdout + done.stderr
        assert "isolation measured just now: an agent has only a loopback interface" in lines, done.stdout


def test_cab_cleanup_removes_a_killed_runs_leftovers_and_leaves_a_live_runs_alone(netns_engine):
    import os
    import socket

    netns_engine.load(images_for_the_cells())
    client = netns_engine.client()
    relay = connect().ensure_image("relay", catalog.relay_dir(), find_ca_bundle(), lambda _: None).tag
    here = socket.gethostname()

    def leftover(run: str, pid: int):
        return client.containers.create(
            relay, ["sleep", "600"], labels={"cab-check.run": run, "cab-check.pid": str(pid), "cab-check.host": here}
        )

    killed, live = leftover("killed-run", 999_999_999), leftover("live-run", os.getpid())
    done = subprocess.run(
        [sys.executable, "-m", "cab_check", "cleanup", "--engine", netns_engine.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"whose process is gone on {netns_engine.url}" in done.stdout
    remaining = {c.id for c in client.containers.list(all=True, sparse=True)}
    assert killed.id not in remaining and live.id in remaining

    everything = subprocess.run(
        [sys.executable, "-m", "cab_check", "cleanup", "--all", "--engine", netns_engine.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert everything.returncode == 0 and live.id not in {c.id for c in client.containers.list(all=True, sparse=True)}
