"""The host half of the model channel: relayed connections from a network-less container to the recording proxy.

Agent containers run with no network. A small relay process (resources/sandbox/relay/relay.py) listens on loopback
inside their namespace and multiplexes every connection the agent opens over its own stdin and stdout, which
cab-check reaches through the engine's attach API. `ModelChannel` is the other end: it reads the relay's frames,
opens one socket to the recording proxy per relayed connection, and copies bytes both ways. Only the attach API is
involved, so it works the same on any engine (remote DOCKER_HOST, Docker Desktop, Podman).

Each connection has its own threads, so a slow one never holds up the others; the shared reader thread only ever
queues bytes. `DockerStream` strips the attach stream's stdout/stderr multiplexing off in front of it.
"""

from __future__ import annotations

import logging
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

log = logging.getLogger(__name__)

# Where the relay listens inside the agent's namespace: fixed, so the agent's base URL is known before it starts,
# and unusual, so it does not collide with anything an agent or a task might serve on loopback.
RELAY_PORT = 47431
# Where the agent images carry resources/sandbox/relay/relay.py.
RELAY_SCRIPT = "/opt/cab-relay/relay.py"

# --- Frame format. resources/sandbox/relay/relay.py must match it byte for byte. ------------------------------------
# header = (type, connection id, payload length), then the payload.
HEADER = struct.Struct(">BII")
MAX_PAYLOAD = 65536
READY = 1  # relay -> host, conn 0, payload = b"PORT IFACE,IFACE" (the listening port, the interfaces that are up)
OPEN = 2  # relay -> host: the agent connected
DATA = 3  # both ways
EOF = 4  # both ways: the sender writes no more on this connection (the receiver shuts down its write side)
CLOSE = 5  # both ways: abort; the receiver closes its socket and expects no more frames for this id
# ---------------------------------------------------------------------------------------------------------------------

# Bytes from the agent not yet accepted by the target. Past this the target is not reading; reset, do not grow.
MAX_PENDING = 64 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 1.0
_READ_CHUNK = MAX_PAYLOAD + HEADER.size
# Queued in place of bytes: the relay sent EOF / the connection was aborted.
_EOF = b""
_ABORT = None

Reader = Callable[[int], bytes]
Writer = Callable[[bytes], None]


class ProtocolError(Exception):
    """The relay sent something that is not a frame."""


@dataclass
class RelayStats:
    connections: int = 0
    connect_failures: int = 0
    bytes_to_target: int = 0
    bytes_from_target: int = 0


class _Conn:
    def __init__(self, cid: int) -> None:
        self.cid = cid
        self.inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.pending = 0  # bytes in inbox
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.aborted = False
        self.thread: threading.Thread | None = None


class ModelChannel:
    """Serve one relay: every connection it reports is connected to `target` and copied both ways until closed.

    `read(n)` returns up to n bytes of the relay's stdout (b"" at its end); `write(b)` sends all of b to its stdin.
    `close_write`, if given, ends the relay's stdin (`sock.shutdown(SHUT_WR)`, `proc.stdin.close`), which is how
    the relay learns to exit; close() calls it. start() starts the threads; close() stops them.
    """

    def __init__(
        self,
        read: Reader,
        write: Writer,
        target: tuple[str, int],
        *,
        close_write: Callable[[], None] | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._read = read
        self._write = write
        self._target = target
        self._close_write = close_write
        self._max_pending = max_pending
        self.stats = RelayStats()
        self.relay_port: int | None = None  # what the relay reported in READY
        self.interfaces: list[str] = []  # the network interfaces up in the relay's namespace, as it reported them
        self.error: str | None = None  # why the channel ended early, if it did
        self._conns: dict[int, _Conn] = {}
        self._lock = threading.Lock()  # _conns, stats, _closed
        self._write_lock = threading.Lock()
        self._closed = False
        self._ended = threading.Event()  # set when the reader stops, READY or not
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_frames, name="cab-relay-reader", daemon=True)

    # --- public -----------------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving (safe to call more than once). Frames the relay sent before this wait in its stdout."""
        with self._lock:
            if self._reader.ident is None and not self._closed:
                self._reader.start()
        return self

    @property
    def ended(self) -> bool:
        """The relay's stdout has ended (it exited, or the attach stream broke): no connection is served any more."""
        return self._ended.is_set()

    def wait_ready(self, timeout_s: float) -> bool:
        """True once the relay says it listens; False on timeout or if it ended first."""
        self._ready.wait(timeout_s)
        return self.relay_port is not None

    def close(self) -> None:
        """Drop every connection, end the relay's stdin, join the threads; within about CLOSE_TIMEOUT_S. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conns = list(self._conns.values())
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for conn in conns:
            self._abort(conn, notify=False)
        if self._close_write is not None:
            # A writer stuck on a full pipe must not keep us from ending the relay's stdin.
            locked = self._write_lock.acquire(timeout=CLOSE_TIMEOUT_S / 2)
            try:
                self._close_write()
            except OSError as exc:
                log.debug("relay: ending stdin: %s", exc)
            finally:
                if locked:
                    self._write_lock.release()
        for thread in [self._reader, *(c.thread for c in conns if c.thread)]:
            if thread.ident is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- frames out -------------------------------------------------------------------------------------------------

    def _send(self, kind: int, cid: int, payload: bytes = b"") -> None:
        with self._write_lock:
            if self._closed:
                return
            try:
                self._write(HEADER.pack(kind, cid, len(payload)) + payload)
            except OSError as exc:
                # The relay is gone; the reader sees its end too and tears everything down.
                log.debug("relay: write failed: %s", exc)

    # --- frames in --------------------------------------------------------------------------------------------------

    def _read_frames(self) -> None:
        buf = bytearray()

        def read_exact(n: int) -> bytes | None:
            while len(buf) < n:
                try:
                    chunk = self._read(_READ_CHUNK)
                except (OSError, ValueError) as exc:  # ValueError: read from a file closed under us
                    log.debug("relay: read failed: %s", exc)
                    chunk = b""
                if not chunk:
                    return None
                buf.extend(chunk)
            data = bytes(buf[:n])
            del buf[:n]
            return data

        try:
            while (header := read_exact(HEADER.size)) is not None:
                kind, cid, length = HEADER.unpack(header)
                if not READY <= kind <= CLOSE or length > MAX_PAYLOAD:
                    raise ProtocolError(f"bad frame header from relay: type={kind} conn={cid} length={length}")
                payload = read_exact(length)
                if payload is None:
                    break
                self._on_frame(kind, cid, payload)
        except ProtocolError as exc:
            self.error = str(exc)
            log.error("relay: %s", exc)
        finally:
            with self._lock:
                conns = list(self._conns.values())
            for conn in conns:  # the relay is gone, and with it every agent socket
                self._abort(conn, notify=False)
            self._ready.set()
            self._ended.set()

    def _on_frame(self, kind: int, cid: int, payload: bytes) -> None:
        if kind == READY:
            port, _, interfaces = payload.decode("ascii", "replace").partition(" ")
            if not port.isdigit():
                raise ProtocolError(f"relay sent READY without a port: {payload[:20]!r}")
            self.interfaces = [name for name in interfaces.split(",") if name]
            self.relay_port = int(port)
            self._ready.set()
            return
        if kind == OPEN:
            opened = _Conn(cid)
            with self._lock:
                if cid in self._conns:
                    raise ProtocolError(f"relay opened connection {cid} twice")
                if self._closed:
                    return
                self._conns[cid] = opened
                self.stats.connections += 1
            opened.thread = threading.Thread(target=self._serve, args=(opened,), name=f"cab-relay-{cid}", daemon=True)
            opened.thread.start()
            return
        with self._lock:
            conn = self._conns.get(cid)
        if conn is None:
            return  # frames already in flight when either side closed this connection
        if kind == CLOSE:
            self._abort(conn, notify=False)
            return
        if kind == EOF:
            conn.inbox.put(_EOF)
            return
        if not payload:
            return  # b"" in the inbox would read as EOF
        with conn.lock:
            conn.pending += len(payload)
            over = conn.pending > self._max_pending
        if over:
            log.warning(
                "relay: connection %d: target is not reading, over %d bytes waiting; reset", cid, self._max_pending
            )
            self._abort(conn, notify=True)
            return
        conn.inbox.put(payload)

    # --- one connection ---------------------------------------------------------------------------------------------

    def _serve(self, conn: _Conn) -> None:
        """Connect, then copy target -> relay here and relay -> target in a second thread; close when both end."""
        try:
            sock = socket.create_connection(self._target, timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            log.warning("relay: connection %d: cannot reach %s:%d: %s", conn.cid, *self._target, exc)
            with self._lock:
                self.stats.connect_failures += 1
            self._abort(conn, notify=True)
            return
        sock.settimeout(None)
        # Streamed tokens are small writes; Nagle would hold them back waiting for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn.lock:
            if conn.aborted:
                sock.close()
                return
            conn.sock = sock
        uplink = threading.Thread(target=self._uplink, args=(conn, sock), name=f"cab-relay-{conn.cid}-up", daemon=True)
        uplink.start()
        try:
            self._downlink(conn, sock)
        finally:
            uplink.join()
            # This thread owns the socket's lifetime: closing it while another thread is inside recv() or sendall()
            # could hand its fd number to a new socket under that call.
            sock.close()
            with self._lock:
                self._conns.pop(conn.cid, None)

    def _downlink(self, conn: _Conn, sock: socket.socket) -> None:
        while True:
            try:
                data = sock.recv(MAX_PAYLOAD)
            except OSError:
                self._abort(conn, notify=True)
                return
            if conn.aborted:
                return
            if not data:
                self._send(EOF, conn.cid)
                return
            with self._lock:
                self.stats.bytes_from_target += len(data)
            self._send(DATA, conn.cid, data)

    def _uplink(self, conn: _Conn, sock: socket.socket) -> None:
        while (data := conn.inbox.get()) is not _ABORT:
            try:
                if data == _EOF:  # DATA payloads are never empty
                    sock.shutdown(socket.SHUT_WR)
                    return
                sock.sendall(data)
            except OSError:
                self._abort(conn, notify=True)
                return
            with conn.lock:
                conn.pending -= len(data)
            with self._lock:
                self.stats.bytes_to_target += len(data)

    def _abort(self, conn: _Conn, notify: bool) -> None:
        with conn.lock:
            if conn.aborted:
                return
            conn.aborted = True
            sock = conn.sock
            never_connected = sock is None
            if sock is not None:
                # Wakes this connection's threads out of recv()/sendall(); _serve then closes the socket.
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        conn.inbox.put(_ABORT)
        if never_connected:  # so no _serve will tidy up after it
            with self._lock:
                self._conns.pop(conn.cid, None)
        if notify:
            self._send(CLOSE, conn.cid)


class DockerStream:
    """stdout of a non-TTY attach socket as a plain `read(n)`; stderr payloads go to `on_stderr`.

    The engine multiplexes the two streams as frames: an 8-byte header `>BxxxL` (1 = stdout, 2 = stderr, then the
    payload length) and the payload. `sock` is whatever attach gave you: a socket (recv) or docker-py's SocketIO
    (read).
    """

    _HEADER = struct.Struct(">BxxxL")
    _STDOUT = 1
    _STDERR = 2

    def __init__(self, sock: Any, on_stderr: Callable[[bytes], None] | None = None) -> None:
        self._recv: Callable[[int], bytes] = sock.recv if hasattr(sock, "recv") else sock.read
        self._on_stderr = on_stderr
        self._buf = bytearray()
        self._stdout_left = 0  # payload bytes of the current stdout frame not yet in _buf or returned

    def read(self, n: int) -> bytes:
        """Up to n stdout bytes; b"" once the stream has ended (a frame cut short counts as the end)."""
        while True:
            if self._stdout_left:
                if not self._buf and not self._fill():
                    return b""
                take = min(n, self._stdout_left, len(self._buf))
                data = bytes(self._buf[:take])
                del self._buf[:take]
                self._stdout_left -= take
                return data
            if not self._fill_to(self._HEADER.size):
                return b""
            kind, length = self._HEADER.unpack_from(self._buf)
            del self._buf[: self._HEADER.size]
            if kind == self._STDOUT:
                self._stdout_left = length
                continue
            # stderr, or anything else the engine might add: read it whole and pass it on or drop it.
            if not self._fill_to(length):
                return b""
            payload = bytes(self._buf[:length])
            del self._buf[:length]
            if kind == self._STDERR and self._on_stderr is not None:
                self._on_stderr(payload)

    def _fill(self) -> bool:
        chunk = self._recv(_READ_CHUNK)
        self._buf.extend(chunk)
        return bool(chunk)

    def _fill_to(self, n: int) -> bool:
        while len(self._buf) < n:
            if not self._fill():
                return False
        return True
