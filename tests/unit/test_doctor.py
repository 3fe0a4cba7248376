"""cab doctor's endpoint grid: one handshake per capability decides which TUIs can run against a model."""

from __future__ import annotations

import keyring
from fake_openai import Behaviour, FakeOpenAI
from keyring.backends import fail

from cab_check import catalog, doctor
from cab_check.cli import CLI_WORDS, main
from cab_check.errors import Remedy


def served(*, tools: bool) -> FakeOpenAI:
    """An endpoint that serves model "m", streams, and calls tools only when `tools` is on."""
    return FakeOpenAI(Behaviour(served=("m",), tools="call" if tools else "text"))


def test_a_model_without_tool_calls_runs_only_aider():
    with served(tools=False).serving() as base:
        findings, grid = doctor.endpoint_grid(base, None, "m")
    status = {f.area: f.status for f in findings}
    assert status == {"endpoint chat": "ok", "endpoint streaming": "ok", "endpoint tool calls": "fail"}
    rows = {row.tui: row for row in grid}
    assert rows["aider"].ok is True
    assert rows["pi"].ok is False and rows["pi"].detail == "needs tool calls"
    assert rows["codex"].ok is False


def test_a_model_with_tool_calls_runs_every_tui(capsys):
    with served(tools=True).serving() as base:
        main(["doctor", "--endpoint", base, "--model", "m"])
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


def test_a_missing_key_in_the_endpoint_grid_is_worded_by_the_front_end(memory_keyring, capsys, monkeypatch):
    keyed = FakeOpenAI(Behaviour(served=("m",), key="sk-the-only-key"))  # refuses every request without it
    with keyed.serving() as base:
        findings, grid = doctor.endpoint_grid(base, None, "m")
        monkeypatch.setattr("sys.stdin.isatty", lambda: False)  # no prompt for a key: none is sent
        main(["doctor", "--endpoint", base, "--model", "m", "--engine", "unix:///nonexistent.sock"])
    assert keyed.requests and set(keyed.authorizations) == {""}, "no key was sent"
    (chat,) = findings
    assert chat.status == "fail" and chat.remedy is Remedy.KEY and "--" not in chat.detail
    assert all(not row.ok for row in grid)
    out = " ".join(capsys.readouterr().out.split())
    assert "none was given; give it with --key-env VAR or --key-stdin." in out
