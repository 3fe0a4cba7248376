"""What both wire translations' tests need: chat chunks to feed in, and the SSE events that come out."""

from __future__ import annotations

import json
import time
from typing import Any


def events_of(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """Server-sent events as (event name, JSON data) pairs."""
    out = []
    for block in raw.decode().split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((name, json.loads("\n".join(data))))
    return out


def wait_for(predicate, timeout: float = 5.0) -> None:
    # A stream's call is recorded as the stream closes, just after the client has read its end.
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def call_delta(index: int, *, id: str | None = None, name: str | None = None, args: str = "") -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": args}
    if name is not None:
        function["name"] = name
    delta: dict[str, Any] = {"index": index, "function": function}
    if id is not None:
        delta.update(id=id, type="function")
    return {"tool_calls": [delta]}
