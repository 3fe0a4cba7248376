"""mini-swe-agent's own usage, from the trajectory it saves in {out} (tui.toml: -o {out}/traj.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cab_check.models import TokenReport
from cab_check.token_parsers.base import TokenParser

# mini-swe-agent 2.4 (agents/default.py save(), models/litellm_model.py query()) writes one JSON file:
#   {"info": {"model_stats": {"instance_cost", "api_calls"}, …}, "messages": [...], "trajectory_format": …}
# Every model reply keeps LiteLLM's whole response under messages[i].extra.response, with the endpoint's usage
# {"prompt_tokens", "completion_tokens", …} as LiteLLM passed it through (prompt_tokens includes cached tokens,
# as in the OpenAI API). A reply that broke the tool-call format is not an assistant message: it is kept on the
# "user" message that reports the format error, with the same extra.response, so every message is looked at,
# whatever its role. A response that could not be dumped is kept as its repr (a string) and has no usage.
SOURCE = "TUI session file"
TRAJECTORY = "traj.json"


def _usages(trajectory: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for message in trajectory.get("messages") or []:
        extra = message.get("extra") if isinstance(message, dict) else None
        response = extra.get("response") if isinstance(extra, dict) else None
        usage = response.get("usage") if isinstance(response, dict) else None
        if isinstance(usage, dict):
            yield usage


def parse_trajectory(path: Path) -> TokenReport | None:
    try:
        trajectory = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no trajectory (the CLI died before saving) or one cut short
    if not isinstance(trajectory, dict):
        return None
    prompt = completion = 0
    found = False
    for usage in _usages(trajectory):
        found = True
        prompt += int(usage.get("prompt_tokens") or 0)
        completion += int(usage.get("completion_tokens") or 0)
    if not found:
        return None
    return TokenReport(source=SOURCE, prompt_tokens=prompt, completion_tokens=completion, exact=True)


def parse(output: str, out_dir: Path) -> TokenReport | None:
    return parse_trajectory(out_dir / TRAJECTORY)


PARSER = TokenParser(source=SOURCE, parse=parse)
