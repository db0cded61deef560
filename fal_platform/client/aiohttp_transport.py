"""httpx's API over aiohttp's connection pool, errors kept exact, at little CPU per request.

Why aiohttp: httpcore's pool looks at every pooled connection on every request (`has_expired`,
one `getpeername` each; encode/httpcore PR 924), which made HTTP the engine's largest CPU cost;
aiohttp's pool does not (benchmarks/README.md section 7).

Why not the `httpx-aiohttp` library's transport as it is: it maps every
`aiohttp.ClientConnectionError`, including a server that disconnected after reading the request,
to `httpx.ConnectTimeout`, which says "never sent". A submit must only be resent when it provably
never left (`error_mapping.is_certainly_not_sent`), so errors are mapped here from aiohttp's own
exception: only a failure to connect (or to get a connection in time) becomes a connect error;
everything after is a read error that may follow an accepted submit. Its request path also costs
more CPU than aiohttp itself, as do httpx.AsyncClient's per-request layers (`FalAiohttpTransport`
and `DirectClient` say what they leave out).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from fal_platform.client.tls import shared_ssl_context

END_GRACE_SECONDS = 0.05
"""How long closing an unfinished response waits for its end, to keep the connection."""
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
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise httpx_error(exc) from exc


class _Body(httpx.AsyncByteStream):
    """An aiohttp response's body as httpx reads it, errors mapped, chunks as they arrive."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        content = self._response.content
        if not content.is_eof():
            # A reader that stopped at the last event it wanted (a status stream at COMPLETED)
            # left the end of the body in flight: waiting for it keeps the connection.
            with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                await asyncio.wait_for(content.wait_eof(), END_GRACE_SECONDS)
        with _mapped():
            await self._response.__aexit__(None, None, None)  # back to the pool if at its end


@functools.lru_cache(maxsize=16)
def _client_timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)


class FalAiohttpTransport(AiohttpTransport):
    """An aiohttp pool under httpx's transport API: `AiohttpTransport`'s pool and settings,
    with its request path rewritten to cost less and to keep `httpx_error`'s mapping.

    The library's path hands aiohttp httpx's `Headers` (whose items are decoded again for
    every request: a sixth of a submit's CPU), builds a timeout per request, wraps the body
    in two streams and maps errors twice; this one passes plain strings, caches the timeout,
    reads the body in one layer. No cookie jar: fal sets no cookies, and aiohttp's parses
    every response. Only what `pooled_transport` configures is supported (no proxy, no UDS).
    """

    def get_client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            limit=self.limits.max_connections or 100,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        try:
            data: Any = request.content or None
        except httpx.RequestNotRead:
            data = request.stream
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        with _mapped():
            response = await self.client.request(
                request.method,
                str(request.url),
                headers=headers,
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=_client_timeout(
                    timeout.get("connect"), timeout.get("read"), timeout.get("pool")
                ),
            ).__aenter__()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode(),
            },
        )


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
