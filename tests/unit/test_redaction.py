from __future__ import annotations

import secrets

from cab_check.keys import REDACTED, Redactor


def test_redactor_replaces_the_key_in_text_and_nested_data():
    key = "sk-canary-" + secrets.token_hex(8)
    redactor = Redactor(key)
    assert redactor.text(f"Bearer {key} failed") == f"Bearer {REDACTED} failed"
    data = {"argv": ["--key", key], key: {"n": 1, "msg": f"x{key}y"}}
    assert redactor.data(data) == {"argv": ["--key", REDACTED], REDACTED: {"n": 1, "msg": f"x{REDACTED}y"}}


def test_a_secret_containing_another_is_replaced_whole():
    short = "abc" + secrets.token_hex(4)
    long = short + secrets.token_hex(4)
    assert Redactor(short, long).text(long) == REDACTED


def test_no_secret_means_no_change():
    assert Redactor(None, "").text("plain") == "plain"
