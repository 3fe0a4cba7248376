"""opencode's own token counts, from the step_finish events `opencode run --format json` (1.18.33) prints."""

from __future__ import annotations

from cab_check.token_parsers import tui_report, tui_source
from cab_check.token_parsers.opencode import parse_step_tokens

# Real stdout of `opencode run --format json -m cab/cab-reference "…"` against a scripted endpoint that answered
# with one write tool call and then text; the written file's content and the tool's result are trimmed.
STDOUT = """\
{"type":"step_start","timestamp":1795383120341,"sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","part":{"id":"prt_2052c51c2001NBNVFxDp20HhS6","messageID":"msg_2052c4e4f001k0pXmomtSNWWAA","sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","snapshot":"13eaa7a62409f107293e8fc195b9513b6a63643a","type":"step-start"}}
{"type":"tool_use","timestamp":1795383120366,"sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","part":{"type":"tool","tool":"write","callID":"call_02c166a4","state":{"status":"completed","input":{"filePath":"/work/src/lib.rs","content":"//! Reads the comma-separated numbers a user types…"}},"id":"prt_2052c51c60014zR7DgnC2eZQZr","sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","messageID":"msg_2052c4e4f001k0pXmomtSNWWAA"}}
{"type":"step_finish","timestamp":1795383120441,"sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","part":{"id":"prt_2052c5234001Q0p8gWMs0HXBmR","reason":"tool-calls","snapshot":"3e41595f5f43112a8f2132e78a8d6a90a937f070","messageID":"msg_2052c4e4f001k0pXmomtSNWWAA","sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","type":"step-finish","tokens":{"total":1052,"input":1002,"output":50,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0}}
{"type":"step_start","timestamp":1795383120613,"sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","part":{"id":"prt_2052c52dc001Tf7s7aAaVj3RVx","messageID":"msg_2052c5287001sjYKs6j1kX6Tx6","sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","snapshot":"3e41595f5f43112a8f2132e78a8d6a90a937f070","type":"step-start"}}
{"type":"text","timestamp":1795383120613,"sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","part":{"id":"prt_2052c52df001PeVrnSmDs8m5KV","messageID":"msg_2052c5287001sjYKs6j1kX6Tx6","sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","type":"text","text":"Done: src/lib.rs now propagates errors.","time":{"start":1795383120607,"end":1795383120610}}}
{"type":"step_finish","timestamp":1795383120749,"sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","part":{"id":"prt_2052c53590011o8TghZg8CCo1v","reason":"stop","snapshot":"3e41595f5f43112a8f2132e78a8d6a90a937f070","messageID":"msg_2052c5287001sjYKs6j1kX6Tx6","sessionID":"ses_dfad3b4a3ffes3lmgN8kODE2IO","type":"step-finish","tokens":{"total":1054,"input":1004,"output":50,"reasoning":0,"cache":{"write":0,"read":0}},"cost":0}}
"""


def test_step_finish_events_are_summed(tmp_path):
    report = tui_report("opencode", STDOUT, tmp_path)
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens, report.exact) == (
        "TUI stdout",
        2006,
        100,
        True,
    )
    assert tui_source("opencode") == "TUI stdout"


def test_cache_and_reasoning_add_back_to_the_endpoints_counts():
    # opencode subtracts cached tokens from input and reasoning from output; the proxy counts them in.
    line = (
        '{"type":"step_finish","part":{"type":"step-finish","reason":"stop","tokens":{"total":1300,'
        '"input":200,"output":40,"reasoning":60,"cache":{"write":24,"read":976}},"cost":0}}'
    )
    report = parse_step_tokens(line)
    assert (report.prompt_tokens, report.completion_tokens) == (1200, 100)


def test_log_lines_and_cut_lines_are_skipped():
    noisy = (
        "timestamp=2026-11-22T21:31:58Z level=INFO message=init\n"
        + STDOUT
        + '{"type":"step_finish","part":{"tokens":{"input":9'
    )
    assert parse_step_tokens(noisy).prompt_tokens == 2006


def test_no_step_finish_is_none(tmp_path):
    assert parse_step_tokens("") is None
    assert parse_step_tokens(STDOUT.splitlines()[0]) is None
    assert tui_report("opencode", "Error: provider not found\n", tmp_path) is None
