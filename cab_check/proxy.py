"""The recording proxy: the agent's only way to the model.

The agent container gets the proxy's URL and a per-run token, never the user's key. The proxy checks the token,
swaps in the real key, forwards to the user's endpoint, streams answers back unbuffered and records one
`ModelCall` per model request.

Chat-completions requests pass through as they are. Agents that speak only another API are served by translation
(see `cab_check.wire`): `/v1/responses` (OpenAI Responses, for Codex CLI) and `/v1/messages` (Anthropic Messages,
for Claude Code) each become one chat-completions request upstream, recorded the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from cab_check.asgi_server import AbortConnection
from cab_check.keys import REDACTED, Redactor
from cab_check.models import ModelCall
from cab_check.upstream import UpstreamClient, UpstreamError, UpstreamResponse, UpstreamUnreachable
from cab_check.wire import (
    StreamTranslator,
    WireError,
    anthropic,
    openai_error_body,
    responses,
    sse,
)

log = logging.getLogger(__name__)

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MODELS_PATHS = ("/v1/models", "/models")
RESPONSES_PATHS = ("/v1/responses", "/responses")
MESSAGES_PATHS = ("/v1/messages", "/messages")
COUNT_TOKENS_PATHS = ("/v1/messages/count_tokens", "/messages/count_tokens")
MAX_ERROR_CHARS = 300
CLIENT_CLOSED = 499  # as nginx logs a request whose client went away before the answer was complete
# An SSE line longer than this is not one we could parse anyway; dropping it bounds memory.
MAX_SSE_LINE_BYTES = 16 * 1024 * 1024

# Headers that describe one hop (RFC 9110 §7.6.1); neither direction may forward them.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
# Plus what we set ourselves or what carries the agent's token.
_DROP_REQUEST_HEADERS = _HOP_BY_HOP | {"host", "authorization", "x-api-key", "api-key", "accept-encoding", "cookie"}
_DROP_RESPONSE_HEADERS = _HOP_BY_HOP | {"content-encoding", "date", "server", "set-cookie"}


def new_run_token() -> str:
    """A fresh random token the agent uses instead of the real key."""
    return "cab-" + secrets.token_urlsafe(32)


def openai_error(status: int, message: str, err_type: str, code: str | None = None) -> JSONResponse:
    """An error response shaped like OpenAI's, which every client knows how to show."""
    return JSONResponse(openai_error_body(status, message, err_type, code), status_code=status)


@dataclass(frozen=True)
class Dialect:
    """A client API the proxy serves by translating to and from chat completions."""

    chat_request: Callable[[Any], dict[str, Any]]
    from_chat: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
    stream: Callable[[dict[str, Any]], StreamTranslator]
    error_body: Callable[[int, str, str, str | None], dict[str, Any]]


RESPONSES = Dialect(responses.chat_request, responses.from_chat, responses.ResponsesStream, responses.error_body)
MESSAGES = Dialect(anthropic.chat_request, anthropic.from_chat, anthropic.MessagesStream, anthropic.error_body)


def error_response(
    dialect: Dialect | None,
    status: int,
    message: str,
    err_type: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error in the shape the client's API uses: OpenAI's for chat, or the dialect's own."""
    body = (dialect.error_body if dialect else openai_error_body)(status, message, err_type, code)
    return JSONResponse(body, status_code=status, headers=headers)


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


# --- what a response says about itself --------------------------------------------------------------------------


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


def _error_fields(body: bytes) -> tuple[str, str | None]:
    """The error type and code an OpenAI-shaped error body names, for a translated client to branch on."""
    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return "upstream_error", None
    if not isinstance(err, dict):
        return "upstream_error", None
    err_type = err.get("type") if isinstance(err.get("type"), str) else "upstream_error"
    return err_type, err.get("code") if isinstance(err.get("code"), str) else None


def _error_text(status: int, body: bytes) -> str:
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


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _is_event_stream(upstream: UpstreamResponse) -> bool:
    return upstream.headers.get("content-type", "").startswith("text/event-stream")


def _as_chunk(completion: dict[str, Any]) -> dict[str, Any]:
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


def _asked_for_usage(payload: dict[str, Any] | None) -> bool:
    options = payload.get("stream_options") if payload is not None else None
    return isinstance(options, dict) and options.get("include_usage") is True


# Rate-limit and retry headers of an OpenAI-compatible upstream: what a client's retry logic reads, on every route.
_RATE_LIMIT_HEADERS = ("retry-after", "retry-after-ms", "x-ratelimit-", "ratelimit-", "anthropic-ratelimit-")


def _rate_limit_headers(upstream: UpstreamResponse) -> dict[str, str]:
    return {k: v for k, v in upstream.headers.items() if k.lower().startswith(_RATE_LIMIT_HEADERS)}


class _ClientWatch:
    """While the proxy waits on the upstream, the client's disconnect cancels that wait: the abandoned call is
    recorded as such and its upstream request dropped. One task per call; the request body has been read, so the
    next ASGI message can only be the disconnect."""

    def __init__(self, request: Request) -> None:
        self.gone = False
        self._handler = asyncio.current_task()
        self._task = asyncio.ensure_future(self._watch(request))

    async def _watch(self, request: Request) -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        if self._handler is not None:
            self._handler.cancel()

    def abandoned(self) -> bool:
        """Whether a CancelledError being handled was this watch's doing (then the handler is no longer cancelled)."""
        if not self.gone:
            return False
        if self._handler is not None:
            self._handler.uncancel()
        return True

    def stop(self) -> None:
        self._task.cancel()


def _inject_include_usage(payload: dict[str, Any]) -> bytes:
    """Asks a streaming upstream to end with a usage chunk, so the proxy can count tokens."""
    options = payload.get("stream_options")
    merged = {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    return json.dumps({**payload, "stream_options": merged}, ensure_ascii=False).encode()


# --- one call in flight ------------------------------------------------------------------------------------------


@dataclass
class _CallInProgress:
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


class _RelayedStream(StreamingResponse):
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


# --- the proxy ---------------------------------------------------------------------------------------------------


class RecordingProxy:
    """An OpenAI-compatible pass-through that authenticates the agent by token and records every model call.

    Also serves the Responses and Messages APIs by translation to the upstream's chat completions.
    """

    def __init__(
        self,
        upstream_base_url: str,
        api_key: str | None,
        token: str,
        on_call: Callable[[ModelCall], None] | None = None,
    ) -> None:
        if not token:
            raise ValueError("the proxy needs a non-empty run token")
        self.upstream_base_url = upstream_base_url.rstrip("/")
        self._api_key = api_key or None
        self._token = token
        self._redactor = Redactor(api_key, token)
        self.on_call = on_call
        self.calls: list[ModelCall] = []
        self._lock = threading.Lock()
        self._next_index = 0
        self._client: UpstreamClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        parts = urlsplit(self.upstream_base_url)
        # Host and port only: a URL may carry user:password, which must never reach a message.
        self.upstream_host = parts.hostname or self.upstream_base_url
        if parts.port:
            self.upstream_host += f":{parts.port}"
        self._routes = self._make_routes()
        self.app = self._asgi  # a plain ASGI app: _dispatch routes, so a framework's router would only cost time

    # --- public helpers ---

    def redact(self, text: str) -> str:
        """The text with the real key and the run token replaced by [REDACTED]."""
        return self._redactor.text(text)

    def _scrub(self, body: bytes) -> bytes:
        """An upstream error body without the real key: some providers echo the key they were given."""
        if not self._api_key:
            return body
        return body.replace(self._api_key.encode(), REDACTED.encode())

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def close(self) -> None:
        """Close the upstream connections from any thread; call it before stopping the server that runs `.app`."""
        loop, client = self._client_loop, self._client
        if client is None or loop is None or loop.is_closed() or not loop.is_running():
            self._client = None
            return
        try:
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout=5)
        except Exception:  # noqa: BLE001 - closing is best effort; the loop is going away anyway
            self._client = None

    # --- routing ---

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = await self._dispatch(Request(scope, receive))
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        route = self._routes.get(path)
        dialect = route[2] if route else None
        if not self._authorized(request):
            message = "Missing or wrong token for this cab-check run."
            return error_response(dialect, 401, message, "invalid_request_error", "invalid_api_key")
        if route is None:
            return openai_error(404, f"Unknown path {path}; this proxy serves only the model API.", "not_found")
        method, handler, _ = route
        if request.method != method:
            message = f"Method {request.method} not allowed on {path}."
            return error_response(dialect, 405, message, "invalid_request_error")
        return await handler(request)

    def _make_routes(self) -> dict[str, tuple[str, Callable[[Request], Awaitable[Response]], Dialect | None]]:
        routes: dict[str, tuple[str, Callable[[Request], Awaitable[Response]], Dialect | None]] = {}
        for paths, method, handler, dialect in (
            (CHAT_PATHS, "POST", self._chat_completions, None),
            (MODELS_PATHS, "GET", self._models, None),
            (RESPONSES_PATHS, "POST", self._responses, RESPONSES),
            (MESSAGES_PATHS, "POST", self._messages, MESSAGES),
            (COUNT_TOKENS_PATHS, "POST", self._count_tokens, MESSAGES),
        ):
            routes.update(dict.fromkeys(paths, (method, handler, dialect)))
        return routes

    def _authorized(self, request: Request) -> bool:
        offered = request.headers.get("x-api-key", "")
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            offered = credentials.strip() or offered
        return bool(offered) and hmac.compare_digest(offered.encode(), self._token.encode())

    # --- upstream plumbing ---

    def _http(self) -> UpstreamClient:
        # Created on first use, inside the server's event loop, which is the loop it must live in.
        if self._client is None:
            self._client = UpstreamClient()
            self._client_loop = asyncio.get_running_loop()
        return self._client

    def _upstream_url(self, request: Request) -> str:
        path = request.url.path
        tail = path[len("/v1") :] if path.startswith("/v1/") else path
        url = self.upstream_base_url + tail
        return f"{url}?{request.url.query}" if request.url.query else url

    def _upstream_headers(self, request: Request) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST_HEADERS}
        # Identity encoding keeps the relayed bytes readable by the SSE watcher and by the agent alike.
        headers["accept-encoding"] = "identity"
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    @staticmethod
    def _response_headers(upstream: UpstreamResponse) -> dict[str, str]:
        return {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP_RESPONSE_HEADERS}

    def _dropped(self, exc: Exception) -> str:
        return self.redact(f"upstream dropped the connection before answering: {exc}")

    def _unreachable(self, exc: Exception) -> str:
        return self.redact(f"could not reach the upstream endpoint at {self.upstream_host}: {exc}")

    def _translated_headers(self, stream: bool) -> dict[str, str]:
        # A translated request is a new chat request: the client's headers describe another API (anthropic-beta,
        # Codex's session ids), so none of them are forwarded.
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "accept-encoding": "identity",
        }
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    async def _open(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> UpstreamResponse:
        return await self._http().send(method, url, body, headers)

    # --- handlers ---

    async def _models(self, request: Request) -> Response:
        try:
            upstream = await self._open("GET", self._upstream_url(request), b"", self._upstream_headers(request))
            try:
                content = await upstream.aread()
            finally:
                await upstream.aclose()
        except UpstreamUnreachable as exc:
            return openai_error(502, self._unreachable(exc), "upstream_error", "upstream_unreachable")
        except UpstreamError as exc:
            return openai_error(502, self._dropped(exc), "upstream_error", "upstream_broken")
        if not upstream.is_success:
            content = self._scrub(content)
        return Response(content, status_code=upstream.status_code, headers=self._response_headers(upstream))

    async def _chat_completions(self, request: Request) -> Response:
        return await self._model_call(request, None)

    async def _responses(self, request: Request) -> Response:
        return await self._model_call(request, RESPONSES)

    async def _messages(self, request: Request) -> Response:
        return await self._model_call(request, MESSAGES)

    async def _count_tokens(self, request: Request) -> Response:
        # Answered here, unrecorded: a chat endpoint has no such call, and it is not a model call.
        try:
            return JSONResponse(anthropic.count_tokens(_json_object(await request.body())))
        except WireError as exc:
            return error_response(MESSAGES, 400, str(exc), "invalid_request_error")

    async def _model_call(self, request: Request, dialect: Dialect | None) -> Response:
        """One model request, passed through (`dialect` None) or translated, and recorded either way."""
        call = self._start_call(request)
        body = await request.body()
        call.body_hash = request_hash(body)
        payload = _json_object(body)
        if payload is not None:
            call.model = payload.get("model") if isinstance(payload.get("model"), str) else None
            call.stream = payload.get("stream") is True

        if dialect is None:
            forward = _inject_include_usage(payload) if payload is not None and call.stream else body
            url, headers = self._upstream_url(request), self._upstream_headers(request)
        else:
            try:
                chat = dialect.chat_request(payload)
            except WireError as exc:
                return self._failed(call, dialect, 400, str(exc), "invalid_request_error")
            forward = _inject_include_usage(chat) if call.stream else json.dumps(chat, ensure_ascii=False).encode()
            url, headers = self.upstream_base_url + "/chat/completions", self._translated_headers(call.stream)

        watch = _ClientWatch(request)
        try:
            upstream = await self._open("POST", url, forward, headers)
        except UpstreamUnreachable as exc:
            watch.stop()
            return self._failed(call, dialect, 502, self._unreachable(exc), "upstream_error", "upstream_unreachable")
        except UpstreamError as exc:
            watch.stop()
            return self._failed(call, dialect, 502, self._dropped(exc), "upstream_error", "upstream_broken")
        except asyncio.CancelledError:
            if not watch.abandoned():
                raise
            return self._abandoned(call, "before the upstream answered")

        call.status = upstream.status_code
        limits = _rate_limit_headers(upstream)
        if call.stream and upstream.is_success:
            # A client that did not ask for the usage chunk must not get one: it was asked for our count only.
            strip_usage = not _asked_for_usage(payload)
            translator = dialect.stream(payload) if dialect is not None and payload is not None else None
            watch.stop()  # the stream watches for its client itself
            return self._relay_stream(call, upstream, translator, strip_usage, limits)

        # A whole body: a non-streaming answer, or an error the upstream sent instead of a stream.
        try:
            content = await upstream.aread()
        except UpstreamError as exc:
            message = self.redact(f"upstream broke off its answer: {exc}")
            return self._failed(call, dialect, 502, message, "upstream_error", "upstream_broken")
        except asyncio.CancelledError:
            if not watch.abandoned():
                raise
            return self._abandoned(call, "while the upstream answered")
        finally:
            watch.stop()
            await upstream.aclose()

        if not upstream.is_success:
            content = self._scrub(content)
            call.error = self.redact(_error_text(upstream.status_code, content))[:MAX_ERROR_CHARS]
            self._finish(call)
            if dialect is None:
                return Response(content, status_code=upstream.status_code, headers=self._response_headers(upstream))
            return error_response(dialect, upstream.status_code, call.error, *_error_fields(content), headers=limits)

        answer = _json_object(content)
        call.facts.absorb(answer)
        if answer is None or not isinstance(answer.get("choices"), list):
            call.error = (
                f"upstream answered {upstream.status_code} with a body that is not a chat completion "
                f"({upstream.headers.get('content-type') or 'no content type'})"
            )
            if dialect is None:  # passed on as it came: the client's own parser says what it makes of it
                self._finish(call)
                return Response(content, status_code=upstream.status_code, headers=self._response_headers(upstream))
            return self._failed(call, dialect, 502, call.error, "upstream_error", "upstream_broken")
        self._finish(call)
        if dialect is None:
            return Response(content, status_code=upstream.status_code, headers=self._response_headers(upstream))
        return JSONResponse(dialect.from_chat(answer, payload), headers=limits)

    def _failed(
        self,
        call: _CallInProgress,
        dialect: Dialect | None,
        status: int,
        message: str,
        err_type: str,
        code: str | None = None,
    ) -> Response:
        """Records the call as failed with `message` and answers the client with it."""
        call.status, call.error = status, message
        self._finish(call)
        return error_response(dialect, status, message, err_type, code)

    def _abandoned(self, call: _CallInProgress, when: str) -> Response:
        """The client went away: recorded as nginx logs it (499); the upstream request is cancelled with it."""
        call.status, call.error = CLIENT_CLOSED, f"the client abandoned the call {when}"
        self._finish(call)
        return Response(status_code=CLIENT_CLOSED)  # nobody reads it

    def _relay_stream(
        self,
        call: _CallInProgress,
        upstream: UpstreamResponse,
        translator: StreamTranslator | None,
        strip_usage: bool,
        limits: dict[str, str],
    ) -> Response:
        """Streams the upstream's answer back, as it is or through `translator`, watching it for usage.

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
            call.error = self.redact(error)[:MAX_ERROR_CHARS]
            if translator is not None:
                return b"".join(translator.close(call.error))
            return sse(None, openai_error_body(502, call.error, "upstream_error", "upstream_broken"))

        async def chunks() -> AsyncGenerator[bytes, None]:
            if not _is_event_stream(upstream):
                # Some servers ignore `stream` and answer whole; the client still gets its stream.
                yield await self._whole_as_stream(call, upstream, translator, strip_usage)
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
                self._finish(call)

        if translator is None:
            headers = self._response_headers(upstream)
        else:
            headers = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", **limits}
        return _RelayedStream(stream, on_close, upstream.status_code, headers)

    async def _whole_as_stream(
        self, call: _CallInProgress, upstream: UpstreamResponse, translator: StreamTranslator | None, strip_usage: bool
    ) -> bytes:
        def failed(error: str) -> bytes:
            call.error = self.redact(error)[:MAX_ERROR_CHARS]
            if translator is not None:
                return b"".join(translator.close(call.error))
            return sse(None, openai_error_body(502, call.error, "upstream_error", "upstream_broken"))

        try:
            answer = _json_object(await upstream.aread())
        except UpstreamError as exc:
            return failed(f"upstream broke off its answer: {exc}")
        if answer is None or not isinstance(answer.get("choices"), list):
            return failed("upstream answered a stream request with a body that is not a chat completion")
        call.facts.absorb(answer)
        chunk = _as_chunk(answer)
        if translator is not None:
            return b"".join(translator.feed(chunk) + translator.close())
        if strip_usage:
            chunk.pop("usage", None)
        return sse(None, chunk) + b"data: [DONE]\n\n"

    # --- recording ---

    def _start_call(self, request: Request) -> _CallInProgress:
        with self._lock:
            index, self._next_index = self._next_index, self._next_index + 1
        return _CallInProgress(
            index=index,
            path=request.url.path,
            started=datetime.now(UTC),
            started_clock=time.perf_counter(),
            body_hash="",
            model=None,
            stream=False,
        )

    def _finish(self, call: _CallInProgress) -> None:
        record = call.finished()
        with self._lock:
            self.calls.append(record)
        if self.on_call is not None:
            try:
                self.on_call(record)
            except Exception:  # a listener's bug must not break the agent's model call
                log.exception("on_call listener failed for model call %d", record.index)
