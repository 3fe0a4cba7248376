"""The preflight handshake against fake endpoints that misbehave in each way a real one can.

The thing under test is our diagnosis: each failure must name the cause and the fix, carry the right exit code, and
never show the key, which the fake (tests/fake_openai.py) echoes back in its error bodies. The fake answers as an
httpx `MockTransport`; only what needs real sockets — TLS, a name that does not resolve, a refused connection — goes
over loopback."""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fake_openai import Behaviour, FakeOpenAI
from starlette.testclient import TestClient

from cab_check import handshake
from cab_check.cli import CLI_WORDS
from cab_check.errors import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    HandshakeError,
    HandshakeFailed,
    HandshakeRejected,
    Remedy,
)
from cab_check.handshake import INCOMPATIBLE, Check, Target
from cab_check.keys import Redactor
from cab_check.models import TuiNeeds
from cab_check.reference_model import ReferenceModel

KEY = "sk-canary-" + secrets.token_hex(8)
MODEL = "qwen2.5-coder-7b-instruct"
SERVED = (
    "Qwen/Qwen2.5-Coder-7B-Instruct",
    "Qwen/Qwen2.5-Coder-32B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "mistral-small",
    MODEL,
)
EVERYTHING = TuiNeeds(tool_calls=True, streaming=True, wire="chat")
PLAIN = TuiNeeds()  # aider's needs
ORIGIN = "http://endpoint.test"
BASE = f"{ORIGIN}/v1"


# --- the fake endpoint, as these tests meet it ----------------------------------------------------------------------


def fake(**changes: Any) -> FakeOpenAI:
    """tests/fake_openai.py's server, listing SERVED, wanting KEY and refusing a model it does not list with a 404,
    changed as the test says."""
    return FakeOpenAI(Behaviour(**{"served": SERVED, "key": KEY, "unknown_model": "404", **changes}))


def mock(**changes: Any) -> httpx.MockTransport:
    return fake(**changes).transport()


def probe(
    transport: httpx.BaseTransport | None,
    base_url: str = BASE,
    *,
    needs: TuiNeeds = EVERYTHING,
    model: str = MODEL,
    key: str | None = KEY,
    redactor: Redactor | None = None,
    **options: Any,
) -> list[Check]:
    return handshake.handshake(base_url, key, model, needs, redactor or Redactor(key), transport=transport, **options)


def fails(transport: httpx.BaseTransport | None, base_url: str = BASE, **given: Any) -> HandshakeError:
    """Runs the handshake, which must fail; checks what every failure owes the user and returns the error."""
    with pytest.raises(HandshakeError) as caught:
        probe(transport, base_url, **given)
    error = caught.value
    for message in (str(error), error.sentence(CLI_WORDS)):
        assert message.startswith(f"{INCOMPATIBLE}: "), message
        assert KEY not in message and "sk-canary" not in message, message
        assert "\n" not in message and message.endswith((".", "?")), message
        assert "⟦" not in message, message
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


def test_a_healthy_server_passes_every_check():
    checks = probe(mock())
    assert [c.name for c in checks] == ["models", "chat", "streaming", "tool calls"]
    assert all(isinstance(c, Check) and c.ok for c in checks)
    assert "usage" in checks[2].detail and "[DONE]" in checks[2].detail
    assert "ping" in checks[3].detail
    assert handshake.summary(checks) == "chat, streaming, tool calls ok"
    assert all(KEY not in c.detail for c in checks)


def test_the_probes_send_the_key_and_ask_for_what_the_tui_needs():
    endpoint = fake()
    probe(endpoint.transport())
    seen = endpoint.requests
    assert [(r.method, r.path) for r in seen] == [("GET", "/v1/models")] + [("POST", "/v1/chat/completions")] * 3
    assert set(endpoint.authorizations) == {f"Bearer {KEY}"}
    chat, stream, tools = (r.body for r in seen[1:])
    assert chat["model"] == MODEL and not chat["stream"]
    assert stream["stream"] and stream["stream_options"] == {"include_usage": True}
    assert tools["tools"][0]["function"]["name"] == "ping"


def test_a_tui_that_needs_neither_streaming_nor_tools_gets_only_those_probes():
    checks = probe(mock(stream="400", tools="400"), needs=PLAIN)
    assert [c.name for c in checks] == ["models", "chat"]
    assert handshake.summary(checks) == "chat ok"


@pytest.mark.parametrize("wire, api", [("responses", "Responses API"), ("anthropic", "Anthropic Messages API")])
def test_translated_wires_say_the_endpoint_needs_only_chat_completions(wire, api):
    checks = probe(mock(), needs=TuiNeeds(streaming=True, tool_calls=True, wire=wire))
    chat = next(c for c in checks if c.name == "chat")
    assert api in chat.detail and "needs only those" in chat.detail


def test_a_server_without_a_model_list_skips_that_check_and_passes():
    checks = probe(mock(served=None, unknown_model="accept"))
    models = checks[0]
    assert models.name == "models" and not models.ok and "HTTP 404" in models.detail
    assert all(c.ok for c in checks[1:])
    assert handshake.summary(checks) == "chat, streaming, tool calls ok (no model list)"


def test_a_model_the_list_omits_but_the_server_answers_passes_with_a_note():
    checks = probe(mock(unknown_model="accept"), model="llama3", needs=PLAIN)
    assert "not among" in checks[0].detail
    assert checks[1].ok and "does not list it" in checks[1].detail


def asgi_transport(app: Any) -> httpx.MockTransport:
    """An ASGI app answering in-process, as a MockTransport (starlette's TestClient runs it)."""
    client = TestClient(app)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = client.request(request.method, str(request.url), content=request.content, headers=request.headers)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return httpx.MockTransport(handle)


def test_the_reference_model_passes_the_plain_chat_probe():
    reference = ReferenceModel(
        {"calc.py": "def add(a, b):\n    return a - b\n"}, {"calc.py": "def add(a, b):\n    return a + b\n"}
    )
    check = handshake.probe_chat(BASE, None, "cab-reference", Redactor(), transport=asgi_transport(reference.app))
    assert check.name == "chat" and check.ok


# --- what the user gave: exit 2 ------------------------------------------------------------------------------------


def test_a_wrong_key_is_named_with_what_to_do():
    error = fails(mock(), key="sk-canary-wrong" + secrets.token_hex(4))
    assert is_input_error(error) and error.cause == "unauthorized" and error.remedy is Remedy.SAVED_KEY
    assert "HTTP 401" in str(error) and "rejected the API key" in str(error)
    assert "key set" in error.sentence(CLI_WORDS)  # the CLI: `cab key set`
    assert "cab " not in str(error)


def test_a_canary_key_the_server_echoes_is_redacted_even_if_the_caller_forgot_it():
    error = fails(mock(auth="401"), redactor=Redactor())
    assert "[REDACTED]" in str(error)


def test_a_missing_key_says_how_to_give_one():
    error = fails(mock(), key=None)
    assert is_input_error(error) and "none was given" in str(error) and error.remedy is Remedy.KEY
    assert "--key-env" in error.sentence(CLI_WORDS)
    assert "--" not in str(error)


def test_a_forbidden_key_is_named():
    error = fails(mock(auth="403"))
    assert is_input_error(error) and error.cause == "forbidden"
    assert "HTTP 403" in str(error) and "not allowed" in str(error)


def test_an_unknown_model_lists_the_closest_ids_the_server_offers():
    error = fails(mock(served=SERVED[:4]), model="qwen2.5-coder-7b")
    message = error.sentence(CLI_WORDS)
    assert is_input_error(error) and error.cause == "unknown_model" and error.remedy is Remedy.MODEL
    assert "'qwen2.5-coder-7b'" in message and "--model" in message
    closest = message.split("the closest it serves: ")[1].split(")")[0].split(", ")
    assert closest[0] == "Qwen/Qwen2.5-Coder-7B-Instruct" and len(closest) <= 3
    assert "mistral-small" not in closest
    assert "--model" not in str(error)


def test_a_model_absent_from_the_list_is_blamed_when_the_server_refuses_it_vaguely():
    error = fails(mock(served=SERVED[:4], unknown_model="400-vague"), model="qwen-coder")
    assert is_input_error(error) and error.cause == "unknown_model" and "HTTP 400" in str(error)


def test_a_missing_v1_is_named():
    error = fails(mock(), ORIGIN)
    assert is_input_error(error) and error.cause == "wrong_path"
    assert "add /v1 to the endpoint" in str(error) and f"{BASE}/models answers" in str(error)


def test_a_needless_v1_is_named():
    error = fails(mock(prefix=""), BASE)
    assert is_input_error(error) and "drop /v1 from the endpoint" in str(error)


def test_a_path_with_no_api_anywhere_says_to_give_the_base_url():
    error = fails(mock(prefix="/api/v1"), f"{ORIGIN}/openai")
    assert is_input_error(error) and error.cause == "wrong_path"
    assert "HTTP 404" in str(error) and "base URL" in str(error)


def test_the_full_chat_completions_url_is_refused_before_any_request():
    asked: list[httpx.Request] = []
    error = fails(
        httpx.MockTransport(lambda request: asked.append(request) or httpx.Response(500)), f"{BASE}/chat/completions"
    )
    assert is_input_error(error) and "/v1 instead" in str(error) and "chat-completions URL itself" in str(error)
    assert asked == []


def test_a_redirect_names_where_to_point_instead():
    moved = httpx.MockTransport(
        lambda request: httpx.Response(308, headers={"location": "https://api.example.com/v1/models"})
    )
    error = fails(moved)
    assert is_input_error(error) and "https://api.example.com/v1/models" in str(error)


# --- the server or the network: exit 3 -----------------------------------------------------------------------------


def test_text_instead_of_a_tool_call_means_no_tool_support():
    error = fails(mock(tools="text"))
    message = str(error)
    assert is_environment_error(error) and error.cause == "no_tool_calls"
    assert "instead of calling the ping tool" in message
    assert "--enable-auto-tool-choice --tool-call-parser" in message and "like aider" in message  # the server's flags


def test_a_400_on_tools_means_no_tool_support():
    error = fails(mock(tools="400"))
    assert is_environment_error(error) and error.cause == "no_tool_calls"
    assert "HTTP 400" in str(error) and "enable-auto-tool-choice" in str(error) and "aider" in str(error)


def test_a_call_written_as_text_says_the_server_does_not_parse_tool_calls():
    error = fails(mock(tools="text-call"))
    assert is_environment_error(error) and "not parsing tool calls" in str(error)


def test_a_call_with_arguments_that_are_not_json_is_refused():
    error = fails(mock(tools="bad-args"))
    assert is_environment_error(error) and "not a JSON object" in str(error)


def test_running_out_of_tokens_before_the_call_says_so():
    error = fails(mock(tools="length"))
    assert is_environment_error(error) and error.remedy is Remedy.SKIP_HANDSHAKE
    assert "--skip-handshake" in error.sentence(CLI_WORDS)
    assert "--skip-handshake" not in str(error)


def test_json_for_stream_true_means_no_streaming_for_a_chat_wire_tui():
    error = fails(mock(stream="json"))
    assert is_environment_error(error) and error.cause == "no_streaming"
    assert "ignored stream=true" in str(error) and "aider" in str(error)


def test_json_for_stream_true_is_fine_where_the_proxy_restreams():
    checks = probe(mock(stream="json"), needs=TuiNeeds(streaming=True, wire="responses"))
    assert checks[2].ok and "re-streams" in checks[2].detail


def test_a_400_on_stream_true_means_no_streaming():
    error = fails(mock(stream="400"))
    assert is_environment_error(error) and error.cause == "no_streaming" and "HTTP 400" in str(error)


def test_a_server_that_rejects_stream_options_still_streams_and_says_tokens_go_uncounted():
    checks = probe(mock(stream="reject-options"))
    assert checks[2].ok and "rejects stream_options" in checks[2].detail


def test_a_stream_without_usage_is_noted():
    checks = probe(mock(stream="sse-no-usage"))
    assert checks[2].ok and "no usage chunk" in checks[2].detail


@pytest.mark.parametrize("stream, said", [("no-done", "[DONE]"), ("no-delta", "choices[].delta")])
def test_a_stream_that_is_not_openai_shaped_is_named(stream, said):
    error = fails(mock(stream=stream))
    assert is_environment_error(error) and error.cause == "not_openai" and said in str(error)


def test_an_html_page_is_not_an_openai_reply():
    error = fails(mock(chat="html"))
    assert is_environment_error(error) and error.cause == "not_openai"
    assert "text/html" in str(error) and "not JSON" in str(error)


def test_json_without_choices_is_not_a_chat_completion():
    error = fails(mock(chat="no-choices"))
    assert is_environment_error(error) and "no choices[0].message" in str(error)


def test_a_server_error_is_named_and_the_echoed_key_hidden():
    error = fails(mock(chat="500"))
    assert is_environment_error(error) and error.cause == "server_error"
    assert "HTTP 500" in str(error) and "The server had an error" in str(error) and "log" in str(error)


def test_a_slow_server_times_out_within_the_given_bound():
    error = fails(mock(chat="sleep", sleep_s=1.5), timeout_s=0.3)
    assert is_environment_error(error) and error.cause == "timeout"
    assert "did not answer within 0.3 s" in str(error)
    assert error.remedy is Remedy.SKIP_HANDSHAKE and "--skip-handshake" in error.sentence(CLI_WORDS)


def test_a_connect_timeout_names_the_host_and_the_firewall():
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    error = fails(httpx.MockTransport(unreachable), timeout_s=0.5)
    assert is_environment_error(error) and error.cause == "timeout"
    assert "could not connect to endpoint.test within 0.5 s" in str(error) and "firewall" in str(error)


def test_a_port_that_speaks_no_http_is_named():
    def garbage(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("illegal status line: b'SSH-2.0-OpenSSH_9.6'", request=request)

    error = fails(httpx.MockTransport(garbage))
    assert is_environment_error(error) and error.cause == "not_openai" and "another service" in str(error)


def test_a_refused_connection_is_named():
    error = fails(None, f"http://127.0.0.1:{closed_port()}/v1")
    assert is_environment_error(error) and error.cause == "refused"
    assert "connection refused" in str(error) and "running" in str(error)


def test_a_host_that_does_not_resolve_is_named():
    error = fails(None, "http://cab-check-handshake.invalid/v1", timeout_s=5)
    assert is_environment_error(error) and error.cause in ("dns", "timeout")
    if error.cause == "dns":
        assert "does not resolve" in str(error)


# --- TLS, over loopback ------------------------------------------------------------------------------------------


def test_https_to_a_plain_http_server_says_to_use_http():
    with fake().serving() as base:
        error = fails(None, base.replace("http://", "https://"))
    assert is_environment_error(error) and error.cause == "tls" and "use http://" in str(error)


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
def serving_tls(app: Any, cert_file: Path, key_file: Path) -> Iterator[str]:
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
    with serving_tls(fake(), cert_file, key_file) as base:
        error = fails(None, base)
        assert is_environment_error(error) and error.cause == "tls_certificate"
        assert "not trusted" in str(error) and "SSL_CERT_FILE" in str(error)

        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the advice works
        checks = probe(None, base)
    assert all(c.ok for c in checks)


# --- bounds --------------------------------------------------------------------------------------------------------


def test_the_whole_handshake_is_bounded_even_when_each_request_is_quick_enough():
    error = fails(mock(chat="sleep", sleep_s=0.4), timeout_s=1.0, total_s=0.6)
    assert is_environment_error(error) and error.cause == "timeout"


def test_each_request_is_given_at_most_what_is_left_of_the_whole_handshake():
    bounds: list[float] = []
    endpoint = fake()

    def handle(request: httpx.Request) -> httpx.Response:
        bounds.append(request.extensions["timeout"]["read"])
        return endpoint.handler(request)

    probe(httpx.MockTransport(handle), timeout_s=3.0, total_s=2.0)
    assert len(bounds) == 4 and all(0 < b <= 2.0 for b in bounds)


# --- the diagnosis on its own: pure functions of an answer ---------------------------------------------------------


URL = f"{BASE}/chat/completions"


def answer(status: int = 200, **content: Any) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("POST", URL), **content)


def no_other_base() -> str | None:
    return None


def test_a_404_that_names_the_model_blames_the_model_without_asking_elsewhere():
    asked: list[bool] = []

    def other_base() -> str | None:
        asked.append(True)
        return None

    said = answer(404, json={"error": {"message": f"model '{MODEL}' not found"}})
    error = handshake.chat_error(Target(BASE, MODEL), said, other_base)
    assert error.cause == "unknown_model" and error.remedy is Remedy.MODEL and asked == []


def test_a_429_is_rate_limiting_even_for_a_model_the_list_omits():
    target = Target(BASE, "llama3", listed=("mistral-small",))
    error = handshake.chat_error(target, answer(429, json={"error": "slow down"}), no_other_base)
    assert isinstance(error, HandshakeFailed) and error.cause == "rate_limited"


def test_the_model_list_verdict_reads_the_ids_it_lists():
    listed = answer(json={"data": [{"id": "a"}, {"id": "b"}, {"object": "model"}]})
    check, ids = handshake.models_verdict(f"{BASE}/models", "b", listed)
    assert check.ok and ids == ("a", "b") and "'b' is among the 2 models" in check.detail
    check, ids = handshake.models_verdict(f"{BASE}/models", "b", answer(200, text="<html>"))
    assert not check.ok and ids is None and "not a model list" in check.detail


def test_a_stream_is_read_line_by_line():
    lines = ['data: {"choices": [{"delta": {"content": "1"}}]}', 'data: {"usage": {"total_tokens": 3}}', "data: [DONE]"]
    check = handshake.stream_verdict(URL, lines, asked_usage=True)
    assert check.ok and "1 delta chunks" in check.detail and "usage chunk" in check.detail
    with pytest.raises(HandshakeFailed, match="mid-stream"):
        handshake.stream_verdict(URL, ['data: {"error": {"message": "overloaded"}}'], asked_usage=True)


def test_a_transport_error_without_an_answer_is_unreachable():
    error = handshake.transport_error(URL, httpx.ConnectError("no route to host"), 10.0)
    assert error.cause == "unreachable" and "no route to host" in str(error)


def test_no_redirect_no_error():
    assert handshake.redirect_error(URL, answer(json={})) is None


def test_the_summary_names_what_passed():
    assert handshake.summary([Check("chat", True, "")]) == "chat ok"
    assert (
        handshake.summary([Check("models", True, ""), Check("chat", True, ""), Check("tool calls", True, "")])
        == "chat, tool calls ok"
    )


def test_a_tls_error_is_diagnosed_from_its_cause():
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    exc = httpx.ConnectError("handshake failed")
    exc.__cause__ = cause
    error = handshake.transport_error("https://127.0.0.1:8000/v1/models", exc, 10.0)
    assert error.cause == "tls" and "use http://" in str(error)
