"""The one place that sends HTTP requests to fal: error mapping and retries live here only.

Retry rules differ by what a request does. Reading (status, result, platform GETs) and
cancelling are idempotent, so any transient failure is retried. Submitting a job is not: a
resend after fal has accepted the first copy queues, and bills, the job twice. So a submit
(and a synchronous run) is resent only when the request provably never reached fal
(connect-phase failures) or fal explicitly refused it with 429; every other failure is raised
with `may_have_been_accepted=True` for the caller to reconcile against request history.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx
import httpx_sse

from fal_platform.client.auth import ApiKey
from fal_platform.client.error_mapping import (
    error_from_exception,
    error_from_response,
    is_certainly_not_sent,
    is_gateway_like,
)
from fal_platform.client.errors import FalError, FalRateLimitedError, FalResponseError
from fal_platform.client.retry import RetryPolicy

logger = logging.getLogger("fal_platform.client")

QueryParams = Mapping[str, Any] | list[tuple[str, Any]]


class RequestKind(enum.Enum):
    """Whether a request may be repeated without changing what fal does."""

    IDEMPOTENT = "idempotent"
    """Reads and cancels: retried on transport errors, timeouts, 408, 429, gateway 5xx."""

    NOT_IDEMPOTENT = "not_idempotent"
    """Submit and the sync run: retried only when certainly not sent, or on 429."""


@dataclass(frozen=True)
class RetryEvent:
    """Passed to the `on_retry` hook before each backoff sleep (useful for counting retries)."""

    operation: str
    attempt: int
    delay: float
    error: FalError


OnRetry = Callable[[RetryEvent], None]


def should_retry_response(kind: RequestKind, response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True  # fal refused before doing anything, so even a submit is safe to resend.
    if kind is RequestKind.NOT_IDEMPOTENT:
        return False
    return response.status_code == 408 or is_gateway_like(response)


def should_retry_exception(kind: RequestKind, exc: httpx.RequestError) -> bool:
    if kind is RequestKind.NOT_IDEMPOTENT:
        return is_certainly_not_sent(exc)
    # Wrong content type on a stream, or a URL scheme httpx cannot speak: not transient.
    return isinstance(exc, httpx.TransportError) and not isinstance(
        exc, httpx_sse.SSEError | httpx.UnsupportedProtocol
    )


class HttpTransport:
    """Sends requests over a shared `httpx.AsyncClient`, raising typed `FalError`s."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        streams: httpx.AsyncClient | None = None,
        api_key: ApiKey,
        retry: RetryPolicy,
        on_retry: OnRetry | None = None,
    ) -> None:
        self._client = client
        self._streams = streams if streams is not None else client
        self._api_key = api_key
        self._retry = retry
        self._on_retry = on_retry

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry

    async def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        kind: RequestKind,
        params: QueryParams | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        accept: Callable[[httpx.Response], bool] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send with retries; return a 2xx response (or one `accept` allows), else raise.

        `accept` lets a caller claim a non-2xx answer that is part of the protocol, like the
        cancel route's 400 `ALREADY_COMPLETED`.
        """
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        if content is not None:
            extra["content"] = content  # uploads (client/storage.py): raw bytes, not JSON
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._client.request(
                    method, url, params=params, json=json, headers=headers, **extra
                )
            except httpx.RequestError as exc:
                error = self._exception_error(exc, url, kind)
                if should_retry_exception(kind, exc) and await self._backoff(
                    operation, attempt, error
                ):
                    continue
                raise error from exc
            if response.is_success or (accept is not None and accept(response)):
                return response
            error = self._response_error(response, kind)
            if should_retry_response(kind, response) and await self._backoff(
                operation, attempt, error
            ):
                continue
            raise error

    async def stream_sse(
        self,
        url: str,
        *,
        operation: str,
        params: QueryParams | None = None,
        timeout: httpx.Timeout | None = None,
        method: str = "GET",
        json: Any = None,
        kind: RequestKind = RequestKind.IDEMPOTENT,
    ) -> AsyncGenerator[httpx_sse.ServerSentEvent, None]:
        """Yield server-sent events from a GET (or, for fal.run's stream, a POST of `json`).

        Opening the stream is retried by `kind`'s rules (a POST that runs a job is
        NOT_IDEMPOTENT). Once an event has been delivered, a failure is raised instead: the
        caller has already acted on part of the stream and knows better (e.g. fall back to
        polling) than a blind reconnect.
        """
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        if json is not None:
            extra["json"] = json
        attempt = 0
        while True:
            attempt += 1
            delivered = False
            error: FalError | None = None
            try:
                async with httpx_sse.aconnect_sse(
                    self._streams, method, url, params=params, **extra
                ) as source:
                    response = source.response
                    if not response.is_success:
                        await response.aread()
                        error = self._response_error(response, kind)
                        if not should_retry_response(kind, response):
                            raise error
                    else:
                        response.encoding = "utf-8"  # SSE's by definition: no charset parsing
                        async for event in source.aiter_sse():
                            delivered = True
                            yield event
                        return
            except httpx.RequestError as exc:
                error = self._exception_error(exc, url, kind)
                if delivered or not should_retry_exception(kind, exc):
                    raise error from exc
            assert error is not None  # only retryable failures before any event get here
            if not await self._backoff(operation, attempt, error):
                raise error

    def _exception_error(self, exc: httpx.RequestError, url: str, kind: RequestKind) -> FalError:
        return error_from_exception(
            exc,
            url=url,
            api_key=self._api_key,
            may_be_accepted_if_sent=kind is RequestKind.NOT_IDEMPOTENT,
        )

    def _response_error(self, response: httpx.Response, kind: RequestKind) -> FalError:
        return error_from_response(
            response,
            api_key=self._api_key,
            may_have_been_accepted=kind is RequestKind.NOT_IDEMPOTENT,
        )

    async def _backoff(self, operation: str, attempt: int, error: FalError) -> bool:
        """Sleep before the next try; False when the attempts are used up."""
        if attempt >= self._retry.max_attempts:
            return False
        retry_after = error.retry_after if isinstance(error, FalRateLimitedError) else None
        delay = self._retry.delay(attempt, retry_after)
        logger.info(
            "fal %s failed (attempt %d/%d), retrying in %.2fs: %s",
            operation,
            attempt,
            self._retry.max_attempts,
            delay,
            error,
        )
        if self._on_retry is not None:
            self._on_retry(
                RetryEvent(operation=operation, attempt=attempt, delay=delay, error=error)
            )
        await asyncio.sleep(delay)
        return True


async def json_events(
    events: AsyncGenerator[httpx_sse.ServerSentEvent, None], *, url: str, what: str
) -> AsyncGenerator[Any, None]:
    """The JSON data of each message event of `events` (fal sends no other kind; empty ones,
    keep-alives, are skipped), closing `events` when done. Data that is not JSON raises
    `FalResponseError("<what> event is not JSON")`. Both of fal's SSE routes read through this:
    the queue's status stream (`queue.py`) and fal.run's stream (`stream.py`)."""
    async with aclosing(events):
        async for event in events:
            if event.event not in ("", "message") or not event.data.strip():
                continue
            try:
                data = json.loads(event.data)
            except ValueError:
                raise FalResponseError(f"{what} event is not JSON", url=url) from None
            yield data
