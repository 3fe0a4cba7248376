"""Runs a blocking function (a request to an endpoint, a keyring lookup) off the UI thread and hands its outcome
back on the UI thread, so widgets are only touched from their own thread and the window never freezes.

    task = run_in_background(handshake.list_models, url, key, on_done=self._fill, on_error=self._say, parent=self)

`on_done(result)` or `on_error(exception)` then runs on the UI thread, unless `parent` was destroyed meanwhile;
the function itself runs to its end either way (it cannot be interrupted), so give it a timeout of its own.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, Slot

from cab_check import secrets
from cab_check.errors import CabError


def error_sentence(exc: BaseException, key: str | None = None, what: str = "The check") -> str:
    """One sentence for a failure off the UI thread, never holding the key; a bug (anything but a CabError) also
    leaves its traceback on stderr, redacted too, for the report the sentence asks for."""
    redactor = secrets.Redactor(key)
    if isinstance(exc, CabError):
        return redactor.text(str(exc))
    sys.stderr.write(redactor.text("".join(traceback.format_exception(exc))))
    return redactor.text(
        f"{what} hit an unexpected error ({type(exc).__name__}: {exc}); please report it with "
        "the traceback printed on stderr."
    )


_pool: QThreadPool | None = None
# Tasks have no Qt parent (a parent's deletion must not pull one from under its pool thread), so they are kept
# here until they have delivered: otherwise a task nobody holds would be garbage-collected mid-flight.
_in_flight: set[Task] = set()


def _thread_pool() -> QThreadPool:
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setExpiryTimeout(30_000)
    return _pool


class Task(QObject):
    """One call running on a pool thread. Its signals arrive on the thread that created it (the UI thread)."""

    succeeded = Signal(object)  # what the function returned
    failed = Signal(object)  # the exception it raised
    finished = Signal()  # after either

    _outcome = Signal(bool, object)  # emitted on the pool thread, queued across to `_deliver`

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__()
        self.done = False
        self._orphaned = False
        if parent is not None:
            parent.destroyed.connect(self._forget)
        self._outcome.connect(self._deliver)

    @Slot()
    def _forget(self) -> None:
        self._orphaned = True

    @Slot(bool, object)
    def _deliver(self, ok: bool, value: object) -> None:
        self.done = True
        _in_flight.discard(self)
        if self._orphaned:
            return
        (self.succeeded if ok else self.failed).emit(value)
        self.finished.emit()

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:  # on the pool thread
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - every failure goes to on_error, which decides what to say
            self._outcome.emit(False, exc)
        else:
            self._outcome.emit(True, result)


def run_in_background(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    parent: QObject | None = None,
) -> Task:
    """Calls `fn(*args)` on a pool thread; `on_done(result)` or `on_error(exception)` follows on this thread.

    Call it from the UI thread. Nothing is delivered once `parent` (usually the widget asking) is destroyed."""
    task = Task(parent)
    if on_done is not None:
        task.succeeded.connect(on_done)
    if on_error is not None:
        task.failed.connect(on_error)
    _in_flight.add(task)
    _thread_pool().start(lambda: task._run(fn, args))
    return task


def wait_for_background(timeout_ms: int = 30_000) -> bool:
    """Blocks until every background call has returned (True), or the timeout passes (False). For shutdown and
    tests: a call still running when the interpreter exits would be cut off mid-way."""
    return _pool is None or _pool.waitForDone(timeout_ms)
