"""Qwen Code's own token counts, from the messages `qwen --output-format stream-json` (or json) prints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cab_check.models import TokenReport
from cab_check.token_parsers.base import TokenParser
from cab_check.token_parsers.base import count as _count

# qwen 0.24 prints Claude-Code-style messages: stream-json one per line, json all in one array at the end.
# The closing {"type":"result", …, "usage":{"input_tokens","output_tokens","cache_read_input_tokens",
# "total_tokens"}} holds the run's totals (computeUsageFromMetrics): input_tokens sums the endpoint's
# prompt_tokens (cached tokens included: cache_read is a part of it, not added), output_tokens its
# completion_tokens (reasoning included). Each {"type":"assistant"} message carries its own request's usage in
# message.usage; those are summed when the run was cut off before the result.
SOURCE = "TUI stdout"


def _messages(output: str) -> Iterator[dict[str, Any]]:
    for line in output.splitlines():
        line = line.strip()
        if not line.startswith(("{", "[")):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                yield item


def _report(usage: dict[str, Any]) -> TokenReport:
    return TokenReport(
        source=SOURCE,
        prompt_tokens=_count(usage.get("input_tokens")),
        completion_tokens=_count(usage.get("output_tokens")),
        exact=True,
    )


def parse_messages(output: str) -> TokenReport | None:
    result = None
    turns: list[dict[str, Any]] = []
    for message in _messages(output):
        if message.get("type") == "result" and isinstance(message.get("usage"), dict):
            result = message["usage"]
        elif message.get("type") == "assistant" and isinstance(message.get("message"), dict):
            usage = message["message"].get("usage")
            if isinstance(usage, dict):
                turns.append(usage)
    if result is not None:
        return _report(result)
    if not turns:
        return None
    return _report(
        {
            "input_tokens": sum(_count(u.get("input_tokens")) for u in turns),
            "output_tokens": sum(_count(u.get("output_tokens")) for u in turns),
        }
    )


def parse(output: str, out_dir: Path) -> TokenReport | None:
    return parse_messages(output)


PARSER = TokenParser(source=SOURCE, parse=parse)
