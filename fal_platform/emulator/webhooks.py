"""Webhook delivery for submits that carry `?fal_webhook=<url>` (fal_protocol.md section 1.7).

When a job ends, its outcome is POSTed to the URL, signed as fal signs (Ed25519 over
`request_id \\n user_id \\n timestamp \\n sha256_hex(body)`) with the emulator's own key, whose
JWKS is served at `/.well-known/jwks.json` (point the receiver there). A non-2xx answer or a
connection error is retried with exponential backoff, up to `webhook_attempts` (fal: 10 in 2
hours). Faults, by option: duplicate delivery, a fixed delay, a random extra delay that makes
deliveries arrive out of order, lost deliveries, a receiver that is "down" for N seconds, and
signatures from a key the JWKS does not list.

The key is derived from the seed (`signing_key`), so tests can sign deliveries of their own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fal_platform.emulator.config import EmulatorConfig
from fal_platform.emulator.jobs import Job
from fal_platform.webhooks.signature import jwk_of, sign

logger = logging.getLogger("fal_platform.emulator")

JWKS_PATH = "/.well-known/jwks.json"
MAX_END_SLEEP = 0.5
"""Re-check a job's end at least this often (a cancel ends it early)."""


def signing_key(seed: int, purpose: str = "webhook") -> Ed25519PrivateKey:
    """The emulator's webhook key for `seed` (`purpose="forged"`: the key of bad signatures)."""
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    )


def key_id(seed: int) -> str:
    return f"fal-emulator-{seed}"


def delivery_body(job: Job, output: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """fal's delivery body: OK with the output, or ERROR with the error body the result route
    would have answered and `error: "Invalid status code: <code>"`."""
    body: dict[str, Any] = {"request_id": job.request_id, "gateway_request_id": job.request_id}
    if job.error is None:
        return {**body, "status": "OK", "payload": output(), "error": None}
    return {
        **body,
        "status": "ERROR",
        "payload": job.error.body(),
        "error": f"Invalid status code: {job.error.status_code}",
    }


class WebhookDispatcher:
    def __init__(self, config: EmulatorConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._key = signing_key(config.seed)
        self._forged = signing_key(config.seed, "forged")
        self._random = random.Random(f"{config.seed}:webhooks")
        self._down_until = time.monotonic() + config.webhook_down_seconds
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self.counts: Counter[str] = Counter()

    def reconfigure(self, config: EmulatorConfig) -> None:
        self._config = config
        self._down_until = time.monotonic() + config.webhook_down_seconds

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jwk_of(self._key.public_key(), key_id(self._config.seed))]}

    def schedule(self, job: Job, url: str, output: Callable[[], dict[str, Any]]) -> None:
        """Deliver `job`'s outcome to `url` once it ends (in the background)."""
        config = self._config
        self.counts["scheduled"] += 1
        if self._http is None:  # made now, while the job runs, not when its delivery is due
            # No pool limit: fal's delivery is not queued behind 100 of our own connections.
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
            self._http = httpx.AsyncClient(timeout=10.0, trust_env=False, limits=limits)
        if self._random.random() < config.webhook_drop_rate:
            self.counts["dropped"] += 1
            return
        copies = 2 if self._random.random() < config.webhook_duplicate_rate else 1
        for _ in range(copies):
            extra = config.webhook_delay + self._random.random() * config.webhook_shuffle
            forged = self._random.random() < config.webhook_bad_signature_rate
            task = asyncio.create_task(self._deliver(job, url, output, extra, forged))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if copies > 1:
            self.counts["duplicates"] += 1

    async def _deliver(
        self,
        job: Job,
        url: str,
        output: Callable[[], dict[str, Any]],
        extra_delay: float,
        forged: bool,
    ) -> None:
        while (left := job.ended_at - self._clock()) > 0:
            await asyncio.sleep(min(left, MAX_END_SLEEP))
        await asyncio.sleep(extra_delay)
        raw = json.dumps(delivery_body(job, output), separators=(",", ":")).encode()
        if forged:
            self.counts["bad_signatures"] += 1
        delay = self._config.webhook_retry_delay
        for attempt in range(1, self._config.webhook_attempts + 1):
            self.counts["attempts"] += 1
            if await self._post(job.request_id, url, raw, forged):
                self.counts["delivered"] += 1
                return
            self.counts["failed_attempts"] += 1
            if attempt < self._config.webhook_attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._config.webhook_retry_max_delay)
        self.counts["gave_up"] += 1

    async def _post(self, request_id: str, url: str, raw: bytes, forged: bool) -> bool:
        if time.monotonic() < self._down_until:
            return False  # the "receiver down" fault: as if the connection were refused
        headers = sign(
            self._forged if forged else self._key,
            request_id=request_id,
            user_id=self._config.webhook_user_id,
            timestamp=int(time.time()),
            body=raw,
        )
        assert self._http is not None  # made by `schedule`
        try:
            response = await self._http.post(
                url,
                content=raw,
                headers={**headers.as_dict(), "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            logger.debug("webhook for %s to %s failed: %s", request_id, url, exc)
            return False
        return response.is_success
