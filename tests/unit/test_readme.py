"""README.md promises things the code must keep true."""

from __future__ import annotations

import re
from pathlib import Path

from cab_check.catalog import shipped_tuis
from cab_check.report.tui_table import tui_table

README = Path(__file__).parents[2] / "README.md"


def test_readme_tui_table_is_the_catalogue():
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- tui-table -->\n(.*?)<!-- /tui-table -->", text, re.DOTALL)
    assert match, "README.md has no <!-- tui-table --> section"
    assert match.group(1) == tui_table(shipped_tuis()), "regenerate it with: cab tuis --markdown"
