"""What each TUI says about its own token use, for showing beside the proxy's canonical counts.

One module per TUI, named by `token_parser` in its tui.toml, with `parse(output, out_dir) -> TokenReport | None`:
`output` is everything the CLI printed, `out_dir` the host folder mounted at {out} where it may write session
files. A parser returns None when the CLI said nothing it could read. `SOURCE` names where it reads."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cab_check.models import TokenReport


def tui_report(parser: str | None, output: str, out_dir: Path) -> TokenReport | None:
    if not parser:
        return None
    module = importlib.import_module(f"{__name__}.{parser}")
    return module.parse(output, out_dir)


def tui_source(parser: str | None) -> str | None:
    """Where a TUI's own count comes from ("TUI stdout", "TUI session file"), for listings."""
    return importlib.import_module(f"{__name__}.{parser}").SOURCE if parser else None


def count(value: object) -> int:
    """A token count from JSON: a positive number, else 0 (missing, null, negative, or a bool)."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 0


def json_objects(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects among a CLI's output or session lines; other lines, and one a timeout cut short, are skipped."""
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value
