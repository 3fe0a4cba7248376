"""What each TUI says about its own token use, for showing beside the proxy's canonical counts.

One module per TUI, named by `token_parser` in its tui.toml, with `parse(output, out_dir) -> TokenReport | None`:
`output` is everything the CLI printed, `out_dir` the host folder mounted at {out} where it may write session
files. A parser returns None when the CLI said nothing it could read. `SOURCE` names where it reads."""

from __future__ import annotations

import importlib
from pathlib import Path

from cab_check.models import TokenReport


def tui_report(parser: str | None, output: str, out_dir: Path) -> TokenReport | None:
    if not parser:
        return None
    module = importlib.import_module(f"{__name__}.{parser}")
    return module.parse(output, out_dir)


def tui_source(parser: str | None) -> str | None:
    """Where a TUI's own count comes from ("TUI stdout", "TUI session file"), for listings."""
    return importlib.import_module(f"{__name__}.{parser}").SOURCE if parser else None
