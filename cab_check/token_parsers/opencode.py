"""opencode's own token counts, from the JSON events `opencode run --format json` prints."""

from __future__ import annotations

from pathlib import Path

from cab_check.models import TokenReport
from cab_check.token_parsers.base import TokenParser, json_objects
from cab_check.token_parsers.base import count as _count

# opencode 1.18 prints one JSON object a line; each model step ends with
#   {"type":"step_finish", …, "part":{"type":"step-finish","reason":"tool-calls"|"stop",
#    "tokens":{"total","input","output","reasoning","cache":{"write","read"}},"cost":…}}
# Its session code (SQ in the bundle) derives these from the endpoint's usage: input = prompt_tokens − cache.read
# − cache.write, output = completion_tokens − reasoning. Adding them back gives what the proxy counted.
# The session-title request opencode sends to its small model has no step_finish: that call is in the proxy's
# count only.
SOURCE = "TUI stdout"


def parse_step_tokens(output: str) -> TokenReport | None:
    prompt = completion = 0
    found = False
    for event in json_objects(output.splitlines()):
        part = event.get("part")
        if event.get("type") != "step_finish" or not isinstance(part, dict) or not isinstance(part.get("tokens"), dict):
            continue
        tokens = part["tokens"]
        cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
        found = True
        prompt += _count(tokens.get("input")) + _count(cache.get("read")) + _count(cache.get("write"))
        completion += _count(tokens.get("output")) + _count(tokens.get("reasoning"))
    if not found:
        return None
    return TokenReport(source=SOURCE, prompt_tokens=prompt, completion_tokens=completion, exact=True)


def parse(output: str, out_dir: Path) -> TokenReport | None:
    return parse_step_tokens(output)


PARSER = TokenParser(source=SOURCE, parse=parse)
