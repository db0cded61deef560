"""fal's webhook public keys: fetched once, cached, refetched when a signature matches none.

fal rotates keys by publishing the new one in its JWKS before signing with it, so a delivery
no cached key verifies is the cue to fetch again. Refetches are spaced (`min_refetch_seconds`)
so a stream of forged deliveries cannot turn the receiver into a JWKS hammer; the cache also
expires after `max_age_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fal_platform.webhooks.signature import SignedHeaders, keys_of_jwks, verifies

logger = logging.getLogger("fal_platform.webhooks")

FAL_JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"
"""Where fal publishes its webhook keys (fal_protocol.md section 1.7)."""


class JwksUnavailableError(RuntimeError):
    """The key set could not be fetched (the receiver answers 503, so fal retries later)."""


class JwksCache:
    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        max_age_seconds: float = 24 * 3600.0,
        min_refetch_seconds: float = 30.0,
    ) -> None:
        self._url = url
        self._client = client
        self._max_age = max_age_seconds
        self._min_refetch = min_refetch_seconds
        self._keys: list[Ed25519PublicKey] = []
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def warm_up(self) -> None:
        """Fetch the keys ahead of the first delivery (a failure is retried at that delivery)."""
        try:
            await self._current()
        except JwksUnavailableError as exc:
            logger.warning("%s; trying again at the first delivery", exc)

    async def verify(self, headers: SignedHeaders, body: bytes) -> bool:
        """Whether a published key verifies the delivery (refetching the set at most once)."""
        keys = await self._current()
        if verifies(headers, body, keys):
            return True
        refreshed = await self._refetch_if_allowed()
        return refreshed is not None and verifies(headers, body, refreshed)

    async def _current(self) -> list[Ed25519PublicKey]:
        async with self._lock:
            fetched = self._fetched_at
            if fetched is None or time.monotonic() - fetched > self._max_age:
                await self._fetch()
            return self._keys

    async def _refetch_if_allowed(self) -> list[Ed25519PublicKey] | None:
        async with self._lock:
            fetched = self._fetched_at
            if fetched is not None and time.monotonic() - fetched < self._min_refetch:
                return None
            await self._fetch()
            return self._keys

    async def _fetch(self) -> None:
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            keys = keys_of_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            raise JwksUnavailableError(
                f"could not fetch webhook keys from {self._url}: {exc}"
            ) from exc
        self.fetches += 1
        self._fetched_at = time.monotonic()
        if not keys:
            logger.warning("the JWKS at %s lists no Ed25519 key", self._url)
        self._keys = keys
