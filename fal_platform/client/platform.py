"""The platform API (`api.fal.ai/v1`): model catalog, pricing and request history.

The one client of that API. The dlt catalog source (`fal_platform/catalog/source.py`) lists
`/v1/models` with dlt's rest_api paginator configured from the cursor names below, and prices
through `PlatformClient.pricing`, as the batch look-up (`fal_platform/catalog/lookup.py`) does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Literal, TypedDict, TypeVar, Unpack

import httpx

from fal_platform.client.decode import parse_model
from fal_platform.client.errors import FalNotFoundError, FalResponseError
from fal_platform.client.http import HttpTransport, RequestKind
from fal_platform.client.platform_models import (
    HistoryItem,
    HistoryPage,
    Model,
    ModelsPage,
    Price,
    PriceEstimate,
    PricesPage,
)
from fal_platform.client.settings import ClientSettings

logger = logging.getLogger(__name__)

MAX_IDS_PER_REQUEST = 50
"""fal accepts 1-50 `endpoint_id` values per catalog or pricing request."""
CURSOR_PARAM = "cursor"
NEXT_CURSOR_FIELD = "next_cursor"
HAS_MORE_FIELD = "has_more"
"""fal's pagination on every list route: `?cursor=` in, `next_cursor` + `has_more` out."""

ModelStatus = Literal["active", "deprecated"]
HistoryStatus = Literal["success", "error", "user_error"]
HistorySort = Literal["ended_at", "duration"]
EstimateType = Literal["historical_api_price", "unit_price"]
Params = list[tuple[str, str]]


class HistoryFilters(TypedDict, total=False):
    """Which requests `request_history` and `iter_request_history` return (all optional)."""

    start: datetime | str | None
    end: datetime | str | None
    status: HistoryStatus | None
    request_id: str | None
    expand_payloads: bool
    sort_by: HistorySort | None


PageT = TypeVar("PageT", ModelsPage, PricesPage, HistoryPage)


def _ids(endpoint_ids: Sequence[str] | str) -> list[str]:
    # A lone string is a common slip; iterating it would send one id per character.
    ids = [endpoint_ids] if isinstance(endpoint_ids, str) else list(endpoint_ids)
    return list(dict.fromkeys(ids))


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _timestamp(value: datetime | str) -> str:
    """ISO 8601 for the API; a naive datetime is taken to be UTC, as fal's defaults are."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _add(params: Params, name: str, value: object) -> None:
    if value is not None:
        params.append((name, str(value)))


def _models_params(
    *,
    limit: int | None,
    cursor: str | None,
    endpoint_ids: Sequence[str] | str,
    q: str | None,
    category: str | None,
    status: ModelStatus | None,
    expand: Sequence[str] | str,
) -> Params:
    ids = _ids(endpoint_ids)
    if len(ids) > MAX_IDS_PER_REQUEST:
        raise ValueError(
            f"at most {MAX_IDS_PER_REQUEST} endpoint ids per request (use iter_models for more)"
        )
    params: Params = []
    _add(params, "limit", limit)
    _add(params, CURSOR_PARAM, cursor)
    params.extend(("endpoint_id", endpoint_id) for endpoint_id in ids)
    _add(params, "q", q)
    _add(params, "category", category)
    _add(params, "status", status)
    params.extend(("expand", value) for value in _ids(expand))
    return params


async def _follow_cursor(
    fetch: Callable[[str | None], Awaitable[PageT]], url: str
) -> AsyncGenerator[PageT, None]:
    """Yield pages until `has_more` is false; a repeated cursor would loop forever, so it fails."""
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        page = await fetch(cursor)
        yield page
        if not page.has_more:
            return
        if not page.next_cursor:
            raise FalResponseError("Page says has_more but has no 'next_cursor'", url=url)
        if page.next_cursor in seen:
            raise FalResponseError(f"Page cursor {page.next_cursor!r} repeated", url=url)
        seen.add(page.next_cursor)
        cursor = page.next_cursor


class PlatformClient:
    def __init__(self, transport: HttpTransport, settings: ClientSettings) -> None:
        self._transport = transport
        self._settings = settings

    async def _get(self, path: str, params: Params, operation: str) -> httpx.Response:
        return await self._transport.request(
            "GET",
            f"{self._settings.api_url}{path}",
            operation=operation,
            kind=RequestKind.IDEMPOTENT,
            params=params,
        )

    async def list_models(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        endpoint_ids: Sequence[str] | str = (),
        q: str | None = None,
        category: str | None = None,
        status: ModelStatus | None = None,
        expand: Sequence[str] | str = (),
    ) -> ModelsPage:
        """One page of `GET /models` (list, find by `endpoint_ids`, or search by `q` etc.)."""
        params = _models_params(
            limit=limit,
            cursor=cursor,
            endpoint_ids=endpoint_ids,
            q=q,
            category=category,
            status=status,
            expand=expand,
        )
        response = await self._get("/models", params, "list_models")
        return parse_model(response, ModelsPage, "Models page")

    async def iter_models(
        self,
        *,
        endpoint_ids: Sequence[str] | str = (),
        q: str | None = None,
        category: str | None = None,
        status: ModelStatus | None = None,
        expand: Sequence[str] | str = (),
        page_size: int | None = None,
    ) -> AsyncGenerator[Model, None]:
        """Every matching model across all pages (and across 50-id chunks of `endpoint_ids`)."""
        ids = _ids(endpoint_ids)
        for chunk in _chunks(ids, MAX_IDS_PER_REQUEST) if ids else [[]]:

            async def fetch(cursor: str | None, chunk: list[str] = chunk) -> ModelsPage:
                return await self.list_models(
                    limit=page_size,
                    cursor=cursor,
                    endpoint_ids=chunk,
                    q=q,
                    category=category,
                    status=status,
                    expand=expand,
                )

            pages = _follow_cursor(fetch, f"{self._settings.api_url}/models")
            async with aclosing(pages):
                async for page in pages:
                    for model in page.models:
                        yield model

    async def pricing(
        self, endpoint_ids: Sequence[str] | str, *, skip_unpriced: bool = False
    ) -> list[Price]:
        """Unit prices for the given endpoints, fetched 50 ids per request.

        fal answers 404 for the whole request when it has no price for one of the ids (an
        endpoint it does not know or does not bill per unit). Without `skip_unpriced` that is a
        `FalNotFoundError`; with it, a 404 splits the chunk in halves until the unpriced ids are
        isolated and left out (logged): one unpriced endpoint costs about 2*log2(50) extra
        requests instead of failing a catalog load or a batch.
        """
        prices: list[Price] = []
        for chunk in _chunks(_ids(endpoint_ids), MAX_IDS_PER_REQUEST):
            if skip_unpriced:
                prices.extend(await self._priced_only(chunk))
            else:
                prices.extend(await self._prices_of(chunk))
        return prices

    async def _prices_of(self, chunk: list[str]) -> list[Price]:
        """Every page for one chunk, collected first so a 404 on a later page repeats nothing."""
        prices: list[Price] = []

        async def fetch(cursor: str | None) -> PricesPage:
            params: Params = [("endpoint_id", endpoint_id) for endpoint_id in chunk]
            _add(params, CURSOR_PARAM, cursor)
            response = await self._get("/models/pricing", params, "pricing")
            return parse_model(response, PricesPage, "Pricing page")

        pages = _follow_cursor(fetch, f"{self._settings.api_url}/models/pricing")
        async with aclosing(pages):
            async for page in pages:
                prices.extend(page.prices)
        return prices

    async def _priced_only(self, chunk: list[str]) -> list[Price]:
        try:
            return await self._prices_of(chunk)
        except FalNotFoundError:
            if len(chunk) == 1:
                logger.warning("fal has no price for %s (404); it is left out of pricing", chunk[0])
                return []
        middle = len(chunk) // 2
        return [*await self._priced_only(chunk[:middle]), *await self._priced_only(chunk[middle:])]

    async def estimate_pricing(
        self, estimate_type: EstimateType, quantities: Mapping[str, float]
    ) -> PriceEstimate:
        """Estimated total cost. `quantities` maps endpoint id to a call count
        (`historical_api_price`) or a unit count (`unit_price`).

        A POST, but a pure calculation on fal's side, so it is retried like a read.
        """
        endpoints: dict[str, dict[str, float]]
        if estimate_type == "historical_api_price":
            endpoints = {eid: {"call_quantity": int(n)} for eid, n in quantities.items()}
        elif estimate_type == "unit_price":
            endpoints = {eid: {"unit_quantity": float(n)} for eid, n in quantities.items()}
        else:
            raise ValueError(f"unknown estimate_type {estimate_type!r}")
        response = await self._transport.request(
            "POST",
            f"{self._settings.api_url}/models/pricing/estimate",
            operation="estimate_pricing",
            kind=RequestKind.IDEMPOTENT,
            json={"estimate_type": estimate_type, "endpoints": endpoints},
        )
        return parse_model(response, PriceEstimate, "Pricing estimate")

    async def request_history(
        self,
        endpoint_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        **filters: Unpack[HistoryFilters],
    ) -> HistoryPage:
        """One page of `GET /models/requests/by-endpoint`: the way to find out whether a
        submit whose response was lost was accepted after all."""
        params: Params = [("endpoint_id", endpoint_id)]
        _add(params, "limit", limit)
        _add(params, CURSOR_PARAM, cursor)
        start, end = filters.get("start"), filters.get("end")
        _add(params, "start", _timestamp(start) if start is not None else None)
        _add(params, "end", _timestamp(end) if end is not None else None)
        _add(params, "status", filters.get("status"))
        _add(params, "request_id", filters.get("request_id"))
        if filters.get("expand_payloads", False):
            params.append(("expand", "payloads"))
        _add(params, "sort_by", filters.get("sort_by"))
        response = await self._get("/models/requests/by-endpoint", params, "request_history")
        return parse_model(response, HistoryPage, "Request history page")

    async def iter_request_history(
        self,
        endpoint_id: str,
        *,
        page_size: int | None = None,
        **filters: Unpack[HistoryFilters],
    ) -> AsyncGenerator[HistoryItem, None]:
        async def fetch(cursor: str | None) -> HistoryPage:
            return await self.request_history(
                endpoint_id, limit=page_size, cursor=cursor, **filters
            )

        url = f"{self._settings.api_url}/models/requests/by-endpoint"
        async with aclosing(_follow_cursor(fetch, url)) as pages:
            async for page in pages:
                for item in page.items:
                    yield item
