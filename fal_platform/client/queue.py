"""The queue API (`queue.fal.run`) and the synchronous route (`fal.run`)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import httpx

from fal_platform.client.decode import billable_units, json_object, required_str
from fal_platform.client.endpoints import validate_endpoint_id
from fal_platform.client.error_mapping import REQUEST_ID_HEADER
from fal_platform.client.errors import (
    FalBadRequestError,
    FalConnectionError,
    FalError,
)
from fal_platform.client.http import HttpTransport, RequestKind, json_events
from fal_platform.client.models import (
    CancelOutcome,
    Completed,
    InProgress,
    LogEntry,
    QueueResult,
    QueueStatus,
    RequestHandle,
    RunResult,
    parse_status,
)
from fal_platform.client.settings import (
    ClientSettings,
    Priority,
    validate_priority,
    validate_start_timeout,
)

logger = logging.getLogger("fal_platform.client")

OnStatus = Callable[[QueueStatus], Awaitable[None] | None]


def _logs_param(logs: bool) -> dict[str, str] | None:
    """fal's docs and JS client use `logs=1`; without it fal sends no logs, so nothing is sent
    then (merging a query into a URL is a large share of a status call's CPU)."""
    return {"logs": "1"} if logs else None


def _stream_url(status_url: str) -> str:
    """`.../status` -> `.../status/stream`, keeping a query; string work, since parsing a URL
    costs as much CPU as a tenth of the stream's request."""
    path, mark, query = status_url.partition("?")
    return f"{path.rstrip('/')}/stream{mark}{query}"


def _body_status(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    status = body.get("status") if isinstance(body, dict) else None
    return status if isinstance(status, str) else None


def _is_already_completed(response: httpx.Response) -> bool:
    return response.status_code == 400 and _body_status(response) == "ALREADY_COMPLETED"


async def _notify(on_status: OnStatus | None, status: QueueStatus) -> None:
    if on_status is None:
        return
    outcome = on_status(status)
    if inspect.isawaitable(outcome):
        await outcome


class QueueClient:
    """Submit jobs to fal's queue and follow them to a result.

    Handles returned by `submit` carry the URLs fal returned, which are used verbatim: fal
    documents them as the source of truth. Rebuild URLs (`RequestHandle.from_ids`) only
    when all you have left is a stored request id.
    """

    def __init__(self, transport: HttpTransport, settings: ClientSettings) -> None:
        self._transport = transport
        self._settings = settings

    def _job_headers(
        self, start_timeout: float | None, priority: Priority | None, hint: str | None
    ) -> dict[str, str]:
        headers: dict[str, str] = {}
        timeout = start_timeout if start_timeout is not None else self._settings.start_timeout
        validate_start_timeout(timeout)
        if timeout is not None:
            headers["X-Fal-Request-Timeout"] = str(float(timeout))
        chosen = priority if priority is not None else self._settings.priority
        validate_priority(chosen)
        if chosen is not None:
            headers["X-Fal-Queue-Priority"] = chosen
        if hint is not None:
            headers["X-Fal-Runner-Hint"] = hint
        return headers

    async def submit(
        self,
        endpoint_id: str,
        input: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        start_timeout: float | None = None,
        priority: Priority | None = None,
        hint: str | None = None,
    ) -> RequestHandle:
        """Queue one job. Never resent after it may have reached fal (see `http.py`).

        On failure, check `FalError.may_have_been_accepted`: when True the job may be queued
        (and billed), so look it up in request history before submitting it again.
        """
        validate_endpoint_id(endpoint_id)
        response = await self._transport.request(
            "POST",
            f"{self._settings.queue_url}/{endpoint_id}",
            operation="submit",
            kind=RequestKind.NOT_IDEMPOTENT,
            params={"fal_webhook": webhook_url} if webhook_url else None,
            json=dict(input),
            headers=self._job_headers(start_timeout, priority, hint),
        )
        what = "Submit response"
        data = json_object(response, what, may_have_been_accepted=True)

        def field(key: str) -> str:
            return required_str(response, data, key, what, may_have_been_accepted=True)

        position = data.get("queue_position")
        return RequestHandle(
            endpoint_id=endpoint_id,
            request_id=field("request_id"),
            status_url=field("status_url"),
            response_url=field("response_url"),
            cancel_url=field("cancel_url"),
            queue_position=position
            if isinstance(position, int) and not isinstance(position, bool)
            else None,
        )

    async def status(self, handle: RequestHandle, *, logs: bool = False) -> QueueStatus:
        response = await self._transport.request(
            "GET",
            handle.status_url,
            operation="status",
            kind=RequestKind.IDEMPOTENT,
            params=_logs_param(logs),
        )
        return parse_status(json_object(response, "Status response"), url=handle.status_url)

    async def stream_status(
        self, handle: RequestHandle, *, logs: bool = False
    ) -> AsyncGenerator[QueueStatus, None]:
        """Follow the status over server-sent events until `Completed`.

        fal sends only the log lines that are new since the previous event; like fal's JS
        client, this accumulates them, so each yielded status carries every log line so far,
        the same as a polled `status(logs=True)` would.

        Raises a `FalError` (usually `FalConnectionError` or `FalTimeoutError`) if the stream
        breaks or ends early; callers can then fall back to polling `status()`.
        """
        url = _stream_url(handle.status_url)
        seen_logs: list[LogEntry] = []
        events = self._transport.stream_sse(
            url, operation="status_stream", params=_logs_param(logs)
        )
        async with aclosing(json_events(events, url=url, what="Status stream")) as messages:
            async for data in messages:
                status = parse_status(data, url=url)
                if isinstance(status, InProgress | Completed):
                    seen_logs.extend(status.logs)
                    status = replace(status, logs=list(seen_logs))
                yield status
                if isinstance(status, Completed):
                    return
        raise FalConnectionError("Status stream ended before the request completed", url=url)

    async def result(self, handle: RequestHandle) -> QueueResult:
        """Fetch the output. A failed job raises the job's own error (not retried)."""
        response = await self._transport.request(
            "GET", handle.response_url, operation="result", kind=RequestKind.IDEMPOTENT
        )
        if response.status_code == 202:
            # Some gateways answer an early result fetch with 202 and the status body; that
            # body must never be mistaken for the model output.
            raise FalBadRequestError(
                f"Result not ready: request is {_body_status(response) or 'not completed'}",
                status_code=202,
                request_id=handle.request_id,
                url=handle.response_url,
                server_retryable=True,
            )
        return QueueResult(
            output=json_object(response, "Result response"),
            request_id=handle.request_id,
            billable_units=billable_units(response),
        )

    async def cancel(self, handle: RequestHandle) -> CancelOutcome:
        response = await self._transport.request(
            "PUT",
            handle.cancel_url,
            operation="cancel",
            kind=RequestKind.IDEMPOTENT,
            accept=_is_already_completed,
        )
        if _body_status(response) == "ALREADY_COMPLETED":
            return CancelOutcome.ALREADY_COMPLETED
        return CancelOutcome.REQUESTED

    async def run(
        self,
        endpoint_id: str,
        input: Mapping[str, Any],
        *,
        path: str = "",
        timeout: float | None = None,
        start_timeout: float | None = None,
        hint: str | None = None,
    ) -> RunResult:
        """Run synchronously on the `fal.run` route (no queue, no server-side retries).

        `timeout` overrides the read timeout for this call (None keeps the client default,
        unlike fal-client where None means "wait forever"). Not idempotent: retried only when
        the request never left this machine, or on 429.
        """
        validate_endpoint_id(endpoint_id)
        url = f"{self._settings.run_url}/{endpoint_id}"
        if path.strip("/"):
            url = f"{url}/{path.strip('/')}"
        response = await self._transport.request(
            "POST",
            url,
            operation="run",
            kind=RequestKind.NOT_IDEMPOTENT,
            json=dict(input),
            headers=self._job_headers(start_timeout, None, hint),
            timeout=httpx.Timeout(timeout, connect=self._settings.connect_timeout)
            if timeout is not None
            else None,
        )
        return RunResult(
            output=json_object(response, "Run response", may_have_been_accepted=True),
            request_id=response.headers.get(REQUEST_ID_HEADER),
            billable_units=billable_units(response),
        )

    async def wait(
        self,
        handle: RequestHandle,
        *,
        on_status: OnStatus | None = None,
        logs: bool = False,
        use_stream: bool = True,
        poll_interval: float = 0.5,
        max_poll_interval: float = 5.0,
    ) -> Completed:
        """Wait for `Completed`: stream the status, falling back to polling if the stream breaks.

        Polling starts at `poll_interval` and backs off by 1.5x up to `max_poll_interval`,
        so a long queue does not cost a request every half second.
        """
        if use_stream:
            stream = self.stream_status(handle, logs=logs)
            async with aclosing(stream):
                while True:
                    try:
                        status = await anext(stream)
                    except FalError as exc:
                        logger.info(
                            "status stream for %s broke, polling instead: %s",
                            handle.request_id,
                            exc,
                        )
                        break
                    await _notify(on_status, status)
                    if isinstance(status, Completed):
                        return status
        interval = poll_interval
        while True:
            status = await self.status(handle, logs=logs)
            await _notify(on_status, status)
            if isinstance(status, Completed):
                return status
            await asyncio.sleep(interval)
            interval = min(interval * 1.5, max_poll_interval)

    async def subscribe(
        self,
        endpoint_id: str,
        input: Mapping[str, Any],
        *,
        on_status: OnStatus | None = None,
        logs: bool = False,
        webhook_url: str | None = None,
        start_timeout: float | None = None,
        priority: Priority | None = None,
        hint: str | None = None,
        use_stream: bool = True,
        poll_interval: float = 0.5,
    ) -> QueueResult:
        """Submit, wait for completion (stream, else poll), and fetch the result."""
        handle = await self.submit(
            endpoint_id,
            input,
            webhook_url=webhook_url,
            start_timeout=start_timeout,
            priority=priority,
            hint=hint,
        )
        await self.wait(
            handle,
            on_status=on_status,
            logs=logs,
            use_stream=use_stream,
            poll_interval=poll_interval,
        )
        return await self.result(handle)
