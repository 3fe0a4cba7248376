"""A plain `pip install .` (not editable) must ship every subpackage: pyproject lists them by hand."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        "cab_check." + p.parent.relative_to(ROOT / "cab_check").as_posix().replace("/", ".")
        for p in (ROOT / "cab_check").rglob("__init__.py")
        if p.parent != ROOT / "cab_check"
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
