"""Prices for the dlt `pricing` table, asked through the one platform API client.

Chunking by 50 ids, pagination and fal's 404 for unpriced ids are `PlatformClient.pricing`'s
business (`fal_platform/client/platform.py`); this module only bridges its async call into dlt's
synchronous transformer and turns client errors into catalog errors a person can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fal_platform import event_loop
from fal_platform.catalog.errors import FalCatalogResponseError, auth_error
from fal_platform.catalog.rest_api_client import CatalogRetry
from fal_platform.client import (
    ApiKey,
    ClientSettings,
    FalAuthenticationError,
    FalClient,
    FalResponseError,
    Price,
    RetryPolicy,
)


def pricing_settings(api_url: str, api_key: str | None, retry: CatalogRetry) -> ClientSettings:
    """The platform client's settings for a catalog load: the load's URL, key and retries."""
    return ClientSettings(
        api_key=ApiKey(api_key),
        api_url=api_url,
        request_timeout=retry.request_timeout,
        retry=RetryPolicy(
            max_attempts=retry.max_attempts,
            base_delay=retry.backoff_factor,
            max_delay=retry.max_retry_delay,
            max_retry_after=retry.max_retry_delay,
        ),
    )


async def _prices(settings: ClientSettings, endpoint_ids: Sequence[str]) -> list[Price]:
    async with FalClient(settings) as client:
        return await client.platform.pricing(endpoint_ids, skip_unpriced=True)


def fetch_prices(settings: ClientSettings, endpoint_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Raw price entries of `endpoint_ids`; ids fal has no price for are left out (logged).

    Blocking on purpose: dlt evaluates the pricing transformer synchronously, in a thread with
    no event loop of its own.
    """
    if not endpoint_ids:
        return []
    try:
        prices = event_loop.run(_prices(settings, endpoint_ids))
    except FalAuthenticationError as exc:
        where = f"GET {settings.api_url}/models/pricing"
        raise auth_error(exc.status_code, where, has_key=settings.api_key.is_set) from None
    except FalResponseError as exc:
        raise FalCatalogResponseError(f"Malformed pricing page: {exc}") from None
    return [price.model_dump() for price in prices]
