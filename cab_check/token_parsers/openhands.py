"""OpenHands' own usage, from what its runner (resources/tuis/openhands/openhands_run.py) leaves in {out}."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cab_check.models import TokenReport
from cab_check.token_parsers.base import TokenParser

# The OpenHands SDK (1.58, openhands/sdk/llm/utils/metrics.py) keeps one Metrics per LLM of a conversation, by
# usage_id ("agent"; "condenser" when the history is summarized), each with an accumulated_token_usage
# {prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, …} summed from the
# endpoint's own usage of every reply (prompt_tokens as the endpoint sent it, cached tokens included).
# The runner writes at the end
#   usage.json: {"execution_status", "accumulated_token_usage" (all LLMs combined), "accumulated_cost",
#                "llm_calls", "usage_to_metrics": {usage_id: {"model", "accumulated_token_usage", …}}}
# and the SDK persists the conversation as it goes, its ConversationStats included:
#   conversations/<id>/base_state.json: {…, "stats": {"usage_to_metrics": {usage_id: {"accumulated_token_usage":
#                                        {…}, …}}}}
# which is read when there is no usage.json (the runner was killed at the timeout).
SOURCE = "TUI session file"
USAGE_FILE = "usage.json"
CONVERSATIONS_DIR = "conversations"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _report(usages: list[Any]) -> TokenReport | None:
    usages = [usage for usage in usages if isinstance(usage, dict)]
    if not usages:
        return None
    return TokenReport(
        source=SOURCE,
        prompt_tokens=sum(int(usage.get("prompt_tokens") or 0) for usage in usages),
        completion_tokens=sum(int(usage.get("completion_tokens") or 0) for usage in usages),
        exact=True,
    )


def _per_llm(usage_to_metrics: Any) -> list[Any]:
    if not isinstance(usage_to_metrics, dict):
        return []
    return [
        metrics.get("accumulated_token_usage") for metrics in usage_to_metrics.values() if isinstance(metrics, dict)
    ]


def parse_usage_file(path: Path) -> TokenReport | None:
    data = _load(path)
    if data is None:
        return None
    if isinstance(data.get("accumulated_token_usage"), dict):
        return _report([data["accumulated_token_usage"]])
    return _report(_per_llm(data.get("usage_to_metrics")))


def parse_conversation_states(conversations: Path) -> TokenReport | None:
    """Sums the stats of every conversation persisted under `conversations` (one per run)."""
    usages: list[Any] = []
    for path in sorted(conversations.glob("*/base_state.json")) if conversations.is_dir() else []:
        state = _load(path)
        stats = state.get("stats") if state else None
        if isinstance(stats, dict):
            usages += _per_llm(stats.get("usage_to_metrics"))
    return _report(usages)


def parse(output: str, out_dir: Path) -> TokenReport | None:
    return parse_usage_file(out_dir / USAGE_FILE) or parse_conversation_states(out_dir / CONVERSATIONS_DIR)


PARSER = TokenParser(source=SOURCE, parse=parse)
