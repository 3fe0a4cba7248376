"""cab doctor's endpoint grid: one handshake per capability decides which TUIs can run against a model."""

from __future__ import annotations

import json

import keyring
from keyring.backends import fail
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from cab_check import catalog, doctor
from cab_check.asgi_server import BackgroundServer
from cab_check.cli import CLI_WORDS, main
from cab_check.errors import Remedy

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
    captured = capsys.readouterr()
    out = captured.out
    assert "endpoint tool calls works" in " ".join(out.split()), captured.err
    for tui in ("aider", "claude-code", "codex", "openhands", "pi", "qwen-code"):
        assert tui in out
    assert "compatible (with --image)" in out  # goose, crush, plandex


# --- the fix, worded by each front end ------------------------------------------------------------------------------


def test_a_tui_that_needs_an_image_is_compatible_with_one_each_front_end_names():
    goose = catalog.get_tui("goose")
    row = doctor.compatible(goose, {"chat": None, "streaming": None, "tool calls": None})
    assert row.ok and row.remedy is Remedy.IMAGE
    assert row.worded(CLI_WORDS).detail == "compatible (with --image)"
    assert row.detail == "compatible (with an image you provide)"  # neutral: no flag, no field


def test_a_keyring_warning_says_how_to_give_the_key_without_naming_a_flag(monkeypatch):
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        finding = doctor._keyring()
    finally:
        keyring.set_keyring(previous)
    assert finding.status == "warn" and finding.remedy is Remedy.KEY
    assert "--" not in finding.detail + finding.fix
    cli = finding.worded(CLI_WORDS)
    assert cli.detail.startswith("This machine has no usable OS keyring")
    assert cli.fix == "give the key with --key-env VAR or --key-stdin"


def test_an_engine_that_is_not_there_is_worded_with_the_engine_flag_in_the_terminal(memory_keyring, tmp_path):
    engine = doctor.machine(f"unix://{tmp_path}/no-engine.sock")[0]
    assert engine.area == "engine" and engine.status == "fail" and engine.remedy is Remedy.ENGINE
    assert "--engine" not in engine.detail + engine.fix
    cli = engine.worded(CLI_WORDS)
    assert cli.detail.endswith("or name another engine with --engine.")
    assert cli.fix.endswith("or name a running engine in DOCKER_HOST or with --engine")


def keyed_server() -> Starlette:
    """Refuses every request for want of a key."""

    async def refuse(request: Request):
        return JSONResponse({"error": {"message": "No API key provided"}}, status_code=401)

    return Starlette(routes=[Route("/v1/chat/completions", refuse, methods=["POST"]), Route("/v1/models", refuse)])


def test_a_missing_key_in_the_endpoint_grid_is_worded_by_the_front_end(memory_keyring, capsys, monkeypatch):
    with BackgroundServer(keyed_server(), "127.0.0.1") as server:
        findings, grid = doctor.endpoint_grid(f"{server.url}/v1", None, "m")
        monkeypatch.setattr("sys.stdin.isatty", lambda: False)  # no prompt for a key: none is sent
        main(["doctor", "--endpoint", f"{server.url}/v1", "--model", "m", "--engine", "unix:///nonexistent.sock"])
    (chat,) = findings
    assert chat.status == "fail" and chat.remedy is Remedy.KEY and "--" not in chat.detail
    assert all(not row.ok for row in grid)
    out = " ".join(capsys.readouterr().out.split())
    assert "none was given; give it with --key-env VAR or --key-stdin." in out
