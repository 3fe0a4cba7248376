"""Integration tests run real containers. With CI=true a missing Docker engine fails them; it never skips them."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # whatever stops us reaching the engine
        if IN_CI:
            pytest.fail(f"CI=true but the Docker engine is not reachable: {exc}")
        pytest.skip(f"Docker engine not reachable: {exc}")
    return client


@pytest.fixture(autouse=True)
def _needs_docker(docker_client):
    return docker_client


@pytest.fixture
def leftovers(docker_client):
    """A function giving the names of containers and networks that still carry a run's label."""

    def find(run_id: str) -> list[str]:
        label = {"label": f"cab-check.run={run_id}"}
        return [c.name for c in docker_client.containers.list(all=True, filters=label)] + [
            n.name for n in docker_client.networks.list(filters=label)
        ]

    return find
