"""Integration tests run real containers. With CI=true a missing Docker engine fails them; it never skips them."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import docker.errors
import pytest
from required import unavailable


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001 - whatever stops us reaching the engine
        unavailable(f"Docker engine not reachable: {exc}", f"the Docker engine is not reachable: {exc}")
    return client


@pytest.fixture(autouse=True)
def _needs_docker(docker_client):
    return docker_client


@pytest.fixture
def leftovers(docker_client):
    """A function giving the names of containers and networks that still carry a run's label on an engine (the
    local one unless a client is given)."""

    def find(run_id: str, client=None) -> list[str]:
        client = client or docker_client
        label = {"label": f"cab-check.run={run_id}"}
        # sparse: the plain list inspects each container and fails on one that leaves meanwhile.
        return [c.attrs["Names"][0] for c in client.containers.list(all=True, filters=label, sparse=True)] + [
            n.name for n in client.networks.list(filters=label)
        ]

    return find


class SecretWatcher(threading.Thread):
    """While a run lives, keeps `docker inspect` of every container (and its image) this process creates and the
    argv of every process on the machine, so a test can prove a secret reached none of them."""

    def __init__(self, client) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.seen: dict[str, str] = {}  # where → what was there
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self._inspect_containers()
            self._read_argvs()
            time.sleep(0.2)

    def _inspect_containers(self) -> None:
        # The raw list call: the high-level one inspects each container itself and dies on one that just left.
        for summary in self.client.api.containers(all=True, filters={"label": f"cab-check.pid={os.getpid()}"}):
            try:
                inspected = self.client.api.inspect_container(summary["Id"])
                self.seen[f"docker inspect {inspected['Name']}"] = json.dumps(inspected)
                image = inspected["Image"]
                self.seen[f"docker inspect {image}"] = json.dumps(self.client.api.inspect_image(image))
            except docker.errors.APIError:  # it went away between list and inspect
                pass

    def _read_argvs(self) -> None:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:  # the process ended
                continue
            if argv:
                self.seen[f"argv of pid {cmdline.parent.name}: {argv[:80]}"] = argv

    def assert_never_saw(self, secret: str, written_under: Path) -> None:
        assert any(k.startswith("docker inspect") for k in self.seen), "the watcher never saw a container"
        for where, text in self.seen.items():
            assert secret not in text, f"the secret is in {where}"
        files = [p for p in written_under.rglob("*") if p.is_file()]
        assert files, f"the run wrote nothing under {written_under}"
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"the secret is in {path}"


@pytest.fixture
def watch_secrets():
    """Starts a SecretWatcher on an engine's client; stopped when the test ends."""
    watchers: list[SecretWatcher] = []

    def start(client) -> SecretWatcher:
        watcher = SecretWatcher(client)
        watcher.start()
        watchers.append(watcher)
        return watcher

    yield start
    for watcher in watchers:
        watcher.done.set()
        watcher.join()


@pytest.fixture
def secret_watch(docker_client, watch_secrets):
    return watch_secrets(docker_client)
