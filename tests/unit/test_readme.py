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


def test_every_test_docs_errors_md_names_exists():
    text = (README.parent / "docs" / "errors.md").read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(named) >= 20
    for path, name in named:
        assert f"def {name}(" in (README.parent / path).read_text(encoding="utf-8"), f"{path}::{name}"
