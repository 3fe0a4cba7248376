"""The proxy's answers to the model API's requests: each model call passed through or translated, and recorded."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cab_check.proxy.calls import (
    CLIENT_CLOSED,
    MAX_ERROR_CHARS,
    CallInProgress,
    Recorder,
    Redaction,
    error_text,
    json_object,
    request_hash,
)
from cab_check.proxy.dialects import MESSAGES, RESPONSES, Dialect, error_fields, error_response, openai_error
from cab_check.proxy.streaming import asked_for_usage, inject_include_usage, relay_stream
from cab_check.proxy.upstream import (
    Endpoint,
    UpstreamError,
    UpstreamUnreachable,
    rate_limit_headers,
    response_headers,
)
from cab_check.wire import WireError, anthropic


class ClientWatch:
    """While the proxy waits on the upstream, the client's disconnect cancels that wait: the abandoned call is
    recorded as such and its upstream request dropped. One task per call; the request body has been read, so the
    next ASGI message can only be the disconnect."""

    def __init__(self, request: Request) -> None:
        self.gone = False
        self._handler = asyncio.current_task()
        self._task = asyncio.ensure_future(self._watch(request))

    async def _watch(self, request: Request) -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        if self._handler is not None:
            self._handler.cancel()

    def abandoned(self) -> bool:
        """Whether a CancelledError being handled was this watch's doing (then the handler is no longer cancelled)."""
        if not self.gone:
            return False
        if self._handler is not None:
            self._handler.uncancel()
        return True

    def stop(self) -> None:
        self._task.cancel()


class Handlers:
    """One method per route of the model API."""

    def __init__(self, endpoint: Endpoint, recorder: Recorder, redaction: Redaction) -> None:
        self._endpoint = endpoint
        self._recorder = recorder
        self._redaction = redaction

    async def models(self, request: Request) -> Response:
        endpoint = self._endpoint
        try:
            headers = endpoint.forwarded_headers(request.headers)
            upstream = await endpoint.send("GET", endpoint.url(request.url.path, request.url.query), b"", headers)
            try:
                content = await upstream.aread()
            finally:
                await upstream.aclose()
        except UpstreamUnreachable as exc:
            return openai_error(502, self._unreachable(exc), "upstream_error", "upstream_unreachable")
        except UpstreamError as exc:
            return openai_error(502, self._dropped(exc), "upstream_error", "upstream_broken")
        if not upstream.is_success:
            content = self._redaction.body(content)
        return Response(content, status_code=upstream.status_code, headers=response_headers(upstream))

    async def chat_completions(self, request: Request) -> Response:
        return await self._model_call(request, None)

    async def responses(self, request: Request) -> Response:
        return await self._model_call(request, RESPONSES)

    async def messages(self, request: Request) -> Response:
        return await self._model_call(request, MESSAGES)

    async def count_tokens(self, request: Request) -> Response:
        # Answered here, unrecorded: a chat endpoint has no such call, and it is not a model call.
        try:
            return JSONResponse(anthropic.count_tokens(json_object(await request.body())))
        except WireError as exc:
            return error_response(MESSAGES, 400, str(exc), "invalid_request_error")

    async def _model_call(self, request: Request, dialect: Dialect | None) -> Response:
        """One model request, passed through (`dialect` None) or translated, and recorded either way."""
        call = self._recorder.start(request.url.path)
        body = await request.body()
        call.body_hash = request_hash(body)
        payload = json_object(body)
        if payload is not None:
            call.model = payload.get("model") if isinstance(payload.get("model"), str) else None
            call.stream = payload.get("stream") is True

        if dialect is None:
            forward = inject_include_usage(payload) if payload is not None and call.stream else body
            url = self._endpoint.url(request.url.path, request.url.query)
            headers = self._endpoint.forwarded_headers(request.headers)
        else:
            try:
                chat = dialect.chat_request(payload)
            except WireError as exc:
                return self._failed(call, dialect, 400, str(exc), "invalid_request_error")
            forward = inject_include_usage(chat) if call.stream else json.dumps(chat, ensure_ascii=False).encode()
            url, headers = self._endpoint.chat_url, self._endpoint.translated_headers(call.stream)

        watch = ClientWatch(request)
        try:
            upstream = await self._endpoint.send("POST", url, forward, headers)
        except UpstreamUnreachable as exc:
            watch.stop()
            return self._failed(call, dialect, 502, self._unreachable(exc), "upstream_error", "upstream_unreachable")
        except UpstreamError as exc:
            watch.stop()
            return self._failed(call, dialect, 502, self._dropped(exc), "upstream_error", "upstream_broken")
        except asyncio.CancelledError:
            if not watch.abandoned():
                raise
            return self._abandoned(call, "before the upstream answered")

        call.status = upstream.status_code
        limits = rate_limit_headers(upstream)
        if call.stream and upstream.is_success:
            # A client that did not ask for the usage chunk must not get one: it was asked for our count only.
            strip_usage = not asked_for_usage(payload)
            translator = dialect.stream(payload) if dialect is not None and payload is not None else None
            watch.stop()  # the stream watches for its client itself
            if translator is None:
                relayed = response_headers(upstream)
            else:
                relayed = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", **limits}
            redact, finish = self._redaction.text, self._recorder.finish
            return relay_stream(call, upstream, translator, strip_usage, relayed, redact, finish)

        # A whole body: a non-streaming answer, or an error the upstream sent instead of a stream.
        try:
            content = await upstream.aread()
        except UpstreamError as exc:
            message = self._redaction.text(f"upstream broke off its answer: {exc}")
            return self._failed(call, dialect, 502, message, "upstream_error", "upstream_broken")
        except asyncio.CancelledError:
            if not watch.abandoned():
                raise
            return self._abandoned(call, "while the upstream answered")
        finally:
            watch.stop()
            await upstream.aclose()

        if not upstream.is_success:
            content = self._redaction.body(content)
            call.error = self._redaction.text(error_text(upstream.status_code, content))[:MAX_ERROR_CHARS]
            self._recorder.finish(call)
            if dialect is None:
                return Response(content, status_code=upstream.status_code, headers=response_headers(upstream))
            return error_response(dialect, upstream.status_code, call.error, *error_fields(content), headers=limits)

        answer = json_object(content)
        call.facts.absorb(answer)
        if answer is None or not isinstance(answer.get("choices"), list):
            call.error = (
                f"upstream answered {upstream.status_code} with a body that is not a chat completion "
                f"({upstream.headers.get('content-type') or 'no content type'})"
            )
            if dialect is None:  # passed on as it came: the client's own parser says what it makes of it
                self._recorder.finish(call)
                return Response(content, status_code=upstream.status_code, headers=response_headers(upstream))
            return self._failed(call, dialect, 502, call.error, "upstream_error", "upstream_broken")
        self._recorder.finish(call)
        # A translated call has a payload: its dialect refused any body that is not a JSON object.
        if dialect is None or payload is None:
            return Response(content, status_code=upstream.status_code, headers=response_headers(upstream))
        return JSONResponse(dialect.from_chat(answer, payload), headers=limits)

    def _failed(
        self,
        call: CallInProgress,
        dialect: Dialect | None,
        status: int,
        message: str,
        err_type: str,
        code: str | None = None,
    ) -> Response:
        """Records the call as failed with `message` and answers the client with it."""
        call.status, call.error = status, message
        self._recorder.finish(call)
        return error_response(dialect, status, message, err_type, code)

    def _abandoned(self, call: CallInProgress, when: str) -> Response:
        """The client went away: recorded as nginx logs it (499); the upstream request is cancelled with it."""
        call.status, call.error = CLIENT_CLOSED, f"the client abandoned the call {when}"
        self._recorder.finish(call)
        return Response(status_code=CLIENT_CLOSED)  # nobody reads it

    def _dropped(self, exc: Exception) -> str:
        return self._redaction.text(f"upstream dropped the connection before answering: {exc}")

    def _unreachable(self, exc: Exception) -> str:
        return self._redaction.text(f"could not reach the upstream endpoint at {self._endpoint.host}: {exc}")
