"""Which engine cab-check talks to is found the way the docker CLI finds it, and named the way a person would."""

from __future__ import annotations

import hashlib
import json

import pytest

from cab_check.errors import BadInput
from cab_check.sandbox.engine import client_params, describe, public_url


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    """A docker CLI config folder with contexts, as `docker context create NAME --docker host=URL` writes them."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))

    def add_context(name: str, host: str, current: bool = False) -> None:
        meta = tmp_path / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
        meta.mkdir(parents=True)
        (meta / "meta.json").write_text(
            json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}})
        )
        if current:
            (tmp_path / "config.json").write_text(json.dumps({"currentContext": name}))

    return add_context


def test_the_engine_is_found_in_the_docker_clis_order(docker_config):
    docker_config("desktop-linux", "unix:///Users/me/.docker/run/docker.sock", current=True)
    docker_config("big-box", "ssh://me@big-box")

    assert client_params(None, {})["base_url"] == "unix:///Users/me/.docker/run/docker.sock"  # current context
    assert client_params(None, {"DOCKER_CONTEXT": "big-box"})["base_url"] == "ssh://me@big-box"
    assert (
        client_params(None, {"DOCKER_HOST": "tcp://10.0.0.5:2375", "DOCKER_CONTEXT": "big-box"})["base_url"]
        == "tcp://10.0.0.5:2375"
    )
    given = {"DOCKER_HOST": "tcp://10.0.0.5:2375"}
    assert client_params("unix:///run/podman/podman.sock", given)["base_url"] == "unix:///run/podman/podman.sock"
    assert client_params("big-box", given)["base_url"] == "ssh://me@big-box"


def test_without_any_setting_it_is_the_local_socket(docker_config):
    assert client_params(None, {})["base_url"] == "unix:///var/run/docker.sock"


def test_an_explicit_tcp_engine_keeps_the_tls_settings_of_the_environment(tmp_path, docker_config):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("")
    params = client_params("tcp://big-box:2376", {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)})
    assert params["base_url"] == "tcp://big-box:2376"
    assert params["tls"].verify is True and params["tls"].ca_cert == str(tmp_path / "ca.pem")


def test_an_engine_that_cannot_be_an_address_is_bad_input(docker_config):
    with pytest.raises(BadInput, match="'foo://x' is not a container engine address"):
        client_params("foo://x", {})


def test_an_unknown_context_is_bad_input(docker_config):
    with pytest.raises(BadInput, match="There is no docker context named 'nope'"):
        client_params("nope", {})


# `docker info` / `docker version` as real engines answer them (trimmed to the fields read).
DEBIAN_DOCKERD = (
    {
        "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
        "SecurityOptions": ["name=seccomp,profile=default"],
        "ServerVersion": "20.10.24+dfsg1",
    },
    {
        "Version": "20.10.24+dfsg1",
        "Components": [
            {"Name": "Engine", "Version": "20.10.24+dfsg1"},
            {"Name": "containerd", "Version": "1.6.20~ds1"},
        ],
    },
)
DOCKER_DESKTOP = (
    {"OperatingSystem": "Docker Desktop", "SecurityOptions": ["name=seccomp,profile=unconfined", "name=cgroupns"]},
    {"Version": "28.3.2", "Components": [{"Name": "Engine", "Version": "28.3.2"}]},
)
ROOTLESS = (
    {
        "OperatingSystem": "Ubuntu 24.04.2 LTS",
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"],
    },
    {"Version": "28.3.2", "Components": [{"Name": "Engine", "Version": "28.3.2"}]},
)
PODMAN = (
    {"OperatingSystem": "debian", "SecurityOptions": ["name=seccomp,profile=default"]},
    {
        "Version": "4.3.1",
        "Components": [
            {"Name": "Podman Engine", "Version": "4.3.1"},
            {"Name": "Conmon", "Version": "conmon version 2.1.6"},
        ],
    },
)


@pytest.mark.parametrize(
    ("url", "answers", "named"),
    [
        (
            "unix:///var/run/docker.sock",
            DEBIAN_DOCKERD,
            "Docker 20.10.24+dfsg1 at unix:///var/run/docker.sock (on this machine)",
        ),
        (
            "unix:///Users/me/.docker/run/docker.sock",
            DOCKER_DESKTOP,
            "Docker Desktop 28.3.2 at unix:///Users/me/.docker/run/docker.sock (on this machine)",
        ),
        (
            "unix:///run/user/1000/docker.sock",
            ROOTLESS,
            "rootless Docker 28.3.2 at unix:///run/user/1000/docker.sock (on this machine)",
        ),
        ("unix:///run/podman/podman.sock", PODMAN, "Podman 4.3.1 at unix:///run/podman/podman.sock (on this machine)"),
        ("ssh://me@big-box", DEBIAN_DOCKERD, "Docker 20.10.24+dfsg1 at ssh://me@big-box (remote engine)"),
        ("tcp://127.0.0.1:2375", DEBIAN_DOCKERD, "Docker 20.10.24+dfsg1 at tcp://127.0.0.1:2375 (on this machine)"),
    ],
)
def test_the_engine_is_named_from_its_own_answers(url, answers, named):
    assert describe(url, *answers).description == named


def test_a_password_in_the_engine_url_is_never_shown():
    assert public_url("tcp://me:hunter2@big-box:2376") == "tcp://big-box:2376"
    assert public_url("ssh://me@big-box") == "ssh://me@big-box"
