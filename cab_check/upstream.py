"""The recording proxy's client to the user's endpoint.

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
