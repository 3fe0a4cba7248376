"""The test fixtures themselves: what they promise the other tests."""

from __future__ import annotations

import keyring
from keyring.backend import get_all_keyring
from memory_keyring import MemoryKeyring


def test_the_test_keyring_is_never_chosen_on_its_own():
    assert not any(isinstance(backend, MemoryKeyring) for backend in get_all_keyring())


def test_the_test_keyring_is_the_keyring_where_a_test_installs_it(memory_keyring):
    keyring.set_password("cab-check", "x", "y")
    assert keyring.get_keyring() is memory_keyring and memory_keyring.entries == {("cab-check", "x"): "y"}
