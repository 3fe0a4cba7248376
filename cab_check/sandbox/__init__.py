"""The engine seam: where a cell's containers run, how files and model traffic reach them.

`connect(engine)` opens the Docker-API sandbox (docker is imported only then, so front ends stay light)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cab_check.sandbox.base import (
    Container,
    ContainerRun,
    ContainerSpec,
    Engine,
    ImageRef,
    RunNetwork,
    Sandbox,
)

if TYPE_CHECKING:
    from cab_check.sandbox.docker import DockerSandbox

__all__ = ["Container", "ContainerRun", "ContainerSpec", "Engine", "ImageRef", "RunNetwork", "Sandbox", "connect"]


def connect(engine: str | None = None) -> DockerSandbox:
    """The sandbox on the engine `engine` names (a URL or a docker context), else the one the docker CLI uses."""
    from cab_check.sandbox.docker import DockerSandbox

    return DockerSandbox.connect(engine)
