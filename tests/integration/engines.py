"""Container engines other than the local dockerd, for integration tests: engines whose networks and files are not
this host's (see DESIGN.md, "Engines other than a local rootful dockerd").

- `netns_dockerd()`: a second dockerd in its own network namespace, with no route to this host.
- `podman_service()`: rootful Podman serving the Docker API on its own socket.

Each is a context manager yielding an `Engine`: it reuses an engine already answering (left by an earlier session on
this machine, or run by a concurrent one) and stops only what it started, once no other session uses it. Neither
engine can reach a registry: `Engine.load` copies images from the local engine. Data roots live under
/var/lib/cab-test-*, so images loaded once survive to the next run; logs are there too (dockerd.log, service.log).
Podman names a loaded `cab-check/x:t` `localhost/cab-check/x:t`; look-ups by the short name still find it.

Tests use the session fixtures `netns_engine` and `podman_engine` by naming this module a plugin (the test folder is
on sys.path as pytest's default "prepend" import mode puts it there, the same way `wire_streams` is imported):

    pytest_plugins = ["engines"]

    def test_something(podman_engine):
        podman_engine.load([image_tag])
        client = podman_engine.client()

With CI=true an engine that does not start fails the test; otherwise (not root, a tool missing) it is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest
from required import unavailable

START_TIMEOUT_S = 60  # until the engine answers ping
STOP_TIMEOUT_S = 30  # after SIGTERM, before SIGKILL

NETNS = "cab-test-netns"
PODMAN = "cab-test-podman"
# Podman's default ulimits exceed what root may set on these machines: runc then fails with "error setting rlimit
# type 7/6: operation not permitted". .ci/run writes this into /etc/containers/containers.conf.
PODMAN_ULIMITS = 'default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]'
SYSTEM_CONTAINERS_CONF = Path("/etc/containers/containers.conf")


class EngineUnavailable(RuntimeError):
    """This machine cannot run the engine: not root, or a tool is missing."""


@dataclass(frozen=True)
class Engine:
    name: str
    url: str  # unix:///run/cab-test-…/….sock

    def client(self, timeout: int = 120) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=timeout)

    def load(self, tags: list[str], source: docker.DockerClient | None = None) -> list[str]:
        """Copies the images `tags` from `source` (the local engine by default) into this engine, those it lacks or
        holds under another image id; returns the tags it copied."""
        own_source = source is None
        source = source or docker.from_env(timeout=600)
        target = self.client(timeout=600)
        copied = []
        try:
            for tag in tags:
                wanted = source.images.get(tag).id
                try:
                    if target.images.get(tag).id == wanted:
                        continue
                except docker.errors.ImageNotFound:
                    pass
                # Streams `docker save` into `docker load`, one tag at a time (the SDK saves one image per call).
                target.images.load(source.api.get_image(tag, chunk_size=1 << 20))
                if target.images.get(tag).id != wanted:
                    raise RuntimeError(f"{self.name}: {tag} loaded with another image id than the local engine's")
                copied.append(tag)
        finally:
            target.close()
            if own_source:
                source.close()
        return copied


# ---- helpers ------------------------------------------------------------------------------------------------------


def _answers(url: str) -> bool:
    """Whether the engine at unix://… answers GET /_ping. A raw socket: the docker SDK leaks its socket when the
    connection is refused, as it is while the engine starts."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(url.removeprefix("unix://"))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
            return sock.recv(64).split(b"\r\n", 1)[0].split(b" ")[1:2] == [b"200"]
    except OSError:  # no socket yet, refused, timed out
        return False


def _live_pid(pidfile: Path, command: str) -> int | None:
    """The pid in `pidfile` when that process lives (a zombie does not) and runs `command`; None otherwise."""
    try:
        pid = int(pidfile.read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()  # "pid (comm) state …"
    except (OSError, ValueError):
        return None
    comm, _, rest = stat.partition(" (")[2].rpartition(") ")
    return pid if comm == command and not rest.startswith(("Z", "X")) else None


def _needs(tools: list[str]) -> None:
    if os.geteuid() != 0:
        raise EngineUnavailable("needs root")
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise EngineUnavailable(f"missing {', '.join(missing)} (bash .ci/run installs them)")


def _tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until_answers(url: str, process: subprocess.Popen | None, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _answers(url):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}:\n{_tail(log)}")
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer at {url} within {START_TIMEOUT_S} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with log.open("ab") as out:  # the child keeps its own descriptor
        out.write(f"\n== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        # Its own session: ^C in the terminal running pytest reaches pytest, which then stops the engine itself.
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )


# ---- engines ------------------------------------------------------------------------------------------------------

Started = tuple[subprocess.Popen, Callable[[], None]]  # the engine's process, and what undoes the rest of its start


@contextlib.contextmanager
def _lifecycle(
    engine: Engine, run: Path, log: Path, pidfile: Path, command: str, start: Callable[[], Started]
) -> Iterator[Engine]:
    """Yields `engine` answering: the one already running (from an earlier or a concurrent session on this
    machine), else one `start` spawns. Every session using it holds run/users.lock shared; the session that
    started it stops it on exit unless another still holds that lock (the engine then stays for the next session).
    run/start.lock makes concurrent sessions start it once."""
    run.mkdir(parents=True, exist_ok=True)
    started: Started | None = None
    with (run / "users.lock").open("w") as users:
        fcntl.flock(users, fcntl.LOCK_SH)
        with (run / "start.lock").open("w") as starting:
            fcntl.flock(starting, fcntl.LOCK_EX)
            if not _answers(engine.url):
                if (pid := _live_pid(pidfile, command)) is not None:  # not ours: starting, or hung
                    _wait_until_answers(engine.url, None, log, f"{command} (pid {pid}, of another session)")
                else:
                    started = start()
                    try:
                        _wait_until_answers(engine.url, started[0], log, f"{engine.name} engine ({command})")
                    except BaseException:
                        _stop(started[0])
                        started[1]()
                        raise
        try:
            yield engine
        finally:
            if started is not None:
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another session uses it
                    pass
                else:
                    _stop(started[0])
                    started[1]()


@contextlib.contextmanager
def netns_dockerd(name: str = NETNS) -> Iterator[Engine]:
    """A second dockerd in the network namespace `name`, which holds only `lo` (and the bridges this dockerd makes):
    nothing in it routes to this host. Its own exec root gives it its own supervised containerd (socket
    <exec-root>/containerd/containerd.sock); its docker0 and iptables rules live in that namespace; its containers'
    cgroups under /<name>; its config and engine ID are its own: nothing collides with the main dockerd."""
    _needs(["ip", "nsenter", "dockerd"])
    run = Path("/run") / name  # state that must not outlive a reboot
    data = Path("/var/lib") / name  # images: kept from run to run
    exec_root, sock, pidfile = run / "exec", run / "docker.sock", run / "docker.pid"
    engine = Engine("netns", f"unix://{sock}")
    log = data / "dockerd.log"

    def start() -> Started:
        for folder in (exec_root, data):
            folder.mkdir(parents=True, exist_ok=True)
        # A killed dockerd leaves its pid file (and its containerd's) behind; the next one refuses to start.
        pidfile.unlink(missing_ok=True)
        containerd_pid = exec_root / "containerd" / "containerd.pid"
        if _live_pid(containerd_pid, "containerd") is None:
            containerd_pid.unlink(missing_ok=True)
        made_netns = not Path(f"/run/netns/{name}").exists()
        if made_netns:
            subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)

        def undo() -> None:
            if made_netns:
                subprocess.run(["ip", "netns", "delete", name], capture_output=True)

        netns = f"--net=/run/netns/{name}"
        try:
            subprocess.run(["nsenter", netns, "ip", "link", "set", "lo", "up"], check=True, capture_output=True)
            # Not /etc/docker/daemon.json, which is the main dockerd's; nor /etc/docker/key.json, from which
            # dockerd derives its engine ID (it would report the main dockerd's). 20.10 takes that path in JSON only.
            config = data / "daemon.json"
            config.write_text(json.dumps({"deprecated-key-path": str(data / "key.json")}) + "\n")
            # nsenter, not `ip netns exec`: that remounts /sys and dockerd fails with "Devices cgroup isn't mounted".
            process = _spawn(
                [
                    "nsenter",
                    netns,
                    "dockerd",
                    "--config-file",
                    str(config),
                    "--data-root",
                    str(data / "docker"),
                    "--exec-root",
                    str(exec_root),
                    "--pidfile",
                    str(pidfile),
                    "-H",
                    engine.url,
                    "--cgroup-parent",
                    f"/{name}",
                    "--containerd-namespace",
                    name,
                    "--containerd-plugins-namespace",
                    f"{name}p",
                ],
                log,
            )
        except BaseException:
            undo()
            raise
        return process, undo

    with _lifecycle(engine, run, log, pidfile, "dockerd", start):
        yield engine


def _podman_conf(data: Path) -> dict[str, str]:
    """The environment for the Podman service: the system's containers.conf when it sets the default ulimits (as
    .ci/run makes it), else a copy of it that does, through CONTAINERS_CONF (which then replaces the system's)."""
    env = dict(os.environ)
    text = SYSTEM_CONTAINERS_CONF.read_text() if SYSTEM_CONTAINERS_CONF.exists() else ""
    if re.search(r"^[ \t]*default_ulimits[ \t]*=", text, re.M):
        return env
    header = re.compile(r"^[ \t]*\[containers\][ \t]*$", re.M)
    if header.search(text):
        text = header.sub(lambda m: m.group(0) + "\n" + PODMAN_ULIMITS, text, count=1)
    else:
        text += f"\n[containers]\n{PODMAN_ULIMITS}\n"
    conf = data / "containers.conf"
    conf.write_text(text)
    env["CONTAINERS_CONF"] = str(conf)
    return env


@contextlib.contextmanager
def podman_service(name: str = PODMAN) -> Iterator[Engine]:
    """Rootful Podman serving the Docker API (`podman system service`), with its own storage, state and network
    configuration, so it neither sees nor disturbs another Podman on this machine. It runs in this host's network
    namespace: its bridge networks route to this host (as Podman's usually do)."""
    _needs(["podman"])
    run = Path("/run") / name
    data = Path("/var/lib") / name
    sock, pidfile = run / "podman.sock", run / "service.pid"
    engine = Engine("podman", f"unix://{sock}")
    log = data / "service.log"

    def start() -> Started:
        (data / "networks").mkdir(parents=True, exist_ok=True)
        pidfile.unlink(missing_ok=True)
        sock.unlink(missing_ok=True)  # a killed service leaves its socket behind
        process = _spawn(
            [
                "podman",
                "--root",
                str(data / "storage"),
                "--runroot",
                str(run / "storage"),
                "--tmpdir",
                str(run / "libpod"),
                "--network-config-dir",
                str(data / "networks"),
                "--events-backend",
                "file",
                "system",
                "service",
                "--time=0",
                engine.url,
            ],
            log,
            env=_podman_conf(data),
        )
        pidfile.write_text(f"{process.pid}\n")
        return process, lambda: pidfile.unlink(missing_ok=True)

    with _lifecycle(engine, run, log, pidfile, "podman", start):
        yield engine


# ---- fixtures -----------------------------------------------------------------------------------------------------


def _engine_fixture(start: Callable[[], contextlib.AbstractContextManager[Engine]]) -> Iterator[Engine]:
    with contextlib.ExitStack() as stack:
        try:
            engine = stack.enter_context(start())
        except Exception as exc:  # noqa: BLE001 - not root, a tool missing, the engine would not start
            reason = f"{start.__name__}: {type(exc).__name__}: {exc}"
            unavailable(reason, f"the engine did not start: {reason}")
        yield engine


@pytest.fixture(scope="session")
def netns_engine() -> Iterator[Engine]:
    """A dockerd with no route to this host (its own network namespace)."""
    yield from _engine_fixture(netns_dockerd)


@pytest.fixture(scope="session")
def podman_engine() -> Iterator[Engine]:
    """Rootful Podman serving the Docker API."""
    yield from _engine_fixture(podman_service)
