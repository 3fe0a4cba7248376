"""The sandbox on any engine that speaks the Docker API: a local dockerd, Docker Desktop, rootless Docker, Podman's
compatible service or a remote `DOCKER_HOST`.

It uses only the API: images are built from a streamed context, files travel as tar streams, output comes over
attach, and model traffic crosses a relay container's attached stdin/stdout (cab_check.sandbox.relay). The agent
joins the relay's network namespace, which has no interface but loopback, so it can reach nothing but the relay:
no host port is opened, no route out exists and no name resolves, on every engine alike."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import requests.exceptions

from cab_check.catalog import base_dir
from cab_check.errors import BadInput, Cancelled, DockerUnavailable, EnvironmentProblem, ImageBuildFailed, Remedy
from cab_check.sandbox import engine as engines
from cab_check.sandbox.base import (
    CONTAINER_HOME,
    CONTAINER_USER,
    WORKDIR,
    Container,
    ContainerRun,
    ContainerSpec,
    Engine,
    ImageRef,
)
from cab_check.sandbox.images import build_context, declared_base, image_tag, registry_buildargs, tag_for
from cab_check.sandbox.output import OutputRecorder
from cab_check.sandbox.relay import RELAY_PORT, RELAY_SCRIPT, DockerStream, ModelChannel
from cab_check.store import pid_alive

LABEL_RUN = "cab-check.run"
LABEL_PID = "cab-check.pid"
LABEL_HOST = "cab-check.host"  # on a shared remote engine, only this machine may judge its own pids
LABEL_ROLE = "cab-check.role"
LABEL_INPUTS = "cab-check.inputs"
CPU_LIMIT = max(1, min(4, (os.cpu_count() or 1)))  # cores an agent or grader may use
WAIT_SLICE_S = 1.0  # how often a running container is checked for a cancel
RELAY_READY_S = 30.0
ARCHIVE_CHUNK = 1024 * 1024


class RelayNetwork:
    """A run's network: the relay container's namespace, whose loopback leads to the proxy through cab-check."""

    def __init__(
        self, container: Container, channel: ModelChannel, interfaces: list[str], closers: list[Callable[[], None]]
    ) -> None:
        self.container = container
        self._channel = channel
        self._interfaces = interfaces
        self._closers = closers

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{RELAY_PORT}"

    @property
    def interfaces(self) -> list[str]:
        return list(self._interfaces)

    @property
    def network_mode(self) -> str:
        return f"container:{self.container}"

    def close(self) -> None:
        self._channel.close()
        for close in self._closers:
            try:
                close()
            except OSError:
                pass
        self._closers = []


class DockerSandbox:
    """A `Sandbox` over the docker SDK."""

    def __init__(self, client: docker.DockerClient, engine: Engine) -> None:
        self.client = client
        self.engine = engine

    @classmethod
    def connect(cls, engine: str | None = None) -> DockerSandbox:
        """The engine `engine` names (see cab_check.sandbox.engine), or the one the docker CLI would use."""
        params = engines.client_params(engine)
        url = str(params["base_url"])
        shown = engines.public_url(url)
        try:
            client = docker.DockerClient(timeout=120, **params)
            client.ping()
            described = engines.describe(url, client.info(), client.version())
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            raise DockerUnavailable(
                f"The container engine at {shown} is not reachable ({_root_cause(exc)}): start Docker (or Podman), "
                f"check that you may use its socket, or name another engine {Remedy.ENGINE.slot}.",
                "engine_unreachable",
                Remedy.ENGINE,
            ) from None
        return cls(client, described)

    @contextmanager
    def _engine(self, doing: str) -> Iterator[None]:
        """Turns the engine going away (a restart, a crash, a lost connection) into one sentence, exit 3."""
        try:
            yield
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise DockerUnavailable(
                f"The container engine at {self.engine.url} stopped answering while {doing} ({_root_cause(exc)}): "
                f"check that it is running; what this run left is removed {Remedy.CLEANUP.slot}.",
                "engine_lost",
                Remedy.CLEANUP,
            ) from None

    def _labels(self, run_id: str, role: str) -> dict[str, str]:
        return {LABEL_RUN: run_id, LABEL_PID: str(os.getpid()), LABEL_HOST: socket.gethostname(), LABEL_ROLE: role}

    # --- images -------------------------------------------------------------------------------------------

    def image_state(self, name: str, folder: Path) -> str:
        """'present', 'stale' (an older build of it exists) or 'missing'."""
        with self._engine("looking up an image"):
            try:
                self.client.images.get(image_tag(name, folder))
                return "present"
            except docker.errors.ImageNotFound:
                older = self.client.images.list(name=image_tag(name, folder).rsplit(":", 1)[0])
                return "stale" if older else "missing"

    def ensure_image(
        self, name: str, folder: Path, ca_bundle: Path | None, progress: Callable[[str], None]
    ) -> ImageRef:
        buildargs = registry_buildargs(folder)
        if base := declared_base(folder):
            buildargs["BASE"] = self.ensure_image(base, base_dir(base), ca_bundle, progress).tag
        tag = tag_for(name, folder, buildargs.get("BASE"))  # the base's tag is known: no second hash of its inputs
        with self._engine(f"looking up {tag}"):
            try:
                return ImageRef(tag, self.client.images.get(tag).id, built=False)
            except docker.errors.ImageNotFound:
                pass
        progress(f"building {tag}")
        last_lines: list[str] = []
        try:
            for chunk in self.client.api.build(
                fileobj=build_context(folder, ca_bundle),
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
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError):
            with self._engine(f"building {tag}"):
                raise
        return ImageRef(tag, self.client.images.get(tag).id, built=True)

    def use_image(self, ref: str) -> ImageRef:
        """An image the user brings (--image); it must already be on the engine: we never pull behind their back."""
        with self._engine("looking up an image"):
            try:
                return ImageRef(ref, self.client.images.get(ref).id, built=False)
            except docker.errors.ImageNotFound:
                raise BadInput(
                    f"There is no image '{ref}' on the engine at {self.engine.url}: build it or "
                    f"`docker pull {ref}` there first."
                ) from None
            except docker.errors.APIError as exc:
                raise BadInput(f"'{ref}' is not a usable image reference ({_short(exc)}).") from None

    # --- the run's network --------------------------------------------------------------------------------

    def open_network(self, run_id: str, relay_image: str, proxy_port: int) -> RelayNetwork:
        """Starts the run's relay with no network of its own and connects its stdio to 127.0.0.1:`proxy_port`."""
        with self._engine("starting the run's relay"):
            relay = self.client.containers.create(
                relay_image,
                command=["python3", RELAY_SCRIPT, "--listen", f"127.0.0.1:{RELAY_PORT}"],
                name=f"cab-check-{run_id}-relay",
                user=CONTAINER_USER,
                network_mode="none",
                stdin_open=True,
                # Its stdout is the model traffic: no log driver may keep a copy of it on the engine's disk.
                log_config={"type": "none"},
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                mem_limit="256m",
                memswap_limit="256m",
                pids_limit=64,
                labels=self._labels(run_id, "relay"),
                # Not detached, so the engine sets StdinOnce: closing our stdin attachment then ends the relay.
            )
            # Two attachments, one per direction, so no socket is ever read and written from two threads at once.
            output = self.client.api.attach_socket(relay.id, params={"stdout": 1, "stderr": 1, "stream": 1})
            feed = self.client.api.attach_socket(relay.id, params={"stdin": 1, "stream": 1})
            errors: list[str] = []
            stream = DockerStream(_raw(output), on_stderr=lambda data: errors.append(data.decode("utf-8", "replace")))
            writer = _raw(feed)
            channel = ModelChannel(
                stream.read,
                writer.sendall,
                ("127.0.0.1", proxy_port),
                close_write=lambda: writer.shutdown(socket.SHUT_WR),
            )
            network = RelayNetwork(relay.id, channel, [], [output.close, feed.close])
            try:
                relay.start()
                channel.start()
                if not channel.wait_ready(RELAY_READY_S):
                    raise EnvironmentProblem(
                        f"The model relay container did not start on the engine at {self.engine.url}"
                        + (f": {''.join(errors).strip()[-300:]}" if errors else "")
                        + "."
                    )
            except BaseException:
                network.close()
                raise
            network._interfaces = channel.interfaces
            return network

    # --- containers ---------------------------------------------------------------------------------------

    def create(self, run_id: str, spec: ContainerSpec) -> Container:
        with self._engine("creating a container"):
            if spec.network is None:
                network_mode = "none"
            elif isinstance(spec.network, RelayNetwork):
                network_mode = spec.network.network_mode
            else:
                raise TypeError(f"a DockerSandbox cannot join a {type(spec.network).__name__}")
            container = self.client.containers.create(
                spec.image,
                command=spec.command,
                name=f"cab-check-{run_id}-{spec.role}-{secrets.token_hex(2)}",
                environment={"HOME": CONTAINER_HOME, **spec.environment},
                user=CONTAINER_USER,
                working_dir=WORKDIR,
                entrypoint=spec.entrypoint,
                tmpfs={
                    CONTAINER_HOME: f"rw,exec,size=1g,mode=700,{self._owned_by_user()}",
                    "/tmp": "rw,exec,size=2g,mode=1777",
                },
                network_mode=network_mode,
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                mem_limit="4g",
                memswap_limit="4g",  # no swap beyond the memory limit: a runaway agent is killed, not the host slowed
                nano_cpus=CPU_LIMIT * 1_000_000_000,
                pids_limit=1024,
                labels=self._labels(run_id, spec.role),
                # Output is read from the attachment; no log driver keeps a copy (an agent may print gigabytes).
                log_config={"type": "none"},
                detach=True,
            )
            return str(container.id)

    def _owned_by_user(self) -> str:
        """The tmpfs option that makes HOME the container user's: a tmpfs over an image's folder otherwise takes
        that folder's owner (root), leaving HOME unwritable. Docker takes uid=/gid=; Podman refuses them and has U."""
        if "Podman" in self.engine.product:
            return "U"
        uid, _, gid = CONTAINER_USER.partition(":")
        return f"uid={uid},gid={gid}"

    def put_files(self, container: Container, archive: IO[bytes]) -> None:
        archive.seek(0)
        try:
            with self._engine("copying files into a container"):
                self.client.api.put_archive(container, "/", archive)
        except docker.errors.APIError as exc:
            raise EnvironmentProblem(
                f"Copying files into a container failed on {self.engine.url}: {_short(exc)}."
            ) from None

    @contextmanager
    def get_files(self, container: Container, path: str) -> Iterator[Iterator[bytes]]:
        try:
            with self._engine(f"copying {path} out of a container"):
                chunks, _ = self.client.api.get_archive(container, path, chunk_size=ARCHIVE_CHUNK)
        except docker.errors.APIError as exc:
            raise EnvironmentProblem(
                f"Copying {path} out of a container failed on {self.engine.url}: {_short(exc)}."
            ) from None

        def translated() -> Iterator[bytes]:  # the caller reads the chunks: a lost engine must still be one sentence
            with self._engine(f"copying {path} out of a container"):
                yield from chunks

        try:
            yield translated()
        finally:
            chunks.close()

    def run(
        self,
        container: Container,
        *,
        timeout_s: float,
        on_output: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ContainerRun:
        """Runs the container to completion (or kills it at the timeout) and collects its output, bounded."""
        with self._engine("running a container"):
            handle = self.client.containers.get(container)
            # Attached before it starts, so not a line is missed; demuxed so stdout and stderr stay apart.
            stream = self.client.api.attach(container, stream=True, logs=False, stdout=True, stderr=True, demux=True)
            output = OutputRecorder(on_output)

            def pump() -> None:
                try:
                    for out, err in stream:
                        for data, is_err in ((out, False), (err, True)):
                            if data:
                                output.add(data.decode("utf-8", "replace"), stderr=is_err)
                except (requests.exceptions.RequestException, OSError):
                    pass  # the attachment broke: the wait below finds out why

            reader = threading.Thread(target=pump, daemon=True, name=f"cab-output-{container[:12]}")
            started = time.monotonic()
            handle.start()
            reader.start()
            exit_code = self._wait(handle, started + timeout_s, cancel)
            timed_out = exit_code is None
            if timed_out:
                _kill(handle)  # SIGKILL: an agent that ignores SIGTERM is not given the chance
                exit_code = int(handle.wait(timeout=30)["StatusCode"])
            duration = time.monotonic() - started
            reader.join(timeout=10)
            oom = bool(self.client.api.inspect_container(container)["State"].get("OOMKilled"))
        return ContainerRun(
            exit_code,
            timed_out,
            duration,
            output.stdout.text(),
            output.stderr.text(),
            output.events,
            oom_killed=oom,
            output_cut=output.cut,
        )

    def _wait(self, container: Any, deadline: float, cancel: threading.Event | None) -> int | None:
        """The container's exit code, or None at the deadline; waits in short slices so a cancel is seen soon."""
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                return int(container.wait(timeout=min(remaining, WAIT_SLICE_S))["StatusCode"])
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                # docker-py reports a wait's read timeout as either; only a failed ping means the engine is gone.
                self.client.ping()
                if cancel is not None and cancel.is_set():
                    _kill(container)
                    raise Cancelled() from None
        return None

    def remove(self, container: Container) -> None:
        with self._engine("removing a container"):
            try:
                self.client.api.remove_container(container, force=True)
            except docker.errors.NotFound:
                pass

    # --- lifecycle hooks ----------------------------------------------------------------------------------

    def sweep_orphans(self) -> int:
        """Removes what cab-check processes of this machine left when they were killed (their pid is gone)."""
        with self._engine("sweeping what killed runs left"):
            here = {"label": [LABEL_PID, f"{LABEL_HOST}={socket.gethostname()}"]}
            dead = {
                c["Labels"].get(LABEL_RUN, "")
                for c in self.client.api.containers(all=True, filters=here)
                if not pid_alive(c["Labels"].get(LABEL_PID))
            }
            return sum(self.remove_run(run_id) for run_id in dead)

    def remove_run(self, run_id: str) -> int:
        return self._remove([f"{LABEL_RUN}={run_id}"])

    def remove_all(self) -> int:
        return self._remove([LABEL_RUN])

    def _remove(self, label_filter: list[str]) -> int:
        with self._engine("removing a run's containers"):
            # The raw list (no inspect per container, which fails on one that leaves meanwhile); relays last, since
            # an agent may still be using a relay's network namespace.
            found = self.client.api.containers(all=True, filters={"label": label_filter})
            found.sort(key=lambda c: c["Labels"].get(LABEL_ROLE) == "relay")
            removed = 0
            for summary in found:
                try:
                    self.client.api.remove_container(summary["Id"], force=True)
                    removed += 1
                except docker.errors.NotFound:
                    pass
            return removed


def _raw(sock: Any) -> Any:
    """The socket under docker-py's attach wrapper (a SocketIO for unix sockets; the socket itself for TLS/ssh)."""
    return getattr(sock, "_sock", sock)


def _kill(container: Any) -> None:
    try:
        container.kill()
    except docker.errors.APIError:
        pass  # it exited on its own between the last wait and the kill (409 "is not running")


def _root_cause(exc: BaseException) -> str:
    """The operating system's words for why a connection failed ("No such file or directory", "Connection
    refused"), found under the layers of docker-py, requests and urllib3; else the first line of the error."""
    pending: list[BaseException] = [exc]
    while pending:
        error = pending.pop(0)
        if isinstance(error, OSError) and error.strerror:
            return error.strerror
        pending += [arg for arg in error.args if isinstance(arg, BaseException)]
        pending += [e for e in (error.__cause__, error.__context__) if e is not None]
    return _short(exc)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
