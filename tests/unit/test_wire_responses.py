"""The Responses API (Codex CLI's only wire format) served on top of a chat-completions upstream."""

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
from cab_check.wire.responses import ResponsesStream, chat_request, from_chat

USAGE = {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49, "prompt_tokens_details": {"cached_tokens": 8}}

TOOLS = [
    {
        "type": "function",
        "name": "exec_command",
        "description": "Run a command.",
        "strict": False,
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
    },
    {
        "type": "custom",
        "name": "apply_patch",
        "description": "Edit files.",
        "format": {"type": "grammar", "syntax": "lark", "definition": "start: PATCH"},
    },
    {
        "type": "namespace",
        "name": "multi_agent_v1",
        "description": "Sub-agents.",
        "tools": [
            {"type": "function", "name": "spawn_agent", "description": "Spawn.", "parameters": {"type": "object"}},
        ],
    },
    {"type": "web_search", "external_web_access": True},
]


# --- request -------------------------------------------------------------------------------------------------------


def test_request_becomes_chat_messages_and_functions() -> None:
    request = {
        "model": "m1",
        "instructions": "Be brief.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox: none."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
            {"type": "reasoning", "summary": [], "encrypted_content": "opaque"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Looking."}]},
            {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": '{"cmd":"ls"}'},
            {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "function_call_output", "call_id": "c1", "output": "a.py"},
            {"type": "custom_tool_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "ok"}]},
            {
                "type": "function_call",
                "call_id": "c3",
                "name": "spawn_agent",
                "namespace": "multi_agent_v1",
                "arguments": "{}",
            },
        ],
        "tools": TOOLS,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "max_output_tokens": 500,
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "high", "summary": "auto"},
        "prompt_cache_key": "k",
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        "stream": True,
    }
    chat = chat_request(request)
    assert chat["model"] == "m1" and chat["stream"] is True
    assert chat["max_tokens"] == 500 and chat["tool_choice"] == "auto" and chat["parallel_tool_calls"] is True
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True},
    }
    for dropped in ("store", "include", "reasoning", "prompt_cache_key", "input", "instructions", "text"):
        assert dropped not in chat
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief.\n\nSandbox: none."},
        {"role": "user", "content": "fix it"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'}},
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "apply_patch", "arguments": '{"input": "*** Begin Patch"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a.py"},
        {"role": "tool", "tool_call_id": "c2", "content": "ok"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c3", "type": "function", "function": {"name": "spawn_agent", "arguments": "{}"}},
            ],
        },
    ]
    functions = {t["function"]["name"]: t["function"] for t in chat["tools"]}
    # The hosted web_search tool has no chat form; the namespaced tool is flattened.
    assert list(functions) == ["exec_command", "apply_patch", "spawn_agent"]
    assert functions["exec_command"]["parameters"]["required"] == ["cmd"]
    assert functions["apply_patch"]["parameters"]["required"] == ["input"]
    assert "start: PATCH" in functions["apply_patch"]["description"]


def test_plain_string_input_and_images() -> None:
    assert chat_request({"model": "m", "input": "hi"})["messages"] == [{"role": "user", "content": "hi"}]
    chat = chat_request(
        {
            "model": "m",
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AA"},
                    ],
                }
            ],
        }
    )
    assert chat["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
    ]


@pytest.mark.parametrize("body", [None, [], {"input": "hi"}, {"model": "", "input": "hi"}])
def test_request_without_a_model_is_refused(body: Any) -> None:
    with pytest.raises(WireError):
        chat_request(body)


# --- whole response ------------------------------------------------------------------------------------------------


def test_whole_chat_completion_becomes_a_response() -> None:
    chat = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "On it.",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'},
                        },
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "apply_patch", "arguments": '{"input":"P"}'},
                        },
                        {"id": "c3", "type": "function", "function": {"name": "spawn_agent", "arguments": "{}"}},
                    ],
                },
            }
        ],
        "usage": USAGE,
    }
    response = from_chat(chat, {"model": "m1", "tools": TOOLS})
    assert response["object"] == "response" and response["status"] == "completed" and response["model"] == "m1"
    message, function, custom, namespaced = response["output"]
    assert message["type"] == "message" and message["content"][0] == {
        "type": "output_text",
        "text": "On it.",
        "annotations": [],
    }
    assert (function["type"], function["call_id"], function["name"], function["arguments"]) == (
        "function_call",
        "c1",
        "exec_command",
        '{"cmd":"ls"}',
    )
    assert (custom["type"], custom["call_id"], custom["name"], custom["input"]) == (
        "custom_tool_call",
        "c2",
        "apply_patch",
        "P",
    )
    assert namespaced["namespace"] == "multi_agent_v1" and namespaced["name"] == "spawn_agent"
    assert response["usage"] == {
        "input_tokens": 40,
        "input_tokens_details": {"cached_tokens": 8},
        "output_tokens": 9,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 49,
    }


def test_length_makes_an_incomplete_response() -> None:
    chat = {"choices": [{"index": 0, "finish_reason": "length", "message": {"content": "cut"}}]}
    response = from_chat(chat, {"model": "m"})
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}


# --- stream --------------------------------------------------------------------------------------------------------


def run_stream(request: dict[str, Any], chunks: list[dict[str, Any]]) -> list[tuple[str | None, dict[str, Any]]]:
    stream = ResponsesStream(request)
    raw = b"".join(b"".join(stream.feed(c)) for c in chunks) + b"".join(stream.close())
    return events_of(raw)


def test_stream_with_text_and_a_tool_call() -> None:
    events = run_stream(
        {"model": "m1", "tools": TOOLS},
        [
            chunk({"role": "assistant", "content": "Let me "}),
            chunk({"content": "look."}),
            chunk(call_delta(0, id="c1", name="exec_command")),
            chunk(call_delta(0, args='{"cmd":')),
            chunk(call_delta(0, args='"ls"}')),
            chunk({}, "tool_calls"),
            {"choices": [], "usage": USAGE},
        ],
    )
    names = [name for name, _ in events]
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    # Every event names its own type, and they are numbered in order.
    assert all(data["type"] == name for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    done = [data["item"] for name, data in events if name == "response.output_item.done"]
    assert done[0]["content"][0]["text"] == "Let me look."
    assert (done[1]["type"], done[1]["call_id"], done[1]["name"], done[1]["arguments"]) == (
        "function_call",
        "c1",
        "exec_command",
        '{"cmd":"ls"}',
    )
    completed = events[-1][1]["response"]
    assert completed["status"] == "completed"
    assert completed["usage"]["input_tokens"] == 40 and completed["usage"]["output_tokens"] == 9
    assert completed["usage"]["total_tokens"] == 49
    assert [item["type"] for item in completed["output"]] == ["message", "function_call"]
    assert events[0][1]["response"]["id"] == completed["id"]


def test_stream_custom_tool_call_and_parallel_calls() -> None:
    events = run_stream(
        {"model": "m1", "tools": TOOLS},
        [
            chunk(call_delta(0, id="c1", name="apply_patch", args='{"input": "*** Begin')),
            chunk(call_delta(0, args=' Patch"}')),
            chunk(call_delta(1, id="c2", name="exec_command", args='{"cmd":"ls"}')),
            chunk({}, "tool_calls"),
        ],
    )
    done = [data["item"] for name, data in events if name == "response.output_item.done"]
    assert done[0] == {**done[0], "type": "custom_tool_call", "call_id": "c1", "input": "*** Begin Patch"}
    assert done[1]["type"] == "function_call" and done[1]["call_id"] == "c2"
    # A freeform tool's input is not streamed as function arguments.
    deltas = [data for name, data in events if name == "response.function_call_arguments.delta"]
    assert [d["item_id"] for d in deltas] == [done[1]["id"]]


def test_stream_cut_by_length_is_incomplete() -> None:
    events = run_stream({"model": "m"}, [chunk({"content": "abc"}), chunk({}, "length")])
    name, data = events[-1]
    assert name == "response.incomplete"
    assert data["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_stream_failure_is_reported_as_response_failed() -> None:
    stream = ResponsesStream({"model": "m"})
    raw = b"".join(stream.feed(chunk({"content": "a"}))) + b"".join(stream.close("upstream stream broke"))
    name, data = events_of(raw)[-1]
    assert name == "response.failed"
    assert data["response"]["status"] == "failed"
    assert data["response"]["error"]["message"] == "upstream stream broke"
    assert stream.close() == []


# --- through the proxy ---------------------------------------------------------------------------------------------


@dataclass
class Rig:
    fake: FakeOpenAI  # the chat-completions upstream: tests/fake_openai.py
    proxy: RecordingProxy
    url: str
    key: str
    token: str
    seen: list[ModelCall]


@pytest.fixture
def rig() -> Iterator[Rig]:
    # Each test scripts the chunks; a whole answer is them put together. "reject-me" gets a 401 echoing the key.
    misbehaviours = {"reject-me": {"auth": "401"}, "ignores-stream": {"stream": "json"}}
    fake = FakeOpenAI(Behaviour(by_model=misbehaviours))
    key, token, seen = "sk-canary-" + secrets.token_hex(8), new_run_token(), []
    with fake.serving() as upstream_url:
        proxy = RecordingProxy(upstream_url, key, token, on_call=seen.append)
        with BackgroundServer(proxy.app) as server:
            yield Rig(fake, proxy, server.url, key, token, seen)
            proxy.close()


TOOL_TURN = [
    chunk({"role": "assistant", "content": "Running."}),
    chunk(call_delta(0, id="call_1", name="exec_command", args='{"cmd":')),
    chunk(call_delta(0, args='"ls"}')),
    chunk({}, "tool_calls"),
    {"choices": [], "usage": USAGE},
]
CODEX_REQUEST = {
    "model": "m1",
    "instructions": "",
    "stream": True,
    "tools": TOOLS,
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "store": False,
    "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]}],
}
CODEX_HEADERS = {"accept": "text/event-stream", "originator": "codex_exec", "session-id": "s1"}


def test_codex_stream_with_a_tool_call_through_the_proxy(rig: Rig) -> None:
    rig.fake.behaviour.chunks = TOOL_TURN
    headers = {**CODEX_HEADERS, "authorization": f"Bearer {rig.token}"}
    with httpx.Client(base_url=rig.url, timeout=10) as client:
        response = client.post("/v1/responses", json=CODEX_REQUEST, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.content)
    assert events[0][0] == "response.created" and events[-1][0] == "response.completed"
    items = [data["item"] for name, data in events if name == "response.output_item.done"]
    assert [i["type"] for i in items] == ["message", "function_call"]
    assert items[1]["arguments"] == '{"cmd":"ls"}' and items[1]["call_id"] == "call_1"
    assert events[-1][1]["response"]["usage"]["input_tokens"] == 40

    [sent] = rig.fake.requests
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"] == [{"role": "user", "content": "list files"}]
    assert sent.headers["authorization"] == f"Bearer {rig.key}"
    # The client's own headers describe the Responses API and are not forwarded.
    assert "originator" not in sent.headers and "session-id" not in sent.headers
    assert rig.key not in response.text and rig.token not in response.text

    wait_for(lambda: rig.proxy.calls)
    [call] = rig.proxy.calls
    assert rig.seen == [call]
    assert (call.path, call.model, call.stream, call.status, call.error) == ("/v1/responses", "m1", True, 200, None)
    assert (call.prompt_tokens, call.completion_tokens, call.finish_reason) == (40, 9, "tool_calls")


def test_codex_whole_response_through_the_proxy_without_v1(rig: Rig) -> None:
    rig.fake.behaviour.chunks = [chunk({"content": "hello"}), chunk({}, "stop"), {"choices": [], "usage": USAGE}]
    with httpx.Client(base_url=rig.url, timeout=10, headers={"authorization": f"Bearer {rig.token}"}) as client:
        response = client.post("/responses", json={**CODEX_REQUEST, "stream": False})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed" and body["output"][0]["content"][0]["text"] == "hello"
    assert body["usage"]["output_tokens"] == 9
    [call] = rig.proxy.calls
    assert (call.path, call.stream, call.prompt_tokens, call.completion_tokens) == ("/responses", False, 40, 9)


def test_upstream_that_ignores_stream_still_yields_a_stream(rig: Rig) -> None:
    rig.fake.behaviour.chunks = TOOL_TURN
    with httpx.Client(base_url=rig.url, timeout=10, headers={"authorization": f"Bearer {rig.token}"}) as client:
        response = client.post("/v1/responses", json={**CODEX_REQUEST, "model": "ignores-stream"})
    events = events_of(response.content)
    assert events[-1][0] == "response.completed"
    items = [data["item"] for name, data in events if name == "response.output_item.done"]
    assert [i["type"] for i in items] == ["message", "function_call"]
    assert items[1]["arguments"] == '{"cmd":"ls"}'
    wait_for(lambda: rig.proxy.calls)
    assert rig.proxy.calls[0].prompt_tokens == 40 and rig.proxy.calls[0].error is None


def test_upstream_error_comes_back_openai_shaped_and_redacted(rig: Rig) -> None:
    with httpx.Client(base_url=rig.url, timeout=10, headers={"authorization": f"Bearer {rig.token}"}) as client:
        response = client.post("/v1/responses", json={**CODEX_REQUEST, "model": "reject-me"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key" and "[REDACTED]" in error["message"]
    assert rig.key not in response.text
    [call] = rig.proxy.calls
    assert call.status == 401 and call.error and rig.key not in call.error


def test_untranslatable_request_is_a_recorded_400(rig: Rig) -> None:
    with httpx.Client(base_url=rig.url, timeout=10, headers={"authorization": f"Bearer {rig.token}"}) as client:
        response = client.post("/v1/responses", content=b"not json")
    assert response.status_code == 400 and "error" in response.json()
    assert rig.fake.requests == []
    [call] = rig.proxy.calls
    assert call.status == 400 and call.error


def test_wrong_token_is_refused(rig: Rig) -> None:
    with httpx.Client(base_url=rig.url, timeout=10, headers={"authorization": "Bearer nope"}) as client:
        response = client.post("/v1/responses", json=CODEX_REQUEST)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    assert rig.fake.requests == [] and rig.proxy.calls == []
