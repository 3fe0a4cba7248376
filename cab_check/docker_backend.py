"""Everything cab-check asks of the Docker engine: images by content hash, a per-run network, the agent and
grader containers, and cleanup by label."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from cab_check.catalog import base_dir
from cab_check.errors import BadInput, Cancelled, DockerUnavailable, EnvironmentProblem, ImageBuildFailed

LABEL_RUN = "cab-check.run"
LABEL_PID = "cab-check.pid"
LABEL_INPUTS = "cab-check.inputs"
IMAGE_REPO = "cab-check"
CA_DIR = "cab-ca"
CA_FILE = "extra-ca.crt"
CONTAINER_HOME = "/home/cab"
CPU_LIMIT = max(1, min(4, (os.cpu_count() or 1)))  # cores an agent or grader may use
WAIT_SLICE_S = 1.0  # how often a running container is checked for a cancel


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
    stdout: str = ""
    stderr: str = ""
    output_events: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, text)


# A Dockerfile names the cab-check image it builds on with this line. That image is built first and its tag passed
# as the BASE build argument, so every TUI image shares the toolchain layers and rebuilds when its base changes.
BASE_LINE = re.compile(r"^#\s*cab-base:\s*(\S+)\s*$", re.MULTILINE)
NOT_IMAGE_INPUTS = {"tui.toml"}  # says how to run an image, not how to build it: editing it must not rebuild


def declared_base(folder: Path) -> str | None:
    match = BASE_LINE.search((folder / "Dockerfile").read_text(encoding="utf-8"))
    return match.group(1) if match else None


def _image_inputs(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.relative_to(folder).as_posix() not in NOT_IMAGE_INPUTS
    )


def inputs_hash(folder: Path, base_tag: str | None = None) -> str:
    """Hash of every file that goes into an image, and of its base; the tag, so unchanged inputs never rebuild."""
    digest = hashlib.sha256((base_tag or "").encode() + b"\0")
    for path in _image_inputs(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _tag(name: str, folder: Path, base_tag: str | None) -> str:
    return f"{IMAGE_REPO}/{name}:{inputs_hash(folder, base_tag)}"


def image_tag(name: str, folder: Path) -> str:
    """The tag an image's inputs (and its base's, recursively) give it; computed without building anything."""
    base = declared_base(folder)
    return _tag(name, folder, image_tag(base, base_dir(base)) if base else None)


def _build_context(folder: Path, ca_bundle: Path | None) -> io.BytesIO:
    """The folder as a tar, plus cab-ca/ holding the extra CA bundle (or nothing) for the Dockerfile to COPY.

    The bundle is not part of the tag: it only lets the build reach the registries and is not a recipe input."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in _image_inputs(folder):
            tar.add(path, arcname=path.relative_to(folder).as_posix())
        _add_bytes(tar, f"{CA_DIR}/.keep", b"")
        if ca_bundle is not None:
            _add_bytes(tar, f"{CA_DIR}/{CA_FILE}", ca_bundle.read_bytes())
    buffer.seek(0)
    return buffer


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


class DockerBackend:
    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id
        try:
            self.client = docker.from_env(timeout=120)
            self.client.ping()
        except docker.errors.DockerException as exc:
            raise DockerUnavailable(
                f"Docker is not reachable ({_short(exc)}): start the Docker engine, or check that you may use its "
                "socket, then try again."
            ) from None

    def labels(self) -> dict[str, str]:
        return {LABEL_RUN: self.run_id or "", LABEL_PID: str(os.getpid())}

    # --- images -------------------------------------------------------------------------------------------

    def image_state(self, name: str, folder: Path) -> str:
        """'present', 'stale' (an older build of it exists) or 'missing'."""
        try:
            self.client.images.get(image_tag(name, folder))
            return "present"
        except docker.errors.ImageNotFound:
            older = self.client.images.list(name=f"{IMAGE_REPO}/{name}")
            return "stale" if older else "missing"

    def ensure_image(
        self, name: str, folder: Path, ca_bundle: Path | None, progress: Callable[[str], None]
    ) -> ImageRef:
        buildargs = {}
        if base := declared_base(folder):
            buildargs["BASE"] = self.ensure_image(base, base_dir(base), ca_bundle, progress).tag
        tag = _tag(name, folder, buildargs.get("BASE"))  # the base's tag is known: no second hash of its inputs
        try:
            return ImageRef(tag, self.client.images.get(tag).id, built=False)
        except docker.errors.ImageNotFound:
            pass
        progress(f"building {tag}")
        last_lines: list[str] = []
        try:
            for chunk in self.client.api.build(
                fileobj=_build_context(folder, ca_bundle),
                custom_context=True,
                tag=tag,
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                buildargs=buildargs,
                labels={LABEL_INPUTS: tag.rsplit(":", 1)[1]},
            ):
                if "error" in chunk:
                    raise ImageBuildFailed(
                        f"Building {tag} failed: {chunk['error'].strip()}"
                        + (f" — last output: {' | '.join(last_lines[-5:])}" if last_lines else "")
                    )
                for line in str(chunk.get("stream", "")).splitlines():
                    if line.strip():
                        last_lines.append(line.strip())
                        progress(line.rstrip())
        except docker.errors.APIError as exc:
            raise ImageBuildFailed(f"Building {tag} failed: {_short(exc)}.") from None
        return ImageRef(tag, self.client.images.get(tag).id, built=True)

    def use_image(self, ref: str) -> ImageRef:
        """An image the user brings (--image); it must already be on this machine: we never pull behind their back."""
        try:
            return ImageRef(ref, self.client.images.get(ref).id, built=False)
        except docker.errors.ImageNotFound:
            raise BadInput(f"There is no image '{ref}' on this machine: build it or `docker pull {ref}` first.") from None
        except docker.errors.APIError as exc:
            raise BadInput(f"'{ref}' is not a usable image reference ({_short(exc)}).") from None

    # --- network ------------------------------------------------------------------------------------------

    def create_internal_network(self) -> tuple[str, str, str]:
        """A per-run network with no route out; returns (name, gateway address the host listens on, bridge)."""
        name = f"cab-check-{self.run_id}"
        network = self.client.networks.create(name, driver="bridge", internal=True, labels=self.labels())
        network.reload()
        configs = network.attrs.get("IPAM", {}).get("Config") or []
        gateway = next((c["Gateway"] for c in configs if c.get("Gateway")), None)
        if gateway is None:
            raise EnvironmentProblem(f"Docker created network {name} without a gateway address; cannot reach it.")
        # Docker names a bridge network's host interface br-<first 12 of its id> unless told otherwise.
        return name, gateway, "br-" + network.id[:12]

    def live_run_ids(self) -> set[str]:
        """Runs whose network still exists, from any cab-check process."""
        return {n.attrs.get("Labels", {}).get(LABEL_RUN, "") for n in self.client.networks.list(filters={"label": LABEL_RUN})}

    # --- containers ---------------------------------------------------------------------------------------

    def run_container(
        self,
        image: str,
        command: list[str],
        *,
        workdir: Path,
        user: str,
        timeout_s: float,
        environment: dict[str, str] | None = None,
        network: str | None = None,
        on_output: Callable[[str], None] | None = None,
        name_suffix: str = "agent",
        entrypoint: list[str] | None = None,
        mounts: dict[Path, tuple[str, str]] | None = None,  # host folder → (container path, "ro" | "rw")
        cancel: threading.Event | None = None,
    ) -> ContainerRun:
        """Runs one hardened container to completion (or kills it at the timeout) and collects its output.

        When `cancel` is set the container is killed within about a second and Cancelled is raised."""
        container = self.client.containers.create(
            image,
            command=command,
            name=f"cab-check-{self.run_id}-{name_suffix}",
            environment={"HOME": CONTAINER_HOME, **(environment or {})},
            user=user,
            working_dir="/work",
            entrypoint=entrypoint,
            volumes={
                str(workdir): {"bind": "/work", "mode": "rw"},
                **{str(host): {"bind": target, "mode": mode} for host, (target, mode) in (mounts or {}).items()},
            },
            tmpfs={CONTAINER_HOME: _owned_tmpfs(user, "1g"), "/tmp": "rw,exec,size=2g,mode=1777"},
            network=network,
            network_mode="none" if network is None else None,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit="4g",
            memswap_limit="4g",  # no swap beyond the memory limit: a runaway agent is killed, not the host slowed
            nano_cpus=CPU_LIMIT * 1_000_000_000,
            pids_limit=1024,
            labels=self.labels(),
            detach=True,
        )
        stdout: list[str] = []
        stderr: list[str] = []
        events: list[tuple[float, str]] = []
        started = time.monotonic()

        def pump() -> None:
            # Demuxed so the grader's stdout/stderr tails stay apart; the recording interleaves both.
            for out, err in container.attach(stream=True, logs=True, stdout=True, stderr=True, demux=True):
                for text, sink in ((out, stdout), (err, stderr)):
                    if text:
                        decoded = text.decode("utf-8", "replace")
                        sink.append(decoded)
                        events.append((time.monotonic() - started, decoded))
                        if on_output:
                            on_output(decoded)

        reader = threading.Thread(target=pump, daemon=True, name=f"cab-output-{name_suffix}")
        container.start()
        reader.start()
        exit_code = self._wait(container, started + timeout_s, cancel)
        timed_out = exit_code is None
        if timed_out:
            _kill(container)
            exit_code = container.wait(timeout=30)["StatusCode"]
        duration = time.monotonic() - started
        reader.join(timeout=10)
        if not stdout and not stderr:
            # A container that exits before attach() connects streams nothing; its log still has every line.
            stdout.append(container.logs(stdout=True, stderr=False).decode("utf-8", "replace"))
            stderr.append(container.logs(stdout=False, stderr=True).decode("utf-8", "replace"))
            events.append((duration, stdout[0] + stderr[0]))
        return ContainerRun(exit_code, timed_out, duration, "".join(stdout), "".join(stderr), events)

    @staticmethod
    def _wait(container, deadline: float, cancel: threading.Event | None) -> int | None:
        """The container's exit code, or None at the deadline; waits in short slices so a cancel is seen soon."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                return container.wait(timeout=min(remaining, WAIT_SLICE_S))["StatusCode"]
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                if cancel is not None and cancel.is_set():
                    _kill(container)
                    raise Cancelled() from None
        return None

    # --- cleanup ------------------------------------------------------------------------------------------

    def remove_run(self, run_id: str) -> int:
        """Removes every container and network labelled with this run; returns how many went."""
        return self._remove({f"{LABEL_RUN}={run_id}"})

    def sweep_orphans(self) -> int:
        """Removes what earlier cab-check processes left behind when they were killed (their pid is gone)."""
        removed = 0
        for container in self.client.containers.list(all=True, filters={"label": LABEL_PID}):
            if not _pid_alive(container.labels.get(LABEL_PID)):
                removed += self._remove({f"{LABEL_RUN}={container.labels.get(LABEL_RUN, '')}"})
        for network in self.client.networks.list(filters={"label": LABEL_PID}):
            if not _pid_alive(network.attrs.get("Labels", {}).get(LABEL_PID)):
                removed += self._remove({f"{LABEL_RUN}={network.attrs['Labels'].get(LABEL_RUN, '')}"})
        return removed

    def remove_all(self) -> int:
        return self._remove({LABEL_RUN})

    def _remove(self, label_filter: set[str]) -> int:
        removed = 0
        for container in self.client.containers.list(all=True, filters={"label": list(label_filter)}):
            try:
                container.remove(force=True)
                removed += 1
            except docker.errors.NotFound:
                pass
        for network in self.client.networks.list(filters={"label": list(label_filter)}):
            try:
                network.remove()
                removed += 1
            except docker.errors.NotFound:
                pass
        return removed


def _kill(container) -> None:
    try:
        container.kill()
    except docker.errors.APIError:
        pass  # it exited on its own between the last wait and the kill (409 "is not running")


def _owned_tmpfs(user: str, size: str) -> str:
    """tmpfs options for a HOME the container user owns: a tmpfs mounted over an image's existing folder takes
    that folder's owner and mode (root, 755), which would leave HOME unwritable for the agent."""
    uid, _, gid = user.partition(":")
    return f"rw,exec,size={size},mode=700,uid={uid},gid={gid or uid}"


def _pid_alive(pid: str | None) -> bool:
    try:
        os.kill(int(pid or ""), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True  # another user's process, or not ours to judge
    return True


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
