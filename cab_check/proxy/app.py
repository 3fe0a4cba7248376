"""The proxy as an ASGI app: the agent's run token checked on every request, each model API path routed to its
handler, anything else refused."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from cab_check.models import ModelCall
from cab_check.proxy.calls import Recorder, Redaction
from cab_check.proxy.dialects import MESSAGES, RESPONSES, Dialect, error_response, openai_error
from cab_check.proxy.handlers import Handlers
from cab_check.proxy.upstream import Endpoint

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MODELS_PATHS = ("/v1/models", "/models")
RESPONSES_PATHS = ("/v1/responses", "/responses")
MESSAGES_PATHS = ("/v1/messages", "/messages")
COUNT_TOKENS_PATHS = ("/v1/messages/count_tokens", "/messages/count_tokens")

Handler = Callable[[Request], Awaitable[Response]]


def new_run_token() -> str:
    """A fresh random token the agent uses instead of the real key."""
    return "cab-" + secrets.token_urlsafe(32)


class RecordingProxy:
    """An OpenAI-compatible pass-through that authenticates the agent by token and records every model call.

    Also serves the Responses and Messages APIs by translation to the upstream's chat completions.
    """

    def __init__(
        self,
        upstream_base_url: str,
        api_key: str | None,
        token: str,
        on_call: Callable[[ModelCall], None] | None = None,
    ) -> None:
        if not token:
            raise ValueError("the proxy needs a non-empty run token")
        self._token = token
        self._endpoint = Endpoint(upstream_base_url, api_key)
        self.upstream_base_url = self._endpoint.base_url
        self.upstream_host = self._endpoint.host
        self._redaction = Redaction(api_key, token)
        self._recorder = Recorder(on_call)
        self._routes = self._make_routes(Handlers(self._endpoint, self._recorder, self._redaction))
        self.app = self._asgi  # a plain ASGI app: _dispatch routes, so a framework's router would only cost time

    @property
    def calls(self) -> list[ModelCall]:
        """The model calls recorded so far, in the order they started."""
        return self._recorder.calls

    @property
    def on_call(self) -> Callable[[ModelCall], None] | None:
        return self._recorder.on_call

    @on_call.setter
    def on_call(self, listener: Callable[[ModelCall], None] | None) -> None:
        self._recorder.on_call = listener

    def redact(self, text: str) -> str:
        """The text with the real key and the run token replaced by [REDACTED]."""
        return self._redaction.text(text)

    async def aclose(self) -> None:
        await self._endpoint.aclose()

    def close(self) -> None:
        """Close the upstream connections from any thread; call it before stopping the server that runs `.app`."""
        self._endpoint.close()

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = await self._dispatch(Request(scope, receive))
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path
        route = self._routes.get(path)
        dialect = route[2] if route else None
        if not self._authorized(request):
            message = "Missing or wrong token for this cab-check run."
            return error_response(dialect, 401, message, "invalid_request_error", "invalid_api_key")
        if route is None:
            return openai_error(404, f"Unknown path {path}; this proxy serves only the model API.", "not_found")
        method, handler, _ = route
        if request.method != method:
            message = f"Method {request.method} not allowed on {path}."
            return error_response(dialect, 405, message, "invalid_request_error")
        return await handler(request)

    @staticmethod
    def _make_routes(handlers: Handlers) -> dict[str, tuple[str, Handler, Dialect | None]]:
        routes: dict[str, tuple[str, Handler, Dialect | None]] = {}
        for paths, method, handler, dialect in (
            (CHAT_PATHS, "POST", handlers.chat_completions, None),
            (MODELS_PATHS, "GET", handlers.models, None),
            (RESPONSES_PATHS, "POST", handlers.responses, RESPONSES),
            (MESSAGES_PATHS, "POST", handlers.messages, MESSAGES),
            (COUNT_TOKENS_PATHS, "POST", handlers.count_tokens, MESSAGES),
        ):
            routes.update(dict.fromkeys(paths, (method, handler, dialect)))
        return routes

    def _authorized(self, request: Request) -> bool:
        offered = request.headers.get("x-api-key", "")
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            offered = credentials.strip() or offered
        return bool(offered) and hmac.compare_digest(offered.encode(), self._token.encode())
