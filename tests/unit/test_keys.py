"""cab key set|delete|list and where `cab check` finds a key, with an in-memory keyring (tests only)."""

from __future__ import annotations

import io
import secrets

import keyring
from keyring.backends import fail

from cab_check.cli import main

ENDPOINT = "http://127.0.0.1:8000/v1"


def test_set_list_delete_and_list_never_shows_a_key(memory_keyring, monkeypatch, capsys):
    key = "sk-canary-" + secrets.token_hex(8)
    monkeypatch.setattr("sys.stdin", io.StringIO(key + "\n"))
    assert main(["key", "set", ENDPOINT + "/", "--key-stdin"]) == 0
    assert memory_keyring.entries[("cab-check", ENDPOINT)] == key

    assert main(["key", "list"]) == 0
    out = capsys.readouterr().out
    assert ENDPOINT in out and key not in out

    assert main(["key", "delete", ENDPOINT]) == 0
    assert ("cab-check", ENDPOINT) not in memory_keyring.entries
    assert main(["key", "list"]) == 0
    assert "No saved keys." in capsys.readouterr().out


def test_check_takes_the_saved_key_when_no_other_is_given(memory_keyring, monkeypatch):
    from cab_check import cli

    memory_keyring.set_password("cab-check", ENDPOINT, "saved-key")
    args = cli.build_parser().parse_args(["check", "--endpoint", ENDPOINT, "--model", "m"])
    assert cli._resolve_key(ENDPOINT, args) == "saved-key"
    monkeypatch.setenv("CAB_TEST_KEY", "env-key")
    args = cli.build_parser().parse_args(["check", "--endpoint", ENDPOINT, "--model", "m", "--key-env", "CAB_TEST_KEY"])
    assert cli._resolve_key(ENDPOINT, args) == "env-key"


def test_no_keyring_backend_is_one_clear_sentence(monkeypatch, capsys):
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        monkeypatch.setattr("sys.stdin", io.StringIO("k\n"))
        assert main(["key", "set", ENDPOINT, "--key-stdin"]) == 3
    finally:
        keyring.set_keyring(previous)
    err = " ".join(capsys.readouterr().err.split())
    assert "no usable OS keyring" in err and "--key-env VAR or --key-stdin" in err and "Traceback" not in err


def test_empty_stdin_key_is_bad_input(memory_keyring, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["key", "set", ENDPOINT, "--key-stdin"]) == 2
    assert memory_keyring.entries == {}


def test_a_keyring_that_cannot_be_used_says_so_without_naming_a_flag():
    from cab_check import keys
    from cab_check.cli import CLI_WORDS
    from cab_check.errors import KeyringUnavailable, Remedy

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        try:
            keys.save_key(ENDPOINT, "k")
        except KeyringUnavailable as exc:
            error = exc
    finally:
        keyring.set_keyring(previous)
    assert isinstance(error, keys.KeyringAbsent) and error.cause == "no_keyring" and error.remedy is Remedy.KEY
    assert "--" not in str(error) and str(error).endswith("give the key directly instead.")
    assert error.sentence(CLI_WORDS).endswith("give the key with --key-env VAR or --key-stdin instead.")
