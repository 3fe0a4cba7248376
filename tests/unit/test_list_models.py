"""`handshake.list_models`: the ids a front end offers to pick from, or None so it falls back to free text.

Each fake is a small loopback server, started the way test_handshake.py starts its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from cab_check.asgi_server import BackgroundServer
from cab_check.handshake import list_models
from cab_check.reference_model import ReferenceModel

KEY = "sk-test-list-models"


@contextmanager
def serving(models: Response | None, *, key: str | None = None) -> Iterator[str]:
    """A server whose GET /v1/models answers `models` (no route when None); yields the base URL ending in /v1.
    With `key`, any other Authorization gets a 401 in OpenAI's error shape."""

    async def answer(request: Request) -> Response:
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            return JSONResponse({"error": {"message": "Incorrect API key provided"}}, status_code=401)
        assert models is not None
        return models

    routes = [Route("/v1/models", answer, methods=["GET"])] if models is not None else []
    with BackgroundServer(Starlette(routes=routes), "127.0.0.1") as server:
        yield f"{server.url}/v1"


def model_list(*ids: str) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})


def test_the_ids_come_back_sorted_and_once_each():
    with serving(model_list("qwen-coder", "llama-3", "mistral-small", "llama-3")) as base:
        assert list_models(base, None) == ["llama-3", "mistral-small", "qwen-coder"]


def test_the_key_goes_as_a_bearer_token():
    with serving(model_list("private-model"), key=KEY) as base:
        assert list_models(base, KEY) == ["private-model"]
        assert list_models(base, None) is None, "a 401 is no model list"
        assert list_models(base, "sk-wrong") is None


def test_a_trailing_slash_on_the_base_url_is_fine():
    with serving(model_list("m")) as base:
        assert list_models(base + "/", None) == ["m"]


def test_an_empty_list_is_a_list():
    with serving(model_list()) as base:
        assert list_models(base, None) == []


def test_the_reference_model_lists_itself():
    from cab_check import catalog

    app = ReferenceModel.from_task(catalog.get_task("polyglot/rust-error-handling")).app
    with BackgroundServer(app, "127.0.0.1") as server:
        assert list_models(f"{server.url}/v1", None) == ["cab-reference"]


@pytest.mark.parametrize(
    "answer",
    [
        None,  # no /models route: 404
        JSONResponse({"error": {"message": "boom"}}, status_code=500),
        PlainTextResponse("<html>a login page</html>"),
        JSONResponse({"models": ["not", "openai", "shaped"]}),
        JSONResponse(["a", "bare", "list"]),
        RedirectResponse("https://elsewhere.example/v1/models", status_code=307),
    ],
    ids=["no-route", "server-error", "not-json", "other-shape", "bare-list", "redirect"],
)
def test_anything_but_an_openai_model_list_is_none(answer):
    with serving(answer) as base:
        assert list_models(base, None) is None


def test_nothing_listening_is_none():
    with serving(model_list("m")) as base:
        pass  # the server is gone: its port now refuses connections
    assert list_models(base, None) is None


@pytest.mark.parametrize("base", ["", "not a url", "http://", "ftp://127.0.0.1/v1"])
def test_a_malformed_url_is_none(base):
    assert list_models(base, None) is None


def test_a_key_no_header_can_carry_is_none():
    with serving(model_list("m")) as base:
        assert list_models(base, "clé-ключ") is None
