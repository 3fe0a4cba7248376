"""Codex CLI's own usage, from the JSON events `codex exec --json` prints."""

from __future__ import annotations

from pathlib import Path

from cab_check.models import TokenReport
from cab_check.token_parsers.base import TokenParser, json_objects
from cab_check.token_parsers.base import count as _count

# codex exec 0.169 --json prints one JSON object a line; each turn ends with
#   {"type":"turn.completed","usage":{"input_tokens","cached_input_tokens","cache_write_input_tokens",
#    "output_tokens","reasoning_output_tokens"}}
# summed over every model call of the turn. Codex reads these from the Responses API usage the proxy returns,
# which carries the chat answer's prompt_tokens as input_tokens and completion_tokens as output_tokens; the cached
# and reasoning counts are parts of those two (OpenAI's convention), so they are not added. A turn that fails
# ends in "turn.failed" with no usage: that turn is in the proxy's count only.
SOURCE = "TUI stdout"


def parse_turn_usage(output: str) -> TokenReport | None:
    prompt = completion = 0
    found = False
    for event in json_objects(output.splitlines()):
        usage = event.get("usage")
        if event.get("type") != "turn.completed" or not isinstance(usage, dict):
            continue
        found = True
        prompt += _count(usage.get("input_tokens"))
        completion += _count(usage.get("output_tokens"))
    if not found:
        return None
    return TokenReport(source=SOURCE, prompt_tokens=prompt, completion_tokens=completion, exact=True)


def parse(output: str, out_dir: Path) -> TokenReport | None:
    return parse_turn_usage(output)


PARSER = TokenParser(source=SOURCE, parse=parse)
