"""The OS keyring stand-in for tests, in a module of its own so any test can import it by name."""

from __future__ import annotations

from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


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
