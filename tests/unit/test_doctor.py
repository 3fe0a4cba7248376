"""cab doctor's endpoint grid: one handshake per capability decides which TUIs can run against a model."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from cab_check import doctor
from cab_check.asgi_server import BackgroundServer
from cab_check.cli import main

USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def fake_server(*, tools: bool) -> Starlette:
    """An OpenAI-compatible server that streams, and calls tools only when `tools` is on."""

    async def chat(request: Request):
        body = await request.json()
        if body.get("stream"):
            chunks = [
                {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "OK"}, "finish_reason": None}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": USAGE},
            ]
            lines = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
            return StreamingResponse(iter(lines), media_type="text/event-stream")
        message = {"role": "assistant", "content": "OK"}
        if tools and body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": name, "arguments": '{"message": "hi"}'}}
                ],
            }
        return JSONResponse(
            {
                "id": "x",
                "object": "chat.completion",
                "model": body["model"],
                "usage": USAGE,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if "tool_calls" in message else "stop",
                    }
                ],
            }
        )

    async def models(request: Request):
        return JSONResponse({"object": "list", "data": [{"id": "m", "object": "model"}]})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models)])


def test_a_model_without_tool_calls_runs_only_aider():
    with BackgroundServer(fake_server(tools=False), "127.0.0.1") as server:
        findings, grid = doctor.endpoint_grid(f"{server.url}/v1", None, "m")
    status = {f.area: f.status for f in findings}
    assert status == {"endpoint chat": "ok", "endpoint streaming": "ok", "endpoint tool calls": "fail"}
    rows = {row.tui: row for row in grid}
    assert rows["aider"].ok is True
    assert rows["pi"].ok is False and rows["pi"].detail == "needs tool calls"
    assert rows["codex"].ok is False


def test_a_model_with_tool_calls_runs_every_tui(capsys):
    with BackgroundServer(fake_server(tools=True), "127.0.0.1") as server:
        main(["doctor", "--endpoint", f"{server.url}/v1", "--model", "m"])
    out = capsys.readouterr().out
    assert "endpoint tool calls works" in " ".join(out.split())
    for tui in ("aider", "claude-code", "codex", "openhands", "pi", "qwen-code"):
        assert tui in out
    assert "compatible (with --image)" in out  # goose, crush, plandex
