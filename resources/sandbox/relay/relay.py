#!/usr/bin/env python3
"""The in-container half of the model channel: TCP on loopback in, frames on stdin/stdout out.

Agent containers have no network at all (they share the namespace of a relay container started with
network_mode="none"), so the only way to the recording proxy is this process's stdin and stdout, which cab-check
reaches through the Docker engine's attach API. That works the same on a local engine, a remote DOCKER_HOST,
Docker Desktop and Podman, because no port, route or host address is involved.

Every connection the agent opens to --listen is given an id (1, 2, 3, ...) and multiplexed over stdout; what
cab-check sends back on stdin is written to the matching socket. The host half is cab_check/sandbox/relay.py.

Python 3.11 standard library only: it runs with the image's own python3.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import struct
import sys
from dataclasses import dataclass

# --- Frame format. cab_check/sandbox/relay.py must match it byte for byte. ------------------------------------------
# header = (type, connection id, payload length), then the payload.
HEADER = struct.Struct(">BII")
MAX_PAYLOAD = 65536
READY = 1  # relay -> host, conn 0, payload = b"PORT IFACE,IFACE" (the listening port, the interfaces that are up)
OPEN = 2  # relay -> host: the agent connected
DATA = 3  # both ways
EOF = 4  # both ways: the sender writes no more on this connection (the receiver shuts down its write side)
CLOSE = 5  # both ways: abort; the receiver closes its socket and expects no more frames for this id
# ---------------------------------------------------------------------------------------------------------------------

# Bytes cab-check sent that the agent has not read yet. Past this the agent is not reading, and holding more would
# only grow this process without bound, so the connection is reset instead.
MAX_PENDING = 64 * 1024 * 1024
# Only what cab-check may send; READY and OPEN flow the other way, so seeing one means the stream is out of step.
INBOUND = (DATA, EOF, CLOSE)


class ProtocolError(Exception):
    """cab-check sent something that is not a frame: the stream is out of step and nothing after it can be trusted."""


def log(message: str) -> None:
    # One write per line, so the engine's attach stream carries each line in one frame.
    sys.stderr.write(f"cab-relay: {message}\n")
    sys.stderr.flush()


@dataclass
class Conn:
    writer: asyncio.StreamWriter
    sent_eof: bool = False  # the agent stopped sending
    got_eof: bool = False  # cab-check stopped sending


class Relay:
    def __init__(self, out: asyncio.StreamWriter, max_pending: int) -> None:
        self.out = out
        self.max_pending = max_pending
        self.conns: dict[int, Conn] = {}
        self.next_id = 1
        self.handlers: set[asyncio.Task[None]] = set()
        self.closing = False

    def send(self, kind: int, cid: int, payload: bytes = b"") -> None:
        # Header and payload go out in one write with no await in between, so frames never interleave.
        self.out.write(HEADER.pack(kind, cid, len(payload)) + payload)

    async def on_agent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.closing:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            await self.relay_agent(reader, writer)
        finally:
            self.handlers.discard(task)

    async def relay_agent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cid = self.next_id
        self.next_id += 1
        conn = self.conns[cid] = Conn(writer)
        self.send(OPEN, cid)
        try:
            while data := await reader.read(MAX_PAYLOAD):
                if cid not in self.conns:
                    return
                self.send(DATA, cid, data)
                # Waiting here (and not in the stdin loop) is the backpressure: a slow cab-check slows the agent.
                await self.out.drain()
        except OSError:
            if cid in self.conns:
                self.abort(cid, notify=True)
            return
        if cid not in self.conns:  # aborted while we waited: the b"" above was the abort, not the agent's EOF
            return
        self.send(EOF, cid)
        conn.sent_eof = True
        if conn.got_eof:
            self.finish(cid)

    def abort(self, cid: int, notify: bool) -> None:
        conn = self.conns.pop(cid)
        conn.writer.transport.abort()
        if notify:
            self.send(CLOSE, cid)

    def finish(self, cid: int) -> None:
        # close(), unlike abort(), still delivers what is buffered for the agent.
        self.conns.pop(cid).writer.close()

    async def pump_stdin(self, stdin: asyncio.StreamReader) -> None:
        """Frames from cab-check to the agent's sockets, until stdin ends. Never waits on a socket: no head-of-line."""
        while True:
            try:
                header = await stdin.readexactly(HEADER.size)
                kind, cid, length = HEADER.unpack(header)
                if kind not in INBOUND or length > MAX_PAYLOAD:
                    raise ProtocolError(f"bad frame header from cab-check: type={kind} conn={cid} length={length}")
                payload = await stdin.readexactly(length)
            except asyncio.IncompleteReadError:
                return  # cab-check went away (a frame cut short by that is no different)
            conn = self.conns.get(cid)
            if conn is None:
                continue  # frames already in flight when either side closed this connection
            try:
                self.deliver(cid, conn, kind, payload)
            except OSError as exc:
                # The agent's socket broke under us (it reset, or shut down before our EOF): that connection ends;
                # the relay and every other connection go on.
                log(f"connection {cid}: {exc}; closed")
                if cid in self.conns:
                    self.abort(cid, notify=True)

    def deliver(self, cid: int, conn: Conn, kind: int, payload: bytes) -> None:
        """One frame from cab-check to the agent's socket; OSError when that socket is broken."""
        if kind == DATA:
            if conn.writer.transport.is_closing():
                return  # the agent is gone and its handler about to say so; writing would only log warnings
            conn.writer.write(payload)
            if conn.writer.transport.get_write_buffer_size() > self.max_pending:
                log(f"connection {cid}: agent is not reading, over {self.max_pending} bytes waiting; reset")
                self.abort(cid, notify=True)
        elif kind == EOF:
            conn.got_eof = True
            if conn.writer.can_write_eof():
                conn.writer.write_eof()  # after what is still buffered, as TCP would
            if conn.sent_eof:
                self.finish(cid)
        else:
            self.abort(cid, notify=False)

    async def shutdown(self) -> None:
        self.closing = True
        for cid in list(self.conns):
            self.abort(cid, notify=False)
        # Let every handler see its socket's end and return: asyncio.run would cancel any left over, and Python
        # 3.11's start_server (bookworm's python3) logs a traceback for each cancelled handler (3.13 does not).
        if self.handlers:
            await asyncio.wait(self.handlers, timeout=1)


class _Stdout(asyncio.streams.FlowControlMixin):
    """Gives the stdout pipe drain() (so writes never block the loop) and tells us when the reader is gone."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.lost.done():
            self.lost.set_result(None)


def interfaces_up() -> list[str]:
    """The namespace's interfaces that are up, which the agent shares: cab-check checks it is loopback alone.
    (A namespace may also hold tunnel devices that a kernel module created, down and leading nowhere.)"""
    names = []
    for _, name in socket.if_nameindex():
        try:
            with open(f"/sys/class/net/{name}/flags") as flags:
                if int(flags.read(), 16) & 0x1:  # IFF_UP
                    names.append(name)
        except (OSError, ValueError):
            names.append(name)  # cannot tell: count it, so nothing is hidden
    return sorted(names)


async def run(host: str, port: int, max_pending: int) -> int:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=4 * MAX_PAYLOAD)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin.buffer)
    transport, protocol = await loop.connect_write_pipe(_Stdout, sys.stdout.buffer)
    out = asyncio.StreamWriter(transport, protocol, None, loop)

    relay = Relay(out, max_pending)
    server = await asyncio.start_server(relay.on_agent, host, port)
    bound = server.sockets[0].getsockname()[1]
    relay.send(READY, 0, f"{bound} {','.join(interfaces_up())}".encode())
    log(f"listening on {host}:{bound}")

    pump = asyncio.create_task(relay.pump_stdin(stdin))
    try:
        await asyncio.wait([pump, protocol.lost], return_when=asyncio.FIRST_COMPLETED)
        if not pump.done():
            log("stdout closed; exiting")
            return 0
        try:
            pump.result()
        except ProtocolError as exc:
            log(str(exc))
            return 2
        log("stdin closed; exiting")
        return 0
    finally:
        pump.cancel()
        server.close()
        # abort, not close: nobody is reading stdout any more, and a handler waiting in drain() must wake.
        transport.abort()
        await relay.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, metavar="HOST:PORT", help="where agents connect; port 0 = any")
    parser.add_argument(
        "--max-pending",
        type=int,
        default=MAX_PENDING,
        metavar="BYTES",
        help="reset a connection whose unread bytes exceed this",
    )
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    return asyncio.run(run(host.strip("[]"), int(port), args.max_pending))


if __name__ == "__main__":
    sys.exit(main())
