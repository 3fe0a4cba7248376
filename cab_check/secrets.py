"""The user's API key: where it is kept (the OS keyring) and how it is kept out of everything else (redaction)."""

from __future__ import annotations

from typing import Any

KEYRING_SERVICE = "cab-check"
REDACTED = "[REDACTED]"


def keyring_user(endpoint: str) -> str:
    """One keyring entry per endpoint, keyed by its normalised base URL."""
    return endpoint.rstrip("/")


def load_key(endpoint: str) -> str | None:
    """The saved key for an endpoint, or None when there is none or no usable keyring backend."""
    import keyring
    from keyring.errors import KeyringError

    try:
        return keyring.get_password(KEYRING_SERVICE, keyring_user(endpoint))
    except KeyringError:
        return None


def save_key(endpoint: str, key: str) -> None:
    import keyring

    keyring.set_password(KEYRING_SERVICE, keyring_user(endpoint), key)


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
