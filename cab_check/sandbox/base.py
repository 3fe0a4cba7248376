"""The seam between a cell and the engine its containers run on.

Everything crosses it through the engine's own API: files go in and come out as tar streams, output is streamed,
model traffic travels a channel the engine provides. Nothing of this host — a folder, a port, a network
interface — is assumed to be visible from where the containers run, so the same cell runs on a local dockerd,
Docker Desktop, rootless Docker, Podman or a remote `DOCKER_HOST`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

# Every container runs as this uid:gid, whoever runs cab-check: no folder of this host is shared with it.
CONTAINER_USER = "1000:1000"
CONTAINER_HOME = "/home/cab"
MEMORY_LIMIT = "4g"  # an agent's or grader's memory, swap included
WORKDIR = "/work"

Role = Literal["agent", "grader", "relay", "probe"]


@dataclass(frozen=True)
class ImageRef:
    tag: str
    image_id: str
    built: bool  # False when an image with the same inputs already existed


@dataclass
class ContainerRun:
    """What one finished container run left behind."""

    exit_code: int | None
    timed_out: bool
    duration_s: float
    stdout: str = ""  # bounded: the start and the end when it printed more (cab_check.sandbox.output)
    stderr: str = ""
    output_events: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, text)
    oom_killed: bool = False  # the kernel killed it for passing its memory limit
    output_cut: int = 0  # characters printed past what is recorded


@dataclass(frozen=True)
class Engine:
    """The engine a sandbox talks to, as a person would name it."""

    url: str  # without any credentials
    product: str  # "Docker", "Docker Desktop", "rootless Docker", "Podman"
    version: str
    remote: bool  # reached over the network (tcp://, ssh://) rather than a socket on this machine

    @property
    def description(self) -> str:
        where = "remote engine" if self.remote else "on this machine"
        return f"{self.product} {self.version} at {self.url} ({where})"


class RunNetwork(Protocol):
    """The only way out of a run's agent container: a channel from an address inside its network namespace to
    the recording proxy in this process."""

    @property
    def url(self) -> str:
        """The proxy's address as the agent reaches it (no trailing /v1)."""

    @property
    def interfaces(self) -> list[str]:
        """The network interfaces the agent's namespace really has; ["lo"] when it can reach nothing else."""

    def close(self) -> None:
        """Stops relaying; safe to call more than once."""


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    command: list[str]
    role: Role
    entrypoint: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    network: RunNetwork | None = None  # None: no network at all


Container = str  # an engine's handle for a container it created


class Sandbox(Protocol):
    """Where a cell's containers run. Implementations: `DockerSandbox` (any Docker-API engine), and fakes in tests.

    Containers are hardened the same way whoever implements this: non-root, no capabilities, memory and pids
    limits, HOME and /tmp on tmpfs, and only the network a `RunNetwork` gives them."""

    engine: Engine

    # --- images ---
    def ensure_image(
        self, name: str, folder: Path, ca_bundle: Path | None, progress: Callable[[str], None]
    ) -> ImageRef:
        """The image built from `folder` (and its declared base), tagged by a hash of its inputs; built only when
        no image with that tag exists."""

    def use_image(self, ref: str) -> ImageRef:
        """An image the user names; it must already be on the engine (BadInput otherwise)."""

    # --- the run's network ---
    def open_network(self, run_id: str, relay_image: str, proxy_port: int) -> RunNetwork:
        """A network for the run's agent whose only reachable address leads to 127.0.0.1:`proxy_port` here."""

    # --- containers ---
    def create(self, run_id: str, spec: ContainerSpec) -> Container:
        """A created, not yet started, container."""

    def put_files(self, container: Container, archive: IO[bytes]) -> None:
        """Unpacks a tar file (from its start) at the container's root, keeping its owners and modes."""

    def get_files(self, container: Container, path: str) -> AbstractContextManager[Iterator[bytes]]:
        """The tar stream of `path` in the container (running or exited), chunk by chunk."""

    def run(
        self,
        container: Container,
        *,
        timeout_s: float,
        on_output: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ContainerRun:
        """Starts the container, streams its output, waits for it and kills it at the timeout.

        When `cancel` is set the container is killed within about a second and Cancelled is raised."""

    def remove(self, container: Container) -> None:
        """Removes a container, running or not; a container already gone is no error."""

    # --- lifecycle hooks ---
    def sweep_orphans(self) -> int:
        """Removes what runs of cab-check processes that no longer exist left behind; returns how many things."""

    def remove_run(self, run_id: str) -> int:
        """Removes everything the run made on the engine; returns how many things."""

    def remove_all(self) -> int:
        """Removes everything any cab-check run made on the engine; returns how many things."""
