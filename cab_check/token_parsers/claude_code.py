"""Claude Code's own usage, from the result object `claude -p … --output-format json` prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cab_check.models import TokenReport
from cab_check.token_parsers.base import TokenParser
from cab_check.token_parsers.base import count as _count

# claude 2.1.330 in print mode with --output-format json prints one JSON object at the end:
#   {"type":"result","subtype":"success"|"error_…", …, "usage":{"input_tokens","cache_creation_input_tokens",
#    "cache_read_input_tokens","output_tokens",…}, "modelUsage":{"<model>":{"inputTokens","outputTokens",
#    "cacheReadInputTokens","cacheCreationInputTokens",…}}, "num_turns", "total_cost_usd", …}
# summed over the run's model calls; modelUsage has every model Claude Code used (the small/fast one and
# subagents included), so it is read first. Anthropic counts cache reads and writes apart from input_tokens (the
# proxy's translation reports the chat answer's cached prompt tokens as cache_read_input_tokens and the rest as
# input_tokens), so the three add up to the endpoint's prompt_tokens. total_cost_usd is priced as a Claude model
# and means nothing for other models; it is not read.
SOURCE = "TUI stdout"


def _result_object(output: str) -> dict[str, Any] | None:
    # The host reads stdout then stderr as one text: raw_decode tolerates what may follow the object on its line.
    for line in reversed(output.splitlines()):
        line = line.strip()
        if not line.startswith("{") or '"result"' not in line:
            continue
        try:
            event, _ = json.JSONDecoder().raw_decode(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("type") == "result":
            return event
    return None


def parse_result(output: str) -> TokenReport | None:
    result = _result_object(output)
    if result is None:
        return None
    models = result.get("modelUsage")
    if isinstance(models, dict) and any(isinstance(m, dict) for m in models.values()):
        prompt = completion = 0
        for m in models.values():
            if isinstance(m, dict):
                prompt += sum(
                    _count(m.get(k)) for k in ("inputTokens", "cacheReadInputTokens", "cacheCreationInputTokens")
                )
                completion += _count(m.get("outputTokens"))
    elif isinstance(result.get("usage"), dict):
        usage = result["usage"]
        prompt = sum(
            _count(usage.get(k)) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        )
        completion = _count(usage.get("output_tokens"))
    else:
        return None
    return TokenReport(source=SOURCE, prompt_tokens=prompt, completion_tokens=completion, exact=True)


def parse(output: str, out_dir: Path) -> TokenReport | None:
    return parse_result(output)


PARSER = TokenParser(source=SOURCE, parse=parse)
