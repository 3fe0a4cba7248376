"""The user's API key: where it is kept (the OS keyring) and how it is kept out of everything else (redaction)."""

from __future__ import annotations

import json
from typing import Any

from cab_check.errors import KeyringUnavailable

KEYRING_SERVICE = "cab-check"
REDACTED = "[REDACTED]"


# keyring cannot list its entries, so the endpoints that have one are kept, without keys, in one more entry.
INDEX_USER = "(endpoints with a saved key)"


def keyring_user(endpoint: str) -> str:
    """One keyring entry per endpoint, keyed by its normalised base URL."""
    return endpoint.rstrip("/")


def usable_keyring():
    """The OS keyring, or KeyringUnavailable with what to use instead."""
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        raise KeyringUnavailable(
            "This machine has no usable OS keyring (no Secret Service, Keychain or Credential Locker): "
            "give the key with --key-env VAR or --key-stdin instead."
        )
    return keyring


def load_key(endpoint: str) -> str | None:
    """The saved key for an endpoint, or None when there is none or no usable keyring backend."""
    from keyring.errors import KeyringError

    try:
        return usable_keyring().get_password(KEYRING_SERVICE, keyring_user(endpoint))
    except (KeyringError, KeyringUnavailable):
        return None


def saved_endpoints() -> list[str]:
    raw = usable_keyring().get_password(KEYRING_SERVICE, INDEX_USER)
    try:
        endpoints = json.loads(raw) if raw else []
    except ValueError:
        endpoints = []
    return sorted({e for e in endpoints if isinstance(e, str)})


def _write_index(endpoints: list[str]) -> None:
    usable_keyring().set_password(KEYRING_SERVICE, INDEX_USER, json.dumps(sorted(set(endpoints))))


def save_key(endpoint: str, key: str) -> None:
    usable_keyring().set_password(KEYRING_SERVICE, keyring_user(endpoint), key)
    _write_index([*saved_endpoints(), keyring_user(endpoint)])


def delete_key(endpoint: str) -> bool:
    """Removes the endpoint's key; False when there was none."""
    from keyring.errors import PasswordDeleteError

    keyring = usable_keyring()
    try:
        keyring.delete_password(KEYRING_SERVICE, keyring_user(endpoint))
        found = True
    except PasswordDeleteError:
        found = False
    _write_index([e for e in saved_endpoints() if e != keyring_user(endpoint)])
    return found


class Redactor:
    """Replaces secret values wherever they appear: in text, and in any JSON-shaped data."""

    def __init__(self, *secrets: str | None) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        if secret and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            value = value.replace(secret, REDACTED)
        return value

    def data(self, value: Any) -> Any:
        """Redacts every string inside a JSON-shaped structure (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value
