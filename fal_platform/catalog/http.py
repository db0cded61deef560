"""The HTTP side of the catalog source: dlt's retrying session, fal auth, and page checks.

Kept apart from the dlt resources so the rules for talking to fal (what is retried, what fails
at once, what an error message may contain) are in one short file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from dlt.sources.helpers.rest_client.client import raise_for_status
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from dlt.sources.helpers.rest_client.redaction import sanitize_url
from dlt.sources.rest_api.typing import ClientConfig

from fal_platform.target import ENV_KEY

logger = logging.getLogger(__name__)

# fal's pricing route accepts 1-50 endpoint ids per request.
PRICING_CHUNK_SIZE = 50
# Gateway-style failures worth retrying; other 4xx are answers, not accidents.
RETRY_STATUS_CODES = (429, 500, 502, 503, 504)

ResponseHook = Callable[..., None]


class FalCatalogError(RuntimeError):
    """A catalog load failed for a reason a person can act on; the message says which."""


class FalCatalogAuthError(FalCatalogError):
    """fal rejected the credentials (HTTP 401/403)."""


class FalCatalogResponseError(FalCatalogError):
    """fal answered 2xx with a body that is not the documented shape."""


def _auth_hook(api_key: str | None) -> ResponseHook:
    """Turn 401/403 into an error that names FAL_KEY and never echoes its value.

    Raised from inside the HTTP session, so dlt's retry (which only retries 429/5xx and
    connection errors) does not repeat a request that cannot succeed.
    """

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code not in (401, 403):
            return
        where = f"GET {sanitize_url(response.url)}"
        if api_key:
            hint = (
                f"fal rejected the API key from {ENV_KEY} (HTTP {response.status_code} for "
                f"{where}). Check that {ENV_KEY} holds a valid key with API access."
            )
        else:
            hint = (
                f"fal requires an API key (HTTP {response.status_code} for {where}) and "
                f"{ENV_KEY} is not set. Export {ENV_KEY}=<your key> and run again."
            )
        detail = _error_message(response)
        if detail and api_key:
            detail = detail.replace(api_key, "****")
        raise FalCatalogAuthError(f"{hint} Server said: {detail}" if detail else hint)

    return check


def _error_message(response: requests.Response) -> str | None:
    """fal's `{"error": {"message": ...}}` (or `{"detail": ...}`), if the body has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])[:300]
        if isinstance(body.get("detail"), str):
            return str(body["detail"])[:300]
    return None


def _page_shape_hook(items_key: str) -> ResponseHook:
    """Fail loudly on a 2xx page without the documented keys.

    Without this, dlt's data selector finds nothing, logs a warning and the paginator stops:
    the load would "succeed" with a silently truncated catalog.
    """

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not response.ok:
            return
        url = sanitize_url(response.url)
        try:
            body = response.json()
        except ValueError:
            raise FalCatalogResponseError(
                f"Malformed page from GET {url}: the body is not JSON "
                f"(content-type {response.headers.get('content-type')!r})."
            ) from None
        if not isinstance(body, Mapping) or not isinstance(body.get(items_key), list):
            found = sorted(body) if isinstance(body, Mapping) else type(body).__name__
            raise FalCatalogResponseError(
                f"Malformed page from GET {url}: expected a JSON object with a "
                f"'{items_key}' list, got {found}."
            )
        if not isinstance(body.get("has_more"), bool):
            raise FalCatalogResponseError(
                f"Malformed page from GET {url}: 'has_more' is missing or not a boolean."
            )

    return check


def cursor_paginator() -> JSONResponseCursorPaginator:
    """fal's pagination everywhere: `?cursor=` in, `next_cursor` + `has_more` out."""
    return JSONResponseCursorPaginator(
        cursor_path="next_cursor", cursor_param="cursor", has_more_path="has_more"
    )


@dataclass(frozen=True)
class CatalogHttp:
    """What every catalog request shares: base URL, retrying session, auth and response checks.

    The key itself is not a field: it lives only inside `auth` (whose repr does not show it)
    and the 401 hook's closure (which uses it to mask it out of server messages).
    """

    base_url: str
    session: requests.Session = field(repr=False)
    auth: APIKeyAuth | None = field(repr=False)
    auth_check: ResponseHook = field(repr=False)

    @classmethod
    def create(
        cls,
        api_url: str,
        api_key: str | None,
        *,
        max_attempts: int = 5,
        backoff_factor: float = 1.0,
        max_retry_delay: float = 60.0,
        request_timeout: float = 60.0,
    ) -> CatalogHttp:
        """dlt's retrying `requests` session, tuned here rather than through `[runtime]` config.

        An explicit `Client(...)` session means the retry policy comes from FalResource
        (max_attempts, request_timeout), not from whatever `RUNTIME__REQUEST_*` variables or
        `.dlt/config.toml` happen to be around. It retries 429, 500/502/503/504 and connection
        errors (refused, reset, dropped mid-body, timeouts) with exponential backoff
        (`backoff_factor * 2**n` s), and waits what `Retry-After` says when fal sends it, capped
        at `max_retry_delay`. `raise_for_status=False`: the response hooks decide.
        """
        session = Client(
            request_timeout=request_timeout,
            raise_for_status=False,
            status_codes=RETRY_STATUS_CODES,
            request_max_attempts=max_attempts,
            request_backoff_factor=backoff_factor,
            request_max_retry_delay=max_retry_delay,
            respect_retry_after_header=True,
        ).session
        # APIKeyAuth has no prefix option, so fal's `Key ` prefix goes into the value. Auth
        # (not a static header) also keeps the key out of dlt's DEBUG request log.
        auth = (
            APIKeyAuth(name="Authorization", api_key=f"Key {api_key}", location="header")
            if api_key
            else None
        )
        return cls(api_url.rstrip("/"), session, auth, _auth_hook(api_key))

    def page_checks(self, items_key: str) -> list[ResponseHook]:
        """Response hooks for a page whose items sit under `items_key` (before raise-for-status)."""
        return [self.auth_check, _page_shape_hook(items_key)]

    def rest_api_client(self) -> ClientConfig:
        """The `client` block of a dlt rest_api config."""
        config: ClientConfig = {
            "base_url": self.base_url,
            "paginator": cursor_paginator(),
            "session": self.session,
        }
        if self.auth is not None:
            config["auth"] = self.auth
        return config

    def rest_client(self) -> RESTClient:
        return RESTClient(
            base_url=self.base_url,
            auth=self.auth,
            session=self.session,
            paginator=cursor_paginator(),
        )


def fetch_prices(http: CatalogHttp, endpoint_ids: Sequence[str]) -> Iterator[list[dict[str, Any]]]:
    """Pages of raw price entries for `endpoint_ids`, at most 50 ids per request.

    The ids go as a repeated parameter (`?endpoint_id=a&endpoint_id=b`), the form fal documents
    for every route. fal answers 404 for the whole request when one id is unknown to it, so a
    404 splits the chunk in halves until the unpriced ids are isolated and skipped (logged):
    one unpriced endpoint costs about 2*log2(50) extra requests instead of failing the load.
    """
    client = http.rest_client()
    for start in range(0, len(endpoint_ids), PRICING_CHUNK_SIZE):
        yield from _prices_for_chunk(
            http, client, list(endpoint_ids[start : start + PRICING_CHUNK_SIZE])
        )


def _prices_for_chunk(
    http: CatalogHttp, client: RESTClient, chunk: list[str]
) -> Iterator[list[dict[str, Any]]]:
    try:
        # Collected before yielding, so a 404 on a later page cannot duplicate earlier ones.
        pages = [
            list(page)
            for page in client.paginate(
                "models/pricing",
                params={"endpoint_id": chunk},
                data_selector="prices",
                hooks={"response": [*http.page_checks("prices"), raise_for_status]},
            )
        ]
    except requests.HTTPError as error:
        if error.response is None or error.response.status_code != 404:
            raise
        if len(chunk) == 1:
            logger.warning("fal has no price for %s (404); it is left out of pricing", chunk[0])
            return
        middle = len(chunk) // 2
        yield from _prices_for_chunk(http, client, chunk[:middle])
        yield from _prices_for_chunk(http, client, chunk[middle:])
        return
    yield from pages
