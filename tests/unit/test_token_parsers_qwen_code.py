"""Qwen Code's own token counts, from the messages qwen 0.24.4 prints with --output-format stream-json or json."""

from __future__ import annotations

from cab_check.token_parsers import tui_report, tui_source
from cab_check.token_parsers.qwen_code import parse_messages

# Real `qwen --yolo --output-format stream-json "…"` stdout from a cell with the reference model (read_file,
# edit, then text); tool arguments and results are trimmed, and the result's per-model stats left out.
STREAM_JSON = """\
{"type":"system","subtype":"init","uuid":"e7843c56-9a34-49c4-b3ca-3486a040da29","session_id":"e7843c56-9a34-49c4-b3ca-3486a040da29","cwd":"/work","model":"cab-reference","permission_mode":"yolo","qwen_code_version":"0.24.4"}
{"type":"stream_event","uuid":"9fdb3339-1d60-497c-abe7-18312d487203","session_id":"e7843c56-9a34-49c4-b3ca-3486a040da29","parent_tool_use_id":null,"event":{"type":"goal_state","goal_state":{"v":2,"goal":null,"activity":"idle"}}}
{"type":"assistant","uuid":"f98754e4-1014-49a2-ac2f-8b7d8346856b","session_id":"e7843c56-9a34-49c4-b3ca-3486a040da29","parent_tool_use_id":null,"message":{"id":"f98754e4-1014-49a2-ac2f-8b7d8346856b","type":"message","role":"assistant","model":"cab-reference","content":[{"type":"tool_use","id":"call_c452faa0c2424606a114a85d","name":"read_file","input":{"file_path":"/work/src/lib.rs"}}],"stop_reason":"tool_use","usage":{"input_tokens":18472,"output_tokens":17,"cache_read_input_tokens":0,"total_tokens":18489}}}
{"type":"user","uuid":"b8cd375c-747f-4fbc-8fbd-958a056cd884","session_id":"e7843c56-9a34-49c4-b3ca-3486a040da29","parent_tool_use_id":null,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_c452faa0c2424606a114a85d","is_error":false,"content":"//! Reads the comma-separated numbers a …"}]}}
{"type":"assistant","uuid":"41a28196-baf3-4ae5-8458-9870f16f9649","session_id":"e7843c56-9a34-49c4-b3ca-3486a040da29","parent_tool_use_id":null,"message":{"id":"41a28196-baf3-4ae5-8458-9870f16f9649","type":"message","role":"assistant","model":"cab-reference","content":[{"type":"tool_use","id":"call_6cbf43abba214f3dadcc4289","name":"edit","input":{"file_path":"/work/src/lib.rs","old_string":"//! Reads the comma-separated numbers a …","new_string":"//! Reads the comma-separated numbers a …"}}],"stop_reason":"tool_use","usage":{"input_tokens":19144,"output_tokens":1698,"cache_read_input_tokens":0,"total_tokens":20842}}}
{"type":"user","uuid":"ee9419a6-5b44-4d29-9aec-ab85f58ed4a6","session_id":"e7843c56-9a34-49c4-b3ca-3486a040da29","parent_tool_use_id":null,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_6cbf43abba214f3dadcc4289","is_error":false,"content":"The file: /work/src/lib.rs has been upda…"}]}}
{"type":"assistant","uuid":"ef82ec0d-0bc5-4527-8c29-7ac518517c95","session_id":"e7843c56-9a34-49c4-b3ca-3486a040da29","parent_tool_use_id":null,"message":{"id":"ef82ec0d-0bc5-4527-8c29-7ac518517c95","type":"message","role":"assistant","model":"cab-reference","content":[{"type":"text","text":"I am the cab-check reference model: the reference fix is applied to src/lib.rs."}],"stop_reason":null,"usage":{"input_tokens":20985,"output_tokens":21,"cache_read_input_tokens":0,"total_tokens":21006}}}
{"type":"result","subtype":"success","uuid":"534c4d01-56d5-456a-a41a-4b28e1fabcb1","session_id":"e7843c56-9a34-49c4-b3ca-3486a040da29","is_error":false,"duration_ms":503,"duration_api_ms":413,"num_turns":3,"result":"I am the cab-check reference model: the reference fix is applied to src/lib.rs.","usage":{"input_tokens":58601,"output_tokens":1736,"cache_read_input_tokens":0,"total_tokens":60337},"permission_denials":[]}
"""

# Real `--output-format json` stdout (one array, printed at the end) against a scripted endpoint whose
# write_file call qwen refused because the file had not been read first; arguments and results trimmed.
JSON_ARRAY = (
    '[{"type":"assistant","uuid":"a4771e97-a71e-4839-9a1b-3145808e6eef","session_id":"6908898a-61ac-4ab4-9a7a-3d4c5de9a1d3","parent_tool_use_id":null,"message":{"id":"a4771e97-a71e-4839-9a1b-3145808e6eef","type":"message","role":"assistant","model":"cab-reference","content":[{"type":"tool_use","id":"call_ca69eec9","name":"write_file","input":{"file_path":"/work/src/lib.rs","content":"//! Reads the comma-separated numbers a …"}}],"stop_reason":"tool_use","usage":{"input_tokens":1002,"output_tokens":50,"cache_read_input_tokens":0,"total_tokens":1052}}},{"type":"user","uuid":"813a6441-1538-4e02-a8ca-0d7a27527a6e","session_id":"6908898a-61ac-4ab4-9a7a-3d4c5de9a1d3","parent_tool_use_id":null,"message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_ca69eec9","is_error":true,"content":"File /work/src/lib.rs has not been read in this session. Use…"}]}},{"type":"assistant","uuid":"4b18a119-0c2c-4725-8fb2-71511cf93305","session_id":"6908898a-61ac-4ab4-9a7a-3d4c5de9a1d3","parent_tool_use_id":null,"message":{"id":"4b18a119-0c2c-4725-8fb2-71511cf93305","type":"message","role":"assistant","model":"cab-reference","content":[{"type":"text","text":"Done: src/lib.rs now propagates errors."}],"stop_reason":null,"usage":{"input_tokens":1004,"output_tokens":50,"cache_read_input_tokens":0,"total_tokens":1054}}},{"type":"result","subtype":"success","uuid":"e87e8580-c561-432e-b908-0e1c133d2dab","session_id":"6908898a-61ac-4ab4-9a7a-3d4c5de9a1d3","is_error":false,"duration_ms":420,"duration_api_ms":348,"num_turns":2,"result":"Done: src/lib.rs now propagates errors.","usage":{"input_tokens":2006,"output_tokens":100,"cache_read_input_tokens":0,"total_tokens":2106},"permission_denials":[]}]'
    "\n"
)


def test_stream_json_reads_the_result_totals(tmp_path):
    report = tui_report("qwen_code", STREAM_JSON, tmp_path)
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens, report.exact) == (
        "TUI stdout",
        58601,
        1736,
        True,
    )
    assert tui_source("qwen_code") == "TUI stdout"


def test_json_array_output():
    report = parse_messages(JSON_ARRAY)
    assert (report.prompt_tokens, report.completion_tokens) == (2006, 100)


def test_without_a_result_the_assistant_turns_are_summed():
    # A run cut off by the timeout prints no result line; each assistant message has its request's usage.
    cut = "\n".join(line for line in STREAM_JSON.splitlines() if '"type":"result"' not in line)
    report = parse_messages(cut)
    assert (report.prompt_tokens, report.completion_tokens) == (18472 + 19144 + 20985, 17 + 1698 + 21)


def test_cached_tokens_are_part_of_input_not_added():
    line = (
        '{"type":"result","subtype":"success","is_error":false,'
        '"usage":{"input_tokens":1000,"output_tokens":20,"cache_read_input_tokens":800,"total_tokens":1020}}'
    )
    report = parse_messages("Warning: running headless\n" + line)
    assert (report.prompt_tokens, report.completion_tokens) == (1000, 20)


def test_nothing_to_read_is_none(tmp_path):
    assert parse_messages("") is None
    assert parse_messages(STREAM_JSON.splitlines()[0]) is None
    assert tui_report("qwen_code", "[API Error: Connection error.]\n", tmp_path) is None
