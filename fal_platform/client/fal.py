"""`FalClient`: the entry point that owns the connection pool shared by all fal calls."""

from __future__ import annotations

from types import TracebackType

import httpx

from fal_platform.client.http import HttpTransport, OnRetry
from fal_platform.client.platform import PlatformClient
from fal_platform.client.queue import QueueClient
from fal_platform.client.settings import ClientSettings


class FalClient:
    """One `httpx.AsyncClient` for the queue, run and platform APIs.

    Use it as `async with FalClient(settings) as fal: ...`. A single pool (rather than one per
    API) bounds the total number of sockets a batch opens, and keeps connections alive between
    the many small status calls a batch makes.

    `transport` is for plugging in an httpx transport (e.g. a proxy or custom TLS), not for
    mocking: tests run against the emulator.
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        on_retry: OnRetry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings if settings is not None else ClientSettings.from_env()
        headers = {"User-Agent": self.settings.user_agent}
        if self.settings.api_key.is_set:
            headers["Authorization"] = self.settings.api_key.header_value()
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(
                self.settings.request_timeout, connect=self.settings.connect_timeout
            ),
            limits=httpx.Limits(
                max_connections=self.settings.max_connections,
                max_keepalive_connections=self.settings.max_connections,
            ),
            follow_redirects=False,
            transport=transport,
        )
        self._transport = HttpTransport(
            self._http,
            api_key=self.settings.api_key,
            retry=self.settings.retry,
            on_retry=on_retry,
        )
        self.queue = QueueClient(self._transport, self.settings)
        self.platform = PlatformClient(self._transport, self.settings)

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    async def __aenter__(self) -> FalClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"FalClient(queue_url={self.settings.queue_url!r}, api_key={self.settings.api_key!r})"
        )
