"""The shape every token parser has, and the JSON helpers most of them share."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cab_check.models import TokenReport


@dataclass(frozen=True)
class TokenParser:
    """How to read one TUI's own account of its token use.

    `parse(output, out_dir)` gets everything the CLI printed and the host folder mounted at {out}, where the CLI may
    have written session files; it returns None when the CLI said nothing it could read. `source` names where the
    count comes from ("TUI stdout", "TUI session file") for listings."""

    source: str
    parse: Callable[[str, Path], TokenReport | None]


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
