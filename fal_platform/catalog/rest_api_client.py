"""How the dlt catalog source lists `/v1/models`: dlt's retrying session, fal auth, page checks.

Kept apart from the dlt resources so the rules for talking to fal through dlt (what is retried,
what fails at once, what an error message may contain) are in one short file. Pricing does not
go through here: it uses the platform client (`fal_platform/catalog/pricing.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.rest_client.auth import APIKeyAuth
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator
from dlt.sources.helpers.rest_client.redaction import sanitize_url
from dlt.sources.rest_api.typing import ClientConfig

from fal_platform.catalog.errors import FalCatalogResponseError, auth_error
from fal_platform.client.platform import CURSOR_PARAM, HAS_MORE_FIELD, NEXT_CURSOR_FIELD

# Gateway-style failures worth retrying; other 4xx are answers, not accidents.
RETRY_STATUS_CODES = (429, 500, 502, 503, 504)

ResponseHook = Callable[..., None]


def _auth_hook(api_key: str | None) -> ResponseHook:
    """Turn 401/403 into an error that names FAL_KEY and never echoes its value.

    Raised from inside the HTTP session, so dlt's retry (which only retries 429/5xx and
    connection errors) does not repeat a request that cannot succeed.
    """

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code not in (401, 403):
            return
        detail = _error_message(response)
        if detail and api_key:
            detail = detail.replace(api_key, "****")
        where = f"GET {sanitize_url(response.url)}"
        raise auth_error(response.status_code, where, has_key=bool(api_key), detail=detail)

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
        if not isinstance(body.get(HAS_MORE_FIELD), bool):
            raise FalCatalogResponseError(
                f"Malformed page from GET {url}: 'has_more' is missing or not a boolean."
            )

    return check


def cursor_paginator() -> JSONResponseCursorPaginator:
    """fal's pagination everywhere: `?cursor=` in, `next_cursor` + `has_more` out."""
    return JSONResponseCursorPaginator(
        cursor_path=NEXT_CURSOR_FIELD, cursor_param=CURSOR_PARAM, has_more_path=HAS_MORE_FIELD
    )


@dataclass(frozen=True)
class CatalogRetry:
    """How hard a catalog load retries; the listing (dlt's session) and pricing (the platform
    client, `fal_platform/catalog/pricing.py`) both follow it."""

    max_attempts: int = 5
    backoff_factor: float = 1.0
    max_retry_delay: float = 60.0
    request_timeout: float = 60.0


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
    def create(cls, api_url: str, api_key: str | None, retry: CatalogRetry) -> CatalogHttp:
        """dlt's retrying `requests` session, tuned here rather than through `[runtime]` config.

        An explicit `Client(...)` session means the retry policy comes from FalResource
        (max_attempts, request_timeout), not from whatever `RUNTIME__REQUEST_*` variables or
        `.dlt/config.toml` happen to be around. It retries 429, 500/502/503/504 and connection
        errors (refused, reset, dropped mid-body, timeouts) with exponential backoff
        (`backoff_factor * 2**n` s), and waits what `Retry-After` says when fal sends it, capped
        at `max_retry_delay`. `raise_for_status=False`: the response hooks decide.
        """
        session = Client(
            request_timeout=retry.request_timeout,
            raise_for_status=False,
            status_codes=RETRY_STATUS_CODES,
            request_max_attempts=retry.max_attempts,
            request_backoff_factor=retry.backoff_factor,
            request_max_retry_delay=retry.max_retry_delay,
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
