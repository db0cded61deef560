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
from collections.abc import AsyncIterator, Iterator, Mapping
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


class DirectClient(httpx.AsyncClient):
    """`httpx.AsyncClient` whose requests go straight to its one transport.

    fal's API needs none of the client's per-request layers: no base URL, auth flow,
    redirects, cookies (fal sets none) or event hooks. They cost ~0.2 ms of CPU a request,
    more than aiohttp itself (benchmarks/README.md section 7, "Fourth round"), so `build_request`
    only adds the client's headers and timeout, and `send` hands the request to the transport,
    attaching the request to a transport error as httpx does. Nothing else changes:
    `request`, `stream` and httpx-sse's `aconnect_sse` work through these two.
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, follow_redirects=False, **kwargs)
        self._direct = transport
        self._timeout_extension = self.timeout.as_dict()

    def build_request(  # type: ignore[override]
        self,
        method: str,
        url: httpx.URL | str,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        timeout: Any = httpx.USE_CLIENT_DEFAULT,
        **unused: Any,
    ) -> httpx.Request:
        if any(value is not None for value in unused.values()):
            raise TypeError(f"DirectClient does not send {sorted(unused)}")
        merged = self.headers.copy()
        if headers:
            merged.update(headers)
        default = timeout is httpx.USE_CLIENT_DEFAULT
        extension = self._timeout_extension if default else httpx.Timeout(timeout).as_dict()
        return httpx.Request(
            method,
            url,
            params=params,
            headers=merged,
            json=json,
            content=content,
            extensions={"timeout": extension},
        )

    async def send(
        self, request: httpx.Request, *, stream: bool = False, **unused: Any
    ) -> httpx.Response:
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        try:
            response = await self._direct.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        if not stream:
            try:
                await response.aread()  # reading to the end closes the response
            except BaseException:
                await response.aclose()
                raise
        return response


def pooled_transport(connections: int) -> httpx.AsyncBaseTransport:
    """One aiohttp pool of at most `connections` connections, all kept alive."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return FalAiohttpTransport(limits=limits, verify=shared_ssl_context())
