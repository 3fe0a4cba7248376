"""What the proxy records of each model call: one `ModelCall`, with the tokens and finish reason its answer reported
and its error worded without the key or the run token."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cab_check.keys import REDACTED, Redactor
from cab_check.models import ModelCall

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 300
CLIENT_CLOSED = 499  # as nginx logs a request whose client went away before the answer was complete


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def error_text(status: int, body: bytes) -> str:
    """A short description of an upstream error response."""
    detail = ""
    try:
        payload = json.loads(body)
        err = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(err, dict):
            detail = str(err.get("message") or err.get("type") or "")
        elif isinstance(err, str):
            detail = err
        elif isinstance(payload, dict) and "detail" in payload:
            detail = str(payload["detail"])
    except ValueError:
        detail = body.decode("utf-8", "replace")
    detail = " ".join(detail.split())
    return f"upstream returned HTTP {status}" + (f": {detail}" if detail else "")


@dataclass
class ResponseFacts:
    """Usage and finish reason, gathered from a JSON body or from SSE events as they pass."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    saw_done: bool = False

    def absorb(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self.prompt_tokens = _as_int(usage.get("prompt_tokens"), self.prompt_tokens)
            self.completion_tokens = _as_int(usage.get("completion_tokens"), self.completion_tokens)
        choices = payload.get("choices")
        if isinstance(choices, list) and choices:
            first = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None)
            if first is not None and isinstance(first.get("finish_reason"), str):
                self.finish_reason = first["finish_reason"]


def _as_int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass
class CallInProgress:
    index: int
    path: str
    started: datetime
    started_clock: float
    body_hash: str
    model: str | None
    stream: bool
    facts: ResponseFacts = field(default_factory=ResponseFacts)
    status: int = 0
    error: str | None = None

    def finished(self) -> ModelCall:
        return ModelCall(
            index=self.index,
            timestamp=self.started,
            request_hash=self.body_hash,
            path=self.path,
            model=self.model,
            stream=self.stream,
            status=self.status,
            prompt_tokens=self.facts.prompt_tokens,
            completion_tokens=self.facts.completion_tokens,
            latency_ms=round((time.perf_counter() - self.started_clock) * 1000, 3),
            finish_reason=self.facts.finish_reason,
            error=self.error,
        )


class Recorder:
    """The calls of one run, indexed in the order they started, each told to `on_call` as it finishes."""

    def __init__(self, on_call: Callable[[ModelCall], None] | None) -> None:
        self.on_call = on_call
        self.calls: list[ModelCall] = []
        self._lock = threading.Lock()
        self._next_index = 0

    def start(self, path: str) -> CallInProgress:
        with self._lock:
            index, self._next_index = self._next_index, self._next_index + 1
        return CallInProgress(
            index=index,
            path=path,
            started=datetime.now(UTC),
            started_clock=time.perf_counter(),
            body_hash="",
            model=None,
            stream=False,
        )

    def finish(self, call: CallInProgress) -> None:
        record = call.finished()
        with self._lock:
            self.calls.append(record)
        if self.on_call is not None:
            try:
                self.on_call(record)
            except Exception:  # a listener's bug must not break the agent's model call
                log.exception("on_call listener failed for model call %d", record.index)


class Redaction:
    """Keeps the real key and the run token out of what the proxy records and what it tells the client."""

    def __init__(self, api_key: str | None, token: str) -> None:
        self._api_key = api_key or None
        self._redactor = Redactor(api_key, token)

    def text(self, text: str) -> str:
        """The text with the real key and the run token replaced by [REDACTED]."""
        return self._redactor.text(text)

    def body(self, body: bytes) -> bytes:
        """An upstream error body without the real key: some providers echo the key they were given."""
        if not self._api_key:
            return body
        return body.replace(self._api_key.encode(), REDACTED.encode())
