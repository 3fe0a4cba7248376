"""Runs a blocking function (a request to an endpoint, a keyring lookup) off the UI thread and hands its outcome
back on the UI thread, so widgets are only touched from their own thread and the window never freezes.

    task = run_in_background(handshake.list_models, url, key, on_done=self._fill, on_error=self._say, parent=self)

`on_done(result)` or `on_error(exception)` then runs on the UI thread, unless `parent` was destroyed meanwhile;
the function itself runs to its end either way (it cannot be interrupted), so give it a timeout of its own.
"""

from __future__ import annotations

import itertools
import sys
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal, SignalInstance, Slot

from cab_check.errors import CabError, Remedy, Words
from cab_check.keys import Redactor

# How the app does what an error's remedy asks for: its words fill the slot the engine's sentence leaves.
APP_WORDS: Words = {
    Remedy.KEY: "in the API key field",
    Remedy.SAVED_KEY: 'in the API key field, with "Save key to the OS keyring" ticked',
    Remedy.MODEL: "in the Model field",
    Remedy.IMAGE: "with an image you provide",
    Remedy.ENGINE: "in the Engine field",
    Remedy.SKIP_HANDSHAKE: "check the endpoint, then run again",  # the app has no way to skip the preflight check
    Remedy.CLEANUP: "by the next run",
}


def error_sentence(exc: BaseException, key: str | None = None, what: str = "The check") -> str:
    """One sentence for a failure off the UI thread, in the app's words, never holding the key; a bug (anything
    but a CabError) also leaves its traceback on stderr, redacted too, for the report the sentence asks for."""
    redactor = Redactor(key)
    if isinstance(exc, CabError):
        return redactor.text(exc.sentence(APP_WORDS))
    sys.stderr.write(redactor.text("".join(traceback.format_exception(exc))))
    return redactor.text(
        f"{what} hit an unexpected error ({type(exc).__name__}: {exc}); please report it with "
        "the traceback printed on stderr."
    )


_pool: QThreadPool | None = None


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

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__()
        self.done = False
        self._orphaned = False
        if parent is not None:
            parent.destroyed.connect(self._forget)

    @Slot()
    def _forget(self) -> None:
        self._orphaned = True

    def _deliver(self, ok: bool, value: object) -> None:
        self.done = True
        if not self._orphaned:
            (self.succeeded if ok else self.failed).emit(value)
            self.finished.emit()


class _Dispatcher(QObject):
    """Carries outcomes from pool threads to the UI thread, where the tasks live.

    A pool thread never holds a Task, only its number: a QObject whose last reference went on a pool thread (or
    with an exception's traceback, in a garbage collection there) would be deleted off its own thread, which
    crashes Qt. Tasks have no Qt parent either (a parent's deletion must not pull one from under its call), so they
    are kept here, by number, until they have delivered."""

    outcome = Signal(int, bool, object)  # emitted on a pool thread, queued across to `_deliver`

    def __init__(self) -> None:
        super().__init__()
        self.in_flight: dict[int, Task] = {}
        self.outcome.connect(self._deliver)

    @Slot(int, bool, object)
    def _deliver(self, number: int, ok: bool, value: object) -> None:
        self.in_flight.pop(number)._deliver(ok, value)


_dispatcher: _Dispatcher | None = None
_numbers = itertools.count()


def _run(outcome: SignalInstance, number: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """On the pool thread: the call, its outcome sent to the UI thread."""
    try:
        result = fn(*args)
    except Exception as exc:  # noqa: BLE001 - every failure goes to on_error, which decides what to say
        outcome.emit(number, False, exc)
    else:
        outcome.emit(number, True, result)


def run_in_background(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    parent: QObject | None = None,
) -> Task:
    """Calls `fn(*args)` on a pool thread; `on_done(result)` or `on_error(exception)` follows on this thread.

    Call it from the UI thread. Nothing is delivered once `parent` (usually the widget asking) is destroyed. `fn`
    and `args` go to the pool thread, so neither may be a QObject or its method (see _Dispatcher)."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _Dispatcher()
    task = Task(parent)
    if on_done is not None:
        task.succeeded.connect(on_done)
    if on_error is not None:
        task.failed.connect(on_error)
    number = next(_numbers)
    _dispatcher.in_flight[number] = task
    outcome = _dispatcher.outcome
    _thread_pool().start(lambda: _run(outcome, number, fn, args))
    return task


def wait_for_background(timeout_ms: int = 30_000) -> bool:
    """Blocks until every background call has returned (True), or the timeout passes (False). For shutdown and
    tests: a call still running when the interpreter exits would be cut off mid-way."""
    return _pool is None or _pool.waitForDone(timeout_ms)
