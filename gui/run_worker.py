"""Runs the engine's `run_cell` off the UI thread and hands its events to the window as Qt signals.

The engine knows nothing of Qt: it calls `emit(event)` on this thread, and the signals below are queued across to
the UI thread, so the window only ever touches widgets from its own thread and never freezes.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QThread, Signal

from cab_check.errors import EXIT_ENVIRONMENT, CabError, Cancelled
from cab_check.gui.background import error_sentence
from cab_check.models import CellRequest


class RunWorker(QThread):
    """One cell run. Start with `start()`; `cancel()` asks the engine to stop and clean up."""

    engine_event = Signal(object)  # each cab_check.models Event, in order (not `event`: QObject.event is a method)
    succeeded = Signal(object)  # the CellResult
    failed = Signal(str, int)  # one sentence for the user, and the exit code the CLI would give
    cancelled = Signal(str)  # the engine's sentence: what was stopped and removed

    def __init__(self, request: CellRequest, api_key: str | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.request = request
        self._api_key = api_key
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelling(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:  # on the worker thread
        from cab_check.run import (
            run_cell,  # docker and httpx load here, never on the UI thread's path to a window
        )

        try:
            result = run_cell(self.request, api_key=self._api_key, emit=self.engine_event.emit, cancel=self._cancel)
        except Cancelled as exc:
            self.cancelled.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 — every failure ends as one sentence for the window
            code = exc.exit_code if isinstance(exc, CabError) else EXIT_ENVIRONMENT
            self.failed.emit(error_sentence(exc, self._api_key, "The run"), code)
        else:
            self.succeeded.emit(result)
        finally:
            self._api_key = None
