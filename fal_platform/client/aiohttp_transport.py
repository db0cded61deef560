"""httpx's API over aiohttp's connection pool (the `httpx-aiohttp` transport), errors kept exact.

Why: httpcore's pool looks at every pooled connection on every request (`has_expired`, one
`getpeername` each; encode/httpcore PR 924), which made HTTP the engine's largest CPU cost;
aiohttp's pool does not (benchmarks/README.md, "HTTP transport").

Why not `AiohttpTransport` as it is: it maps every `aiohttp.ClientConnectionError`, including a
server that disconnected after reading the request, to `httpx.ConnectTimeout`, which says "never
sent", and lets some aiohttp errors through unmapped. A submit must only be resent when it
provably never left (`error_mapping.is_certainly_not_sent`), so the errors are mapped again
here from aiohttp's own exception: only a failure to connect (or to get a connection in time)
becomes a connect error; everything after is a read error that may follow an accepted submit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from fal_platform.client.tls import shared_ssl_context

_UNSUPPORTED_URL = (aiohttp.NonHttpUrlClientError, aiohttp.InvalidUrlClientError)


def httpx_error(exc: BaseException) -> httpx.TransportError:
    """The httpx exception that tells as much as aiohttp's about whether the request left."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)  # connecting, or waiting for a pooled connection
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, _UNSUPPORTED_URL):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    return httpx.ReadError(message)


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientError | TimeoutError):
            raise httpx_error(cause) from cause
        raise
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise httpx_error(exc) from exc


class _MappedStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        with _mapped():
            await self._stream.aclose()


class FalAiohttpTransport(AiohttpTransport):
    """`AiohttpTransport` with `httpx_error`'s mapping, for sending and for reading the body,
    and without a cookie jar (fal sets no cookies; aiohttp's jar parses every response)."""

    def get_client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=self.limits.max_connections or 100,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _mapped():
            response = await super().handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _MappedStream(response.stream)
        return response


class _NoCookies(httpx.Cookies):
    """An always-empty jar: storing a response's cookies costs ~0.1 ms of CPU per request."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class CookielessClient(httpx.AsyncClient):
    """`httpx.AsyncClient` that neither stores nor sends cookies (fal's API uses none)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        """Whatever it is given, this client keeps no cookies."""


def pooled_transport(connections: int) -> httpx.AsyncBaseTransport:
    """One aiohttp pool of at most `connections` connections, all kept alive."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return FalAiohttpTransport(limits=limits, verify=shared_ssl_context())
