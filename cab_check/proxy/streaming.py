"""A streamed answer relayed to the client as it arrives, as it came or through a dialect's translator, and recorded
once it ends, however it ends."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from cab_check.asgi_server import AbortConnection
from cab_check.proxy.calls import CLIENT_CLOSED, MAX_ERROR_CHARS, CallInProgress, json_object
from cab_check.proxy.sse import SseEvent, SseWatcher
from cab_check.proxy.upstream import UpstreamError, UpstreamResponse, is_event_stream
from cab_check.wire import StreamTranslator, openai_error_body, sse


def inject_include_usage(payload: dict[str, Any]) -> bytes:
    """Asks a streaming upstream to end with a usage chunk, so the proxy can count tokens."""
    options = payload.get("stream_options")
    merged = {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    return json.dumps({**payload, "stream_options": merged}, ensure_ascii=False).encode()


def asked_for_usage(payload: dict[str, Any] | None) -> bool:
    options = payload.get("stream_options") if payload is not None else None
    return isinstance(options, dict) and options.get("include_usage") is True


def as_chunk(completion: dict[str, Any]) -> dict[str, Any]:
    """A whole chat completion as the one stream chunk that would have said the same."""
    choices = []
    for choice in completion.get("choices") or []:
        if isinstance(choice, dict):
            delta = dict(choice.get("message") or {})
            calls = delta.get("tool_calls")
            if isinstance(calls, list):
                delta["tool_calls"] = [{**c, "index": i} for i, c in enumerate(calls) if isinstance(c, dict)]
            finish_reason = choice.get("finish_reason")
            choices.append({"index": choice.get("index", 0), "delta": delta, "finish_reason": finish_reason})
    return {"choices": choices, "usage": completion.get("usage")}


class RelayedStream(StreamingResponse):
    """A pass-through stream that runs `on_close` exactly once, however the stream ends."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        on_close: Callable[[BaseException | None], Awaitable[None]],
        status_code: int,
        headers: dict[str, str],
    ) -> None:
        super().__init__(chunks, status_code=status_code, headers=headers)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        failure: BaseException | None = None
        try:
            await super().__call__(scope, receive, send)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            # Shielded: a cancelled request (client gone, server stopping) must still close upstream and record.
            with anyio.CancelScope(shield=True):
                await self._on_close(failure)


def relay_stream(
    call: CallInProgress,
    upstream: UpstreamResponse,
    translator: StreamTranslator | None,
    strip_usage: bool,
    headers: dict[str, str],
    redact: Callable[[str], str],
    finish: Callable[[CallInProgress], None],
) -> Response:
    """Streams the upstream's answer back, as it is or through `translator`, watching it for usage; `finish` records
    the call when the stream ends.

    A stream that breaks, is not SSE, or ends before its answer does reaches the client as an error it can
    see: for chat an error event, then the connection cut (no final chunk, no [DONE]); for the translated APIs
    their own error events."""
    watcher = SseWatcher(call.facts)
    state = {"complete": False}

    def passed_on(events: list[SseEvent]) -> bytes:
        if translator is None:
            return b"".join(e.raw for e in events if not (strip_usage and e.usage_only))
        return b"".join(out for e in events if isinstance(e.payload, dict) for out in translator.feed(e.payload))

    def failing(error: str) -> bytes:
        call.error = redact(error)[:MAX_ERROR_CHARS]
        if translator is not None:
            return b"".join(translator.close(call.error))
        return sse(None, openai_error_body(502, call.error, "upstream_error", "upstream_broken"))

    async def chunks() -> AsyncGenerator[bytes, None]:
        if not is_event_stream(upstream):
            # Some servers ignore `stream` and answer whole; the client still gets its stream.
            yield await _whole_as_stream(call, upstream, translator, strip_usage, redact)
            state["complete"] = call.error is None
            if translator is None and call.error is not None:
                raise AbortConnection(call.error)
            return
        try:
            async for chunk in upstream.aiter_raw():
                events = watcher.feed(chunk)
                if any(e.malformed for e in events):
                    yield passed_on(events[: next(i for i, e in enumerate(events) if e.malformed)])
                    yield failing("upstream sent a stream event that is not JSON")
                    break
                if out := passed_on(events):
                    yield out
            else:
                events = watcher.close()
                if out := passed_on([e for e in events if not e.malformed]):
                    yield out
                if any(e.malformed for e in events):
                    yield failing("upstream sent a stream event that is not JSON")
                elif not (call.facts.saw_done or call.facts.finish_reason):
                    yield failing("upstream ended the stream before the answer was complete")
                else:
                    state["complete"] = True
                    if translator is not None:
                        yield b"".join(translator.close())
                    return
        except UpstreamError as exc:
            yield failing(f"upstream stream broke: {exc}")
        if translator is None:
            raise AbortConnection(call.error)

    stream = chunks()

    async def on_close(failure: BaseException | None) -> None:
        try:
            await stream.aclose()
        finally:
            await upstream.aclose()
            watcher.close()
            if call.error is None and not state["complete"]:
                call.status = CLIENT_CLOSED
                call.error = "the client abandoned the call mid-stream" + (
                    f" ({type(failure).__name__})" if failure is not None else ""
                )
            finish(call)

    return RelayedStream(stream, on_close, upstream.status_code, headers)


async def _whole_as_stream(
    call: CallInProgress,
    upstream: UpstreamResponse,
    translator: StreamTranslator | None,
    strip_usage: bool,
    redact: Callable[[str], str],
) -> bytes:
    def failed(error: str) -> bytes:
        call.error = redact(error)[:MAX_ERROR_CHARS]
        if translator is not None:
            return b"".join(translator.close(call.error))
        return sse(None, openai_error_body(502, call.error, "upstream_error", "upstream_broken"))

    try:
        answer = json_object(await upstream.aread())
    except UpstreamError as exc:
        return failed(f"upstream broke off its answer: {exc}")
    if answer is None or not isinstance(answer.get("choices"), list):
        return failed("upstream answered a stream request with a body that is not a chat completion")
    call.facts.absorb(answer)
    chunk = as_chunk(answer)
    if translator is not None:
        return b"".join(translator.feed(chunk) + translator.close())
    if strip_usage:
        chunk.pop("usage", None)
    return sse(None, chunk) + b"data: [DONE]\n\n"
