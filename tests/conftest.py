"""Fixtures shared by every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_history(tmp_path_factory, monkeypatch):
    """Every test writes its run history into its own folder, never the user's data dir."""
    home = tmp_path_factory.mktemp("cab-home")
    monkeypatch.setenv("CAB_CHECK_HOME", str(home))
    return home
