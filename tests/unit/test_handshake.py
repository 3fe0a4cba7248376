"""The preflight handshake against local fake endpoints that misbehave in each way a real one can.

The fakes live here because the thing under test is our diagnosis: each failure must name the cause and the fix,
carry the right exit code, and never show the key, which every fake echoes back in its error bodies."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cab_check import handshake
from cab_check.asgi_server import BackgroundServer
from cab_check.errors import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    HandshakeError,
    HandshakeFailed,
    HandshakeRejected,
)
from cab_check.handshake import INCOMPATIBLE, Check
from cab_check.models import TuiNeeds
from cab_check.reference_model import ReferenceModel
from cab_check.secrets import Redactor

KEY = "sk-canary-" + secrets.token_hex(8)
MODEL = "qwen2.5-coder-7b-instruct"
SERVED = [
    "Qwen/Qwen2.5-Coder-7B-Instruct",
    "Qwen/Qwen2.5-Coder-32B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "mistral-small",
    MODEL,
]
EVERYTHING = TuiNeeds(tool_calls=True, streaming=True, wire="chat")
PLAIN = TuiNeeds()  # aider's needs


# --- a configurable fake OpenAI-compatible server ------------------------------------------------------------------


def fake_app(
    *,
    prefix: str = "/v1",
    auth: str = "ok",  # ok | 401 | 403
    served: list[str] | None = None,  # what GET /models lists; None: no /models route at all
    unknown_model: str = "404",  # how a model not in `served` is refused: 404 | 400-vague | accept
    chat: str = "ok",  # ok | html | no-choices | 500 | sleep
    stream: str = "sse",  # sse | sse-no-usage | json | 400 | no-done | no-delta | reject-options
    tools: str = "call",  # call | text | text-call | 400 | bad-args | length
    sleep_s: float = 0.0,
) -> Starlette:
    served = SERVED if served is None else served

    def echo(request: Request) -> str:  # a careless server that quotes the key it was given
        return request.headers.get("authorization", "")

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model"} for m in served or []]})

    async def completions(request: Request) -> Response:
        if auth == "401" or (auth == "ok" and request.headers.get("authorization") != f"Bearer {KEY}"):
            return error(401, f"Incorrect API key provided: {echo(request)}")
        if auth == "403":
            return error(403, f"The key {echo(request)} may not use this model")
        body = json.loads(await request.body())
        if served and body["model"] not in served and unknown_model != "accept":
            if unknown_model == "404":
                return error(404, f"The model `{body['model']}` does not exist (key {echo(request)}).")
            return error(400, f"Bad request for key {echo(request)}")
        if chat == "sleep":
            await asyncio.sleep(sleep_s)
        if chat == "500":
            return error(500, f"CUDA out of memory while serving {echo(request)}")
        if chat == "html":
            return HTMLResponse("<!doctype html><html><head><title>Open WebUI</title></head><body></body></html>")
        if chat == "no-choices":
            return JSONResponse({"result": "OK", "key": echo(request)})
        if "tools" in body:
            return tool_reply(request, body)
        if body.get("stream"):
            return stream_reply(request, body)
        return JSONResponse(completion({"role": "assistant", "content": "OK"}))

    def completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        }

    def tool_reply(request: Request, body: dict[str, Any]) -> Response:
        if tools == "400":
            return error(
                400,
                '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be '
                f"set ({echo(request)})",
            )
        if tools == "text":
            return JSONResponse(completion({"role": "assistant", "content": "Pong! How can I help you today?"}))
        if tools == "text-call":
            text = '<tool_call>{"name": "ping", "arguments": {"message": "hello"}}</tool_call>'
            return JSONResponse(completion({"role": "assistant", "content": text}))
        if tools == "length":
            return JSONResponse(completion({"role": "assistant", "content": "Let me think. " * 50}, "length"))
        arguments = "{message: hello" if tools == "bad-args" else json.dumps({"message": "hello"})
        call = {"id": "call_1", "type": "function", "function": {"name": "ping", "arguments": arguments}}
        return JSONResponse(completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"))

    def stream_reply(request: Request, body: dict[str, Any]) -> Response:
        if stream == "400":
            return error(400, f"Streaming is not supported ({echo(request)})")
        if stream == "reject-options" and "stream_options" in body:
            return error(400, "Unrecognized request argument supplied: stream_options")
        if stream == "json":
            return JSONResponse(completion({"role": "assistant", "content": "1 2 3"}))

        def chunk(**fields: Any) -> str:
            return "data: " + json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", **fields}) + "\n\n"

        def events() -> Iterator[str]:
            if stream == "no-delta":
                yield chunk(text="1 2 3")
            else:
                for piece in ("1", " 2", " 3"):
                    yield chunk(choices=[{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
            if stream != "sse-no-usage" and (body.get("stream_options") or {}).get("include_usage"):
                yield chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})
            if stream != "no-done":
                yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    routes = [Route(f"{prefix}/chat/completions", completions, methods=["POST"])]
    if served:
        routes.append(Route(f"{prefix}/models", models, methods=["GET"]))
    return Starlette(routes=routes)


@contextmanager
def serving(**behaviour: Any) -> Iterator[str]:
    """A fake endpoint; yields its base URL (ending in /v1 unless prefix says otherwise)."""
    prefix = behaviour.get("prefix", "/v1")
    with BackgroundServer(fake_app(**behaviour), "127.0.0.1") as server:
        yield server.url + prefix


def fails(
    base_url: str,
    *,
    needs: TuiNeeds = EVERYTHING,
    model: str = MODEL,
    key: str | None = KEY,
    redactor: Redactor | None = None,
    **options: Any,
) -> HandshakeError:
    """Runs the handshake, which must fail; checks what every failure owes the user and returns the error."""
    with pytest.raises(HandshakeError) as caught:
        handshake.handshake(base_url, key, model, needs, redactor or Redactor(key), **options)
    error = caught.value
    message = str(error)
    assert message.startswith(f"{INCOMPATIBLE}: "), message
    assert KEY not in message and "sk-canary" not in message, message
    assert "\n" not in message and message.endswith((".", "?")), message
    assert error.__cause__ is None and error.__suppress_context__
    return error


def is_input_error(error: HandshakeError) -> bool:
    return isinstance(error, HandshakeRejected) and error.exit_code == EXIT_BAD_INPUT


def is_environment_error(error: HandshakeError) -> bool:
    return isinstance(error, HandshakeFailed) and error.exit_code == EXIT_ENVIRONMENT


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the healthy case ----------------------------------------------------------------------------------------------


def test_a_healthy_server_passes_every_check_in_about_a_second():
    with serving() as base:
        started = time.monotonic()
        checks = handshake.handshake(base, KEY, MODEL, EVERYTHING, Redactor(KEY))
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert [c.name for c in checks] == ["models", "chat", "streaming", "tool calls"]
    assert all(isinstance(c, Check) and c.ok for c in checks)
    assert "usage" in checks[2].detail and "[DONE]" in checks[2].detail
    assert "ping" in checks[3].detail
    assert handshake.summary(checks) == "chat, streaming, tool calls ok"
    assert all(KEY not in c.detail for c in checks)


def test_a_tui_that_needs_neither_streaming_nor_tools_gets_only_those_probes():
    with serving(stream="400", tools="400") as base:
        checks = handshake.handshake(base, KEY, MODEL, PLAIN, Redactor(KEY))
    assert [c.name for c in checks] == ["models", "chat"]
    assert handshake.summary(checks) == "chat ok"


@pytest.mark.parametrize("wire, api", [("responses", "Responses API"), ("anthropic", "Anthropic Messages API")])
def test_translated_wires_say_the_endpoint_needs_only_chat_completions(wire, api):
    with serving() as base:
        checks = handshake.handshake(
            base, KEY, MODEL, TuiNeeds(streaming=True, tool_calls=True, wire=wire), Redactor(KEY)
        )
    chat = next(c for c in checks if c.name == "chat")
    assert api in chat.detail and "needs only those" in chat.detail


def test_a_server_without_a_model_list_skips_that_check_and_passes():
    with serving(served=[], unknown_model="accept") as base:
        checks = handshake.handshake(base, KEY, MODEL, EVERYTHING, Redactor(KEY))
    models = checks[0]
    assert models.name == "models" and not models.ok and "HTTP 404" in models.detail
    assert all(c.ok for c in checks[1:])
    assert handshake.summary(checks) == "chat, streaming, tool calls ok (no model list)"


def test_a_model_the_list_omits_but_the_server_answers_passes_with_a_note():
    with serving(unknown_model="accept") as base:
        checks = handshake.handshake(base, KEY, "llama3", PLAIN, Redactor(KEY))
    assert "not among" in checks[0].detail
    assert checks[1].ok and "does not list it" in checks[1].detail


def test_the_reference_model_passes_the_plain_chat_probe():
    reference = ReferenceModel(
        {"calc.py": "def add(a, b):\n    return a - b\n"}, {"calc.py": "def add(a, b):\n    return a + b\n"}
    )
    with BackgroundServer(reference.app, "127.0.0.1") as server:
        check = handshake.probe_chat(f"{server.url}/v1", None, "cab-reference", Redactor())
    assert check.name == "chat" and check.ok


# --- what the user gave: exit 2 ------------------------------------------------------------------------------------


def test_a_wrong_key_is_named_with_what_to_do():
    with serving() as base:
        error = fails(base, key="sk-canary-wrong" + secrets.token_hex(4))
    assert is_input_error(error) and error.cause == "unauthorized"
    assert "HTTP 401" in str(error) and "rejected the API key" in str(error) and "key set" in str(error)


def test_a_canary_key_the_server_echoes_is_redacted_even_if_the_caller_forgot_it():
    with serving(auth="401") as base:
        error = fails(base, redactor=Redactor())
    assert "[REDACTED]" in str(error)


def test_a_missing_key_says_how_to_give_one():
    with serving() as base:
        error = fails(base, key=None)
    assert is_input_error(error) and "none was given" in str(error) and "--key-env" in str(error)


def test_a_forbidden_key_is_named():
    with serving(auth="403") as base:
        error = fails(base)
    assert is_input_error(error) and error.cause == "forbidden"
    assert "HTTP 403" in str(error) and "not allowed" in str(error)


def test_an_unknown_model_lists_the_closest_ids_the_server_offers():
    with serving(served=SERVED[:4]) as base:
        error = fails(base, model="qwen2.5-coder-7b")
    message = str(error)
    assert is_input_error(error) and error.cause == "unknown_model"
    assert "'qwen2.5-coder-7b'" in message and "--model" in message
    closest = message.split("the closest it serves: ")[1].split(")")[0].split(", ")
    assert closest[0] == "Qwen/Qwen2.5-Coder-7B-Instruct" and len(closest) <= 3
    assert "mistral-small" not in closest


def test_a_model_absent_from_the_list_is_blamed_when_the_server_refuses_it_vaguely():
    with serving(served=SERVED[:4], unknown_model="400-vague") as base:
        error = fails(base, model="qwen-coder")
    assert is_input_error(error) and error.cause == "unknown_model" and "HTTP 400" in str(error)


def test_a_missing_v1_is_named():
    with serving() as base:
        error = fails(base.removesuffix("/v1"))
    assert is_input_error(error) and error.cause == "wrong_path"
    assert "add /v1 to the endpoint" in str(error) and f"{base}/models answers" in str(error)


def test_a_needless_v1_is_named():
    with serving(prefix="") as base:
        error = fails(base + "/v1")
    assert is_input_error(error) and "drop /v1 from the endpoint" in str(error)


def test_a_path_with_no_api_anywhere_says_to_give_the_base_url():
    with serving(prefix="/api/v1") as base:
        error = fails(base.removesuffix("/api/v1") + "/openai")
    assert is_input_error(error) and error.cause == "wrong_path"
    assert "HTTP 404" in str(error) and "base URL" in str(error)


def test_the_full_chat_completions_url_is_refused_before_any_request():
    error = fails(f"http://127.0.0.1:{closed_port()}/v1/chat/completions")
    assert is_input_error(error) and "/v1 instead" in str(error) and "chat-completions URL itself" in str(error)


def test_a_redirect_names_where_to_point_instead():
    async def moved(request: Request) -> Response:
        return Response(status_code=308, headers={"location": "https://api.example.com/v1/models"})

    with BackgroundServer(Starlette(routes=[Route("/v1/models", moved)]), "127.0.0.1") as server:
        error = fails(f"{server.url}/v1")
    assert is_input_error(error) and "https://api.example.com/v1/models" in str(error)


# --- the server or the network: exit 3 -----------------------------------------------------------------------------


def test_text_instead_of_a_tool_call_means_no_tool_support():
    with serving(tools="text") as base:
        error = fails(base)
    message = str(error)
    assert is_environment_error(error) and error.cause == "no_tool_calls"
    assert "instead of calling the ping tool" in message
    assert "--enable-auto-tool-choice --tool-call-parser" in message and "like aider" in message


def test_a_400_on_tools_means_no_tool_support():
    with serving(tools="400") as base:
        error = fails(base)
    assert is_environment_error(error) and error.cause == "no_tool_calls"
    assert "HTTP 400" in str(error) and "enable-auto-tool-choice" in str(error) and "aider" in str(error)


def test_a_call_written_as_text_says_the_server_does_not_parse_tool_calls():
    with serving(tools="text-call") as base:
        error = fails(base)
    assert is_environment_error(error) and "not parsing tool calls" in str(error)


def test_a_call_with_arguments_that_are_not_json_is_refused():
    with serving(tools="bad-args") as base:
        error = fails(base)
    assert is_environment_error(error) and "not a JSON object" in str(error)


def test_running_out_of_tokens_before_the_call_says_so():
    with serving(tools="length") as base:
        error = fails(base)
    assert is_environment_error(error) and "--skip-handshake" in str(error)


def test_json_for_stream_true_means_no_streaming_for_a_chat_wire_tui():
    with serving(stream="json") as base:
        error = fails(base)
    assert is_environment_error(error) and error.cause == "no_streaming"
    assert "ignored stream=true" in str(error) and "aider" in str(error)


def test_json_for_stream_true_is_fine_where_the_proxy_restreams():
    with serving(stream="json") as base:
        checks = handshake.handshake(base, KEY, MODEL, TuiNeeds(streaming=True, wire="responses"), Redactor(KEY))
    assert checks[2].ok and "re-streams" in checks[2].detail


def test_a_400_on_stream_true_means_no_streaming():
    with serving(stream="400") as base:
        error = fails(base)
    assert is_environment_error(error) and error.cause == "no_streaming" and "HTTP 400" in str(error)


def test_a_server_that_rejects_stream_options_still_streams_and_says_tokens_go_uncounted():
    with serving(stream="reject-options") as base:
        checks = handshake.handshake(base, KEY, MODEL, EVERYTHING, Redactor(KEY))
    assert checks[2].ok and "rejects stream_options" in checks[2].detail


def test_a_stream_without_usage_is_noted():
    with serving(stream="sse-no-usage") as base:
        checks = handshake.handshake(base, KEY, MODEL, EVERYTHING, Redactor(KEY))
    assert checks[2].ok and "no usage chunk" in checks[2].detail


@pytest.mark.parametrize("stream, said", [("no-done", "[DONE]"), ("no-delta", "choices[].delta")])
def test_a_stream_that_is_not_openai_shaped_is_named(stream, said):
    with serving(stream=stream) as base:
        error = fails(base)
    assert is_environment_error(error) and error.cause == "not_openai" and said in str(error)


def test_an_html_page_is_not_an_openai_reply():
    with serving(chat="html") as base:
        error = fails(base)
    assert is_environment_error(error) and error.cause == "not_openai"
    assert "text/html" in str(error) and "not JSON" in str(error)


def test_json_without_choices_is_not_a_chat_completion():
    with serving(chat="no-choices") as base:
        error = fails(base)
    assert is_environment_error(error) and "no choices[0].message" in str(error)


def test_a_server_error_is_named_and_the_echoed_key_hidden():
    with serving(chat="500") as base:
        error = fails(base)
    assert is_environment_error(error) and error.cause == "server_error"
    assert "HTTP 500" in str(error) and "CUDA out of memory" in str(error) and "log" in str(error)


def test_a_slow_server_times_out_within_the_given_bound():
    with serving(chat="sleep", sleep_s=1.5) as base:
        started = time.monotonic()
        error = fails(base, timeout_s=0.3)
        assert time.monotonic() - started < 1.2
    assert is_environment_error(error) and error.cause == "timeout"
    assert "did not answer within 0.3 s" in str(error)


def test_a_refused_connection_is_named():
    error = fails(f"http://127.0.0.1:{closed_port()}/v1")
    assert is_environment_error(error) and error.cause == "refused"
    assert "connection refused" in str(error) and "running" in str(error)


def test_a_host_that_does_not_resolve_is_named():
    error = fails("http://cab-check-handshake.invalid/v1", timeout_s=5)
    assert is_environment_error(error) and error.cause in ("dns", "timeout")
    if error.cause == "dns":
        assert "does not resolve" in str(error)


def test_https_to_a_plain_http_server_says_to_use_http():
    with serving() as base:
        error = fails(base.replace("http://", "https://"))
    assert is_environment_error(error) and error.cause == "tls" and "use http://" in str(error)


# --- TLS with a certificate nobody trusts --------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@contextmanager
def serving_tls(app: Starlette, cert_file: Path, key_file: Path) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        log_level="critical",
        lifespan="off",
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def test_an_untrusted_certificate_points_at_ssl_cert_file_which_then_works(tmp_path, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    cert_file, key_file = self_signed(tmp_path)
    with serving_tls(fake_app(), cert_file, key_file) as base:
        error = fails(base)
        assert is_environment_error(error) and error.cause == "tls_certificate"
        assert "not trusted" in str(error) and "SSL_CERT_FILE" in str(error)

        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the advice works
        checks = handshake.handshake(base, KEY, MODEL, EVERYTHING, Redactor(KEY))
    assert all(c.ok for c in checks)


# --- bounds and helpers --------------------------------------------------------------------------------------------


def test_the_whole_handshake_is_bounded_even_when_each_request_is_quick_enough():
    with serving(chat="sleep", sleep_s=0.4) as base:
        started = time.monotonic()
        error = fails(base, timeout_s=1.0, total_s=0.6)
        assert time.monotonic() - started < 1.5
    assert is_environment_error(error) and error.cause == "timeout"


def test_the_summary_names_what_passed():
    assert handshake.summary([Check("chat", True, "")]) == "chat ok"
    assert (
        handshake.summary([Check("models", True, ""), Check("chat", True, ""), Check("tool calls", True, "")])
        == "chat, tool calls ok"
    )
