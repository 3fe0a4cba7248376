"""What each TUI says about its own token use, shown beside the proxy's canonical counts.

One module per TUI, each defining `PARSER`; a tui.toml names its parser by the key it has in `PARSERS`, and the
catalog refuses a name that is not there when the tui.toml loads."""

from __future__ import annotations

from pathlib import Path

from cab_check.models import TokenReport
from cab_check.token_parsers import (
    aider,
    claude_code,
    codex,
    copilot,
    mini_swe_agent,
    opencode,
    openhands,
    pi,
    qwen_code,
)
from cab_check.token_parsers.base import TokenParser

PARSERS: dict[str, TokenParser] = {
    "aider": aider.PARSER,
    "claude_code": claude_code.PARSER,
    "codex": codex.PARSER,
    "copilot": copilot.PARSER,
    "mini_swe_agent": mini_swe_agent.PARSER,
    "opencode": opencode.PARSER,
    "openhands": openhands.PARSER,
    "pi": pi.PARSER,
    "qwen_code": qwen_code.PARSER,
}


def tui_report(name: str | None, output: str, out_dir: Path) -> TokenReport | None:
    """The TUI's own count from its output and {out} folder; None when it has no parser or said nothing readable."""
    return PARSERS[name].parse(output, out_dir) if name else None


def tui_source(name: str | None) -> str | None:
    """Where a TUI's own count comes from, for listings."""
    return PARSERS[name].source if name else None
