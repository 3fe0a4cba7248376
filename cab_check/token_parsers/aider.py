"""aider's own token lines, from what it prints."""

from __future__ import annotations

import re
from pathlib import Path

from cab_check.models import TokenReport
from cab_check.token_parsers.base import TokenParser

# aider (aider/coders/base_coder.py, calculate_and_show_tokens_and_cost, v0.86) prints once per user message:
#   "Tokens: {sent} sent[, {w} cache write][, {h} cache hit], {received} received."
# optionally followed, on the same line or the next, by " Cost: $x message, $y session.".
# Counts come from aider.utils.format_tokens: <1000 → "999"; <10000 → "1.2k"; else "12k" (rounded).
# aider itself never prints commas or "M" ("1500k"), but both have been seen in the wild and are accepted.
# The counters reset after each printed line, so lines are per message and are summed.
# "sent" already includes the cache-write tokens (aider adds them when the provider reports them separately),
# and cache hits are either inside prompt_tokens (DeepSeek) or reported apart (Anthropic); aider shows them only
# as a breakdown, so prompt_tokens here is "sent" alone — adding cache numbers would double count.
SOURCE = "TUI stdout"
_NUM = r"\d[\d,]*(?:\.\d+)?[kKmM]?"
_AIDER_LINE = re.compile(
    rf"Tokens: (?P<sent>{_NUM}) sent"
    rf"(?:, (?P<write>{_NUM}) cache write)?"
    rf"(?:, (?P<hit>{_NUM}) cache hit)?"
    rf", (?P<received>{_NUM}) received\."
)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_SCALE = {"k": 1_000, "m": 1_000_000}


def parse_count(text: str) -> tuple[int, bool]:
    """('2.3k') → (2300, False); ('1,234') → (1234, True). The flag says whether the count is exact."""
    text = text.replace(",", "")
    suffix = text[-1].lower()
    if suffix in _SCALE:
        return round(float(text[:-1]) * _SCALE[suffix]), False
    return int(float(text)), True


def parse_aider_tokens(text: str) -> TokenReport | None:
    """Sum aider's per-message "Tokens: … sent, … received." lines; None when there are none."""
    prompt = completion = 0
    exact = True
    found = False
    for match in _AIDER_LINE.finditer(_ANSI.sub("", text)):
        found = True
        sent, sent_exact = parse_count(match["sent"])
        received, received_exact = parse_count(match["received"])
        prompt += sent
        completion += received
        exact = exact and sent_exact and received_exact
    if not found:
        return None
    return TokenReport(source=SOURCE, prompt_tokens=prompt, completion_tokens=completion, exact=exact)


def parse(output: str, out_dir: Path) -> TokenReport | None:
    return parse_aider_tokens(output)


PARSER = TokenParser(source=SOURCE, parse=parse)
