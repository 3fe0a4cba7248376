"""The Anthropic Messages API (Claude Code's wire format) served on top of a chat-completions upstream."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fake_openai import Behaviour, FakeOpenAI
from wire_streams import call_delta, chunk, events_of, wait_for

from cab_check.asgi_server import BackgroundServer
from cab_check.models import ModelCall
from cab_check.proxy import RecordingProxy, new_run_token
from cab_check.wire import WireError
from cab_check.wire.anthropic import MessagesStream, chat_request, count_tokens, from_chat

USAGE = {"prompt_tokens": 50, "completion_tokens": 6, "total_tokens": 56}
BASH = {
    "name": "Bash",
    "description": "Run a command.",
    "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
}


# --- request -------------------------------------------------------------------------------------------------------


def test_request_becomes_chat_messages_and_functions() -> None:
    request = {
        "model": "m1",
        "max_tokens": 32000,
        "stream": True,
        "system": [
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": "Be careful.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                    {"type": "text", "text": "fix it"},
                ],
            },
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and hurry"},
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a.py"}]},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "false"}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "exit 1", "is_error": True}],
            },
        ],
        "tools": [BASH, {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "thinking": {"type": "adaptive"},
        "metadata": {"user_id": "u"},
        "context_management": {"edits": []},
    }
    chat = chat_request(request)
    assert (chat["model"], chat["max_tokens"], chat["stream"], chat["stop"], chat["temperature"]) == (
        "m1",
        32000,
        True,
        ["END"],
        0.2,
    )
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    for dropped in ("thinking", "metadata", "context_management", "system", "stop_sequences"):
        assert dropped not in chat
    assert chat["messages"] == [
        {"role": "system", "content": "You are Claude Code.\n\nBe careful.\n\n# Environment"},
        {"role": "user", "content": "<system-reminder>x</system-reminder>\nfix it"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": '{"command": "ls"}'}}
            ],
        },
        # Tool results come first, right after the calls, then what the user added.
        {"role": "tool", "tool_call_id": "toolu_1", "content": "a.py"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and hurry"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "toolu_2", "type": "function", "function": {"name": "Bash", "arguments": '{"command": "false"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: exit 1"},
    ]
    # The server tool (no input_schema) has no chat form.
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "Bash", "description": "Run a command.", "parameters": BASH["input_schema"]},
        }
    ]


def test_deferred_tools_appear_once_a_tool_search_names_them() -> None:
    deferred = {**BASH, "name": "Later", "defer_loading": True}
    base = {"model": "m", "max_tokens": 10, "tools": [BASH, deferred], "messages": [{"role": "user", "content": "hi"}]}
    assert [t["function"]["name"] for t in chat_request(base)["tools"]] == ["Bash"]
    found = {
        **base,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "ToolSearch", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "tool_reference", "tool_name": "Later"}],
                    }
                ],
            },
        ],
    }
    chat = chat_request(found)
    assert [t["function"]["name"] for t in chat["tools"]] == ["Bash", "Later"]
    assert chat["messages"][-1]["content"] == "Tool Later is now available."


def test_tool_choice_none_sends_no_tools() -> None:
    chat = chat_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [BASH],
            "tool_choice": {"type": "none"},
        }
    )
    assert "tools" not in chat and "tool_choice" not in chat


@pytest.mark.parametrize("body", [None, {"messages": []}, {"model": "m"}, {"model": "m", "messages": ["x"]}])
def test_malformed_request_is_refused(body: Any) -> None:
    with pytest.raises(WireError):
        chat_request(body)


def test_count_tokens_is_a_local_estimate() -> None:
    small = count_tokens({"model": "m", "messages": [{"role": "user", "content": "hi"}]})["input_tokens"]
    large = count_tokens({"model": "m", "messages": [{"role": "user", "content": "hi " * 4000}]})["input_tokens"]
    assert 0 < small < 20 and 2000 < large < 5000


# --- whole response ------------------------------------------------------------------------------------------------


def test_whole_chat_completion_becomes_a_message() -> None:
    chat = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Running.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "Bash", "arguments": '{"command":"ls"}'},
                        }
                    ],
                },
            }
        ],
        "usage": {**USAGE, "prompt_tokens_details": {"cached_tokens": 20}},
    }
    message = from_chat(chat, {"model": "m1"})
    assert (message["type"], message["role"], message["model"], message["stop_reason"]) == (
        "message",
        "assistant",
        "m1",
        "tool_use",
    )
    assert message["content"] == [
        {"type": "text", "text": "Running."},
        {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
    ]
    # Anthropic counts cache reads apart from input tokens.
    assert message["usage"] == {
        "input_tokens": 30,
        "output_tokens": 6,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 20,
    }


@pytest.mark.parametrize(
    ("finish", "calls", "stop"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        # Some servers end a tool-calling turn with "stop".
        ("stop", True, "tool_use"),
    ],
)
def test_stop_reasons(finish: str, calls: bool, stop: str) -> None:
    message: dict[str, Any] = {"content": "x"}
    if calls:
        message["tool_calls"] = [{"id": "c", "function": {"name": "Bash", "arguments": "{}"}}]
    chat = {"choices": [{"index": 0, "finish_reason": finish, "message": message}]}
    assert from_chat(chat, {"model": "m"})["stop_reason"] == stop


# --- stream --------------------------------------------------------------------------------------------------------


def run_stream(chunks: list[dict[str, Any]]) -> list[tuple[str | None, dict[str, Any]]]:
    stream = MessagesStream({"model": "m1"})
    return events_of(b"".join(b"".join(stream.feed(c)) for c in chunks) + b"".join(stream.close()))


def test_stream_with_text_and_tool_calls() -> None:
    events = run_stream(
        [
            chunk({"role": "assistant", "content": "Let me "}),
            chunk({"content": "look."}),
            chunk(call_delta(0, id="call_1", name="Bash", args='{"command":')),
            chunk(call_delta(0, args='"ls"}')),
            chunk(call_delta(1, id="call_2", name="Read", args='{"file_path":"a"}')),
            chunk({}, "tool_calls"),
            {"choices": [], "usage": USAGE},
        ]
    )
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["role"] == "assistant" and start["model"] == "m1" and start["content"] == []
    assert "input_tokens" in start["usage"]
    blocks = [data for name, data in events if name == "content_block_start"]
    assert [b["index"] for b in blocks] == [0, 1, 2]
    assert blocks[0]["content_block"] == {"type": "text", "text": ""}
    assert blocks[1]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {}}
    deltas = [data for name, data in events if name == "content_block_delta"]
    assert "".join(d["delta"]["text"] for d in deltas if d["index"] == 0) == "Let me look."
    assert "".join(d["delta"]["partial_json"] for d in deltas if d["index"] == 1) == '{"command":"ls"}'
    assert {d["delta"]["type"] for d in deltas if d["index"] > 0} == {"input_json_delta"}
    end = events[-2][1]
    assert end["delta"]["stop_reason"] == "tool_use"
    assert end["usage"]["output_tokens"] == 6 and end["usage"]["input_tokens"] == 50


def test_stream_of_text_ends_the_turn() -> None:
    events = run_stream([chunk({"content": "hi"}), chunk({}, "stop")])
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert events[-1] == ("message_stop", {"type": "message_stop"})


def test_stream_failure_is_an_error_event() -> None:
    stream = MessagesStream({"model": "m"})
    raw = b"".join(stream.feed(chunk({"content": "a"}))) + b"".join(stream.close("upstream stream broke"))
    name, data = events_of(raw)[-1]
    assert name == "error"
    assert data == {"type": "error", "error": {"type": "api_error", "message": "upstream stream broke"}}


# --- through the proxy ---------------------------------------------------------------------------------------------


@dataclass
class Rig:
    fake: FakeOpenAI  # the chat-completions upstream: tests/fake_openai.py
    proxy: RecordingProxy
    url: str  # the proxy's root, as ANTHROPIC_BASE_URL holds it
    key: str
    token: str
    seen: list[ModelCall]

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            timeout=10,
            headers={
                "x-api-key": self.token,
                "anthropic-version": "2023-06-01",
                "anthropic-beta": "claude-code-20250219",
                **headers,
            },
        )


@pytest.fixture
def rig() -> Iterator[Rig]:
    # A whole answer says "whole answer", tools or not; a test that streams scripts its chunks. Model "reject-me" gets
    # a 401 that echoes the key.
    whole = Behaviour(reply=("whole answer",), tools="text", usage=(50, 6), by_model={"reject-me": {"auth": "401"}})
    fake = FakeOpenAI(whole)
    key, token, seen = "sk-canary-" + secrets.token_hex(8), new_run_token(), []
    with fake.serving() as upstream_url:
        proxy = RecordingProxy(upstream_url, key, token, on_call=seen.append)
        with BackgroundServer(proxy.app) as server:
            yield Rig(fake, proxy, server.url, key, token, seen)
            proxy.close()


CLAUDE_REQUEST = {
    "model": "m1",
    "max_tokens": 1000,
    "stream": True,
    "tools": [BASH],
    "system": [{"type": "text", "text": "sys"}],
    "messages": [{"role": "user", "content": "list"}],
}


def test_claude_stream_with_a_tool_call_through_the_proxy(rig: Rig) -> None:
    rig.fake.behaviour.chunks = [
        chunk(call_delta(0, id="call_1", name="Bash", args='{"command":')),
        chunk(call_delta(0, args='"ls"}')),
        chunk({}, "tool_calls"),
        {"choices": [], "usage": USAGE},
    ]
    with rig.client() as client:
        response = client.post("/v1/messages?beta=true", json=CLAUDE_REQUEST)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.content)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[1][1]["content_block"]["name"] == "Bash"
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"

    [sent] = rig.fake.requests
    assert sent.headers["authorization"] == f"Bearer {rig.key}"
    assert not any(h.startswith("anthropic-") or h == "x-api-key" for h in sent.headers)
    assert sent.body["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "list"}]
    assert sent.body["stream_options"] == {"include_usage": True}

    wait_for(lambda: rig.proxy.calls)
    [call] = rig.proxy.calls
    assert rig.seen == [call]
    assert (call.path, call.model, call.stream, call.status, call.error) == ("/v1/messages", "m1", True, 200, None)
    assert (call.prompt_tokens, call.completion_tokens, call.finish_reason) == (50, 6, "tool_calls")


def test_claude_whole_message_with_bearer_token(rig: Rig) -> None:
    with rig.client(authorization=f"Bearer {rig.token}", **{"x-api-key": ""}) as client:
        response = client.post("/v1/messages", json={**CLAUDE_REQUEST, "stream": False})
    assert response.status_code == 200
    body = response.json()
    assert body["content"] == [{"type": "text", "text": "whole answer"}] and body["stop_reason"] == "end_turn"
    [call] = rig.proxy.calls
    assert (call.stream, call.prompt_tokens, call.completion_tokens) == (False, 50, 6)


def test_errors_come_back_anthropic_shaped(rig: Rig) -> None:
    with rig.client() as client:
        rejected = client.post("/v1/messages", json={**CLAUDE_REQUEST, "model": "reject-me"})
        malformed = client.post("/v1/messages", json={"model": "m1"})
    with rig.client(**{"x-api-key": "wrong"}) as client:
        refused = client.post("/v1/messages", json=CLAUDE_REQUEST)
    assert rejected.status_code == 401
    assert rejected.json()["type"] == "error" and rejected.json()["error"]["type"] == "authentication_error"
    assert "[REDACTED]" in rejected.json()["error"]["message"] and rig.key not in rejected.text
    assert malformed.status_code == 400
    assert malformed.json()["error"]["type"] == "invalid_request_error"
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    # The refused request never reached the upstream nor the record; the other two did.
    assert [c.status for c in rig.proxy.calls] == [401, 400]
    assert len(rig.fake.requests) == 1


def test_count_tokens_is_answered_locally_and_unrecorded(rig: Rig) -> None:
    with rig.client() as client:
        response = client.post("/v1/messages/count_tokens", json=CLAUDE_REQUEST)
    assert response.status_code == 200 and response.json()["input_tokens"] > 0
    assert rig.fake.requests == [] and rig.proxy.calls == []
