"""OpenHands' own usage, read from what openhands_run.py (openhands-sdk 1.58.0) leaves in {out}."""

from __future__ import annotations

import json

from cab_check.token_parsers import tui_report, tui_source
from cab_check.token_parsers.openhands import (
    CONVERSATIONS_DIR,
    USAGE_FILE,
    parse_conversation_states,
    parse_usage_file,
)

# Real files from `python /opt/openhands_run.py -t … --workspace /work --out /cab/out` run by cab-check against
# the reference model (three replies: view src/lib.rs, str_replace in it, then a closing message).
# usage.json as the runner wrote it:
USAGE_JSON = """\
{
  "execution_status": "finished",
  "accumulated_token_usage": {
    "model": "default",
    "prompt_tokens": 22606,
    "completion_tokens": 1768,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "reasoning_tokens": 0,
    "context_window": 0,
    "per_turn_token": 0,
    "response_id": ""
  },
  "accumulated_cost": 0.0,
  "llm_calls": 3,
  "usage_to_metrics": {
    "agent": {
      "model": "openai/cab-reference",
      "accumulated_token_usage": {
        "model": "openai/cab-reference",
        "prompt_tokens": 22606,
        "completion_tokens": 1768,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "context_window": 0,
        "per_turn_token": 9504,
        "response_id": ""
      },
      "accumulated_cost": 0.0,
      "llm_calls": 3
    },
    "condenser": {
      "model": "openai/cab-reference",
      "accumulated_token_usage": {
        "model": "openai/cab-reference",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "context_window": 0,
        "per_turn_token": 0,
        "response_id": ""
      },
      "accumulated_cost": 0.0,
      "llm_calls": 0
    }
  }
}
"""

# conversations/<id>/base_state.json as the SDK persisted it, cut to its stats; each LLM's response_latencies and
# token_usages (one entry per reply) keep only their first entry.
CONVERSATION_ID = "82ff837dff4f4aad871bb4bf8a4dd7c2"
BASE_STATE = """\
{"id": "82ff837d-ff4f-4aad-871b-b4bf8a4dd7c2", "execution_status": "finished", "max_iterations": 100,
 "stats": {"usage_to_metrics": {
  "agent": {"model_name": "openai/cab-reference", "accumulated_cost": 0.0, "accumulated_token_usage": {"model": "openai/cab-reference", "prompt_tokens": 22606, "completion_tokens": 1768, "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "context_window": 0, "per_turn_token": 9504, "response_id": ""}, "costs": [], "response_latencies": [{"model": "openai/cab-reference", "latency": 0.6789789199829102, "response_id": "chatcmpl-8328962bb3134bc183ccb50f"}], "token_usages": [{"model": "openai/cab-reference", "prompt_tokens": 6169, "completion_tokens": 33, "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "context_window": 0, "per_turn_token": 6202, "response_id": "chatcmpl-8328962bb3134bc183ccb50f"}]},
  "condenser": {"model_name": "openai/cab-reference", "accumulated_cost": 0.0, "accumulated_token_usage": {"model": "openai/cab-reference", "prompt_tokens": 0, "completion_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "context_window": 0, "per_turn_token": 0, "response_id": ""}, "costs": [], "response_latencies": [], "token_usages": []}}}}
"""


def _write(out_dir, usage=USAGE_JSON, state=BASE_STATE):
    if usage is not None:
        (out_dir / USAGE_FILE).write_text(usage, encoding="utf-8")
    if state is not None:
        folder = out_dir / CONVERSATIONS_DIR / CONVERSATION_ID
        folder.mkdir(parents=True)
        (folder / "base_state.json").write_text(state, encoding="utf-8")


def test_usage_file_gives_the_accumulated_usage_of_the_conversation(tmp_path):
    _write(tmp_path, state=None)
    report = parse_usage_file(tmp_path / USAGE_FILE)
    assert report is not None
    assert (report.source, report.prompt_tokens, report.completion_tokens, report.exact) == (
        "TUI session file",
        22606,
        1768,
        True,
    )


def test_usage_file_without_a_total_sums_its_llms(tmp_path):
    usage = json.loads(USAGE_JSON)
    del usage["accumulated_token_usage"]
    usage["usage_to_metrics"]["condenser"]["accumulated_token_usage"].update(prompt_tokens=900, completion_tokens=80)
    _write(tmp_path, usage=json.dumps(usage), state=None)
    report = parse_usage_file(tmp_path / USAGE_FILE)
    assert (report.prompt_tokens, report.completion_tokens) == (22606 + 900, 1768 + 80)


def test_persisted_conversation_state_when_the_runner_left_no_usage_file(tmp_path):
    # A run killed at the timeout: the runner never wrote usage.json, the SDK had persisted its stats.
    _write(tmp_path, usage=None)
    report = parse_conversation_states(tmp_path / CONVERSATIONS_DIR)
    assert (report.source, report.prompt_tokens, report.completion_tokens) == ("TUI session file", 22606, 1768)
    assert tui_report("openhands", "", tmp_path) == report


def test_nothing_readable_is_no_report(tmp_path):
    assert tui_report("openhands", "", tmp_path) is None
    _write(tmp_path, usage=USAGE_JSON[:200], state="{")
    assert tui_report("openhands", "", tmp_path) is None


def test_parse_prefers_the_usage_file(tmp_path):
    state = json.loads(BASE_STATE)
    state["stats"]["usage_to_metrics"]["agent"]["accumulated_token_usage"]["prompt_tokens"] = 1
    _write(tmp_path, state=json.dumps(state))
    report = tui_report("openhands", "openhands_run: finished; 3 LLM calls\n", tmp_path)
    assert (report.prompt_tokens, report.completion_tokens) == (22606, 1768)
    assert tui_source("openhands") == "TUI session file"
