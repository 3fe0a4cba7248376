"""The README's table of TUIs, made from the same tui.toml files the engine runs, so it cannot drift."""

from __future__ import annotations

from cab_check.models import TuiSpec
from cab_check.token_parsers import tui_source

WIRE = {
    "chat": "Chat Completions",
    "responses": "Responses (translated)",
    "anthropic": "Anthropic Messages (translated)",
}
CELL_TEST = "tests/integration/test_tuis.py::test_tui_passes_the_reference_cell[{name}]"


def tui_table(tuis: dict[str, TuiSpec]) -> str:
    rows = [
        "| TUI | Pinned version | Needs | Token source | Verified by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, tui in tuis.items():
        needs = [*tui.needs.features, WIRE[tui.needs.wire]]
        sources = ", ".join(filter(None, ["proxy", tui_source(tui.token_parser)]))
        version = f"{tui.package} {tui.version}" if tui.buildable else f"{tui.package}: image you provide"
        verified = f"`{CELL_TEST.format(name=name)}`" if tui.buildable else "not run here: no image can be built"
        rows.append(f"| {name} | {version} | {', '.join(needs)} | {sources} | {verified} |")
    return "\n".join(rows) + "\n"
