"""Codex CLI's own usage, read from the turn.completed events `codex exec --json` 0.169.0 prints."""

from __future__ import annotations

from cab_check.token_parsers import tui_report, tui_source
from cab_check.token_parsers.codex import parse_turn_usage

# Real stdout + stderr of `codex exec --json …` against the reference model through the proxy's Responses
# translation (one exec_command call writing the fix, then text), the command's heredoc cut short. The proxy
# counted the same two calls as 8,961 + 9,874 = 18,835 prompt and 884 + 21 = 905 completion tokens.
OUTPUT = """\
{"type":"thread.started","thread_id":"01a20536-bfd2-7681-8e6c-7ff3dac10d53"}
{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `cab-reference` not found. Defaulting to fallback metadata; this can degrade performance and cause issues."}}
{"type":"turn.started"}
{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"/bin/sh -lc \\"mkdir -p /work/src && cat > /work/src/lib.rs <<\\u2026","aggregated_output":"","exit_code":null,"status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/sh -lc \\"mkdir -p /work/src && cat > /work/src/lib.rs <<\\u2026","aggregated_output":"","exit_code":0,"status":"completed"}}
{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"I am the cab-check reference model: the reference fix is applied to src/lib.rs."}}
{"type":"turn.completed","usage":{"input_tokens":18835,"cached_input_tokens":0,"cache_write_input_tokens":0,"output_tokens":905,"reasoning_output_tokens":0}}
Reading additional input from stdin...
"""


def test_turn_completed_gives_the_exact_totals():
    report = parse_turn_usage(OUTPUT)
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens, report.exact) == (
        "TUI stdout",
        18835,
        905,
        True,
    )


def test_cached_and_reasoning_tokens_are_parts_not_added():
    line = (
        '{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":800,'
        '"cache_write_input_tokens":0,"output_tokens":60,"reasoning_output_tokens":40}}\n'
    )
    report = parse_turn_usage(line + line)
    assert (report.prompt_tokens, report.completion_tokens) == (2000, 120)


def test_no_completed_turn_is_no_report(tmp_path):
    failed = OUTPUT.rsplit('{"type":"turn.completed"', 1)[0] + '{"type":"turn.failed","error":{"message":"boom"}}\n'
    assert tui_report("codex", failed, tmp_path) is None
    assert tui_report("codex", OUTPUT, tmp_path).prompt_tokens == 18835
    assert tui_source("codex") == "TUI stdout"
