"""GitHub Copilot CLI's own usage, from the session file it keeps under COPILOT_HOME={out}/copilot (tui.toml)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cab_check.models import TokenReport
from cab_check.token_parsers.aider import parse_count
from cab_check.token_parsers.base import TokenParser
from cab_check.token_parsers.base import count as _count

# Copilot CLI 1.0.63 writes one events.jsonl per session under $COPILOT_HOME/session-state/<id>/. At the end of a
# run it appends
#   {"type":"session.shutdown","data":{…,"modelMetrics":{"<model>":{"requests":{"count",…},
#    "usage":{"inputTokens","outputTokens","cacheReadTokens","cacheWriteTokens","reasoningTokens"}}}}}
# summed over every model call. Its per-call "assistant.usage" events (ephemeral, never written to the file) take
# inputTokens = usage.prompt_tokens and outputTokens = usage.completion_tokens from the endpoint's chat answer;
# cache and reasoning tokens are breakdowns already inside those two, so they are not added.
# A run killed before it shuts down has no such event; then the stats block Copilot prints at exit is read:
#   "Tokens     ↑ 42.5k • ↓ 1.7k"  (rounded like aider's counts, so not exact).
SOURCE = "TUI session file"
SESSION_DIR = "copilot/session-state"
_NUM = r"\d[\d,]*(?:\.\d+)?[kKmM]?"
_STATS_LINE = re.compile(rf"Tokens\s+↑\s*(?P<up>{_NUM})[^↓\n]*↓\s*(?P<down>{_NUM})")


def parse_session_files(session_dir: Path) -> TokenReport | None:
    prompt = completion = 0
    found = False
    for events in sorted(session_dir.glob("*/events.jsonl")):
        for line in events.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"session.shutdown"' not in line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            data = event.get("data") if isinstance(event, dict) else None
            if event.get("type") != "session.shutdown" or not isinstance(data, dict):
                continue
            metrics = data.get("modelMetrics")
            if not isinstance(metrics, dict):
                continue
            for model in metrics.values():
                usage = model.get("usage") if isinstance(model, dict) else None
                if isinstance(usage, dict):
                    found = True
                    prompt += _count(usage.get("inputTokens"))
                    completion += _count(usage.get("outputTokens"))
    if not found:
        return None
    return TokenReport(source=SOURCE, prompt_tokens=prompt, completion_tokens=completion, exact=True)


def parse_stats_block(output: str) -> TokenReport | None:
    matches = list(_STATS_LINE.finditer(output))
    if not matches:
        return None
    up, up_exact = parse_count(matches[-1]["up"])
    down, down_exact = parse_count(matches[-1]["down"])
    return TokenReport(source="TUI stdout", prompt_tokens=up, completion_tokens=down, exact=up_exact and down_exact)


def parse(output: str, out_dir: Path) -> TokenReport | None:
    return parse_session_files(out_dir / SESSION_DIR) or parse_stats_block(output)


PARSER = TokenParser(source=SOURCE, parse=parse)
