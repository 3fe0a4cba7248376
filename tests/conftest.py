"""Fixtures shared by every test."""

from __future__ import annotations

import os

import keyring
import pytest
from memory_keyring import MemoryKeyring

# Qt widgets in tests render offscreen: no display is needed, and none is touched.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_history(tmp_path_factory, monkeypatch):
    """Every test writes its run history into its own folder, never the user's data dir."""
    home = tmp_path_factory.mktemp("cab-home")
    monkeypatch.setenv("CAB_CHECK_HOME", str(home))
    return home


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
