"""Claude Code's own usage, read from the result object `claude -p … --output-format json` 2.1.330 prints."""

from __future__ import annotations

import json

from cab_check.token_parsers import tui_report, tui_source
from cab_check.token_parsers.claude_code import parse_result

# Real stdout + stderr of `claude -p … --output-format json --dangerously-skip-permissions` against the reference
# model through the proxy's Messages translation (Read, Edit, then text: three calls of 12,618 + 13,366 + 15,107
# prompt and 17 + 1,698 + 21 completion tokens, as the translated message_delta usage said).
OUTPUT = (
    '{"duration_api_ms":376,"stop_reason":"end_turn","session_id":"6307660c-a26e-4821-afe1-19a2aecfe81f",'
    '"total_cost_usd":0.248855,"usage":{"input_tokens":41091,"cache_creation_input_tokens":0,"cache_read_'
    'input_tokens":0,"output_tokens":1736,"output_tokens_details":{"thinking_tokens":0},"server_tool_use"'
    ':{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":{"ephem'
    'eral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"inference_geo":"","iterations":[],"speed":"s'
    'tandard","fallback_credit":null},"modelUsage":{"cab-reference":{"inputTokens":41091,"outputTokens":1'
    '736,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.248855,"'
    'contextWindow":1000000,"maxOutputTokens":32000,"thinkingTokens":0,"cacheCreationEphemeral5mInputToke'
    'ns":0,"cacheCreationEphemeral1hInputTokens":0,"canonicalModel":"cab-reference","provider":"firstPart'
    'y","costBasis":"unknown"}},"permission_denials":[],"terminal_reason":"completed","fast_mode_state":"'
    'off","fast_mode_disabled_reason":"sdk_opt_in_required","subagent_stats":{"spawned":0,"requested":{"b'
    'ackground":0,"foreground":0,"unset":0},"started_in_background":0,"max_depth":0,"spawned_by_subagents'
    '":0,"completed":0,"failed":0,"killed":{"parent":0,"user":0,"system":0},"refused":{"depth_limit":0,"c'
    'oncurrency_limit":0,"budget":0},"by_type":{}},"safety_stops":0,"is_error":false,"num_turns":3,"subty'
    'pe":"success","api_error_status":null,"result":"I am the cab-check reference model: the reference fi'
    'x is applied to src/lib.rs.","ttft_ms":405,"type":"result","duration_ms":672,"uuid":"be5e2999-02ea-4'
    '578-abf5-f9f446f9b5ae","ttft_stream_ms":377,"time_to_request_ms":221,"first_content_frame_ms":378,"q'
    'ueued_turn_count":0,"result_index":0}'
    "\n"
    '[claude-code:unrecognized_model] {"model":"cab-reference","query_source":"sdk"}\n'
)


def test_result_gives_the_exact_totals():
    report = parse_result(OUTPUT)
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens, report.exact) == (
        "TUI stdout",
        41091,
        1736,
        True,
    )


def test_cache_reads_and_writes_add_back_to_the_prompt():
    # Anthropic counts cache reads and writes apart from input_tokens; the endpoint's prompt_tokens is all three.
    result = {
        "type": "result",
        "subtype": "success",
        "usage": {
            "input_tokens": 200,
            "cache_creation_input_tokens": 24,
            "cache_read_input_tokens": 800,
            "output_tokens": 7,
        },
    }
    report = parse_result(json.dumps(result))
    assert (report.prompt_tokens, report.completion_tokens) == (1024, 7)


def test_model_usage_counts_every_model():
    result = {
        "type": "result",
        "usage": {"input_tokens": 100, "output_tokens": 10},
        "modelUsage": {
            "main": {"inputTokens": 100, "outputTokens": 10, "cacheReadInputTokens": 50},
            "small": {"inputTokens": 30, "outputTokens": 3, "cacheCreationInputTokens": 0},
        },
    }
    report = parse_result(json.dumps(result))
    assert (report.prompt_tokens, report.completion_tokens) == (180, 13)


def test_text_after_the_object_and_no_result(tmp_path):
    glued = OUTPUT.replace("}\n[claude-code", "}[claude-code")
    assert tui_report("claude_code", glued, tmp_path).prompt_tokens == 41091
    assert tui_report("claude_code", "Error: something went wrong\n", tmp_path) is None
    assert tui_source("claude_code") == "TUI stdout"
