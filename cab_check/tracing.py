"""Spans for the phases of a cell, shaped like the trace spans on CAB's cell pages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from cab_check.models import Span


class Tracer:
    def __init__(self) -> None:
        self.spans: list[Span] = []

    @contextmanager
    def span(self, kind: str, name: str, parent: str | None = None, **attrs: Any) -> Iterator[dict[str, Any]]:
        """Times the block; the yielded dict holds the span's attrs (add to it inside) and its id under "_id"."""
        span_id = uuid.uuid4().hex
        live: dict[str, Any] = {**attrs, "_id": span_id}
        start = datetime.now(UTC)
        t0 = time.perf_counter()
        error = None
        try:
            yield live
        except BaseException as exc:
            error = type(exc).__name__ if isinstance(exc, KeyboardInterrupt) else str(exc) or type(exc).__name__
            raise
        finally:
            live.pop("_id")
            # Appended when the span ends, so children precede their parent, as on CAB's pages.
            self.spans.append(
                Span(
                    span_id=span_id,
                    parent_id=parent,
                    kind=kind,
                    name=name,
                    start=start,
                    duration_ms=round((time.perf_counter() - t0) * 1000, 3),
                    attrs=live,
                    error=error,
                )
            )
