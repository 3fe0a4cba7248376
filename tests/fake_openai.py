"""One fake OpenAI-compatible server for every test that needs an endpoint to talk to.

A `Behaviour` says what the server does: which models GET /models lists, which key it wants, how it answers a chat
completion, a stream and a request that offers tools, and how it fails. A `FakeOpenAI` plays it, records every
request it is sent, and is reachable two ways:

- as an ASGI app (the `FakeOpenAI` itself), for a real loopback server: `with fake.serving() as base_url:`;
- as an httpx handler (`fake.handler`, or `fake.transport()`), for code that takes a transport.

Every error body quotes the key the request carried, as careless servers do, so a test can check that the key is
redacted on its way to the user. The reference model (cab_check.reference_model) is not faked here: it is real code,
served as it is.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cab_check.asgi_server import AbortConnection, BackgroundServer

MODEL = "fake-model"
HTML_PAGE = "<!doctype html><html><head><title>Open WebUI</title></head><body></body></html>"
CALL_WRITTEN_AS_TEXT = '<tool_call>{"name": "ping", "arguments": {"message": "hello"}}</tool_call>'

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@dataclass
class Behaviour:
    """What the server does. The defaults are a healthy server that needs no key and serves any model name."""

    prefix: str = "/v1"  # where the API lives: {prefix}/models and {prefix}/chat/completions
    served: tuple[str, ...] | None = (MODEL,)  # what GET /models lists; None: there is no such route (404)
    models: str = "list"  # how GET /models answers: list | 500 | html | other-shape | bare-list | redirect
    unknown_model: str = "accept"  # a chat for a model `served` omits: accept | 404 | 400-vague
    key: str | None = None  # the only key accepted (as a Bearer token) on every route; None: any key, or none
    auth: str = "ok"  # ok | 401 | 403: every request is refused so
    chat: str = "ok"  # every chat completion: ok | sleep | hang | html | no-choices | 500 | 429 | cut | gone
    sleep_s: float = 0.0  # with chat="sleep": how long it thinks before answering
    stream: str = "sse"  # stream=true: sse | sse-no-usage | held | json | 400 | reject-options |
    #                      no-done | no-delta | malformed | ends-early
    tools: str = "call"  # a request offering tools: call | bad-args | text | text-call | length | 400
    reply: tuple[str, ...] = ("Hel", "lo")  # the text it answers with, in the pieces it streams it in
    finish: str = "stop"  # the finish_reason of a text answer
    usage: tuple[int, int] = (11, 3)  # prompt and completion tokens it reports
    chunks: Sequence[dict[str, Any]] | None = None  # a scripted answer, as chat chunks (sent as is when streamed)
    headers: Mapping[str, str] = field(default_factory=dict)  # sent with every chat completion's answer
    by_model: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # model name -> fields it changes

    # The faults, in words:
    #   chat:  sleep   answers after sleep_s (over httpx: a ReadTimeout when the client's read timeout is shorter)
    #          hang    never answers; notices only that the client has gone (sets `abandoned`)
    #          html    a 200 that is a web page;  no-choices  a 200 of JSON that is no chat completion
    #          500     a server error;  429  rate limited, with retry-after (1 s unless `headers` says otherwise)
    #          cut     the answer breaks off: a stream after its content, a body half-way
    #          gone    drops every connection, this one too, and stops listening (ASGI, served by `serving()`)
    #   stream: held   the first chunk, then nothing until the test sets `fake.release`
    #          json    ignores stream=true and answers one JSON body
    #          400     refuses stream=true;  reject-options  refuses stream_options (streams without it)
    #          sse-no-usage / no-done / ends-early   no usage chunk / no [DONE] / only the content, nothing after
    #          no-delta   chunks without choices[].delta;  malformed  a data: line that is not JSON mid-stream
    #   tools: call    calls the first tool offered with {"message": "hello"};  bad-args  the same, arguments not JSON
    #          text    answers with its `reply`, as if no tools were offered;  text-call  writes the call out as text
    #          length  runs out of tokens thinking aloud
    #          400     refuses tools, as vLLM without --enable-auto-tool-choice does


@dataclass
class Seen:
    """One request the fake was sent."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the JSON it carried, else its bytes (None when empty)


class Step(Enum):
    HOLD = "hold"  # a stream waits here until the fake's `release` is set
    CUT = "cut"  # the connection breaks here, mid-answer


class Silence(Enum):
    HANG = "hang"
    GONE = "gone"


@dataclass
class Reply:
    status: int
    parts: list[bytes | Step]
    headers: dict[str, str]
    delay_s: float = 0.0


class FakeOpenAI:
    """Plays a `Behaviour`; an ASGI app. With a `backend` app in front of which it stands (e.g. the task's reference
    model), it is a witness: every request goes to the backend, except chat completions after the first
    `backend_chats` (when given), which the behaviour answers."""

    def __init__(
        self, behaviour: Behaviour | None = None, *, backend: ASGIApp | None = None, backend_chats: int | None = None
    ) -> None:
        self.behaviour = behaviour or Behaviour()
        self.backend, self.backend_chats = backend, backend_chats
        self.requests: list[Seen] = []
        self.release = threading.Event()  # lets a held stream go on
        self.finished = threading.Event()  # a streamed answer was sent to its end
        self.abandoned = threading.Event()  # a client left before its answer was complete
        self.server: BackgroundServer | None = None

    @property
    def authorizations(self) -> tuple[str, ...]:
        """The Authorization header of every request, "" where there was none (`requests.clear()` forgets them)."""
        return tuple(r.headers.get("authorization", "") for r in self.requests)

    @property
    def chats(self) -> int:
        """How many chat completions it was asked for."""
        return sum(r.path == f"{self.behaviour.prefix}/chat/completions" for r in self.requests)

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serves the fake on a loopback port; yields its base URL (ending in the prefix, /v1)."""
        with BackgroundServer(self, "127.0.0.1") as server:
            self.server = server
            yield server.url + self.behaviour.prefix

    # --- what it answers ----------------------------------------------------------------------------------------------

    def answer(self, seen: Seen) -> Reply | Silence:
        b = self.behaviour
        if seen.path == f"{b.prefix}/models" and b.served is not None:
            if seen.method != "GET":
                return _text(405, "Method Not Allowed")
            return _refusal(b, seen) or _model_list(b)
        if seen.path != f"{b.prefix}/chat/completions":
            return _text(404, "Not Found")
        if seen.method != "POST":
            return _text(405, "Method Not Allowed")
        body = seen.body if isinstance(seen.body, dict) else {}
        b = replace(b, **b.by_model.get(str(body.get("model")), {}))
        return _refusal(b, seen) or _chat(b, body, _key_of(seen))

    # --- served over ASGI ---------------------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        raw = await request.body()
        seen = self._saw(request.method, request.url.path, request.headers, raw)
        if self._for_backend(seen):
            assert self.backend is not None
            await self.backend(scope, _replay(raw, receive), send)
            return
        reply = self.answer(seen)
        if reply is Silence.HANG:
            await _until_disconnect(receive)
            self.abandoned.set()
            return
        if reply is Silence.GONE:
            assert self.server is not None, "chat='gone' needs the fake served by serving()"
            for connection in self.server.connections():  # this call's connection too
                connection.transport.abort()
            threading.Thread(target=self.server.stop, daemon=True).start()  # later calls are refused
            await _until_disconnect(receive)
            return
        await asyncio.sleep(reply.delay_s)
        body = [p for p in reply.parts if isinstance(p, bytes)]
        if len(body) == len(reply.parts):  # no steps: one body
            response: Response = Response(b"".join(body), reply.status)
        else:
            response = StreamingResponse(self._play(reply.parts), reply.status)
        response.headers.update(reply.headers)
        await response(scope, receive, send)

    async def _play(self, parts: list[bytes | Step]) -> AsyncIterator[bytes]:
        try:
            for part in parts:
                if part is Step.HOLD:
                    while not self.release.is_set():
                        await asyncio.sleep(0.01)
                elif part is Step.CUT:
                    raise AbortConnection("the fake breaks the connection mid-answer")
                else:
                    yield part
            self.finished.set()
        except (asyncio.CancelledError, GeneratorExit):
            self.abandoned.set()  # the client left, or the server let go of it
            raise

    def _for_backend(self, seen: Seen) -> bool:
        if self.backend is None:
            return False
        if seen.path != f"{self.behaviour.prefix}/chat/completions":
            return True
        return self.backend_chats is None or self.chats <= self.backend_chats

    # --- as an httpx transport ----------------------------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        """An httpx `MockTransport` handler: answers in-process, as the ASGI app would over a socket."""
        if self.backend is not None:
            raise TypeError("a fake in front of a backend app is served over ASGI only")
        seen = self._saw(request.method, request.url.path, request.headers, request.read())
        reply = self.answer(seen)
        if reply is Silence.GONE:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        if reply is Silence.HANG:
            _wait(request, math.inf)
        assert isinstance(reply, Reply)
        _wait(request, reply.delay_s)

        def play() -> Iterator[bytes]:
            for part in reply.parts:
                if part is Step.HOLD:
                    self.release.wait()
                elif part is Step.CUT:
                    raise httpx.RemoteProtocolError("peer closed connection mid-answer", request=request)
                else:
                    yield part
            self.finished.set()

        plain = all(isinstance(p, bytes) for p in reply.parts)
        content = b"".join(play()) if plain else play()
        return httpx.Response(reply.status, headers=reply.headers, content=content)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def _saw(self, method: str, path: str, headers: Mapping[str, str], raw: bytes) -> Seen:
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        seen = Seen(method, path, {k.lower(): v for k, v in headers.items()}, body)
        self.requests.append(seen)
        return seen


# --- the answers ------------------------------------------------------------------------------------------------------


def _key_of(seen: Seen) -> str:
    return seen.headers.get("authorization", "").removeprefix("Bearer ")


def _quoted(key: str) -> str:
    """The key a request carried, quoted in an error as careless servers do."""
    return f" (key {key})" if key else ""


def _refusal(b: Behaviour, seen: Seen) -> Reply | None:
    key = _key_of(seen)
    if b.auth == "401" or (b.key is not None and seen.headers.get("authorization") != f"Bearer {b.key}"):
        said = f"Incorrect API key provided: {key}" if key else "You didn't provide an API key."
        return _error(401, said, code="invalid_api_key")
    if b.auth == "403":
        return _error(403, f"This key may not use this model{_quoted(key)}.", code="model_not_allowed")
    return None


def _model_list(b: Behaviour) -> Reply:
    served = list(b.served or ())
    if b.models == "500":
        return _error(500, "boom", "server_error")
    if b.models == "html":
        return _page(HTML_PAGE)
    if b.models == "other-shape":
        return _json(200, {"models": served})
    if b.models == "bare-list":
        return _json(200, served)
    if b.models == "redirect":
        return Reply(307, [], {"location": "https://elsewhere.example/v1/models"})
    return _json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in served]})


def _chat(b: Behaviour, body: dict[str, Any], key: str) -> Reply | Silence:
    model = str(body.get("model"))
    if b.served is not None and model not in b.served and b.unknown_model != "accept":
        if b.unknown_model == "404":
            return _error(404, f"The model `{model}` does not exist{_quoted(key)}.", code="model_not_found")
        return _error(400, f"Bad request{_quoted(key)}.")
    if b.chat in ("hang", "gone"):
        return Silence(b.chat)
    if b.chat == "500":
        # OpenAI's own words: aider gives up at once on some others (e.g. "CUDA out of memory") instead of retrying.
        return _error(500, f"The server had an error while processing your request{_quoted(key)}.", "server_error")
    if b.chat == "429":
        limited = {"retry-after": "1", **b.headers}
        return _error(429, "Rate limit reached; try again in 1 s.", "rate_limit_error", "rate_limit_exceeded", limited)
    if b.chat == "html":
        return _page(HTML_PAGE)
    if b.chat == "no-choices":
        return _json(200, {"result": "OK", "key": key})

    tools, stream = body.get("tools"), body.get("stream") is True
    if tools and b.tools == "400" and b.chunks is None:
        said = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
        return _error(400, f"{said}{_quoted(key)}.")
    if stream and b.stream == "400":
        return _error(400, f"Streaming is not supported{_quoted(key)}.")
    if stream and b.stream == "reject-options" and "stream_options" in body:
        return _error(400, "Unrecognized request argument supplied: stream_options")

    chunks = list(b.chunks) if b.chunks is not None else _chunks(b, model, tools)
    if stream and b.stream != "json":
        options = body.get("stream_options")
        asked_usage = isinstance(options, dict) and options.get("include_usage") is True
        reply = Reply(200, _events(b, chunks, asked_usage), {"content-type": "text/event-stream"})
    else:
        reply = _json(200, _whole(chunks, model))
        if b.chat == "cut":
            whole = reply.parts[0]
            assert isinstance(whole, bytes)
            reply.parts = [whole[: len(whole) // 2], Step.CUT]
            reply.headers["content-length"] = str(len(whole))
    if b.chat == "sleep":
        reply.delay_s = b.sleep_s
    reply.headers.update(b.headers)
    return reply


def _chunks(b: Behaviour, model: str, tools: Any) -> list[dict[str, Any]]:
    """The answer as chat chunks: the content, then the finish, then the usage."""
    pieces, finish = b.reply, b.finish
    deltas: list[dict[str, Any]]
    if tools and b.tools in ("call", "bad-args"):
        offered = tools[0].get("function", {}) if isinstance(tools, list) and isinstance(tools[0], dict) else {}
        arguments = "{message: hello" if b.tools == "bad-args" else json.dumps({"message": "hello"})
        call = {"name": offered.get("name", "ping"), "arguments": arguments}
        deltas = [
            {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": call}]}
        ]
        finish = "tool_calls"
    else:
        if tools and b.tools == "text-call":
            pieces = (CALL_WRITTEN_AS_TEXT,)
        elif tools and b.tools == "length":
            pieces, finish = ("Let me think. " * 50,), "length"
        deltas = [{"role": "assistant", "content": pieces[0]}, *({"content": p} for p in pieces[1:])]
    prompt, completion = b.usage
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return [
        *(_chunk(model, [{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas),
        _chunk(model, [{"index": 0, "delta": {}, "finish_reason": finish}]),
        _chunk(model, [], usage=usage),
    ]


def _chunk(model: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": choices,
        **extra,
    }


def _events(b: Behaviour, chunks: list[dict[str, Any]], asked_usage: bool) -> list[bytes | Step]:
    """The chunks as server-sent events, as `b.stream` (or a cut) shapes them."""
    ends = next((i for i, c in enumerate(chunks) if _is_end(c)), len(chunks))
    content, end = chunks[:ends], chunks[ends:]
    if b.chunks is None and (not asked_usage or b.stream == "sse-no-usage"):
        end = [c for c in end if c.get("choices")]
    done = [b"data: [DONE]\n\n"]
    if b.chat == "cut":
        return [*map(_event, content), Step.CUT]
    if b.stream == "held":
        return [*map(_event, content[:1]), Step.HOLD, *map(_event, content[1:] + end), *done]
    if b.stream == "no-delta":
        text = _whole(chunks, "")["choices"][0]["message"]["content"]
        usage = [c for c in end if not c.get("choices")]
        return [
            _event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "text": text}),
            *map(_event, usage),
            *done,
        ]
    if b.stream == "malformed":
        return [*map(_event, content), b"data: {not json\n\n", *map(_event, end), *done]
    if b.stream == "ends-early":
        return list(map(_event, content))
    if b.stream == "no-done":
        return list(map(_event, content + end))
    return [*map(_event, content + end), *done]


def _is_end(chunk: dict[str, Any]) -> bool:
    """A chunk that finishes the answer: one with a finish_reason, or the usage chunk (no choices)."""
    choices = chunk.get("choices") or []
    return not choices or any(c.get("finish_reason") for c in choices)


def _whole(chunks: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """The chunks assembled into one chat completion."""
    text, finish, usage = "", None, None
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        usage = c.get("usage") or usage
        for choice in c.get("choices", []):
            delta = choice.get("delta", {})
            text += delta.get("content") or ""
            for d in delta.get("tool_calls", []):
                call = calls.setdefault(
                    d["index"], {"id": d.get("id"), "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["function"]["name"] += d["function"].get("name", "")
                call["function"]["arguments"] += d["function"].get("arguments", "")
            finish = choice.get("finish_reason") or finish
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = list(calls.values())
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    return {**completion, "usage": usage} if usage else completion


def _event(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _json(status: int, payload: Any) -> Reply:
    return Reply(status, [json.dumps(payload).encode()], {"content-type": "application/json"})


def _page(html: str) -> Reply:
    return Reply(200, [html.encode()], {"content-type": "text/html; charset=utf-8"})


def _text(status: int, text: str) -> Reply:
    return Reply(status, [text.encode()], {"content-type": "text/plain; charset=utf-8"})


def _error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """An error in OpenAI's shape."""
    reply = _json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})
    reply.headers.update(headers or {})
    return reply


# --- plumbing ---------------------------------------------------------------------------------------------------------


def _wait(request: httpx.Request, seconds: float) -> None:
    """Waits as a client bounded by its read timeout sees a server that answers after `seconds`."""
    if not seconds:
        return
    bound = request.extensions.get("timeout", {}).get("read")
    if bound is None and seconds == math.inf:
        raise RuntimeError("a fake that never answers needs a client with a read timeout")
    time.sleep(seconds if bound is None else min(seconds, bound))
    if bound is not None and seconds > bound:
        raise httpx.ReadTimeout("timed out", request=request)


def _replay(body: bytes, receive: Any) -> Any:
    """A `receive` that hands a backend the request body already read, then the client's own messages."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
