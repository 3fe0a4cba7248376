"""Fixtures shared by every test."""

from __future__ import annotations

import os

import keyring
import pytest
from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

# Qt widgets in tests render offscreen: no display is needed, and none is touched.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_history(tmp_path_factory, monkeypatch):
    """Every test writes its run history into its own folder, never the user's data dir."""
    home = tmp_path_factory.mktemp("cab-home")
    monkeypatch.setenv("CAB_CHECK_HOME", str(home))
    return home


class MemoryKeyring(KeyringBackend):
    """The OS keyring stand-in for tests; the app and the CLI use the real one.

    keyring registers every backend class it sees and picks the viable one with the highest priority, so a plain
    priority here would make this the default for the whole session. A priority that raises keeps it out of that
    choice: it is used only where a test installs it (the memory_keyring fixture)."""

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("the test keyring is used only where a test installs it")

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.entries.get((service, username))

    def set_password(self, service, username, password):
        self.entries[(service, username)] = password

    def delete_password(self, service, username):
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
