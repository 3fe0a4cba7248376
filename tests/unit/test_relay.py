"""The model channel, run for real: relay.py as a local subprocess, a ModelChannel in front, a real HTTP upstream.

The relay's stdout here is raw frames (no Docker attach headers); DockerStream is tested on its own below, and once
in front of the relay with the headers added by hand. Timeouts are hang guards only, never assertions about speed.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from cab_check.asgi_server import BackgroundServer
from cab_check.sandbox.relay import DATA, HEADER, MAX_PAYLOAD, DockerStream, ModelChannel

RELAY_PY = Path(str(files("cab_check.resources"))) / "sandbox" / "relay" / "relay.py"
HANG_GUARD_S = 20.0
CONCURRENT = 20


def wait_for(predicate: Callable[[], object], timeout: float = HANG_GUARD_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


async def wait_async(predicate: Callable[[], object]) -> bool:
    deadline = time.monotonic() + HANG_GUARD_S
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a real upstream -----------------------------------------------------------------------------------------------


@dataclass
class Upstream:
    """What the upstream saw, and gates that let a test decide when it sends what."""

    arrived: int = 0
    release_sse: threading.Event = field(default_factory=threading.Event)
    sse_second_sent: threading.Event = field(default_factory=threading.Event)
    stream_stopped: threading.Event = field(default_factory=threading.Event)

    def app(self) -> Starlette:
        async def hello(request: Request) -> Response:
            return PlainTextResponse("hello from upstream")

        async def who(request: Request) -> Response:
            # Answer no one until all of them are connected: proves they are open at the same time.
            self.arrived += 1
            if not await wait_async(lambda: self.arrived >= CONCURRENT):
                return PlainTextResponse(f"only {self.arrived} arrived", 504)
            return PlainTextResponse(f"you are {request.path_params['n']}")

        async def echo(request: Request) -> Response:
            return Response(await request.body(), media_type="application/octet-stream")

        async def sse(request: Request) -> Response:
            async def events() -> AsyncIterator[bytes]:
                yield b"data: one\n\n"
                await wait_async(self.release_sse.is_set)
                self.sse_second_sent.set()
                yield b"data: two\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        async def forever(request: Request) -> Response:
            async def chunks() -> AsyncIterator[bytes]:
                try:
                    for _ in range(int(request.query_params.get("chunks", 1_000_000))):
                        yield b"x" * 65536
                        await asyncio.sleep(0)
                finally:
                    self.stream_stopped.set()

            return StreamingResponse(chunks(), media_type="application/octet-stream")

        # Not fake_openai's server: the relay carries any HTTP, and these routes are no OpenAI API but byte tests.
        return Starlette(
            routes=[
                Route("/hello", hello),
                Route("/who/{n}", who),
                Route("/echo", echo, methods=["POST"]),
                Route("/sse", sse),
                Route("/forever", forever),
            ]
        )


@pytest.fixture
def upstream() -> Iterator[tuple[Upstream, BackgroundServer]]:
    state = Upstream()
    with BackgroundServer(state.app()) as server:
        yield state, server
        state.release_sse.set()


# --- a real relay --------------------------------------------------------------------------------------------------


class Relay:
    """relay.py in a subprocess with a ModelChannel reading its stdout and writing its stdin."""

    def __init__(self, target: tuple[str, int], *args: str, max_pending: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(RELAY_PY), "--listen", "127.0.0.1:0", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stderr: list[str] = []
        self._stderr_thread = threading.Thread(target=self._collect_stderr, daemon=True)
        self._stderr_thread.start()
        extra = {} if max_pending is None else {"max_pending": max_pending}
        self.channel = ModelChannel(
            self.proc.stdout.read1, self._write, target, close_write=self.proc.stdin.close, **extra
        ).start()
        assert self.channel.wait_ready(HANG_GUARD_S), self.stderr
        self.port = self.channel.relay_port
        self.url = f"http://127.0.0.1:{self.port}"

    def _write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _collect_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=HANG_GUARD_S)

    def close(self) -> int:
        self.channel.close()
        try:
            return self.proc.wait(HANG_GUARD_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._stderr_thread.join(HANG_GUARD_S)
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture
def start_relay() -> Iterator[Callable[..., Relay]]:
    relays: list[Relay] = []

    def start(target: tuple[str, int], *args: str, **kwargs: int) -> Relay:
        relays.append(Relay(target, *args, **kwargs))
        return relays[-1]

    yield start
    for relay in relays:
        relay.close()


@pytest.fixture
def relay(upstream: tuple[Upstream, BackgroundServer], start_relay: Callable[..., Relay]) -> Relay:
    return start_relay(("127.0.0.1", upstream[1].port))


def read_to_end(sock: socket.socket) -> bytes:
    received = bytearray()
    try:
        while chunk := sock.recv(1 << 20):
            received += chunk
    except ConnectionResetError:
        pass
    return bytes(received)


# --- through the relay ---------------------------------------------------------------------------------------------


def test_request_and_response_arrive_whole(relay: Relay) -> None:
    response = httpx.get(f"{relay.url}/hello", timeout=HANG_GUARD_S)
    assert response.status_code == 200
    assert response.text == "hello from upstream"
    assert relay.channel.stats.connections == 1
    assert relay.channel.stats.bytes_from_target > len("hello from upstream")


def test_the_relay_reports_the_interfaces_that_are_up_where_it_runs(relay: Relay) -> None:
    import socket

    assert "lo" in relay.channel.interfaces  # here, the host's namespace; in a run, loopback alone
    assert set(relay.channel.interfaces) <= {name for _, name in socket.if_nameindex()}


def test_concurrent_connections_each_get_their_own_answer(relay: Relay) -> None:
    def ask(n: int) -> str:
        return httpx.get(f"{relay.url}/who/{n}", timeout=HANG_GUARD_S).text

    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(ask, range(CONCURRENT)))
    assert answers == [f"you are {n}" for n in range(CONCURRENT)]
    assert relay.channel.stats.connections == CONCURRENT


def test_server_sent_events_arrive_as_they_are_sent(relay: Relay, upstream: tuple[Upstream, BackgroundServer]) -> None:
    state, _ = upstream
    with httpx.Client(timeout=HANG_GUARD_S) as client, client.stream("GET", f"{relay.url}/sse") as response:
        chunks = response.iter_raw()
        first = b""
        while not first.endswith(b"\n\n"):
            first += next(chunks)
        # The upstream is still holding the second event back: the first came through on its own.
        assert first == b"data: one\n\n"
        assert not state.sse_second_sent.is_set()
        state.release_sse.set()
        rest = b"".join(chunks)
    assert rest == b"data: two\n\n"


def test_five_megabyte_bodies_pass_intact(relay: Relay) -> None:
    body = os.urandom(5 * 1024 * 1024)
    response = httpx.post(f"{relay.url}/echo", content=body, timeout=HANG_GUARD_S)
    assert response.status_code == 200
    assert len(response.content) == len(body)
    assert hashlib.sha256(response.content).hexdigest() == hashlib.sha256(body).hexdigest()
    assert relay.channel.stats.bytes_to_target > len(body)
    assert relay.channel.stats.bytes_from_target > len(body)


def test_server_down_closes_the_clients_connection(start_relay: Callable[..., Relay]) -> None:
    relay = start_relay(("127.0.0.1", dead_port()))
    # Closed, not hung: a hang would end in a timeout, which is not among these.
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        httpx.get(f"{relay.url}/hello", timeout=HANG_GUARD_S)
    assert relay.channel.stats.connect_failures == 1


def open_sockets() -> int:
    return sum(
        os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        for fd in os.listdir("/proc/self/fd")
        if os.path.exists(f"/proc/self/fd/{fd}")
    )


def test_client_closing_mid_response_leaves_nothing_behind(
    upstream: tuple[Upstream, BackgroundServer], start_relay: Callable[..., Relay]
) -> None:
    state, server = upstream
    threads_before = set(threading.enumerate())
    sockets_before = open_sockets() if sys.platform == "linux" else 0
    relay = start_relay(("127.0.0.1", server.port))

    client = relay.connect()
    client.sendall(b"GET /forever HTTP/1.1\r\nHost: relay\r\n\r\n")
    assert client.recv(65536).startswith(b"HTTP/1.1 200")
    client.close()
    # The upstream hears of it without the channel closing: a cancelled request stops generating.
    wait_for(state.stream_stopped.is_set)

    assert relay.close() == 0
    left = [t for t in set(threading.enumerate()) - threads_before if t.name.startswith("cab-relay")]
    assert left == []
    if sys.platform == "linux":
        wait_for(lambda: open_sockets() <= sockets_before)


def test_closing_the_channel_ends_the_relay_and_its_connections(relay: Relay) -> None:
    client = relay.connect()
    client.sendall(b"GET /hello HTTP/1.1\r\nHost: relay\r\n\r\n")
    received = b""
    while not received.endswith(b"hello from upstream"):
        received += client.recv(65536)
    # The connection stays open (keep-alive) until cab-check goes away; then the agent sees it closed.
    assert relay.close() == 0
    relay.channel.close()  # twice is harmless
    assert read_to_end(client) == b""
    client.close()
    assert relay.stderr[-1] == "cab-relay: stdin closed; exiting"


def test_agent_not_reading_is_reset_rather_than_buffered(
    upstream: tuple[Upstream, BackgroundServer], start_relay: Callable[..., Relay]
) -> None:
    state, server = upstream
    relay = start_relay(("127.0.0.1", server.port), "--max-pending", str(1 << 20))
    chunks = 1024  # 64 MiB, far more than the cap plus what the kernel buffers
    client = relay.connect()
    client.sendall(f"GET /forever?chunks={chunks} HTTP/1.1\r\nHost: relay\r\n\r\n".encode())
    wait_for(lambda: any("agent is not reading" in line for line in relay.stderr))
    wait_for(state.stream_stopped.is_set)
    assert len(read_to_end(client)) < chunks * 65536
    client.close()


def test_target_not_reading_is_reset_rather_than_buffered(
    start_relay: Callable[..., Relay], caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as deaf:  # accepts connections (via the backlog) and never reads them
        deaf.bind(("127.0.0.1", 0))
        deaf.listen()
        relay = start_relay(deaf.getsockname(), max_pending=1 << 20)
        client = relay.connect()
        with pytest.raises(OSError) as raised:
            for _ in range(1024):  # 64 MiB
                client.sendall(b"x" * 65536)
        assert not isinstance(raised.value, TimeoutError)
        client.close()
    assert "target is not reading" in caplog.text


@pytest.mark.parametrize(
    "header", [HEADER.pack(9, 1, 0), HEADER.pack(DATA, 1, MAX_PAYLOAD + 1)], ids=["unknown type", "too long"]
)
def test_a_bad_frame_header_ends_the_relay_with_an_error(header: bytes) -> None:
    proc = subprocess.run(
        [sys.executable, str(RELAY_PY), "--listen", "127.0.0.1:0"],
        input=header,
        capture_output=True,
        timeout=HANG_GUARD_S,
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.decode().splitlines() if "listening on" not in line]
    assert len(errors) == 1 and "bad frame header" in errors[0]


# --- DockerStream --------------------------------------------------------------------------------------------------


def docker_frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


class Pieces:
    """A socket whose recv() hands out the given pieces, one per call, whatever size is asked for."""

    def __init__(self, data: bytes, size: int) -> None:
        self._pieces = [data[i : i + size] for i in range(0, len(data), size)]

    def recv(self, n: int) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


def read_all(stream: DockerStream, n: int = 65536) -> bytes:
    out = bytearray()
    while chunk := stream.read(n):
        assert len(chunk) <= n
        out += chunk
    return bytes(out)


@pytest.mark.parametrize("size", [1, 3, 7, 9, 1000])
def test_docker_stream_joins_frames_split_across_reads(size: int) -> None:
    data = docker_frame(1, b"hello ") + docker_frame(2, b"warn\n") + docker_frame(1, b"") + docker_frame(1, b"world")
    stderr: list[bytes] = []
    stream = DockerStream(Pieces(data, size), on_stderr=stderr.append)
    assert read_all(stream, n=4) == b"hello world"
    assert stderr == [b"warn\n"]


def test_docker_stream_reads_docker_py_socket_io_and_stops_at_a_cut_frame() -> None:
    # docker-py hands back a SocketIO (read, no recv) for a local engine; a frame cut short is the end.
    data = docker_frame(1, b"abc") + docker_frame(2, b"oops") + docker_frame(1, b"defgh")[:-2]
    stderr: list[bytes] = []
    assert read_all(DockerStream(io.BytesIO(data), on_stderr=stderr.append)) == b"abcdef"
    assert stderr == [b"oops"]


def test_a_relay_behind_docker_attach_framing(upstream: tuple[Upstream, BackgroundServer]) -> None:
    """The relay's stdout and stderr multiplexed the way the engine does it, then taken apart by DockerStream."""
    proc = subprocess.Popen(
        [sys.executable, str(RELAY_PY), "--listen", "127.0.0.1:0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    engine, ours = socket.socketpair()
    lock = threading.Lock()

    def mux(pipe: io.BufferedReader, stream: int) -> None:
        while chunk := pipe.read1(65536):
            with lock:
                engine.sendall(docker_frame(stream, chunk))

    def engine_side() -> None:
        muxers = [threading.Thread(target=mux, args=args) for args in ((proc.stdout, 1), (proc.stderr, 2))]
        for thread in muxers:
            thread.start()
        for thread in muxers:
            thread.join()
        engine.shutdown(socket.SHUT_WR)  # the container exited: the attach stream ends

    attach = threading.Thread(target=engine_side)
    attach.start()
    stderr: list[bytes] = []

    def write(data: bytes) -> None:
        proc.stdin.write(data)
        proc.stdin.flush()

    channel = ModelChannel(
        DockerStream(ours, on_stderr=stderr.append).read,
        write,
        ("127.0.0.1", upstream[1].port),
        close_write=proc.stdin.close,
    ).start()
    try:
        assert channel.wait_ready(HANG_GUARD_S)
        response = httpx.get(f"http://127.0.0.1:{channel.relay_port}/hello", timeout=HANG_GUARD_S)
        assert response.text == "hello from upstream"
    finally:
        channel.close()
        assert proc.wait(HANG_GUARD_S) == 0
        attach.join(HANG_GUARD_S)
        engine.close()
        ours.close()
        proc.stdout.close()
        proc.stderr.close()
    assert b"listening on" in b"".join(stderr)


def load_relay_script():
    """relay.py as a module: it runs in the relay's image, where cab_check cannot be imported."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("cab_relay", RELAY_PY)
    relay_module = importlib.util.module_from_spec(spec)
    sys.modules["cab_relay"] = relay_module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(relay_module)
    finally:
        del sys.modules["cab_relay"]
    return relay_module


def test_both_halves_speak_the_same_frames() -> None:
    from cab_check.sandbox import relay as host

    script = load_relay_script()
    assert script.HEADER.format == host.HEADER.format
    for name in ("MAX_PAYLOAD", "READY", "OPEN", "DATA", "EOF", "CLOSE"):
        assert getattr(script, name) == getattr(host, name), name


def test_one_broken_agent_socket_ends_that_connection_not_the_relay() -> None:
    """Copilot closed a connection just as its answer ended: shutting down the write side of a socket the peer had
    already dropped raised ENOTCONN, which ended the whole relay and every later model call of the run."""
    relay_module = load_relay_script()

    class Writer:
        def __init__(self, broken: bool) -> None:
            self.broken, self.received = broken, b""
            self.transport = self

        def is_closing(self) -> bool:
            return False

        def get_write_buffer_size(self) -> int:
            return 0

        def abort(self) -> None:
            pass

        def write(self, data: bytes) -> None:
            self.received += data

        def can_write_eof(self) -> bool:
            return True

        def write_eof(self) -> None:
            if self.broken:
                raise OSError(107, "Transport endpoint is not connected")

    async def pump() -> tuple[Writer, bytes]:
        sent = Writer(broken=False)  # stands for stdout, to cab-check
        relay = relay_module.Relay(sent, relay_module.MAX_PENDING)
        broken, healthy = Writer(broken=True), Writer(broken=False)
        relay.conns[1] = relay_module.Conn(broken, sent_eof=True)
        relay.conns[2] = relay_module.Conn(healthy)
        stdin = asyncio.StreamReader()
        frame = relay_module.HEADER.pack
        stdin.feed_data(frame(relay_module.EOF, 1, 0) + frame(relay_module.DATA, 2, 5) + b"later")
        stdin.feed_eof()
        await relay.pump_stdin(stdin)
        return healthy, sent.received

    healthy, to_cab_check = asyncio.run(pump())
    assert healthy.received == b"later"  # the next connection's frame still arrived
    assert to_cab_check == relay_module.HEADER.pack(relay_module.CLOSE, 1, 0)  # and cab-check heard of the close
