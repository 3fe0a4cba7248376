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
"""

from __future__ import annotations

import difflib
import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, NoReturn, Self

import httpx

from cab_check.errors import HandshakeFailed, HandshakeRejected
from cab_check.models import TuiNeeds
from cab_check.secrets import Redactor

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


@dataclass(frozen=True)
class Check:
    """One probe's outcome. Required probes only ever pass (a failure raises instead); `ok` is False only for the
    optional model list when the server offers none."""

    name: str  # "models" | "chat" | "streaming" | "tool calls"
    ok: bool
    detail: str


def handshake(
    base_url: str,
    api_key: str | None,
    model: str,
    needs: TuiNeeds,
    redactor: Redactor,
    timeout_s: float = REQUEST_TIMEOUT_S,
    total_s: float | None = None,
) -> list[Check]:
    """Probes the endpoint for what a TUI with these `needs` will ask of it; returns the checks that passed."""
    with _Prober(base_url, api_key, model, redactor, timeout_s, total_s) as prober:
        checks = [prober.models(), prober.chat(needs.wire)]
        if needs.streaming:
            checks.append(prober.streaming(needs.wire))
        if needs.tool_calls:
            checks.append(prober.tool_calls())
        return checks


def probe_chat(
    base_url: str, api_key: str | None, model: str, redactor: Redactor, timeout_s: float = REQUEST_TIMEOUT_S
) -> Check:
    """Only the plain chat completion: enough for an endpoint we run ourselves (the reference model)."""
    with _Prober(base_url, api_key, model, redactor, timeout_s, None) as prober:
        return prober.chat("chat")


def summary(checks: list[Check]) -> str:
    """One line for the preflight phase, e.g. "chat, streaming, tool calls ok"."""
    passed = [c.name for c in checks if c.ok and c.name != "models"]
    text = (", ".join(passed) or "nothing") + " ok"
    if any(c.name == "models" and not c.ok for c in checks):
        text += " (no model list)"
    return text


# --- the probes --------------------------------------------------------------------------------------------------


class _Prober:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        redactor: Redactor,
        timeout_s: float,
        total_s: float | None,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.model = model
        self.has_key = bool(api_key)
        self._redactors = (Redactor(api_key), redactor)
        self.timeout_s = timeout_s
        self.total_s = total_s if total_s is not None else 4 * timeout_s
        self._deadline = time.monotonic() + self.total_s
        self._last_timeout = timeout_s
        self.listed: list[str] | None = None  # the ids GET /models offered, when it did
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, follow_redirects=False)

    def __enter__(self) -> Self:
        if self.base.endswith("/chat/completions"):
            root = self.base.removesuffix("/chat/completions")
            self._reject(
                "wrong_path",
                f"the endpoint {self.base} is the chat-completions URL itself, not its base: give {root} instead",
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    # -- 1. the model list (optional) --

    def models(self) -> Check:
        url = f"{self.base}/models"
        response = self._request("GET", url)
        ids = _model_ids(response) if response.status_code == 200 else None
        if ids is None:
            why = f"HTTP {response.status_code}" if response.status_code != 200 else "not a model list"
            return Check("models", False, f"GET {url}: {why}; model id not checked")
        self.listed = ids
        if self.model in ids:
            return Check("models", True, f"'{self.model}' is among the {len(ids)} models the server lists")
        return Check("models", True, f"'{self.model}' is not among the {len(ids)} models the server lists")

    # -- 2. one plain chat completion --

    def chat(self, wire: str) -> Check:
        url = f"{self.base}/chat/completions"
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": "Reply with OK."}],
            "max_tokens": CHAT_MAX_TOKENS,
            "stream": False,
        }
        response = self._request("POST", url, body)
        if response.status_code >= 400:
            self._chat_error(url, response)
        message = self._message(url, response, "a chat completion")
        content = message.get("content")
        detail = f"'{self.model}' answered a chat completion"
        if isinstance(content, str) and content.strip():
            detail += f" ({_excerpt(content, 40)!r})"
        if self.listed is not None and self.model not in self.listed:
            detail += ", though GET /models does not list it"
        if wire in WIRE_NOTES:
            detail += f"; {WIRE_NOTES[wire]}"
        return Check("chat", True, detail)

    def _chat_error(self, url: str, response: httpx.Response) -> NoReturn:
        status, said = response.status_code, _error_excerpt(response)
        where = f"{url} answered HTTP {status}" + (f" ({said})" if said else "")
        if status == 401:
            if not self.has_key:
                self._reject(
                    "unauthorized",
                    f"{where}: the server needs an API key and none was given; "
                    "pass it with --key-env VAR or --key-stdin",
                )
            self._reject(
                "unauthorized",
                f"{where}: the server rejected the API key; check the key (or save the right one with `cab key set`)",
            )
        if status == 403:
            self._reject(
                "forbidden",
                f"{where}: the key is not allowed to use '{self.model}'; check the key's "
                "permissions, or pick a model it may use",
            )
        if status in (404, 405):
            if status == 404 and _mentions_model(said, self.model, strict=False):
                self._unknown_model(where)
            hint = self._other_base()
            if hint:
                self._reject(
                    "wrong_path", f"{where}, but {hint}/models answers: {_path_change(self.base, hint)} ({hint})"
                )
            if self.listed is not None and self.model not in self.listed:
                self._unknown_model(where)
            self._reject(
                "wrong_path",
                f"{where}: there is no chat-completions API at that path; give the base URL "
                "that /chat/completions hangs off (usually ending in /v1)",
            )
        if status in (400, 422) and _mentions_model(said, self.model, strict=True):
            self._unknown_model(where)
        if self.listed is not None and self.model not in self.listed and status != 429:
            self._unknown_model(where)
        if status == 429:
            self._fail(
                "rate_limited",
                f"{where}: the server is rate-limiting or out of quota; wait and try again, "
                "or check the account's limits",
            )
        if status >= 500:
            self._fail(
                "server_error",
                f"{where}: the server failed on a minimal chat completion; check its log "
                "(is the model loaded?) and try again",
            )
        self._fail(
            "rejected",
            f"{where}: the server rejected a minimal chat completion; check that it is an "
            "OpenAI-compatible chat-completions API",
        )

    def _unknown_model(self, where: str) -> NoReturn:
        if self.listed:
            close = _closest(self.model, self.listed)
            offer = f"the closest it serves: {', '.join(close)}" if close else "it serves none with a similar id"
            self._reject(
                "unknown_model",
                f"{where}: the server does not serve model '{self.model}' ({offer}); pass the exact id with --model",
            )
        self._reject(
            "unknown_model",
            f"{where}: the server does not serve model '{self.model}'; pass an id it "
            f"serves with --model (see GET {self.base}/models or the server's docs)",
        )

    # -- 3. streaming --

    def streaming(self, wire: str) -> Check:
        url = f"{self.base}/chat/completions"
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": "Count from 1 to 3."}],
            "max_tokens": CHAT_MAX_TOKENS,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with self._stream(url, body) as response:
            # Servers that predate stream_options reject it; streaming itself may still work without it.
            if not (response.status_code in (400, 422) and "stream_options" in _error_excerpt(response, read=True)):
                return self._read_stream(url, response, wire, asked_usage=True)
        body.pop("stream_options")
        with self._stream(url, body) as response:
            return self._read_stream(url, response, wire, asked_usage=False)

    def _read_stream(self, url: str, response: httpx.Response, wire: str, asked_usage: bool) -> Check:
        status = response.status_code
        if status >= 400:
            said = _error_excerpt(response, read=True)
            where = f"{url} answered HTTP {status} to stream=true" + (f" ({said})" if said else "")
            if status >= 500:
                self._fail("server_error", f"{where}: the server failed on a streaming request; check its log")
            self._fail(
                "no_streaming",
                f"{where}: the server does not support streaming, which this TUI needs; "
                "use a server with SSE streaming, or pick a TUI that does not stream, "
                "like aider",
            )
        kind = response.headers.get("content-type", "")
        if not kind.startswith("text/event-stream"):
            response.read()
            data = _json(response)
            shaped = isinstance(data, dict) and _first_message(data) is not None
            if shaped and wire in WIRE_NOTES:
                return Check(
                    "streaming",
                    True,
                    "the server answers stream=true with one whole JSON reply; the "
                    f"proxy re-streams it for this TUI's {wire} wire",
                )
            if shaped:
                self._fail(
                    "no_streaming",
                    f"{url} ignored stream=true and answered with one JSON body: this TUI "
                    "needs server-sent events; use a server that streams, or pick a TUI "
                    "that does not stream, like aider",
                )
            self._fail(
                "not_openai",
                f"{url} answered stream=true with {kind or 'no content type'}, not "
                "text/event-stream: it is not an OpenAI-compatible streaming API",
            )
        deltas, usage, done = 0, False, False
        for line in response.iter_lines():
            self._check_deadline(url)
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(payload)
            except ValueError:
                self._fail(
                    "not_openai",
                    f"{url} streamed a data: line that is not JSON ({_excerpt(payload)!r}); "
                    "it is not an OpenAI-compatible streaming API",
                )
            if not isinstance(chunk, dict):
                self._fail(
                    "not_openai",
                    f"{url} streamed a chunk that is not a JSON object; it is not an OpenAI-compatible streaming API",
                )
            if "error" in chunk:
                said = _error_text(chunk)
                self._fail("stream_error", f"{url} reported an error mid-stream ({said}); check the server's log")
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
            self._fail(
                "not_openai",
                f"{url} streamed no chunk with choices[].delta; it is not an OpenAI-compatible streaming API",
            )
        if not done:
            self._fail(
                "not_openai",
                f"{url} ended its stream without data: [DONE]; it is not an OpenAI-compatible streaming API",
            )
        detail = f"server-sent events: {deltas} delta chunks and [DONE]"
        if usage:
            detail += ", with a usage chunk"
        elif asked_usage:
            detail += "; no usage chunk despite stream_options.include_usage, so streamed tokens go uncounted"
        else:
            detail += "; the server rejects stream_options, so streamed tokens go uncounted"
        return Check("streaming", True, detail)

    # -- 4. tool calls --

    def tool_calls(self) -> Check:
        url = f"{self.base}/chat/completions"
        body = {
            "model": self.model,
            "messages": [
                {"role": "user", "content": 'Call the ping tool with message "hello". Do not reply with text.'}
            ],
            "tools": [PING_TOOL],
            "tool_choice": "auto",
            "max_tokens": TOOL_MAX_TOKENS,
            "stream": False,
        }
        response = self._request("POST", url, body)
        status = response.status_code
        if status >= 400:
            said = _error_excerpt(response)
            where = f"{url} answered HTTP {status} to a request with tools" + (f" ({said})" if said else "")
            if status >= 500:
                self._fail(
                    "server_error",
                    f"{where}: the server failed on tool calling, which this TUI needs; "
                    f"check its log and {TOOL_SERVER_HINT}, {NO_TOOLS_TUI}",
                )
            self._fail(
                "no_tool_calls",
                f"{where}: the server has no tool-call support, which this TUI needs; "
                f"{TOOL_SERVER_HINT}, {NO_TOOLS_TUI}",
            )
        message = self._message(url, response, "a request with tools")
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls:
            functions = [c.get("function") for c in calls if isinstance(c, dict)]
            ping = [f for f in functions if isinstance(f, dict) and f.get("name") == "ping"]
            if not ping:
                names = ", ".join(str(f.get("name")) for f in functions if isinstance(f, dict)) or "none"
                self._fail(
                    "no_tool_calls",
                    f"{url} called functions it was not offered ({_excerpt(names)}) instead "
                    f"of ping; tool calling is broken, {NO_TOOLS_TUI}",
                )
            arguments = ping[0].get("arguments")
            parsed = _json_text(arguments) if isinstance(arguments, str) else None
            if not isinstance(parsed, dict):
                self._fail(
                    "no_tool_calls",
                    f"{url} called ping but its arguments are not a JSON object string "
                    f"({_excerpt(str(arguments))!r}), so the server's tool-call parser does "
                    "not fit this model (vLLM: check --tool-call-parser); "
                    f"{NO_TOOLS_TUI.removeprefix('or ')}",
                )
            return Check("tool calls", True, f"called ping with JSON arguments {_excerpt(arguments, 60)}")
        content = message.get("content") if isinstance(message.get("content"), str) else ""
        finish = _first_choice(_json(response) or {}).get("finish_reason")
        if "ping" in content and ("{" in content or "<tool_call>" in content):
            self._fail(
                "no_tool_calls",
                f"{url} wrote the ping call as text ({_excerpt(content, 80)!r}) instead of "
                f"a tool_calls entry, so the server is not parsing tool calls; "
                f"{TOOL_SERVER_HINT}, {NO_TOOLS_TUI}",
            )
        if finish == "length":
            self._fail(
                "no_tool_calls",
                f"{url} used all {TOOL_MAX_TOKENS} tokens without calling the ping tool "
                "(a thinking model may need more room): pass --skip-handshake to try "
                f"anyway, {NO_TOOLS_TUI}",
            )
        said = f" ({_excerpt(content, 80)!r})" if content.strip() else ""
        self._fail(
            "no_tool_calls",
            f"{url} answered with text{said} instead of calling the ping tool it was "
            f"offered, so it has no working tool calls; {TOOL_SERVER_HINT}, {NO_TOOLS_TUI}",
        )

    # -- plumbing --

    def _message(self, url: str, response: httpx.Response, what: str) -> dict[str, Any]:
        """choices[0].message of a 2xx answer, or a diagnosis of why it is not an OpenAI chat completion."""
        data = _json(response)
        if data is None:
            kind = response.headers.get("content-type", "no content type")
            start = _excerpt(response.text, 60)
            hint = self._other_base()
            if hint:
                self._reject(
                    "wrong_path",
                    f"{url} answered {what} with {kind}, not JSON, but {hint}/models answers: "
                    f"{_path_change(self.base, hint)} ({hint})",
                )
            self._fail(
                "not_openai",
                f"{url} answered {what} with {kind}, not JSON ({start!r}): it is not an "
                "OpenAI-compatible API; check that the endpoint is the API's base URL",
            )
        if isinstance(data, dict) and "error" in data and not data.get("choices"):
            self._fail(
                "server_error", f"{url} answered {what} with an error ({_error_text(data)}); check the server's log"
            )
        message = _first_message(data)
        if message is None:
            self._fail(
                "not_openai",
                f"{url} answered {what} with JSON that has no choices[0].message: it is not an "
                "OpenAI-compatible chat completion",
            )
        return message

    def _other_base(self) -> str | None:
        """The base URL with /v1 added (or dropped) when that one answers GET /models with a model list."""
        other = self.base.removesuffix("/v1") if self.base.endswith("/v1") else f"{self.base}/v1"
        try:
            response = self._request("GET", f"{other}/models", quiet=True)
        except (HandshakeFailed, HandshakeRejected):
            return None
        return other if response.status_code == 200 and _model_ids(response) is not None else None

    def _timeout(self, url: str) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            self._check_deadline(url)
        self._last_timeout = min(self.timeout_s, left)
        return self._last_timeout

    def _check_deadline(self, url: str) -> None:
        if time.monotonic() >= self._deadline:
            self._fail(
                "timeout",
                f"the handshake with {url} took more than {self.total_s:g} s in all; the server may "
                "be overloaded or still loading the model: try again, or pass --skip-handshake to "
                "start anyway",
            )

    def _request(
        self, method: str, url: str, body: dict[str, Any] | None = None, *, quiet: bool = False
    ) -> httpx.Response:
        try:
            response = self._client.request(method, url, json=body, timeout=self._timeout(url))
        except httpx.HTTPError as exc:
            self._transport_error(url, exc)
        if not quiet:
            self._check_redirect(url, response)
        return response

    def _stream(self, url: str, body: dict[str, Any]) -> _StreamContext:
        return _StreamContext(self, url, body)

    def _check_redirect(self, url: str, response: httpx.Response) -> None:
        if response.is_redirect:
            target = response.headers.get("location", "another address")
            self._reject(
                "redirect",
                f"{url} redirects (HTTP {response.status_code}) to {target}: use the "
                "address it redirects to as the endpoint",
            )

    def _transport_error(self, url: str, exc: httpx.HTTPError) -> NoReturn:
        host = httpx.URL(url).host
        if isinstance(exc, httpx.ConnectTimeout):
            self._fail(
                "timeout",
                f"could not connect to {host} within {self._last_timeout:.3g} s; check the host and "
                "port, and that no firewall is in the way",
            )
        if isinstance(exc, httpx.TimeoutException):
            self._fail(
                "timeout",
                f"{url} did not answer within {self._last_timeout:.3g} s; the server may be overloaded "
                "or still loading the model: try again, or pass --skip-handshake to start anyway",
            )
        causes = _causes(exc)
        if any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
            reason = next(c for c in causes if isinstance(c, ssl.SSLCertVerificationError)).verify_message
            self._fail(
                "tls_certificate",
                f"the TLS certificate of {host} is not trusted ({reason}); if it is "
                "signed by a private CA, point SSL_CERT_FILE at a CA bundle that "
                "includes it, or use http:// for a server without TLS",
            )
        if any(isinstance(c, ssl.SSLError) for c in causes):
            detail = next(str(c) for c in causes if isinstance(c, ssl.SSLError))
            plain = "WRONG_VERSION_NUMBER" in detail or "record layer" in detail or "UNEXPECTED_EOF" in detail
            fix = (
                "the server speaks plain HTTP there, so use http:// instead of https://"
                if plain
                else "check the URL's scheme and port, or point SSL_CERT_FILE at a CA bundle the server needs"
            )
            self._fail("tls", f"the TLS handshake with {host} failed ({_excerpt(detail, 100)}); {fix}")
        if any(isinstance(c, socket.gaierror) for c in causes):
            self._fail(
                "dns", f"the host name {host} does not resolve; check the endpoint's spelling and your DNS or VPN"
            )
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            self._fail(
                "refused",
                f"nothing accepts connections at {_origin(url)} (connection refused); is the server "
                "running, and on that port?",
            )
        if isinstance(exc, httpx.RemoteProtocolError):
            self._fail(
                "not_openai",
                f"{url} broke the HTTP protocol ({_excerpt(str(exc), 100)}); it is not an "
                "HTTP API, or the port belongs to another service",
            )
        self._fail(
            "unreachable",
            f"cannot reach {url} ({type(exc).__name__}: {_excerpt(str(exc), 100)}); check the URL and the network",
        )

    def _clean(self, text: str) -> str:
        for redactor in self._redactors:
            text = redactor.text(text)
        return text

    def _reject(self, cause: str, sentence: str) -> NoReturn:
        raise HandshakeRejected(self._clean(f"{INCOMPATIBLE}: {_sentence(sentence)}"), cause) from None

    def _fail(self, cause: str, sentence: str) -> NoReturn:
        raise HandshakeFailed(self._clean(f"{INCOMPATIBLE}: {_sentence(sentence)}"), cause) from None


class _StreamContext:
    """`client.stream` with the prober's diagnosis of transport errors and its deadline."""

    def __init__(self, prober: _Prober, url: str, body: dict[str, Any]) -> None:
        self.prober, self.url, self.body = prober, url, body
        self.response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        client = self.prober._client
        request = client.build_request("POST", self.url, json=self.body, timeout=self.prober._timeout(self.url))
        try:
            self.response = client.send(request, stream=True)
        except httpx.HTTPError as exc:
            self.prober._transport_error(self.url, exc)
        self.prober._check_redirect(self.url, self.response)
        return self.response

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self.response is not None:
            self.response.close()
        if isinstance(exc, httpx.HTTPError):
            self.prober._transport_error(self.url, exc)


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


def _error_excerpt(response: httpx.Response, read: bool = False) -> str:
    if read:
        response.read()
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
