"""pi's own usage, from the session file it keeps in {out} (tui.toml: --session-dir {out}/pi-sessions)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cab_check.models import TokenReport
from cab_check.token_parsers.base import TokenParser, json_objects

# pi 0.73 writes one JSONL session per run (docs/session-format.md); each assistant reply is a line
#   {"type":"message", …, "message":{"role":"assistant", …, "usage":{"input","output","cacheRead","cacheWrite",
#    "totalTokens","cost"}}}
# with the endpoint's exact counts. pi-ai (providers/openai-completions.js, parseChunkUsage) splits the
# endpoint's prompt_tokens into input + cacheRead + cacheWrite, so the three add back up to what the proxy saw;
# output is completion_tokens. A failed request still leaves an assistant entry, with all-zero usage.
# `pi --mode json` prints the same messages as "message_end" events on stdout (and again inside "turn_end" and
# "agent_end", which are not counted); that is read when there is no session file.
SOURCE = "TUI session file"
SESSION_DIR = "pi-sessions"


def _assistant_usages(entries: Iterable[dict[str, Any]], entry_type: str) -> Iterator[dict[str, Any]]:
    for entry in entries:
        message = entry.get("message")
        if entry.get("type") == entry_type and isinstance(message, dict) and message.get("role") == "assistant":
            usage = message.get("usage")
            if isinstance(usage, dict):
                yield usage


def _report(usages: Iterable[dict[str, Any]], source: str) -> TokenReport | None:
    prompt = completion = 0
    found = False
    for usage in usages:
        found = True
        prompt += sum(int(usage.get(key) or 0) for key in ("input", "cacheRead", "cacheWrite"))
        completion += int(usage.get("output") or 0)
    if not found:
        return None
    return TokenReport(source=source, prompt_tokens=prompt, completion_tokens=completion, exact=True)


def parse_session_files(session_dir: Path) -> TokenReport | None:
    files = sorted(session_dir.rglob("*.jsonl")) if session_dir.is_dir() else []
    usages = (
        usage
        for path in files
        for usage in _assistant_usages(json_objects(path.read_text("utf-8", "replace").splitlines()), "message")
    )
    return _report(usages, SOURCE)


def parse_json_events(output: str) -> TokenReport | None:
    return _report(_assistant_usages(json_objects(output.splitlines()), "message_end"), "TUI stdout")


def parse(output: str, out_dir: Path) -> TokenReport | None:
    return parse_session_files(out_dir / SESSION_DIR) or parse_json_events(output)


PARSER = TokenParser(source=SOURCE, parse=parse)
