"""mini-swe-agent's own usage, read from the trajectory mini-swe-agent 2.4.6 saves at {out}/traj.json."""

from __future__ import annotations

import json

from cab_check.token_parsers import tui_report, tui_source
from cab_check.token_parsers.mini_swe_agent import TRAJECTORY, parse_trajectory

# A real trajectory from `mini -y --exit-immediately -m openai/cab-reference … -o /cab/out/traj.json` run by
# cab-check against the reference model (one bash call writing src/lib.rs, then the submit command). The system
# and task texts, the info.config block and the written file's content are trimmed.
TRAJECTORY_TEXT = """\
{"info": {"model_stats": {"instance_cost": 0.0, "api_calls": 2}, "mini_version": "2.4.6", "exit_status": "Submitted", "submission": ""},
 "messages": [
  {"role": "system", "content": "You are a helpful assistant that can interact with a compute…"},
  {"role": "user", "content": "Please solve this issue: Function uses unwrap on user input;…"},
  {"content": null, "role": "assistant", "tool_calls": [{"function": {"arguments": "{\\"command\\": \\"mkdir -p /work/src && cat > /work/src/lib.rs <<…\\"}", "name": "bash"}, "id": "call_7598ef69f27346c2b093ac8f", "type": "function"}], "function_call": null, "provider_specific_fields": {"refusal": null}, "extra": {"actions": [{"command": "mkdir -p /work/src && cat > /work/src/lib.rs <<'CAB_EOF'\\n//!…", "tool_call_id": "call_7598ef69f27346c2b093ac8f"}], "response": {"id": "chatcmpl-28ee63c46d9449ebbcced04f", "created": 1795383674, "model": "cab-reference", "object": "chat.completion", "system_fingerprint": null, "choices": [{"finish_reason": "tool_calls", "index": 0, "message": {"content": null, "role": "assistant", "tool_calls": [{"function": {"arguments": "{\\"command\\": \\"mkdir -p /work/src && cat > /work/src/lib.rs <<…\\"}", "name": "bash"}, "id": "call_7598ef69f27346c2b093ac8f", "type": "function"}], "function_call": null, "provider_specific_fields": {"refusal": null}}, "provider_specific_fields": {}}], "usage": {"completion_tokens": 884, "prompt_tokens": 770, "total_tokens": 1654, "completion_tokens_details": null, "prompt_tokens_details": null}, "moderation": null, "service_tier": null}, "cost": 0.0, "timestamp": 1795383674.3721213}},
  {"content": "{\\n  \\"returncode\\": 0,\\n  \\"output\\": \\"\\"\\n}", "extra": {"raw_output": "", "returncode": 0, "timestamp": 1795383674.382461, "exception_info": ""}, "tool_call_id": "call_7598ef69f27346c2b093ac8f", "role": "tool"},
  {"content": null, "role": "assistant", "tool_calls": [{"function": {"arguments": "{\\"command\\": \\"echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\\"}", "name": "bash"}, "id": "call_ada70c73de5d43f59bb6afbd", "type": "function"}], "function_call": null, "provider_specific_fields": {"refusal": null}, "extra": {"actions": [{"command": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "tool_call_id": "call_ada70c73de5d43f59bb6afbd"}], "response": {"id": "chatcmpl-c8c39e712b014731a8d665a8", "created": 1795383674, "model": "cab-reference", "object": "chat.completion", "system_fingerprint": null, "choices": [{"finish_reason": "tool_calls", "index": 0, "message": {"content": null, "role": "assistant", "tool_calls": [{"function": {"arguments": "{\\"command\\": \\"echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\\"}", "name": "bash"}, "id": "call_ada70c73de5d43f59bb6afbd", "type": "function"}], "function_call": null, "provider_specific_fields": {"refusal": null}}, "provider_specific_fields": {}}], "usage": {"completion_tokens": 11, "prompt_tokens": 1674, "total_tokens": 1685, "completion_tokens_details": null, "prompt_tokens_details": null}, "moderation": null, "service_tier": null}, "cost": 0.0, "timestamp": 1795383674.3961098}},
  {"content": "{\\n  \\"returncode\\": -1,\\n  \\"output\\": \\"\\", \\"exception_info\\": \\"action was not executed\\"\\n}", "extra": {"raw_output": "", "returncode": -1, "timestamp": 1795383674.4016213, "exception_info": "action was not executed"}, "tool_call_id": "call_ada70c73de5d43f59bb6afbd", "role": "tool"},
  {"role": "exit", "content": "", "extra": {"exit_status": "Submitted", "submission": ""}}
 ], "trajectory_format": "mini-swe-agent-1.1"}
"""


def _write(out_dir, text=TRAJECTORY_TEXT):
    (out_dir / TRAJECTORY).write_text(text, encoding="utf-8")


def test_trajectory_sums_the_usage_of_every_model_reply(tmp_path):
    _write(tmp_path)
    report = parse_trajectory(tmp_path / TRAJECTORY)
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens, report.exact) == (
        "TUI session file",
        770 + 1674,
        884 + 11,
        True,
    )


def test_a_reply_that_broke_the_tool_format_still_counts(tmp_path):
    # litellm_model.query() keeps the response of a reply without a valid tool call on the "user" message
    # reporting the format error (extra.interrupt_type = "FormatError"), not on an assistant message.
    trajectory = json.loads(TRAJECTORY_TEXT)
    trajectory["messages"].insert(
        2,
        {
            "role": "user",
            "content": "Tool call error: …",
            "extra": {
                "interrupt_type": "FormatError",
                "cost": 0.0,
                "response": {"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 5}},
            },
        },
    )
    _write(tmp_path, json.dumps(trajectory))
    report = parse_trajectory(tmp_path / TRAJECTORY)
    assert (report.prompt_tokens, report.completion_tokens) == (770 + 1674 + 100, 884 + 11 + 5)


def test_no_trajectory_or_a_broken_one_is_no_report(tmp_path):
    assert parse_trajectory(tmp_path / TRAJECTORY) is None
    _write(tmp_path, TRAJECTORY_TEXT[:500])
    assert parse_trajectory(tmp_path / TRAJECTORY) is None
    _write(tmp_path, json.dumps({"info": {}, "messages": [{"role": "system", "content": "x"}]}))
    assert parse_trajectory(tmp_path / TRAJECTORY) is None


def test_parse_reads_the_trajectory_in_out(tmp_path):
    _write(tmp_path)
    report = tui_report("mini_swe_agent", "Saved trajectory to '/cab/out/traj.json'\n", tmp_path)
    assert (report.source, report.prompt_tokens, report.completion_tokens) == ("TUI session file", 2444, 895)
    assert tui_source("mini_swe_agent") == "TUI session file"
