"""Copilot CLI's own usage, read from the events.jsonl Copilot 1.0.63 keeps under COPILOT_HOME={out}/copilot."""

from __future__ import annotations

from cab_check.token_parsers import tui_report, tui_source
from cab_check.token_parsers.copilot import SESSION_DIR, parse_session_files, parse_stats_block

# A real session (`copilot -p … --allow-all` in BYOK mode against the reference model: view, edit, then text),
# trimmed to the events that matter here and with the edit's long strings cut. The proxy counted the same
# three calls as 42,503 prompt + 1,736 completion tokens.
EVENTS = """\
{"type":"session.start","data":{"sessionId":"f8287109-0e48-4e7d-968d-579c07b33073","version":1,"producer":"copilot-agent","copilotVersion":"1.0.63","startTime":"2026-11-22T21:41:40.723Z","contextTier":null,"context":{"cwd":"/work","gitRoot":"/work","branch":"main","headCommit":"369b764e0cf97d5efaf86766a9da5362e9ea1e36"},"alreadyInUse":false,"remoteSteerable":false},"id":"74d3753c-bff1-4435-954a-7a97ec56e884","timestamp":"2026-11-22T21:41:40.772Z","parentId":null}
{"type":"session.model_change","data":{"newModel":"cab-reference","reasoningEffort":null,"contextTier":null},"id":"446f35c9-5f2b-4b7f-9432-c8f29c18a66b","timestamp":"2026-11-22T21:41:40.807Z","parentId":"74d3753c-bff1-4435-954a-7a97ec56e884"}
{"type":"assistant.message","data":{"messageId":"83147871-db0a-4b18-9610-876b25aaa7a9","model":"cab-reference","content":"","toolRequests":[{"toolCallId":"call_574bac67ba834cfc80bec78b","name":"view","arguments":{"path":"/work/src/lib.rs"},"type":"function","intentionSummary":"view the file at /work/src/lib.rs."}],"interactionId":"9f1fd2d3-6124-4f1c-8b5e-99ec48c5d170","turnId":"0","outputTokens":17,"apiCallId":"chatcmpl-597b78771e374c5db861acba"},"id":"f732b034-2d3b-4341-af0c-62930fab5c24","timestamp":"2026-11-22T21:41:41.079Z","parentId":"157fde28-2ea4-4290-8dd1-1e50285dd59a"}
{"type":"assistant.message","data":{"messageId":"fe400b80-8eda-4fa4-bb54-bfdb6f93f9aa","model":"cab-reference","content":"","toolRequests":[{"toolCallId":"call_6cd1fb95b7f84a1ca3d3bc8d","name":"edit","arguments":{"path":"/work/src/lib.rs","old_str":"//! Reads the comma-separated numbers a \\u2026","new_str":"//! Reads the comma-separated numbers a \\u2026"},"type":"function","intentionSummary":"edit the file at /work/src/lib.rs."}],"interactionId":"9f1fd2d3-6124-4f1c-8b5e-99ec48c5d170","turnId":"1","outputTokens":1698,"apiCallId":"chatcmpl-14e49de7fc80428db6975f55"},"id":"34e810a2-6ca5-4c41-8bb6-3a259a2ba77b","timestamp":"2026-11-22T21:41:41.186Z","parentId":"74d806dc-073e-43be-af64-93bb08a335f5"}
{"type":"assistant.message","data":{"messageId":"a18e8545-8de0-40fd-9e25-849db70860b5","model":"cab-reference","content":"I am the cab-check reference model: the reference fix is applied to src/lib.rs.","toolRequests":[],"interactionId":"9f1fd2d3-6124-4f1c-8b5e-99ec48c5d170","turnId":"2","outputTokens":21,"apiCallId":"chatcmpl-b309d430cdd541d780f022cf"},"id":"65eec583-9e5d-405f-a25e-78e7affd9448","timestamp":"2026-11-22T21:41:41.266Z","parentId":"2a9f8bbb-781b-41c7-b299-c4b4db25f6dd"}
{"type":"session.shutdown","data":{"shutdownType":"routine","totalPremiumRequests":0,"totalNanoAiu":0,"totalApiDurationMs":158,"sessionStartTime":1795383700723,"eventsFileSizeBytes":58202,"codeChanges":{"linesAdded":5,"linesRemoved":2,"filesModified":["/work/src/lib.rs"]},"modelMetrics":{"cab-reference":{"requests":{"count":3,"cost":0},"usage":{"inputTokens":42503,"outputTokens":1736,"cacheReadTokens":0,"cacheWriteTokens":0,"reasoningTokens":0},"totalNanoAiu":0}},"currentModel":"cab-reference","currentTokens":13899,"systemTokens":5295,"conversationTokens":2357,"toolDefinitionsTokens":6244},"id":"941968a0-fd77-4e99-b047-bd1b693f3a3b","timestamp":"2026-11-22T21:41:41.336Z","parentId":"6427d5a0-b8f6-413c-becd-91017387c81a"}
"""

# The same run's stdout (the stats block Copilot prints at exit, without -s).
STDOUT = """\
● Read lib.rs
  │ src/lib.rs
  └ 75 lines read

● Edit lib.rs +5 -2
  └ src/lib.rs

I am the cab-check reference model: the reference fix is applied to src/lib.rs.



Changes    +5 -2
Duration   0s
Tokens     ↑ 42.5k • ↓ 1.7k
"""


def _write_events(out_dir, text=EVENTS, session="f8287109-0e48-4e7d-968d-579c07b33073"):
    folder = out_dir / SESSION_DIR / session
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.jsonl").write_text(text, encoding="utf-8")


def test_shutdown_metrics_give_the_exact_totals(tmp_path):
    _write_events(tmp_path)
    report = parse_session_files(tmp_path / SESSION_DIR)
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens, report.exact) == (
        "TUI session file",
        42503,
        1736,
        True,
    )


def test_cache_and_reasoning_are_breakdowns_not_added(tmp_path):
    line = (
        '{"type":"session.shutdown","data":{"modelMetrics":{"m":{"requests":{"count":2,"cost":0},'
        '"usage":{"inputTokens":1000,"outputTokens":50,"cacheReadTokens":800,"cacheWriteTokens":0,'
        '"reasoningTokens":20}},"small":{"usage":{"inputTokens":10,"outputTokens":5}}}}}\n'
    )
    _write_events(tmp_path, line)
    report = parse_session_files(tmp_path / SESSION_DIR)
    assert (report.prompt_tokens, report.completion_tokens) == (1010, 55)


def test_stats_block_is_the_rounded_fallback():
    report = parse_stats_block(STDOUT)
    assert (report.source, report.prompt_tokens, report.completion_tokens, report.exact) == (
        "TUI stdout",
        42500,
        1700,
        False,
    )


def test_parse_prefers_the_session_file(tmp_path):
    _write_events(tmp_path)
    report = tui_report("copilot", STDOUT, tmp_path)
    assert (report.source, report.prompt_tokens, report.exact) == ("TUI session file", 42503, True)
    assert tui_source("copilot") == "TUI session file"


def test_a_killed_run_without_shutdown_falls_back_to_stdout(tmp_path):
    _write_events(tmp_path, EVENTS.rsplit('{"type":"session.shutdown"', 1)[0])
    assert tui_report("copilot", STDOUT, tmp_path).source == "TUI stdout"
    assert tui_report("copilot", "no stats here", tmp_path) is None
