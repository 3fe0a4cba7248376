"""The recording proxy's side of the user's endpoint: its client, and which headers cross to it and back.

aiohttp, not httpx: every model call crosses this client, and on the 2-core machines cab-check is measured on
httpx's pure-Python stack cost about 2.7 ms of CPU per small call against aiohttp's 0.5 ms (bench/proxy_latency.py,
docs/performance.md). What a user has configured still applies as it does for the rest of cab-check, which speaks
httpx: certificates come from httpx's own SSL context (SSL_CERT_FILE, SSL_CERT_DIR, else certifi) and proxies
from the environment (HTTPS_PROXY, NO_PROXY)."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDictProxy

CONNECT_TIMEOUT_S = 10.0  # no read timeout: a slow model is the run's timeout to judge, not the proxy's


class UpstreamError(Exception):
    """The endpoint broke off: it dropped the connection, or its answer; `str()` says how."""


class UpstreamUnreachable(UpstreamError):
    """No connection to the endpoint could be made (refused, no route, no such name, TLS refused)."""


class UpstreamResponse:
    """An answer whose body is read (whole, or chunk by chunk as it arrives) after its head."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers: CIMultiDictProxy[str] = response.headers

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    async def aread(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise UpstreamError(_describe(exc)) from exc

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise UpstreamError(_describe(exc)) from exc

    async def aclose(self) -> None:
        self._response.close()  # an unfinished body is dropped with its connection, never read to its end


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY; NO_PROXY), as httpx reads it."""
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


class UpstreamClient:
    """Connections to one endpoint, kept alive between calls. Made lazily inside the event loop that uses it."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}  # by scheme://host: read once, not per call

    def _open_session(self) -> aiohttp.ClientSession:
        import httpx

        connector = aiohttp.TCPConnector(ssl=httpx.create_ssl_context())
        # trust_env would read proxy settings and .netrc on a worker thread for every call; proxies are read once.
        return aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=None),
        )

    async def send(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> UpstreamResponse:
        """The response once its head has arrived."""
        if self._session is None:
            self._session = self._open_session()
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        if origin not in self._proxies:
            self._proxies[origin] = environment_proxy(url)
        try:
            response = await self._session.request(
                method,
                url,
                data=body or None,
                headers=dict(headers),
                allow_redirects=False,
                proxy=self._proxies[origin],
            )
        except (TimeoutError, aiohttp.ClientConnectorError) as exc:  # the connect timeout is the only one
            raise UpstreamUnreachable(_describe(exc)) from exc
        except (aiohttp.ClientError, OSError) as exc:  # connected, then dropped before the answer's head
            raise UpstreamError(_describe(exc)) from exc
        return UpstreamResponse(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, asyncio.TimeoutError):
        text = text or f"no connection within {CONNECT_TIMEOUT_S:.0f} s"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- which headers cross the proxy ---------------------------------------------------------------------------------

# Headers that describe one hop (RFC 9110 §7.6.1); neither direction may forward them.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
# Plus what we set ourselves or what carries the agent's token.
_DROP_REQUEST_HEADERS = _HOP_BY_HOP | {"host", "authorization", "x-api-key", "api-key", "accept-encoding", "cookie"}
_DROP_RESPONSE_HEADERS = _HOP_BY_HOP | {"content-encoding", "date", "server", "set-cookie"}
# Rate-limit and retry headers of an OpenAI-compatible upstream: what a client's retry logic reads, on every route.
_RATE_LIMIT_HEADERS = ("retry-after", "retry-after-ms", "x-ratelimit-", "ratelimit-", "anthropic-ratelimit-")


def response_headers(upstream: UpstreamResponse) -> dict[str, str]:
    """The upstream's headers a passed-through answer carries to the client."""
    return {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP_RESPONSE_HEADERS}


def rate_limit_headers(upstream: UpstreamResponse) -> dict[str, str]:
    return {k: v for k, v in upstream.headers.items() if k.lower().startswith(_RATE_LIMIT_HEADERS)}


def is_event_stream(upstream: UpstreamResponse) -> bool:
    return upstream.headers.get("content-type", "").startswith("text/event-stream")


class Endpoint:
    """The user's endpoint as the proxy reaches it: the URL a client's path maps to, the headers sent with the real
    key swapped in for the agent's token, and the connections, made in the event loop that serves the proxy."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        parts = urlsplit(self.base_url)
        # Host and port only: a URL may carry user:password, which must never reach a message.
        self.host = parts.hostname or self.base_url
        if parts.port:
            self.host += f":{parts.port}"
        self._client: UpstreamClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def url(self, path: str, query: str) -> str:
        """Where a passed-through request goes: its path, without /v1, under the base URL (which has its own)."""
        tail = path[len("/v1") :] if path.startswith("/v1/") else path
        url = self.base_url + tail
        return f"{url}?{query}" if query else url

    @property
    def chat_url(self) -> str:
        return self.base_url + "/chat/completions"

    def forwarded_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The client's headers for a passed-through request: its own, less the hop's and its token."""
        forwarded = {k: v for k, v in headers.items() if k.lower() not in _DROP_REQUEST_HEADERS}
        # Identity encoding keeps the relayed bytes readable by the SSE watcher and by the agent alike.
        forwarded["accept-encoding"] = "identity"
        if self._api_key:
            forwarded["authorization"] = f"Bearer {self._api_key}"
        return forwarded

    def translated_headers(self, stream: bool) -> dict[str, str]:
        # A translated request is a new chat request: the client's headers describe another API (anthropic-beta,
        # Codex's session ids), so none of them are forwarded.
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "accept-encoding": "identity",
        }
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    async def send(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> UpstreamResponse:
        return await self._http().send(method, url, body, headers)

    def _http(self) -> UpstreamClient:
        # Created on first use, inside the server's event loop, which is the loop it must live in.
        if self._client is None:
            self._client = UpstreamClient()
            self._client_loop = asyncio.get_running_loop()
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def close(self) -> None:
        """Closes the connections from any thread, in the loop they live in while it still runs."""
        loop, client = self._client_loop, self._client
        if client is None or loop is None or loop.is_closed() or not loop.is_running():
            self._client = None
            return
        try:
            asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(timeout=5)
        except Exception:  # noqa: BLE001 - closing is best effort; the loop is going away anyway
            self._client = None
