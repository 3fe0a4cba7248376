"""Which container engine to talk to, found the way the docker CLI finds it, and what kind of engine it is.

Order: an explicit engine (`--engine`, the app's setting) — a URL or a docker context name; else `DOCKER_HOST`
(with `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH`); else `DOCKER_CONTEXT`, else the current docker context
(`docker context use`, which is how Docker Desktop, Colima and OrbStack point the CLI at themselves); else the
default local socket."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cab_check.errors import BadInput
from cab_check.sandbox.base import Engine

SCHEMES = ("unix", "npipe", "tcp", "ssh", "http", "https")
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def check_engine(engine: str | None) -> str | None:
    """The engine as given, stripped (None when empty); BadInput when it is a URL no engine can have."""
    engine = (engine or "").strip() or None
    if engine and "://" in engine and urlsplit(engine).scheme not in SCHEMES:
        raise BadInput(
            f"'{engine}' is not a container engine address: give unix:///path/to/docker.sock, "
            "tcp://HOST:2376, ssh://USER@HOST or the name of a docker context."
        )
    return engine


def client_params(engine: str | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for `docker.DockerClient`; BadInput for an engine that cannot be an address."""
    from docker.constants import DEFAULT_UNIX_SOCKET, IS_WINDOWS_PLATFORM
    from docker.context import ContextAPI
    from docker.utils import kwargs_from_env

    environ = os.environ if environ is None else environ
    engine = check_engine(engine)
    if engine and "://" in engine:
        tls = kwargs_from_env(environment={k: v for k, v in environ.items() if k != "DOCKER_HOST"})
        return {**tls, "base_url": engine}
    if engine:
        from_context: dict[str, Any] | None = ContextAPI.kwargs_from_context(engine, environment=environ)
        if not from_context:
            raise BadInput(
                f"There is no docker context named '{engine}': `docker context ls` lists them, or give "
                "the engine's address (unix://…, tcp://…, ssh://…)."
            )
        return from_context
    params: dict[str, Any] = kwargs_from_env(environment=environ)
    if "base_url" not in params:
        params.update(ContextAPI.kwargs_from_context(environment=environ))
    if "base_url" not in params:
        default = "npipe:////./pipe/docker_engine" if IS_WINDOWS_PLATFORM else DEFAULT_UNIX_SOCKET
        params["base_url"] = default.removeprefix("http+")
    return params


def public_url(url: str) -> str:
    """The address without any user:password it may carry."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    return parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")).geturl()


def describe(url: str, info: Mapping[str, Any], version: Mapping[str, Any]) -> Engine:
    """Names the engine as its own `info` and `version` answers describe it."""
    components = [str(c.get("Name", "")) for c in version.get("Components") or [] if isinstance(c, dict)]
    security = " ".join(str(option) for option in info.get("SecurityOptions") or [])
    if any("podman" in name.lower() for name in components):
        product = "Podman"
        number = next(
            (
                str(c.get("Version"))
                for c in version.get("Components") or []
                if "podman" in str(c.get("Name", "")).lower()
            ),
            str(version.get("Version", "?")),
        )
    else:
        product = (
            "Docker Desktop"
            if "docker desktop" in str(info.get("OperatingSystem", "")).lower()
            else "rootless Docker"
            if "rootless" in security
            else "Docker"
        )
        number = str(version.get("Version") or info.get("ServerVersion") or "?")
    if product == "Podman" and "rootless" in security:
        product = "rootless Podman"
    parts = urlsplit(url)
    remote = parts.scheme in ("tcp", "ssh", "http", "https") and (parts.hostname or "") not in LOOPBACK_HOSTS
    return Engine(url=public_url(url), product=product, version=number, remote=remote)
