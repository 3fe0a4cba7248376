"""The recording proxy, run for real over loopback sockets in front of a small fake upstream."""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fake_openai import Behaviour, FakeOpenAI

from cab_check.asgi_server import BackgroundServer
from cab_check.models import ModelCall
from cab_check.proxy import RecordingProxy, ResponseFacts, SseWatcher, new_run_token


def canary_key() -> str:
    # Made at run time so no key-like literal ever sits in the source.
    return "sk-canary-" + secrets.token_hex(8)


# --- the upstream: tests/fake_openai.py's server --------------------------------------------------------------------

USAGE = (12, 5)


def upstream_fake() -> FakeOpenAI:
    """Serves m1 and holds every stream after its first chunk until the test sets `release`. Model "reject-me" gets
    a 401 that echoes (part of) the key it was given, as real providers do."""
    return FakeOpenAI(
        Behaviour(
            served=("m1",),
            stream="held",
            finish="length",
            usage=USAGE,
            headers={"x-request-id": "req-42"},
            by_model={"reject-me": {"auth": "401"}},
        )
    )


@dataclass
class Rig:
    upstream: FakeOpenAI
    proxy: RecordingProxy
    url: str  # the proxy's base URL, with /v1
    key: str | None
    token: str
    seen: list[ModelCall]

    def client(self, token: str | None = "default") -> httpx.Client:
        token = self.token if token == "default" else token
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def _rig(key: str | None) -> Iterator[Rig]:
    upstream = upstream_fake()
    token = new_run_token()
    seen: list[ModelCall] = []
    with upstream.serving() as upstream_url:
        proxy = RecordingProxy(upstream_url, key, token, on_call=seen.append)
        with BackgroundServer(proxy.app) as proxy_server:
            yield Rig(upstream, proxy, proxy_server.url + "/v1", key, token, seen)
            upstream.release.set()
            proxy.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    yield from _rig(canary_key())


@pytest.fixture
def keyless_rig() -> Iterator[Rig]:
    yield from _rig(None)


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


CHAT = {"model": "m1", "messages": [{"role": "user", "content": "hello"}]}


# --- authentication and routing ------------------------------------------------------------------------------------


def test_upstream_sees_the_real_key_and_never_the_token(rig: Rig) -> None:
    with rig.client() as client:
        assert client.post("/chat/completions", json=CHAT).status_code == 200
    headers = rig.upstream.requests[0].headers
    assert headers["authorization"] == f"Bearer {rig.key}"
    assert "x-api-key" not in headers
    assert not any(rig.token in value for value in headers.values())


def test_token_also_accepted_as_x_api_key(rig: Rig) -> None:
    with httpx.Client(base_url=rig.url, headers={"x-api-key": rig.token}, timeout=10) as client:
        assert client.post("/chat/completions", json=CHAT).status_code == 200
    assert rig.upstream.requests[0].headers["authorization"] == f"Bearer {rig.key}"


def test_no_authorization_upstream_when_there_is_no_key(keyless_rig: Rig) -> None:
    with keyless_rig.client() as client:
        assert client.post("/chat/completions", json=CHAT).status_code == 200
    assert "authorization" not in keyless_rig.upstream.requests[0].headers


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_wrong_token_is_refused(rig: Rig, token: str | None) -> None:
    with rig.client(token) as client:
        response = client.post("/chat/completions", json=CHAT)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert rig.upstream.requests == [] and rig.proxy.calls == []


def test_the_real_key_is_not_a_valid_token(rig: Rig) -> None:
    with rig.client(rig.key) as client:
        assert client.post("/chat/completions", json=CHAT).status_code == 401


@pytest.mark.parametrize("path", ["/embeddings", "/completions", "/../admin", "/files"])
def test_only_model_api_paths_are_served(rig: Rig, path: str) -> None:
    with rig.client() as client:
        response = client.post(path, json=CHAT)
    assert response.status_code == 404
    assert "error" in response.json()
    assert rig.upstream.requests == []


def test_paths_without_the_v1_prefix_work_too(rig: Rig) -> None:
    root = rig.url.removesuffix("/v1")
    with httpx.Client(base_url=root, headers={"authorization": f"Bearer {rig.token}"}, timeout=10) as client:
        assert client.post("/chat/completions", json=CHAT).status_code == 200
        assert client.get("/models").json()["data"][0]["id"] == "m1"
    assert [r.path for r in rig.upstream.requests] == ["/v1/chat/completions", "/v1/models"]
    assert rig.proxy.calls[0].path == "/chat/completions"


def test_models_passes_through_unrecorded(rig: Rig) -> None:
    with rig.client() as client:
        response = client.get("/models")
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == "m1"
    assert rig.upstream.requests[0].headers["authorization"] == f"Bearer {rig.key}"
    assert rig.proxy.calls == []


# --- recording -----------------------------------------------------------------------------------------------------


def test_non_streaming_call_is_recorded(rig: Rig) -> None:
    body = json.dumps(CHAT).encode()
    with rig.client() as client:
        response = client.post("/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"] == "req-42"
    assert response.json()["choices"][0]["message"]["content"] == "Hello"
    # The body reaches the upstream unchanged.
    assert rig.upstream.requests[0].body == CHAT

    [call] = rig.proxy.calls
    assert rig.seen == [call]
    assert call.index == 0
    assert call.path == "/v1/chat/completions"
    assert call.model == "m1" and call.stream is False
    assert call.status == 200 and call.error is None
    assert (call.prompt_tokens, call.completion_tokens) == USAGE
    assert call.finish_reason == "length"
    assert call.latency_ms > 0
    assert call.request_hash == hashlib.sha256(body).hexdigest()[:16]
    assert call.timestamp.tzinfo is not None


def test_calls_are_indexed_in_order(rig: Rig) -> None:
    with rig.client() as client:
        for _ in range(3):
            client.post("/chat/completions", json=CHAT)
    assert [c.index for c in rig.proxy.calls] == [0, 1, 2]


def test_stream_passes_through_chunk_by_chunk_and_records_usage(rig: Rig) -> None:
    request = {**CHAT, "stream": True, "stream_options": {"continuous_usage_stats": False}}
    body = json.dumps(request).encode()
    received = b""
    with rig.client() as client, client.stream("POST", "/chat/completions", content=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = response.iter_raw()
        received += next(chunks)
        # The first chunk arrived while the upstream still holds the rest back: nothing was buffered.
        assert b'"Hel"' in received
        assert not rig.upstream.finished.is_set()
        rig.upstream.release.set()
        for chunk in chunks:
            received += chunk
    assert received.endswith(b"data: [DONE]\n\n")
    assert b'"lo"' in received

    options = rig.upstream.requests[0].body["stream_options"]
    assert options == {"continuous_usage_stats": False, "include_usage": True}

    wait_for(lambda: rig.proxy.calls)
    [call] = rig.proxy.calls
    assert call.stream is True and call.status == 200 and call.error is None
    assert (call.prompt_tokens, call.completion_tokens) == USAGE
    assert call.finish_reason == "length"
    # The hash is of the body as the agent sent it, before include_usage was added.
    assert call.request_hash == hashlib.sha256(body).hexdigest()[:16]


def test_client_leaving_mid_stream_is_recorded_as_abandoned(rig: Rig) -> None:
    with rig.client() as client, client.stream("POST", "/chat/completions", json={**CHAT, "stream": True}) as response:
        next(response.iter_raw())
    wait_for(lambda: rig.proxy.calls)
    [call] = rig.proxy.calls
    assert call.stream is True and call.status == 499 and call.failed
    assert call.error == "the client abandoned the call mid-stream"
    # The proxy let go of the upstream stream rather than leaving it hanging.
    wait_for(rig.upstream.abandoned.is_set)


def test_upstream_down_gives_502_without_the_key(rig: Rig) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    token = new_run_token()
    proxy = RecordingProxy(f"http://127.0.0.1:{dead_port}/v1", rig.key, token)
    with BackgroundServer(proxy.app) as server, httpx.Client(timeout=10) as client:
        response = client.post(
            f"{server.url}/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {token}"}
        )
        proxy.close()
    assert response.status_code == 502
    message = response.json()["error"]["message"]
    assert f"127.0.0.1:{dead_port}" in message
    assert rig.key not in response.text and token not in response.text
    [call] = proxy.calls
    assert call.status == 502
    assert call.error and rig.key not in call.error and f"127.0.0.1:{dead_port}" in call.error


def test_upstream_401_is_passed_through_and_recorded_redacted(rig: Rig) -> None:
    with rig.client() as client:
        response = client.post("/chat/completions", json={**CHAT, "model": "reject-me"})
    assert response.status_code == 401
    # The upstream's error reaches the agent, minus the key the upstream echoed.
    assert response.json()["error"]["message"] == "Incorrect API key provided: [REDACTED]"
    assert rig.key not in response.text
    [call] = rig.proxy.calls
    assert call.status == 401
    assert call.error is not None and "Incorrect API key provided" in call.error
    assert rig.key not in call.error and "[REDACTED]" in call.error


def test_redact_replaces_key_and_token(rig: Rig) -> None:
    text = f"key={rig.key} token={rig.token}"
    assert rig.proxy.redact(text) == "key=[REDACTED] token=[REDACTED]"


def test_run_tokens_are_fresh() -> None:
    tokens = {new_run_token() for _ in range(20)}
    assert len(tokens) == 20 and all(len(t) >= 40 for t in tokens)


# --- pieces --------------------------------------------------------------------------------------------------------


def test_sse_watcher_reads_events_split_anywhere() -> None:
    facts = ResponseFacts()
    watcher = SseWatcher(facts)
    stream = (
        b'data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\r\n\r\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}\n\n'
        b"data: [DONE]\n\n"
    )
    for i in range(0, len(stream), 5):
        watcher.feed(stream[i : i + 5])
    watcher.close()
    assert (facts.prompt_tokens, facts.completion_tokens, facts.finish_reason, facts.saw_done) == (7, 3, "stop", True)


def test_background_server_stops_twice_without_error() -> None:
    server = BackgroundServer(FakeOpenAI(), host="127.0.0.1").start()
    assert server.url == f"http://127.0.0.1:{server.port}"
    server.stop()
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url, timeout=2)
