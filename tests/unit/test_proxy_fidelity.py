"""The proxy must neither change nor hide what the model says: the official openai and anthropic SDKs, as an agent
uses them, see through it what they would see talking to the server directly, failures included, and every call
is recorded as what it was.

The upstream (tests/fake_openai.py) misbehaves on demand, as the model name of each request chooses."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from fake_openai import HTML_PAGE, Behaviour, FakeOpenAI

from cab_check.asgi_server import BackgroundServer
from cab_check.proxy import RecordingProxy, new_run_token

USAGE = (11, 3)
RATE_LIMITED = {"retry-after": "7", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "7s"}
MISBEHAVIOURS = {
    "rate-limited": {"chat": "429", "headers": RATE_LIMITED},
    "not-json": {"chat": "html"},
    "slow": {"chat": "hang"},  # thinks forever, and stops once its client is gone, as vLLM does
    "ignores-stream": {"stream": "json"},
    "cut": {"chat": "cut"},  # the content, then the connection breaks
    "malformed": {"stream": "malformed"},
    "ends-early": {"stream": "ends-early"},  # a clean end, but no finish_reason and no [DONE]
}


class Rig:
    def __init__(self, proxy: RecordingProxy, server: BackgroundServer, token: str, upstream: FakeOpenAI) -> None:
        self.proxy, self.server, self.url, self.token, self.upstream = proxy, server, server.url, token, upstream

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=self.token, max_retries=0, timeout=10)

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=self.token, max_retries=0, timeout=10)

    def last_call(self):
        deadline = time.monotonic() + 10
        while not self.proxy.calls:
            assert time.monotonic() < deadline, "no call was recorded"
            time.sleep(0.01)
        return self.proxy.calls[-1]


@pytest.fixture
def rig() -> Iterator[Rig]:
    upstream = FakeOpenAI(Behaviour(usage=USAGE, by_model=MISBEHAVIOURS))
    with upstream.serving() as upstream_url:
        token = new_run_token()
        proxy = RecordingProxy(upstream_url, "sk-real-" + secrets.token_hex(8), token)
        with BackgroundServer(proxy.app) as front:
            yield Rig(proxy, front, token, upstream)
            proxy.close()


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


# --- what a client that streams sees ---------------------------------------------------------------------------


def test_a_stream_without_usage_asked_has_no_usage_chunk_yet_its_tokens_are_counted(rig):
    texts = []
    for part in rig.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True
    ):
        texts.append(part.choices[0].delta.content or "")  # the loop every tutorial writes
    assert "".join(texts) == "Hello"
    call = rig.last_call()
    assert (call.status, call.error, call.prompt_tokens, call.completion_tokens) == (200, None, 11, 3)


def test_a_stream_with_usage_asked_still_ends_with_its_usage_chunk(rig):
    parts = list(
        rig.openai().chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options={"include_usage": True}
        )
    )
    assert parts[-1].choices == [] and parts[-1].usage.total_tokens == 14


@pytest.mark.parametrize(
    ("model", "recorded"),
    [
        ("cut", "upstream stream broke"),
        ("malformed", "upstream sent a stream event that is not JSON"),
        ("ends-early", "upstream ended the stream before the answer was complete"),
    ],
)
def test_a_broken_chat_stream_is_an_error_the_openai_sdk_raises(rig, model, recorded):
    seen = []
    with pytest.raises((openai.APIError, openai.APIConnectionError)):
        for part in rig.openai().chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            seen.append(part.choices[0].delta.content or "")
    assert "".join(seen) == "Hello"  # what did arrive, arrived unchanged
    call = rig.last_call()
    assert call.failed and call.error.startswith(recorded)


def test_a_cut_chat_stream_ends_without_done_and_without_a_complete_body(rig):
    headers = {"authorization": f"Bearer {rig.token}"}
    request = {"model": "cut", "stream": True, "messages": []}
    received = b""
    with (
        httpx.Client(base_url=f"{rig.url}/v1", headers=headers) as client,
        client.stream("POST", "/chat/completions", json=request) as r,
        pytest.raises(httpx.RemoteProtocolError),  # the connection was cut: no final chunk
    ):
        for piece in r.iter_raw():
            received += piece
    assert b"[DONE]" not in received and b'"error"' in received


def test_a_cut_stream_reaches_a_responses_client_as_response_failed(rig):
    events = list(rig.openai().responses.create(model="cut", input="hi", stream=True))
    assert events[-1].type == "response.failed"
    assert "upstream stream broke" in events[-1].response.error.message
    assert rig.last_call().failed


def test_a_cut_stream_reaches_an_anthropic_client_as_an_error(rig):
    with (
        pytest.raises(anthropic.APIStatusError, match="upstream stream broke"),
        rig.anthropic().messages.stream(
            model="cut", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        for _ in stream:
            pass
    assert rig.last_call().failed


def test_a_server_that_ignores_stream_still_gives_the_client_its_stream(rig):
    parts = list(
        rig.openai().chat.completions.create(
            model="ignores-stream", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    assert "".join(p.choices[0].delta.content or "" for p in parts) == "Hello"
    assert rig.last_call().completion_tokens == 3


# --- rate limits -----------------------------------------------------------------------------------------------


def test_rate_limit_headers_pass_through_on_every_route(rig):
    with pytest.raises(openai.RateLimitError) as chat:
        rig.openai().chat.completions.create(model="rate-limited", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as responses:
        rig.openai().responses.create(model="rate-limited", input="hi")
    with pytest.raises(anthropic.RateLimitError) as messages:
        rig.anthropic().messages.create(
            model="rate-limited", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    for error in (chat.value, responses.value, messages.value):
        for name, value in RATE_LIMITED.items():
            assert error.response.headers.get(name) == value, (error.response.request.url, name)
    # What each SDK's retry loop would wait: the 7 s asked, not its own backoff (anthropic's was 1.8 s).
    for client, error in (
        (rig.openai(), chat.value),
        (rig.openai(), responses.value),
        (rig.anthropic(), messages.value),
    ):
        options = _options(client)
        assert client._calculate_retry_timeout(1, options, error.response.headers) == 7
    assert rig.last_call().status == 429


def _options(client):
    """The request options the SDK's own retry loop passes along."""
    module = __import__(type(client).__module__.split(".")[0] + "._models", fromlist=["FinalRequestOptions"])
    return module.FinalRequestOptions.construct(method="post", url="/v1/x", max_retries=2)


# --- what is recorded ------------------------------------------------------------------------------------------


def test_an_abandoned_call_is_recorded_as_abandoned_and_the_upstream_let_go(rig):
    with pytest.raises(openai.APITimeoutError):
        openai.OpenAI(base_url=f"{rig.url}/v1", api_key=rig.token, max_retries=0, timeout=0.5).chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "hi"}]
        )
    call = rig.last_call()
    assert call.status == 499 and call.error == "the client abandoned the call before the upstream answered"
    wait_for(rig.upstream.abandoned.is_set)


def test_a_200_that_is_not_a_chat_completion_is_recorded_as_an_error(rig):
    raw = rig.openai().chat.completions.with_raw_response.create(
        model="not-json", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.http_response.text == HTML_PAGE  # passed on as it came
    call = rig.last_call()
    assert call.failed and call.error.startswith("upstream answered 200 with a body that is not a chat completion")


def test_every_connection_the_proxy_accepts_sends_small_writes_at_once(rig):
    """TCP_NODELAY: without it a streamed token waits for the client's delayed ACK (about 40 ms a write)."""
    import socket

    with httpx.Client(base_url=f"{rig.url}/v1", headers={"authorization": f"Bearer {rig.token}"}) as client:
        client.post("/chat/completions", json={"model": "m", "messages": []})  # keeps its connection open
        sockets = [c.transport.get_extra_info("socket") for c in rig.server.connections()]
        assert sockets, "the proxy holds no connection"
        assert all(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for sock in sockets)
