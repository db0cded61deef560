"""fal.run's streaming route: `POST {run_url}/{endpoint_id}/stream` (fal_protocol.md section 2).

The server answers with server-sent `data:` events carrying partial outputs; the last event is
the final result, then the stream closes. Like the synchronous run it goes around the queue (no
server-side retries, cancelled if we disconnect), so opening it follows the NOT_IDEMPOTENT rule
of `http.py`: resent only when it certainly never reached fal, or on 429. Only some endpoints
stream; the others answer an error, raised as a `FalError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from fal_platform.client.endpoints import validate_endpoint_id
from fal_platform.client.errors import FalResponseError
from fal_platform.client.http import HttpTransport, RequestKind, json_events
from fal_platform.client.settings import ClientSettings


async def stream_run(
    transport: HttpTransport,
    settings: ClientSettings,
    endpoint_id: str,
    input: Mapping[str, Any],
    *,
    path: str = "/stream",
    timeout: float | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield each event's JSON object, partial outputs first and the final result last.

    `timeout` overrides the read timeout between events (None keeps the client default).
    """
    validate_endpoint_id(endpoint_id)
    url = f"{settings.run_url}/{endpoint_id}"
    if path.strip("/"):
        url = f"{url}/{path.strip('/')}"
    events = transport.stream_sse(
        url,
        operation="run_stream",
        method="POST",
        json=dict(input),
        kind=RequestKind.NOT_IDEMPOTENT,
        timeout=httpx.Timeout(timeout, connect=settings.connect_timeout)
        if timeout is not None
        else None,
    )
    async with aclosing(json_events(events, url=url, what="Stream")) as messages:
        async for data in messages:
            if not isinstance(data, dict):
                raise FalResponseError("Stream event is not a JSON object", url=url)
            yield data
