"""The user's API key: where it is kept (the OS keyring) and how it is kept out of everything else (redaction).

Every keyring call is bounded and ends in a value or in KeyringUnavailable with one sentence (never a backend's
own exception, never a wait on a password prompt): a Secret Service whose collection is locked, or has no default
collection yet, is refused before keyring would ask it to prompt — a prompt that, without a desktop, fails at
once, and on a desktop nobody is watching waits forever.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar, cast

from cab_check.errors import KeyringUnavailable, Remedy

KEYRING_SERVICE = "cab-check"
REDACTED = "[REDACTED]"
KEYRING_TIMEOUT_S = 10.0  # a running keyring answers in milliseconds; starting one on demand takes a second or two
WAY_OUT = f"give the key {Remedy.KEY.slot} instead"
NO_KEYRING = f"This machine has no usable OS keyring (no Secret Service, Keychain or Credential Locker): {WAY_OUT}."
LOCKED = (
    "The OS keyring is locked, and cab-check does not wait on a prompt to unlock it: unlock it (logging in "
    f"to the desktop does) or {WAY_OUT}."
)
NO_COLLECTION = (
    "The OS keyring has no default keyring yet, and creating one needs a password prompt cab-check "
    f"does not wait on: create it (e.g. in the desktop's Passwords and Keys) or {WAY_OUT}."
)


def _no_answer() -> str:
    return (
        f"The OS keyring did not answer within {KEYRING_TIMEOUT_S:g} s (it may be waiting on a password prompt): "
        f"unlock it or restart it, or {WAY_OUT}."
    )


T = TypeVar("T")


# keyring cannot list its entries, so the endpoints that have one are kept, without keys, in one more entry.
INDEX_USER = "(endpoints with a saved key)"


class KeyringAbsent(KeyringUnavailable):
    """There is no OS keyring at all (as opposed to one that is locked or failing): nothing can be saved in it."""


def _unavailable(sentence: str, cause: str) -> KeyringUnavailable:
    """The keyring cannot be used; the way out is to give the key another way."""
    if cause == "no_keyring":
        return KeyringAbsent(sentence, cause, Remedy.KEY)
    return KeyringUnavailable(sentence, cause, Remedy.KEY)


def keyring_user(endpoint: str) -> str:
    """One keyring entry per endpoint, keyed by its normalised base URL."""
    return endpoint.rstrip("/")


def _bounded(work: Callable[[], T]) -> T:
    """`work()` on a daemon thread, given KEYRING_TIMEOUT_S: a D-Bus call has no timeout of its own, and a thread
    left waiting on one never keeps the process from exiting. Backend failures become one sentence."""
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed over to the calling thread below
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=run, name="cab-check keyring", daemon=True).start()
    if not finished.wait(KEYRING_TIMEOUT_S):
        raise _unavailable(_no_answer(), "keyring_silent")
    error = outcome.get("error")
    if error is None:
        return cast(T, outcome["value"])
    from keyring.errors import KeyringLocked, NoKeyringError

    if isinstance(error, KeyringUnavailable):
        raise error
    if isinstance(error, KeyringLocked):
        raise _unavailable(LOCKED, "keyring_locked") from None
    if isinstance(error, NoKeyringError):
        raise _unavailable(NO_KEYRING, "no_keyring") from None
    if isinstance(error, Exception):  # any backend failure: D-Bus, the service, the Keychain, ...
        detail = " ".join(str(error).split())[:200]
        raise _unavailable(
            f"The OS keyring failed ({type(error).__name__}{': ' + detail if detail else ''}): {WAY_OUT}.",
            "keyring_failed",
        ) from None
    raise error  # KeyboardInterrupt and the like


def _secret_service_backends(backend: Any) -> list[Any]:
    from keyring.backends import SecretService, chainer

    members = backend.backends if isinstance(backend, chainer.ChainerBackend) else [backend]
    return [b for b in members if isinstance(b, SecretService.Keyring)]


def _refuse_a_prompt(backend: Any) -> None:
    """KeyringUnavailable when keyring would ask the Secret Service to prompt: its collection is locked (keyring
    then calls Unlock) or missing (keyring then creates the default one). Reading the Locked property prompts
    for nothing."""
    import secretstorage
    from secretstorage.collection import DEFAULT_COLLECTION
    from secretstorage.exceptions import ItemNotFoundException

    connection = secretstorage.dbus_init()
    try:
        try:
            collection = secretstorage.Collection(
                connection, getattr(backend, "preferred_collection", DEFAULT_COLLECTION)
            )
        except ItemNotFoundException:
            raise _unavailable(NO_COLLECTION, "keyring_no_collection") from None
        if collection.is_locked():
            raise _unavailable(LOCKED, "keyring_locked")
    finally:
        connection.close()


def _ready_keyring() -> ModuleType:
    """The keyring module once its backend is known to answer without a prompt (unbounded: call via _bounded)."""
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        raise _unavailable(NO_KEYRING, "no_keyring")
    for secret_service in _secret_service_backends(backend):
        _refuse_a_prompt(secret_service)
    return keyring


def usable_keyring() -> ModuleType:
    """The OS keyring, or KeyringUnavailable with what to use instead (KeyringAbsent when there is none at all)."""
    return _bounded(_ready_keyring)


def load_key(endpoint: str) -> str | None:
    """The saved key for an endpoint; None when there is none, or no OS keyring at all (a keyless endpoint must
    still work on a machine without one). KeyringUnavailable when there is a keyring but it cannot be read —
    locked, failing or silent — since the key is then most likely in it, and going on without it would only
    end in a misleading "wrong key"."""

    def load() -> str | None:
        key = _ready_keyring().get_password(KEYRING_SERVICE, keyring_user(endpoint))
        return key if isinstance(key, str) else None

    try:
        return _bounded(load)
    except KeyringAbsent:
        return None


def _saved_endpoints(keyring: ModuleType) -> list[str]:
    raw = keyring.get_password(KEYRING_SERVICE, INDEX_USER)
    try:
        endpoints = json.loads(raw) if raw else []
    except ValueError:
        endpoints = []
    return sorted({e for e in endpoints if isinstance(e, str)})


def _write_index(keyring: ModuleType, endpoints: list[str]) -> None:
    keyring.set_password(KEYRING_SERVICE, INDEX_USER, json.dumps(sorted(set(endpoints))))


def saved_endpoints() -> list[str]:
    """The endpoints with a saved key (never the keys)."""
    return _bounded(lambda: _saved_endpoints(_ready_keyring()))


def save_key(endpoint: str, key: str) -> None:
    def save() -> None:
        keyring = _ready_keyring()
        keyring.set_password(KEYRING_SERVICE, keyring_user(endpoint), key)
        _write_index(keyring, [*_saved_endpoints(keyring), keyring_user(endpoint)])

    _bounded(save)


def delete_key(endpoint: str) -> bool:
    """Removes the endpoint's key; False when there was none."""

    def delete() -> bool:
        from keyring.errors import PasswordDeleteError

        keyring = _ready_keyring()
        try:
            keyring.delete_password(KEYRING_SERVICE, keyring_user(endpoint))
            found = True
        except PasswordDeleteError:
            found = False
        _write_index(keyring, [e for e in _saved_endpoints(keyring) if e != keyring_user(endpoint)])
        return found

    return _bounded(delete)


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
