"""Preflight: a few small requests to the user's endpoint before any container starts, so a wrong URL, key or
model, or a server that lacks what the TUI needs (streaming, tool calls), fails in about a second with the precise
cause and what to do, instead of after an agent timeout.

The probes run one after another, each bounded by `timeout_s`, the whole handshake by `total_s`:

1. ``GET {base}/models`` — optional: only used to confirm the model id and to suggest close ones;
2. one small non-streaming chat completion;
3. when the TUI streams, one ``stream=true`` request that must come back as OpenAI-shaped SSE ending in [DONE];
4. when the TUI needs tool calls, one request offering a trivial ``ping`` function it must call.

The upstream only ever needs chat completions: the recording proxy translates the Responses (Codex) and Anthropic
Messages (Claude Code) wires to chat. The first failure raises HandshakeRejected (exit 2: the key, model or URL the
user gave) or HandshakeFailed (exit 3: the server or the network); every message goes through the redactor.

Sending is `_Prober`'s; the diagnosis — what an answer or a transport error means — is pure functions from an
`httpx.Response` (or exception) to a Check or a HandshakeError, so any `transport=` (httpx's MockTransport in the
tests) can stand in for a server.
"""

from __future__ import annotations

import difflib
import json
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Self

import httpx

from cab_check.errors import HandshakeError, HandshakeFailed, HandshakeRejected, Remedy
from cab_check.keys import Redactor
from cab_check.models import TuiNeeds

INCOMPATIBLE = "Model incompatible with this TUI — they could not handshake"
REQUEST_TIMEOUT_S = 10.0
CHAT_MAX_TOKENS = 16
TOOL_MAX_TOKENS = 256  # room for a model that thinks a little before it calls
EXCERPT_CHARS = 160
NO_TOOLS_TUI = "or pick a TUI that needs no tool calls, like aider"
TOOL_SERVER_HINT = (
    "start the server with tool calling on (vLLM: --enable-auto-tool-choice --tool-call-parser <the parser for "
    "your model, e.g. hermes for Qwen>; llama.cpp: --jinja; Ollama: a model tagged for tools)"
)
WIRE_NOTES = {
    "responses": "the proxy translates this TUI's Responses API to chat completions, so the endpoint needs only those",
    "anthropic": "the proxy translates this TUI's Anthropic Messages API to chat completions, "
    "so the endpoint needs only those",
}
NOT_OPENAI_STREAM = "it is not an OpenAI-compatible streaming API"
PING_TOOL = {
    "type": "function",
    "function": {
        "name": "ping",
        "description": "Checks that tool calling works. Call it whenever you are asked to.",
        "parameters": {
            "type": "object",
            "properties": {"message": {"type": "string", "description": "Any short text."}},
            "required": ["message"],
        },
    },
}

OtherBase = Callable[[], str | None]  # the base URL with /v1 added or dropped, when that one serves a model list


@dataclass(frozen=True)
class Check:
    """One probe's outcome. Required probes only ever pass (a failure raises instead); `ok` is False only for the
    optional model list when the server offers none."""

    name: str  # "models" | "chat" | "streaming" | "tool calls"
    ok: bool
    detail: str


@dataclass(frozen=True)
class Target:
    """What the probes ask about: the endpoint's base URL, the model id, whether a key goes with the requests, and
    the ids GET /models listed (None until, or unless, it lists some)."""

    base: str
    model: str
    has_key: bool = True
    listed: tuple[str, ...] | None = None

    @property
    def chat_url(self) -> str:
        return f"{self.base}/chat/completions"

    @property
    def unlisted(self) -> bool:
        """The server lists its models, and this one is not among them."""
        return self.listed is not None and self.model not in self.listed


def handshake(
    base_url: str,
    api_key: str | None,
    model: str,
    needs: TuiNeeds,
    redactor: Redactor,
    timeout_s: float = REQUEST_TIMEOUT_S,
    total_s: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[Check]:
    """Probes the endpoint for what a TUI with these `needs` will ask of it; returns the checks that passed.

    `transport` is httpx's: None for the network, or e.g. an `httpx.MockTransport`."""
    with _Prober(base_url, api_key, model, redactor, timeout_s, total_s, transport) as prober:
        checks = [prober.models(), prober.chat(needs.wire)]
        if needs.streaming:
            checks.append(prober.streaming(needs.wire))
        if needs.tool_calls:
            checks.append(prober.tool_calls())
        return checks


def probe_chat(
    base_url: str,
    api_key: str | None,
    model: str,
    redactor: Redactor,
    timeout_s: float = REQUEST_TIMEOUT_S,
    transport: httpx.BaseTransport | None = None,
) -> Check:
    """Only the plain chat completion: enough for an endpoint we run ourselves (the reference model)."""
    with _Prober(base_url, api_key, model, redactor, timeout_s, None, transport) as prober:
        return prober.chat("chat")


def summary(checks: list[Check]) -> str:
    """One line for the preflight phase, e.g. "chat, streaming, tool calls ok"."""
    passed = [c.name for c in checks if c.ok and c.name != "models"]
    text = (", ".join(passed) or "nothing") + " ok"
    if any(c.name == "models" and not c.ok for c in checks):
        text += " (no model list)"
    return text


# --- the diagnosis: what an answer means -------------------------------------------------------------------------


def check_base(base: str) -> None:
    """HandshakeRejected for a base URL that is the chat-completions URL itself."""
    if base.endswith("/chat/completions"):
        root = base.removesuffix("/chat/completions")
        raise _rejected(
            "wrong_path",
            f"the endpoint {base} is the chat-completions URL itself, not its base: give {root} instead",
        )


def models_verdict(url: str, model: str, response: httpx.Response) -> tuple[Check, tuple[str, ...] | None]:
    """The optional model list: the check, and the ids it lists (None when the answer is no model list)."""
    ids = _model_ids(response) if response.status_code == 200 else None
    if ids is None:
        why = f"HTTP {response.status_code}" if response.status_code != 200 else "not a model list"
        return Check("models", False, f"GET {url}: {why}; model id not checked"), None
    among = "among" if model in ids else "not among"
    return Check("models", True, f"'{model}' is {among} the {len(ids)} models the server lists"), tuple(ids)


def chat_verdict(target: Target, response: httpx.Response, wire: str, other_base: OtherBase) -> Check:
    """The plain chat completion's answer; `other_base` is asked only when the path looks wrong."""
    if response.status_code >= 400:
        raise chat_error(target, response, other_base)
    message = _message(target, response, "a chat completion", other_base)
    content = message.get("content")
    detail = f"'{target.model}' answered a chat completion"
    if isinstance(content, str) and content.strip():
        detail += f" ({_excerpt(content, 40)!r})"
    if target.unlisted:
        detail += ", though GET /models does not list it"
    if wire in WIRE_NOTES:
        detail += f"; {WIRE_NOTES[wire]}"
    return Check("chat", True, detail)


def chat_error(target: Target, response: httpx.Response, other_base: OtherBase) -> HandshakeError:
    """Why a plain chat completion was refused (HTTP 400 and up)."""
    url, model = target.chat_url, target.model
    status, said = response.status_code, _error_excerpt(response)
    where = f"{url} answered HTTP {status}" + (f" ({said})" if said else "")
    if status == 401:
        if not target.has_key:
            return _rejected(
                "unauthorized",
                f"{where}: the server needs an API key and none was given; give it {Remedy.KEY.slot}",
                Remedy.KEY,
            )
        return _rejected(
            "unauthorized",
            f"{where}: the server rejected the API key; check the key (or save the right one {Remedy.SAVED_KEY.slot})",
            Remedy.SAVED_KEY,
        )
    if status == 403:
        return _rejected(
            "forbidden",
            f"{where}: the key is not allowed to use '{model}'; check the key's permissions, or pick a model it "
            "may use",
        )
    if status in (404, 405):
        if status == 404 and _mentions_model(said, model, strict=False):
            return unknown_model_error(target, where)
        other = other_base()
        if other:
            return _rejected(
                "wrong_path", f"{where}, but {other}/models answers: {_path_change(target.base, other)} ({other})"
            )
        if target.unlisted:
            return unknown_model_error(target, where)
        return _rejected(
            "wrong_path",
            f"{where}: there is no chat-completions API at that path; give the base URL "
            "that /chat/completions hangs off (usually ending in /v1)",
        )
    if status in (400, 422) and _mentions_model(said, model, strict=True):
        return unknown_model_error(target, where)
    if target.unlisted and status != 429:
        return unknown_model_error(target, where)
    if status == 429:
        return _failed(
            "rate_limited",
            f"{where}: the server is rate-limiting or out of quota; wait and try again, or check the account's limits",
        )
    if status >= 500:
        return _failed(
            "server_error",
            f"{where}: the server failed on a minimal chat completion; check its log (is the model loaded?) and "
            "try again",
        )
    return _failed(
        "rejected",
        f"{where}: the server rejected a minimal chat completion; check that it is an "
        "OpenAI-compatible chat-completions API",
    )


def unknown_model_error(target: Target, where: str) -> HandshakeRejected:
    """The server does not serve the model: with the closest ids it lists, when it lists any."""
    model = target.model
    if target.listed:
        close = _closest(model, list(target.listed))
        offer = f"the closest it serves: {', '.join(close)}" if close else "it serves none with a similar id"
        return _rejected(
            "unknown_model",
            f"{where}: the server does not serve model '{model}' ({offer}); give the exact id {Remedy.MODEL.slot}",
            Remedy.MODEL,
        )
    return _rejected(
        "unknown_model",
        f"{where}: the server does not serve model '{model}'; give an id it serves {Remedy.MODEL.slot} "
        f"(see GET {target.base}/models or the server's docs)",
        Remedy.MODEL,
    )


def stream_status_error(url: str, response: httpx.Response) -> HandshakeFailed:
    """Why a read `stream=true` request was refused (HTTP 400 and up)."""
    status, said = response.status_code, _error_excerpt(response)
    where = f"{url} answered HTTP {status} to stream=true" + (f" ({said})" if said else "")
    if status >= 500:
        return _failed("server_error", f"{where}: the server failed on a streaming request; check its log")
    return _failed(
        "no_streaming",
        f"{where}: the server does not support streaming, which this TUI needs; "
        "use a server with SSE streaming, or pick a TUI that does not stream, like aider",
    )


def unstreamed_verdict(url: str, response: httpx.Response, wire: str) -> Check:
    """A read 2xx answer to `stream=true` that is not server-sent events: fine only where the proxy re-streams."""
    kind = response.headers.get("content-type", "")
    data = _json(response)
    shaped = isinstance(data, dict) and _first_message(data) is not None
    if shaped and wire in WIRE_NOTES:
        return Check(
            "streaming",
            True,
            "the server answers stream=true with one whole JSON reply; the proxy re-streams it for this TUI's "
            f"{wire} wire",
        )
    if shaped:
        raise _failed(
            "no_streaming",
            f"{url} ignored stream=true and answered with one JSON body: this TUI needs server-sent events; use a "
            "server that streams, or pick a TUI that does not stream, like aider",
        )
    raise _failed(
        "not_openai",
        f"{url} answered stream=true with {kind or 'no content type'}, not text/event-stream: {NOT_OPENAI_STREAM}",
    )


def stream_verdict(url: str, lines: Iterable[str], asked_usage: bool) -> Check:
    """Server-sent events, line by line: OpenAI-shaped chunks with choices[].delta, ending in data: [DONE]."""
    deltas, usage, done = 0, False, False
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise _failed(
                "not_openai",
                f"{url} streamed a data: line that is not JSON ({_excerpt(payload)!r}); {NOT_OPENAI_STREAM}",
            ) from None
        if not isinstance(chunk, dict):
            raise _failed("not_openai", f"{url} streamed a chunk that is not a JSON object; {NOT_OPENAI_STREAM}")
        if "error" in chunk:
            said = _error_text(chunk)
            raise _failed("stream_error", f"{url} reported an error mid-stream ({said}); check the server's log")
        choices = chunk.get("choices")
        if (
            isinstance(choices, list)
            and choices
            and isinstance(choices[0], dict)
            and isinstance(choices[0].get("delta"), dict)
        ):
            deltas += 1
        if isinstance(chunk.get("usage"), dict):
            usage = True
    if not deltas:
        raise _failed("not_openai", f"{url} streamed no chunk with choices[].delta; {NOT_OPENAI_STREAM}")
    if not done:
        raise _failed("not_openai", f"{url} ended its stream without data: [DONE]; {NOT_OPENAI_STREAM}")
    detail = f"server-sent events: {deltas} delta chunks and [DONE]"
    if usage:
        detail += ", with a usage chunk"
    elif asked_usage:
        detail += "; no usage chunk despite stream_options.include_usage, so streamed tokens go uncounted"
    else:
        detail += "; the server rejects stream_options, so streamed tokens go uncounted"
    return Check("streaming", True, detail)


def rejects_stream_options(response: httpx.Response) -> bool:
    """A read answer that turns down `stream_options`, as servers that predate it do (streaming may still work)."""
    return response.status_code in (400, 422) and "stream_options" in _error_excerpt(response)


def tool_call_verdict(target: Target, response: httpx.Response, other_base: OtherBase) -> Check:
    """The answer to a request offering the ping tool, which it must call with a JSON object of arguments."""
    url = target.chat_url
    status = response.status_code
    if status >= 400:
        said = _error_excerpt(response)
        where = f"{url} answered HTTP {status} to a request with tools" + (f" ({said})" if said else "")
        if status >= 500:
            raise _failed(
                "server_error",
                f"{where}: the server failed on tool calling, which this TUI needs; "
                f"check its log and {TOOL_SERVER_HINT}, {NO_TOOLS_TUI}",
            )
        raise _failed(
            "no_tool_calls",
            f"{where}: the server has no tool-call support, which this TUI needs; {TOOL_SERVER_HINT}, {NO_TOOLS_TUI}",
        )
    message = _message(target, response, "a request with tools", other_base)
    calls = message.get("tool_calls")
    if isinstance(calls, list) and calls:
        functions = [c.get("function") for c in calls if isinstance(c, dict)]
        ping = [f for f in functions if isinstance(f, dict) and f.get("name") == "ping"]
        if not ping:
            names = ", ".join(str(f.get("name")) for f in functions if isinstance(f, dict)) or "none"
            raise _failed(
                "no_tool_calls",
                f"{url} called functions it was not offered ({_excerpt(names)}) instead of ping; tool calling is "
                f"broken, {NO_TOOLS_TUI}",
            )
        arguments = ping[0].get("arguments")
        parsed = _json_text(arguments) if isinstance(arguments, str) else None
        if not isinstance(parsed, dict):
            raise _failed(
                "no_tool_calls",
                f"{url} called ping but its arguments are not a JSON object string ({_excerpt(str(arguments))!r}), "
                "so the server's tool-call parser does not fit this model (vLLM: check --tool-call-parser); "
                f"{NO_TOOLS_TUI.removeprefix('or ')}",
            )
        return Check("tool calls", True, f"called ping with JSON arguments {_excerpt(arguments, 60)}")
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    finish = _first_choice(_json(response) or {}).get("finish_reason")
    if "ping" in text and ("{" in text or "<tool_call>" in text):
        raise _failed(
            "no_tool_calls",
            f"{url} wrote the ping call as text ({_excerpt(text, 80)!r}) instead of a tool_calls entry, so the "
            f"server is not parsing tool calls; {TOOL_SERVER_HINT}, {NO_TOOLS_TUI}",
        )
    if finish == "length":
        raise _failed(
            "no_tool_calls",
            f"{url} used all {TOOL_MAX_TOKENS} tokens without calling the ping tool (a thinking model may need more "
            f"room): {Remedy.SKIP_HANDSHAKE.slot}, {NO_TOOLS_TUI}",
            Remedy.SKIP_HANDSHAKE,
        )
    said = f" ({_excerpt(text, 80)!r})" if text.strip() else ""
    raise _failed(
        "no_tool_calls",
        f"{url} answered with text{said} instead of calling the ping tool it was offered, so it has no working tool "
        f"calls; {TOOL_SERVER_HINT}, {NO_TOOLS_TUI}",
    )


def redirect_error(url: str, response: httpx.Response) -> HandshakeRejected | None:
    """A redirect, which the probes never follow: the endpoint should be where it points."""
    if not response.is_redirect:
        return None
    target = response.headers.get("location", "another address")
    return _rejected(
        "redirect",
        f"{url} redirects (HTTP {response.status_code}) to {target}: use the address it redirects to as the endpoint",
    )


def transport_error(url: str, exc: httpx.HTTPError, timeout_s: float) -> HandshakeFailed:
    """What a request that got no HTTP answer (within `timeout_s`) says about the endpoint or the network."""
    host = httpx.URL(url).host
    if isinstance(exc, httpx.ConnectTimeout):
        return _failed(
            "timeout",
            f"could not connect to {host} within {timeout_s:.3g} s; check the host and port, and that no firewall "
            "is in the way",
        )
    if isinstance(exc, httpx.TimeoutException):
        return _failed(
            "timeout",
            f"{url} did not answer within {timeout_s:.3g} s; the server may be overloaded or still loading the "
            f"model: try again, or {Remedy.SKIP_HANDSHAKE.slot}",
            Remedy.SKIP_HANDSHAKE,
        )
    causes = _causes(exc)
    untrusted = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
    if untrusted is not None:
        return _failed(
            "tls_certificate",
            f"the TLS certificate of {host} is not trusted ({untrusted.verify_message}); if it is signed by a "
            "private CA, point SSL_CERT_FILE at a CA bundle that includes it, or use http:// for a server without TLS",
        )
    tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
    if tls is not None:
        detail = str(tls)
        plain = "WRONG_VERSION_NUMBER" in detail or "record layer" in detail or "UNEXPECTED_EOF" in detail
        fix = (
            "the server speaks plain HTTP there, so use http:// instead of https://"
            if plain
            else "check the URL's scheme and port, or point SSL_CERT_FILE at a CA bundle the server needs"
        )
        return _failed("tls", f"the TLS handshake with {host} failed ({_excerpt(detail, 100)}); {fix}")
    if any(isinstance(c, socket.gaierror) for c in causes):
        return _failed(
            "dns", f"the host name {host} does not resolve; check the endpoint's spelling and your DNS or VPN"
        )
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return _failed(
            "refused",
            f"nothing accepts connections at {_origin(url)} (connection refused); is the server running, and on "
            "that port?",
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return _failed(
            "not_openai",
            f"{url} broke the HTTP protocol ({_excerpt(str(exc), 100)}); it is not an HTTP API, or the port "
            "belongs to another service",
        )
    return _failed(
        "unreachable",
        f"cannot reach {url} ({type(exc).__name__}: {_excerpt(str(exc), 100)}); check the URL and the network",
    )


def deadline_error(url: str, total_s: float) -> HandshakeFailed:
    return _failed(
        "timeout",
        f"the handshake with {url} took more than {total_s:g} s in all; the server may be overloaded or still "
        f"loading the model: try again, or {Remedy.SKIP_HANDSHAKE.slot}",
        Remedy.SKIP_HANDSHAKE,
    )


def _message(target: Target, response: httpx.Response, what: str, other_base: OtherBase) -> dict[str, Any]:
    """choices[0].message of a 2xx answer, or a diagnosis of why it is not an OpenAI chat completion."""
    url = target.chat_url
    data = _json(response)
    if data is None:
        kind = response.headers.get("content-type", "no content type")
        start = _excerpt(response.text, 60)
        other = other_base()
        if other:
            raise _rejected(
                "wrong_path",
                f"{url} answered {what} with {kind}, not JSON, but {other}/models answers: "
                f"{_path_change(target.base, other)} ({other})",
            )
        raise _failed(
            "not_openai",
            f"{url} answered {what} with {kind}, not JSON ({start!r}): it is not an OpenAI-compatible API; check "
            "that the endpoint is the API's base URL",
        )
    if isinstance(data, dict) and "error" in data and not data.get("choices"):
        raise _failed(
            "server_error", f"{url} answered {what} with an error ({_error_text(data)}); check the server's log"
        )
    message = _first_message(data)
    if message is None:
        raise _failed(
            "not_openai",
            f"{url} answered {what} with JSON that has no choices[0].message: it is not an OpenAI-compatible chat "
            "completion",
        )
    return message


def _rejected(cause: str, sentence: str, remedy: Remedy | None = None) -> HandshakeRejected:
    return HandshakeRejected(f"{INCOMPATIBLE}: {_sentence(sentence)}", cause, remedy)


def _failed(cause: str, sentence: str, remedy: Remedy | None = None) -> HandshakeFailed:
    return HandshakeFailed(f"{INCOMPATIBLE}: {_sentence(sentence)}", cause, remedy)


# --- the probes --------------------------------------------------------------------------------------------------


class _Deadline:
    """Each request gets `timeout_s`, or what is left of the handshake's `total_s` when that is less."""

    def __init__(self, timeout_s: float, total_s: float) -> None:
        self.timeout_s, self.total_s = timeout_s, total_s
        self._end = time.monotonic() + total_s
        self.last = timeout_s  # the bound the latest request got, for the sentence when it runs out

    def timeout(self, url: str) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise deadline_error(url, self.total_s)
        self.last = min(self.timeout_s, left)
        return self.last

    def check(self, url: str) -> None:
        if time.monotonic() >= self._end:
            raise deadline_error(url, self.total_s)


class _Prober:
    """Sends the probes and hands each answer to its diagnosis. Leaving it closes the client and redacts any
    HandshakeError on its way out."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        redactor: Redactor,
        timeout_s: float,
        total_s: float | None,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.target = Target(base_url.rstrip("/"), model, bool(api_key))
        self._redactors = (Redactor(api_key), redactor)
        self._deadline = _Deadline(timeout_s, total_s if total_s is not None else 4 * timeout_s)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, follow_redirects=False, transport=transport)

    def __enter__(self) -> Self:
        try:
            check_base(self.target.base)
        except HandshakeError as exc:
            self._client.close()
            raise self._redacted(exc) from None
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self._client.close()
        if isinstance(exc, HandshakeError):
            raise self._redacted(exc) from None

    # -- 1. the model list (optional) --

    def models(self) -> Check:
        url = f"{self.target.base}/models"
        check, listed = models_verdict(url, self.target.model, self._request("GET", url))
        self.target = replace(self.target, listed=listed)
        return check

    # -- 2. one plain chat completion --

    def chat(self, wire: str) -> Check:
        body = {
            "model": self.target.model,
            "messages": [{"role": "user", "content": "Reply with OK."}],
            "max_tokens": CHAT_MAX_TOKENS,
            "stream": False,
        }
        response = self._request("POST", self.target.chat_url, body)
        return chat_verdict(self.target, response, wire, self._other_base)

    # -- 3. streaming --

    def streaming(self, wire: str) -> Check:
        body: dict[str, Any] = {
            "model": self.target.model,
            "messages": [{"role": "user", "content": "Count from 1 to 3."}],
            "max_tokens": CHAT_MAX_TOKENS,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with self._stream(body) as response:
            # Servers that predate stream_options reject it; streaming itself may still work without it.
            if response.status_code not in (400, 422) or not rejects_stream_options(self._read(response)):
                return self._read_stream(response, wire, asked_usage=True)
        body.pop("stream_options")
        with self._stream(body) as response:
            return self._read_stream(response, wire, asked_usage=False)

    def _read_stream(self, response: httpx.Response, wire: str, asked_usage: bool) -> Check:
        url = self.target.chat_url
        if response.status_code >= 400:
            raise stream_status_error(url, self._read(response))
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            return unstreamed_verdict(url, self._read(response), wire)
        return stream_verdict(url, self._lines(response), asked_usage)

    def _lines(self, response: httpx.Response) -> Iterator[str]:
        for line in response.iter_lines():
            self._deadline.check(self.target.chat_url)
            yield line

    # -- 4. tool calls --

    def tool_calls(self) -> Check:
        body = {
            "model": self.target.model,
            "messages": [
                {"role": "user", "content": 'Call the ping tool with message "hello". Do not reply with text.'}
            ],
            "tools": [PING_TOOL],
            "tool_choice": "auto",
            "max_tokens": TOOL_MAX_TOKENS,
            "stream": False,
        }
        response = self._request("POST", self.target.chat_url, body)
        return tool_call_verdict(self.target, response, self._other_base)

    # -- sending --

    def _request(
        self, method: str, url: str, body: dict[str, Any] | None = None, *, quiet: bool = False
    ) -> httpx.Response:
        try:
            response = self._client.request(method, url, json=body, timeout=self._deadline.timeout(url))
        except httpx.HTTPError as exc:
            raise transport_error(url, exc, self._deadline.last) from None
        redirect = None if quiet else redirect_error(url, response)
        if redirect is not None:
            raise redirect
        return response

    def _stream(self, body: dict[str, Any]) -> _StreamContext:
        return _StreamContext(self, self.target.chat_url, body)

    def _read(self, response: httpx.Response) -> httpx.Response:
        """The whole body of a streamed response (a transport error while reading is diagnosed on leaving the
        stream's context)."""
        response.read()
        return response

    def _other_base(self) -> str | None:
        """The base URL with /v1 added (or dropped) when that one answers GET /models with a model list."""
        base = self.target.base
        other = base.removesuffix("/v1") if base.endswith("/v1") else f"{base}/v1"
        try:
            response = self._request("GET", f"{other}/models", quiet=True)
        except HandshakeError:
            return None
        return other if response.status_code == 200 and _model_ids(response) is not None else None

    def _redacted(self, exc: HandshakeError) -> HandshakeError:
        text = exc.template
        for redactor in self._redactors:
            text = redactor.text(text)
        return type(exc)(text, exc.cause, exc.remedy)


class _StreamContext:
    """`client.stream` with the diagnosis of transport errors and redirects, bounded by the prober's deadline."""

    def __init__(self, prober: _Prober, url: str, body: dict[str, Any]) -> None:
        self.prober, self.url, self.body = prober, url, body
        self.response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        prober = self.prober
        client = prober._client
        request = client.build_request("POST", self.url, json=self.body, timeout=prober._deadline.timeout(self.url))
        try:
            self.response = client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise transport_error(self.url, exc, prober._deadline.last) from None
        redirect = redirect_error(self.url, self.response)
        if redirect is not None:
            self.response.close()
            raise redirect
        return self.response

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self.response is not None:
            self.response.close()
        if isinstance(exc, httpx.HTTPError):
            raise transport_error(self.url, exc, self.prober._deadline.last) from None


# --- helpers -----------------------------------------------------------------------------------------------------


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _excerpt(text: Any, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _json_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _first_choice(data: Any) -> dict[str, Any]:
    choices = data.get("choices") if isinstance(data, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def _first_message(data: Any) -> dict[str, Any] | None:
    message = _first_choice(data).get("message")
    return message if isinstance(message, dict) else None


def _error_text(data: Any) -> str:
    """The human part of an error body: OpenAI's error.message, FastAPI's detail, or a bare message."""
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            value = data.get(key)
            if isinstance(value, dict):
                return _error_text(value) if any(k in value for k in ("message", "detail")) else _excerpt(value)
            if isinstance(value, str) and value.strip():
                return _excerpt(value)
            if isinstance(value, list) and value:
                return _excerpt(json.dumps(value))
    return _excerpt(json.dumps(data) if not isinstance(data, str) else data)


def _error_excerpt(response: httpx.Response) -> str:
    """What an error answer says, in a few words (its body must have been read)."""
    data = _json(response)
    if data is not None:
        return _error_text(data)
    text = response.text
    if "<html" in text[:500].lower() or "<!doctype" in text[:100].lower():
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        return f"an HTML page{': ' + _excerpt(title.group(1), 80) if title else ''}"
    return _excerpt(text)


MODEL_WORDS = (
    "not found",
    "does not exist",
    "doesn't exist",
    "unknown",
    "no such",
    "not exist",
    "invalid model",
    "not available",
    "not served",
    "not supported",
    "no model",
    "not loaded",
)


def _mentions_model(said: str, model: str, *, strict: bool) -> bool:
    """Whether an error text is about the model id. `strict` also wants a word saying the model is missing."""
    lowered = said.lower()
    names_it = model.lower() in lowered or "model" in lowered
    if not strict:
        return names_it
    return names_it and "model" in lowered and any(word in lowered for word in MODEL_WORDS)


def _model_ids(response: httpx.Response) -> list[str] | None:
    """The ids of an OpenAI model list ({"data": [{"id": ...}]}), or None when the answer is not one."""
    data = _json(response)
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]


def _closest(model: str, ids: list[str], n: int = 3) -> list[str]:
    by_lower: dict[str, str] = {}
    for i in ids:
        by_lower.setdefault(i.lower(), i)
    matches = difflib.get_close_matches(model.lower(), list(by_lower), n=n, cutoff=0.3)
    return [by_lower[m] for m in matches]


def _path_change(base: str, other: str) -> str:
    return "add /v1 to the endpoint" if other == f"{base}/v1" else "drop /v1 from the endpoint"


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


# --- for front ends ----------------------------------------------------------------------------------------------


def list_models(base_url: str, api_key: str | None, timeout_s: float = 5.0) -> list[str] | None:
    """The sorted model ids ``GET {base_url}/models`` lists, or None when the answer is not an OpenAI model list.

    Never raises for anything the server or the network does: a front end offers the ids to pick from and falls
    back to free text on None."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(
            f"{base_url.rstrip('/')}/models", headers=headers, timeout=timeout_s, follow_redirects=False
        )
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError):  # UnicodeError: a key no header can carry
        return None
    ids = _model_ids(response) if response.status_code == 200 else None
    return sorted(set(ids)) if ids is not None else None
