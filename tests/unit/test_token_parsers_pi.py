"""pi's own usage, read from the session file pi 0.73.1 writes under {out}/pi-sessions (and from --mode json)."""

from __future__ import annotations

from cab_check.token_parsers import tui_report, tui_source
from cab_check.token_parsers.pi import SESSION_DIR, parse_json_events, parse_session_files

# A real session from `pi --print --session-dir /cab/out/pi-sessions` against a scripted endpoint that answered
# with one write tool call and then text; the written file's content is trimmed.
SESSION = """\
{"type":"session","version":3,"id":"01a20523-8d37-7501-9dbf-b2f68e0dcc8d","timestamp":"2026-11-22T21:22:25.720Z","cwd":"/work"}
{"type":"model_change","id":"f95760e4","parentId":null,"timestamp":"2026-11-22T21:22:25.727Z","provider":"cab","modelId":"cab-reference"}
{"type":"thinking_level_change","id":"828080f1","parentId":"f95760e4","timestamp":"2026-11-22T21:22:25.727Z","thinkingLevel":"off"}
{"type":"message","id":"00e020ee","parentId":"828080f1","timestamp":"2026-11-22T21:22:25.734Z","message":{"role":"user","content":[{"type":"text","text":"Function uses unwrap on user input; replace with proper Result propagation"}],"timestamp":1795382545732}}
{"type":"message","id":"8d27a353","parentId":"00e020ee","timestamp":"2026-11-22T21:22:25.792Z","message":{"role":"assistant","content":[{"type":"toolCall","id":"call_bd1d2009","name":"write","arguments":{"path":"/work/src/lib.rs","content":"//! Reads the comma-separated numbers a user types in, such \\u2026"}}],"api":"openai-completions","provider":"cab","model":"cab-reference","usage":{"input":1002,"output":50,"cacheRead":0,"cacheWrite":0,"totalTokens":1052,"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"total":0}},"stopReason":"toolUse","timestamp":1795382545769,"responseId":"chatcmpl-2d05e8ff"}}
{"type":"message","id":"8042ea85","parentId":"8d27a353","timestamp":"2026-11-22T21:22:25.797Z","message":{"role":"toolResult","toolCallId":"call_bd1d2009","toolName":"write","content":[{"type":"text","text":"Successfully wrote 2118 bytes to /work/src/lib.rs"}],"isError":false,"timestamp":1795382545797}}
{"type":"message","id":"b65ea955","parentId":"8042ea85","timestamp":"2026-11-22T21:22:25.803Z","message":{"role":"assistant","content":[{"type":"text","text":"Done: src/lib.rs now propagates errors."}],"api":"openai-completions","provider":"cab","model":"cab-reference","usage":{"input":1004,"output":50,"cacheRead":0,"cacheWrite":0,"totalTokens":1054,"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"total":0}},"stopReason":"stop","timestamp":1795382545797,"responseId":"chatcmpl-59dcb79e"}}
"""

# Real `pi --mode json` stdout (the reference model's one reply), message_update deltas left out: the same
# assistant message comes as message_end, then again in turn_end and agent_end, and counts once.
JSON_EVENTS = """\
{"type":"session","version":3,"id":"01a20522-cfb1-722b-a495-a81058b32d19","timestamp":"2026-11-22T21:21:37.202Z","cwd":"/work"}
{"type":"agent_start"}
{"type":"turn_start"}
{"type":"message_end","message":{"role":"user","content":[{"type":"text","text":"Function uses unwrap on user input; replace with proper Result propagation"}],"timestamp":1795382497216}}
{"type":"message_end","message":{"role":"assistant","content":[{"type":"text","text":"src/lib.rs\\n"}],"api":"openai-completions","provider":"cab","model":"cab-reference","usage":{"input":608,"output":23,"cacheRead":0,"cacheWrite":0,"totalTokens":631,"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"total":0}},"stopReason":"stop","timestamp":1795382497248,"responseId":"chatcmpl-5920740379a343cf9a385018"}}
{"type":"turn_end","message":{"role":"assistant","content":[{"type":"text","text":"src/lib.rs\\n"}],"api":"openai-completions","provider":"cab","model":"cab-reference","usage":{"input":608,"output":23,"cacheRead":0,"cacheWrite":0,"totalTokens":631,"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0,"total":0}},"stopReason":"stop","timestamp":1795382497248},"toolResults":[]}
{"type":"agent_end","messages":[{"role":"assistant","content":[],"usage":{"input":608,"output":23,"cacheRead":0,"cacheWrite":0,"totalTokens":631}}]}
"""


def _write_session(out_dir, text=SESSION, name="2026-11-22T21-22-25-720Z_01a20523.jsonl"):
    folder = out_dir / SESSION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def test_session_file_sums_every_assistant_reply(tmp_path):
    _write_session(tmp_path)
    report = parse_session_files(tmp_path / SESSION_DIR)
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens, report.exact) == (
        "TUI session file",
        2006,
        100,
        True,
    )


def test_cached_prompt_tokens_add_back_to_the_endpoints_prompt_tokens(tmp_path):
    # pi-ai splits prompt_tokens into input + cacheRead + cacheWrite; the proxy counts all of them as prompt.
    line = (
        '{"type":"message","message":{"role":"assistant","content":[],'
        '"usage":{"input":200,"output":7,"cacheRead":800,"cacheWrite":24,"totalTokens":1031}}}\n'
    )
    _write_session(tmp_path, line)
    report = parse_session_files(tmp_path / SESSION_DIR)
    assert (report.prompt_tokens, report.completion_tokens) == (1024, 7)


def test_parse_prefers_the_session_file(tmp_path):
    _write_session(tmp_path)
    report = tui_report("pi", "Done: src/lib.rs now propagates errors.\n", tmp_path)
    assert (report.source, report.prompt_tokens, report.completion_tokens) == ("TUI session file", 2006, 100)
    assert tui_source("pi") == "TUI session file"


def test_json_mode_stdout_counts_message_end_only(tmp_path):
    report = parse_json_events(JSON_EVENTS)
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens) == ("TUI stdout", 608, 23)
    assert tui_report("pi", JSON_EVENTS, tmp_path).prompt_tokens == 608


def test_a_line_cut_short_by_a_timeout_is_skipped(tmp_path):
    _write_session(tmp_path, SESSION + '{"type":"message","message":{"role":"assistant","usage":{"inp')
    assert parse_session_files(tmp_path / SESSION_DIR).prompt_tokens == 2006


def test_nothing_to_read_is_none(tmp_path):
    assert tui_report("pi", "Done.\n", tmp_path) is None
    _write_session(tmp_path, SESSION.splitlines()[0] + "\n")
    assert tui_report("pi", "", tmp_path) is None
