"""Catalog failures a person can act on, and the one wording of "check FAL_KEY".

Both halves of the catalog load raise these: the dlt rest_api listing of `/v1/models`
(`rest_api_client.py`) and the pricing requests made through the platform client (`pricing.py`).
"""

from __future__ import annotations

from fal_platform.target import ENV_KEY


class FalCatalogError(RuntimeError):
    """A catalog load failed for a reason a person can act on; the message says which."""


class FalCatalogAuthError(FalCatalogError):
    """fal rejected the credentials (HTTP 401/403)."""


class FalCatalogResponseError(FalCatalogError):
    """fal answered 2xx with a body that is not the documented shape."""


def auth_error(
    status_code: int | None, where: str, *, has_key: bool, detail: str | None = None
) -> FalCatalogAuthError:
    """Name FAL_KEY and what to do about it. The key's value is never part of the message:
    a server `detail` must already have it masked."""
    if has_key:
        hint = (
            f"fal rejected the API key from {ENV_KEY} (HTTP {status_code} for {where}). "
            f"Check that {ENV_KEY} holds a valid key with API access."
        )
    else:
        hint = (
            f"fal requires an API key (HTTP {status_code} for {where}) and {ENV_KEY} is not "
            f"set. Export {ENV_KEY}=<your key> and run again."
        )
    return FalCatalogAuthError(f"{hint} Server said: {detail}" if detail else hint)
