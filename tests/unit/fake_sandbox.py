"""A Sandbox without an engine, for running the whole cell lifecycle in unit tests.

Containers are folders; "running" one calls a Python function standing for the agent or the grader; files go in
and out as the same tar streams a real engine takes and gives. The run network leads straight to the proxy on
loopback, so an agent function can make real model calls through the real recording proxy."""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cab_check.errors import Cancelled
from cab_check.sandbox import ContainerRun, ContainerSpec, Engine, ImageRef


@dataclass
class FakeNetwork:
    url: str
    interfaces: list[str] = field(default_factory=lambda: ["lo"])
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeContainer:
    run_id: str
    spec: ContainerSpec
    root: Path  # the container's file system


@dataclass
class Behaviour:
    """What a fake container "does": gets its root folder, spec and cancel event; returns (exit code, output) or
    None for a process that never ends by itself (the run then times out)."""

    run: Callable[[Path, ContainerSpec, threading.Event], tuple[int, str] | None]


class FakeSandbox:
    engine = Engine(url="fake://", product="Fake engine", version="1", remote=False)

    def __init__(self, agent: Behaviour, grader: Behaviour, interfaces: list[str] | None = None) -> None:
        self.behaviours = {"agent": agent, "grader": grader}
        self.interfaces = interfaces or ["lo"]
        self.containers: dict[str, FakeContainer] = {}
        self.networks: list[FakeNetwork] = []
        self.calls: list[str] = []  # method names in order, for lifecycle assertions
        self._temp = Path(tempfile.mkdtemp(prefix="fake-sandbox-"))
        self._next = 0

    # --- images ---
    def ensure_image(
        self, name: str, folder: Path, ca_bundle: Path | None, progress: Callable[[str], None]
    ) -> ImageRef:
        self.calls.append(f"ensure_image {name}")
        progress(f"using fake/{name}")
        return ImageRef(f"fake/{name}:1", f"sha256:{name}", built=False)

    def use_image(self, ref: str) -> ImageRef:
        return ImageRef(ref, "sha256:user", built=False)

    # --- network ---
    def open_network(self, run_id: str, relay_image: str, proxy_port: int) -> FakeNetwork:
        self.calls.append("open_network")
        network = FakeNetwork(f"http://127.0.0.1:{proxy_port}", list(self.interfaces))
        self.networks.append(network)
        return network

    # --- containers ---
    def create(self, run_id: str, spec: ContainerSpec) -> str:
        self.calls.append(f"create {spec.role}")
        self._next += 1
        handle = f"{spec.role}-{self._next}"
        root = self._temp / handle
        root.mkdir()
        self.containers[handle] = FakeContainer(run_id, spec, root)
        return handle

    def put_files(self, container: str, archive: IO[bytes]) -> None:
        archive.seek(0)
        with tarfile.open(fileobj=archive, mode="r") as tar:
            tar.extractall(self.containers[container].root, filter="fully_trusted")

    @contextmanager
    def get_files(self, container: str, path: str) -> Iterator[Iterator[bytes]]:
        root = self.containers[container].root
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            source = root / path.lstrip("/")
            if source.exists():
                tar.add(source, arcname=source.name)
        yield iter([buffer.getvalue()])

    def run(
        self,
        container: str,
        *,
        timeout_s: float,
        on_output: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ContainerRun:
        box = self.containers[container]
        self.calls.append(f"run {box.spec.role}")
        cancel = cancel or threading.Event()
        outcome = self.behaviours[box.spec.role].run(box.root, box.spec, cancel)
        if cancel.is_set():
            raise Cancelled()
        if outcome is None:
            return ContainerRun(137, True, timeout_s, "", "", [])
        exit_code, output = outcome
        if on_output and output:
            on_output(output)
        return ContainerRun(exit_code, False, 0.5, output, "", [(0.1, output)] if output else [])

    def remove(self, container: str) -> None:
        box = self.containers.pop(container, None)
        if box is not None:
            shutil.rmtree(box.root, ignore_errors=True)

    # --- lifecycle ---
    def sweep_orphans(self) -> int:
        self.calls.append("sweep_orphans")
        return 0

    def remove_run(self, run_id: str) -> int:
        self.calls.append("remove_run")
        gone = [handle for handle, box in self.containers.items() if box.run_id == run_id]
        for handle in gone:
            self.remove(handle)
        return len(gone)

    def remove_all(self) -> int:
        gone = list(self.containers)
        for handle in gone:
            self.remove(handle)
        return len(gone)
