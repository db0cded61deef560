"""`FalClient`: the entry point that owns the connection pool shared by all fal calls."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from types import TracebackType
from typing import Any

import httpx

from fal_platform.client.aiohttp_transport import DirectClient, pooled_transport
from fal_platform.client.http import HttpTransport, OnRetry
from fal_platform.client.platform import PlatformClient
from fal_platform.client.queue import QueueClient
from fal_platform.client.settings import ClientSettings
from fal_platform.client.storage import StorageClient
from fal_platform.client.stream import stream_run


class FalClient:
    """The queue, run and platform APIs over two connection pools (and uploads over a third,
    keyless one: `storage.py`).

    Use it as `async with FalClient(settings) as fal: ...`. Short calls share a small pool of
    warm connections; status streams, each holding a connection for as long as its request
    runs, get a pool of their own so they can never starve submits and results. Both pools are
    aiohttp's, under httpx's API (`aiohttp_transport.py` says why).

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
        timeout = httpx.Timeout(
            self.settings.request_timeout, connect=self.settings.connect_timeout
        )

        def pool(connections: int) -> httpx.AsyncClient:
            return DirectClient(
                headers=headers,
                timeout=timeout,
                transport=transport if transport is not None else pooled_transport(connections),
            )

        self._http = pool(self.settings.max_request_connections)
        self._streams = pool(self.settings.max_connections)
        self._transport = HttpTransport(
            self._http,
            streams=self._streams,
            api_key=self.settings.api_key,
            retry=self.settings.retry,
            on_retry=on_retry,
        )
        self.queue = QueueClient(self._transport, self.settings)
        self.platform = PlatformClient(self._transport, self.settings)
        self.storage = StorageClient(self.settings, on_retry=on_retry)

    def stream(
        self,
        endpoint_id: str,
        input: Mapping[str, Any],
        *,
        path: str = "/stream",
        timeout: float | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """fal.run's stream: partial outputs as they come, the final result last (`stream.py`)."""
        return stream_run(
            self._transport, self.settings, endpoint_id, input, path=path, timeout=timeout
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._streams.aclose()
        await self.storage.aclose()

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
