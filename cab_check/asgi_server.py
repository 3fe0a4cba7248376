"""Serve an ASGI app with uvicorn from a background thread, on an explicit host and an OS-chosen port."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn

START_TIMEOUT_S = 5.0
# A client holding a stream open keeps uvicorn's graceful shutdown waiting; past this we force it.
GRACEFUL_STOP_S = 3


class ServerStartError(RuntimeError):
    """The server did not come up."""


class AbortConnection(Exception):
    """Raised by an app mid-response to close the client's connection without completing the body (no final
    chunk), so the client sees the answer was cut off rather than a clean end. Never logged as an app error."""


class _QuietAborts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], AbortConnection))


_QUIET_ABORTS = _QuietAborts()


class BackgroundServer:
    """One uvicorn server in a daemon thread. Use as a context manager, or call start() and stop()."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        if self._thread is not None:
            return self
        # Binding the socket ourselves gives us the port before uvicorn runs, with no race on a guessed port.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP said outright: asyncio sets TCP_NODELAY only on accepted sockets whose listener names TCP.
        # With protocol 0, every small write (a streamed token) waited for the client's delayed ACK, ~40 ms.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, 0))
        except OSError as exc:
            sock.close()
            raise ServerStartError(f"could not listen on {self.host}: {exc}") from exc
        self._sock = sock
        self._port = sock.getsockname()[1]

        # uvicorn cancels what is still running (an open stream) once the graceful timeout has passed.
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            interface="asgi3",  # every app here is; uvicorn would guess ASGI2 for a bound method
            timeout_graceful_shutdown=GRACEFUL_STOP_S,
        )
        # uvicorn logs an exception that ends a response as an app error; an AbortConnection is meant.
        logging.getLogger("uvicorn.error").addFilter(_QUIET_ABORTS)
        # Off the main thread uvicorn leaves signal handlers alone, so Ctrl-C still reaches the caller.
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"asgi-{self._port}", daemon=True)
        self._thread.start()

        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                self.stop()
                raise ServerStartError(f"server on {self.host} failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"server on {self.host} did not start within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        assert self._server is not None and self._sock is not None
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # noqa: BLE001 - reported by start(), or lost with the thread
            self._error = exc

    def connections(self) -> list[Any]:
        """The open client connections (uvicorn protocol objects, each with its `transport`)."""
        return list(self._server.server_state.connections) if self._server is not None else []

    def stop(self) -> None:
        """Stop serving; safe to call more than once."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None and thread.is_alive():
            thread.join(GRACEFUL_STOP_S + 1)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(GRACEFUL_STOP_S)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
