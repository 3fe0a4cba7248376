"""`handshake.list_models`: the ids a front end offers to pick from, or None so it falls back to free text.

Each endpoint is tests/fake_openai.py's server on loopback, its GET /v1/models answering as the test says."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fake_openai import Behaviour, FakeOpenAI

from cab_check.asgi_server import BackgroundServer
from cab_check.handshake import list_models
from cab_check.reference_model import ReferenceModel

KEY = "sk-test-list-models"


@contextmanager
def serving(*served: str, **behaviour) -> Iterator[str]:
    """A server that lists `served`; yields the base URL ending in /v1."""
    with FakeOpenAI(Behaviour(served=served, **behaviour)).serving() as base:
        yield base


def test_the_ids_come_back_sorted_and_once_each():
    with serving("qwen-coder", "llama-3", "mistral-small", "llama-3") as base:
        assert list_models(base, None) == ["llama-3", "mistral-small", "qwen-coder"]


def test_the_key_goes_as_a_bearer_token():
    with serving("private-model", key=KEY) as base:
        assert list_models(base, KEY) == ["private-model"]
        assert list_models(base, None) is None, "a 401 is no model list"
        assert list_models(base, "sk-wrong") is None


def test_a_trailing_slash_on_the_base_url_is_fine():
    with serving("m") as base:
        assert list_models(base + "/", None) == ["m"]


def test_an_empty_list_is_a_list():
    with serving() as base:
        assert list_models(base, None) == []


def test_the_reference_model_lists_itself():
    from cab_check import catalog

    app = ReferenceModel.from_task(catalog.get_task("polyglot/rust-error-handling")).app
    with BackgroundServer(app, "127.0.0.1") as server:
        assert list_models(f"{server.url}/v1", None) == ["cab-reference"]


@pytest.mark.parametrize("models", ["500", "html", "other-shape", "bare-list", "redirect"])
def test_anything_but_an_openai_model_list_is_none(models):
    with serving("not", "openai", "shaped", models=models) as base:
        assert list_models(base, None) is None


def test_no_model_list_route_is_none():
    with FakeOpenAI(Behaviour(served=None)).serving() as base:
        assert list_models(base, None) is None


def test_nothing_listening_is_none():
    with serving("m") as base:
        pass  # the server is gone: its port now refuses connections
    assert list_models(base, None) is None


@pytest.mark.parametrize("base", ["", "not a url", "http://", "ftp://127.0.0.1/v1"])
def test_a_malformed_url_is_none(base):
    assert list_models(base, None) is None


def test_a_key_no_header_can_carry_is_none():
    with serving("m") as base:
        assert list_models(base, "clé-ключ") is None
