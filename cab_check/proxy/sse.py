"""Server-sent events read as they pass: each one's bytes kept whole, its JSON handed to the call's facts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cab_check.proxy.calls import ResponseFacts

# An SSE line longer than this is not one we could parse anyway; dropping it bounds memory.
MAX_SSE_LINE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: its bytes exactly as they came, and its data parsed."""

    raw: bytes
    payload: Any = None  # the JSON of its data; None for [DONE], comments and keep-alives
    malformed: bool = False  # data that is neither JSON nor [DONE]

    @property
    def usage_only(self) -> bool:
        """The extra chunk `stream_options.include_usage` asks for: usage, and no choices."""
        return isinstance(self.payload, dict) and self.payload.get("choices") == [] and "usage" in self.payload


class SseWatcher:
    """Reads an SSE byte stream in whatever pieces it arrives, feeding each event's JSON to `facts`.

    `feed` and `close` return the events they completed, raw bytes included, so a relay can pass them on whole
    (or leave one out) and a translator can use their payloads."""

    def __init__(self, facts: ResponseFacts) -> None:
        self.facts = facts
        self._buffer = b""
        self._raw = bytearray()  # the lines of the event being read, as they came
        self._data: list[bytes] = []
        self._events: list[SseEvent] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > MAX_SSE_LINE_BYTES:
            self._buffer = b""
            self._events.append(SseEvent(b"", malformed=True))  # no event has a line that long
        for line in lines:
            self._raw += line + b"\n"
            self._line(line.rstrip(b"\r"))
        return self._take()

    def close(self) -> list[SseEvent]:
        """The stream ended: a last event without its blank line still counts."""
        if self._buffer:
            self._raw += self._buffer
            self._line(self._buffer.rstrip(b"\r"))
            self._buffer = b""
        self._dispatch()
        return self._take()

    def _take(self) -> list[SseEvent]:
        events, self._events = self._events, []
        return events

    def _line(self, line: bytes) -> None:
        if not line:
            self._dispatch()
        elif line.startswith(b"data:"):
            self._data.append(line[5:].lstrip(b" "))

    def _dispatch(self) -> None:
        raw, self._raw = bytes(self._raw), bytearray()
        data, self._data = b"\n".join(self._data), []
        if not raw:
            return
        if not data.strip():
            self._events.append(SseEvent(raw))  # a comment, a keep-alive, an extra blank line
        elif data.strip() == b"[DONE]":
            self.facts.saw_done = True
            self._events.append(SseEvent(raw))
        else:
            try:
                payload = json.loads(data)
            except ValueError:
                self._events.append(SseEvent(raw, malformed=True))
                return
            self.facts.absorb(payload)
            self._events.append(SseEvent(raw, payload))
