"""The webhook receiver: fal POSTs `/fal/webhook`, we verify, record in the inbox, acknowledge.

What it trusts: only a delivery whose signature one of fal's published keys verifies, signed
within +-300 s of now. Anything else (a missing header, a tampered body, an unknown key, a stale
timestamp) gets 401 and writes nothing. A verified body that is not a delivery gets 400. The
200 is sent only once the delivery is committed (`inbox.py`), so a crash between the two makes
fal retry, never lose it; duplicates are idempotent there.

Deliveries arriving together are committed together: one writer task takes every delivery that
arrived since its last write and records them in one short connection (a group commit), so a
burst of a thousand webhooks costs a few database turns, not a thousand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fal_platform.webhooks.delivery import Delivery
from fal_platform.webhooks.inbox import WebhookInbox
from fal_platform.webhooks.jwks import JwksCache, JwksUnavailableError
from fal_platform.webhooks.rows import WebhookRow
from fal_platform.webhooks.signature import SignatureRejectedError, SignedHeaders, check_timestamp

logger = logging.getLogger("fal_platform.webhooks")

WEBHOOK_PATH = "/fal/webhook"
HEALTH_PATH = "/health"


@dataclass
class ReceiverStats:
    """Counters served on GET /health (tests and the benchmark read them)."""

    accepted: int = 0
    rejected: int = 0
    malformed: int = 0
    write_batches: int = 0
    rejections: dict[str, int] = field(default_factory=dict)


class InboxWriter:
    """Group commit of verified deliveries; `add` returns once its row is committed."""

    def __init__(self, inbox: WebhookInbox, stats: ReceiverStats) -> None:
        self._inbox = inbox
        self._stats = stats
        self._pending: list[tuple[WebhookRow, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def add(self, row: WebhookRow) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-inbox-writer")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await asyncio.to_thread(self._inbox.record, _merged([row for row, _ in batch]))
            except Exception as exc:  # the senders answer 503 and fal retries
                logger.error("recording %d webhook deliveries failed: %s", len(batch), exc)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self._stats.write_batches += 1
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _merged(rows: list[WebhookRow]) -> list[WebhookRow]:
    """One row per request id (a batch may hold a duplicate): the first, counting the others."""
    first: dict[str, WebhookRow] = {}
    for row in rows:
        kept = first.setdefault(row.request_id, row)
        if kept is not row:
            kept.deliveries += row.deliveries
    return list(first.values())


def _row_of(delivery: Delivery, headers: SignedHeaders) -> WebhookRow:
    return WebhookRow(
        request_id=delivery.request_id,
        status=delivery.status,
        gateway_request_id=delivery.gateway_request_id,
        payload=delivery.payload,
        error=delivery.error,
        payload_error=delivery.payload_error,
        user_id=headers.user_id,
        received_at=datetime.now(UTC),
    )


class Receiver:
    def __init__(
        self,
        inbox: WebhookInbox,
        jwks_url: str,
        *,
        min_refetch_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stats = ReceiverStats()
        self._inbox = inbox
        self._jwks_url = jwks_url
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._writer = InboxWriter(inbox, self.stats)
        self._http: httpx.AsyncClient | None = None
        self._jwks: JwksCache | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as http:
            self._jwks = JwksCache(self._jwks_url, http, min_refetch_seconds=self._min_refetch)
            await asyncio.to_thread(self._inbox.count)  # create the table, fail early
            await self._jwks.warm_up()
            try:
                yield
            finally:
                await self._writer.close()

    def _reject(self, reason: str) -> Response:
        self.stats.rejected += 1
        self.stats.rejections[reason] = self.stats.rejections.get(reason, 0) + 1
        return JSONResponse({"detail": "invalid webhook signature"}, 401)

    async def webhook(self, request: Request) -> Response:
        assert self._jwks is not None
        body = await request.body()
        try:
            headers = SignedHeaders.from_headers(request.headers)
            check_timestamp(headers.timestamp, self._clock())
        except SignatureRejectedError as exc:
            return self._reject(exc.reason)
        try:
            if not await self._jwks.verify(headers, body):
                return self._reject("signature")
        except JwksUnavailableError as exc:
            logger.warning("%s", exc)
            return JSONResponse({"detail": "webhook keys unavailable"}, 503)
        try:
            delivery = Delivery.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            self.stats.malformed += 1
            return JSONResponse({"detail": "not a fal webhook delivery"}, 400)
        if delivery.request_id != headers.request_id:
            return self._reject("request id mismatch")
        try:
            await self._writer.add(_row_of(delivery, headers))
        except Exception:
            return JSONResponse({"detail": "could not record the delivery"}, 503)
        self.stats.accepted += 1
        return JSONResponse({"ok": True, "request_id": delivery.request_id})

    async def health(self, request: Request) -> Response:
        stats = self.stats
        return JSONResponse(
            {
                "ok": True,
                "accepted": stats.accepted,
                "rejected": stats.rejected,
                "malformed": stats.malformed,
                "write_batches": stats.write_batches,
                "rejections": stats.rejections,
                "jwks_fetches": self._jwks.fetches if self._jwks else 0,
            }
        )


def create_receiver_app(receiver: Receiver) -> Starlette:
    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, receiver.webhook, methods=["POST"]),
            Route(HEALTH_PATH, receiver.health, methods=["GET"]),
        ],
        lifespan=receiver.lifespan,
    )
