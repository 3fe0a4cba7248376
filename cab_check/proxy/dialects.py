"""The client APIs the proxy serves by translation, and the error shape each client reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from cab_check.wire import StreamTranslator, anthropic, openai_error_body, responses


@dataclass(frozen=True)
class Dialect:
    """A client API the proxy serves by translating to and from chat completions."""

    # Given the request body as parsed (None when it is not a JSON object), which it refuses with a WireError.
    chat_request: Callable[[dict[str, Any] | None], dict[str, Any]]
    from_chat: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
    stream: Callable[[dict[str, Any]], StreamTranslator]
    error_body: Callable[[int, str, str, str | None], dict[str, Any]]


RESPONSES = Dialect(responses.chat_request, responses.from_chat, responses.ResponsesStream, responses.error_body)
MESSAGES = Dialect(anthropic.chat_request, anthropic.from_chat, anthropic.MessagesStream, anthropic.error_body)


def openai_error(status: int, message: str, err_type: str, code: str | None = None) -> JSONResponse:
    """An error response shaped like OpenAI's, which every client knows how to show."""
    return JSONResponse(openai_error_body(status, message, err_type, code), status_code=status)


def error_response(
    dialect: Dialect | None,
    status: int,
    message: str,
    err_type: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error in the shape the client's API uses: OpenAI's for chat, or the dialect's own."""
    body = (dialect.error_body if dialect else openai_error_body)(status, message, err_type, code)
    return JSONResponse(body, status_code=status, headers=headers)


def error_fields(body: bytes) -> tuple[str, str | None]:
    """The error type and code an OpenAI-shaped error body names, for a translated client to branch on."""
    try:
        payload = json.loads(body)
    except ValueError:
        return "upstream_error", None
    err = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(err, dict):
        return "upstream_error", None
    err_type, code = err.get("type"), err.get("code")
    return err_type if isinstance(err_type, str) else "upstream_error", code if isinstance(code, str) else None
