"""Uploads to fal's storage, the flows fal-client 1.0.1 uses (fal_protocol.md section 5).

1. `fal_v3`: a CDN token from `POST {rest}/storage/auth/token?storage_type=fal-cdn-v3`
   (cached until it expires), then the bytes in `POST {cdn}/files/upload` with
   `Authorization: <token_type> <token>`; above 100 MiB, multipart: start at
   `{base_url}/files/upload/multipart`, 10 MiB parts PUT 10 at a time, then `.../complete`.
2. If that fails (fal-client falls back on any error), `initiate`:
   `POST {rest}/storage/upload/initiate?storage_type=gcs`, then `PUT` the bytes to the
   `upload_url` it returns.

Unlike fal-client, requests go through a pool that carries no `Authorization` header: the key
is added only to the storage API calls, so it never reaches the CDN or a signed upload URL.
A rejected key (401/403) is raised at once, without a fallback that would fail the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from fal_platform.client.errors import FalAuthenticationError, FalError, FalResponseError
from fal_platform.client.http import HttpTransport, OnRetry, RequestKind
from fal_platform.client.settings import ClientSettings
from fal_platform.client.tls import shared_ssl_context

logger = logging.getLogger("fal_platform.client")

MULTIPART_THRESHOLD = 100 * 1024 * 1024
MULTIPART_PART_SIZE = 10 * 1024 * 1024
MULTIPART_CONCURRENCY = 10
_TOKEN_MARGIN = timedelta(seconds=30)
_TOKEN_FALLBACK_LIFETIME = timedelta(minutes=5)
_UPLOAD_TIMEOUT = httpx.Timeout(None, connect=30.0)
"""Sending the bytes may take long on a slow link; only connecting is bounded (as fal-client)."""


@dataclass(frozen=True)
class _CdnToken:
    header: str
    base_url: str
    expires_at: datetime


class StorageClient:
    """Uploads bytes to fal's storage and returns the URL models can fetch them from.

    `FalClient.storage` is one; it is closed with the `FalClient` (else `aclose()` it)."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        on_retry: OnRetry | None = None,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = MULTIPART_PART_SIZE,
    ) -> None:
        self._settings = settings
        self._http = httpx.AsyncClient(
            headers={"User-Agent": settings.user_agent},
            timeout=httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout),
            follow_redirects=False,
            verify=shared_ssl_context(),
        )
        self._transport = HttpTransport(
            self._http, api_key=settings.api_key, retry=settings.retry, on_retry=on_retry
        )
        self._token: _CdnToken | None = None
        self._token_lock = asyncio.Lock()
        self._multipart_threshold = multipart_threshold
        self._part_size = part_size

    async def aclose(self) -> None:
        await self._http.aclose()

    async def upload(
        self, data: bytes, content_type: str, file_name: str, *, expires_in: int | None = None
    ) -> str:
        """The URL of `data` on fal's storage. `expires_in` (seconds) asks fal to delete the
        file after that long; None keeps fal's default lifecycle."""
        headers = {"Content-Type": content_type, "X-Fal-File-Name": file_name}
        if expires_in is not None:
            lifecycle = json.dumps({"expiration_duration_seconds": expires_in})
            headers["X-Fal-Object-Lifecycle"] = lifecycle
            headers["X-Fal-Object-Lifecycle-Preference"] = lifecycle
        if len(data) > self._multipart_threshold:
            return await self._multipart(data, headers)
        try:
            return await self._upload_v3(data, headers)
        except FalAuthenticationError:
            raise
        except FalError as error:
            logger.warning(
                "fal_v3 upload of %s failed, falling back to initiate: %s", file_name, error
            )
        return await self._upload_initiate(data, headers)

    async def _rest(
        self, path: str, storage_type: str, body: dict[str, str], headers: dict[str, str]
    ) -> dict[str, object]:
        """A storage API call: the only requests of this client that carry the key."""
        if self._settings.api_key.is_set:
            headers = {**headers, "Authorization": self._settings.api_key.header_value()}
        response = await self._transport.request(
            "POST",
            f"{self._settings.rest_url}{path}",
            operation=path.rsplit("/", 1)[-1],
            kind=RequestKind.IDEMPOTENT,
            params={"storage_type": storage_type},
            json=body,
            headers=headers,
        )
        return _json_object(response)

    async def _cdn_token(self) -> _CdnToken:
        async with self._token_lock:
            now = datetime.now(UTC)
            if self._token is None or now + _TOKEN_MARGIN >= self._token.expires_at:
                body = await self._rest(
                    "/storage/auth/token", "fal-cdn-v3", {}, {"Accept": "application/json"}
                )
                self._token = _CdnToken(
                    header=f"{body['token_type']} {body['token']}",
                    base_url=str(body["base_url"]).rstrip("/"),
                    expires_at=_token_expiry(body.get("expires_at"), now),
                )
            return self._token

    async def _send(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str], operation: str
    ) -> httpx.Response:
        """Uploading the same bytes again only makes another copy, so every upload request
        is retried like an idempotent one (5xx from the edge, timeouts, 429)."""
        return await self._transport.request(
            method,
            url,
            operation=operation,
            kind=RequestKind.IDEMPOTENT,
            content=data,
            headers=headers,
            timeout=_UPLOAD_TIMEOUT if data else None,
        )

    async def _upload_v3(self, data: bytes, headers: dict[str, str]) -> str:
        token = await self._cdn_token()
        url = f"{self._settings.cdn_url}/files/upload"
        response = await self._send(
            "POST", url, data, {**headers, "Authorization": token.header}, "upload"
        )
        return str(_json_object(response)["access_url"])

    async def _upload_initiate(self, data: bytes, headers: dict[str, str]) -> str:
        body = await self._rest(
            "/storage/upload/initiate",
            "gcs",
            {"file_name": headers["X-Fal-File-Name"], "content_type": headers["Content-Type"]},
            {k: v for k, v in headers.items() if k.startswith("X-Fal-Object")},
        )
        put_headers = {"Content-Type": headers["Content-Type"]}
        await self._send("PUT", str(body["upload_url"]), data, put_headers, "upload PUT")
        return str(body["file_url"])

    async def _multipart(self, data: bytes, headers: dict[str, str]) -> str:
        token = await self._cdn_token()
        auth = {"Authorization": token.header}
        start = await self._send(
            "POST",
            f"{token.base_url}/files/upload/multipart",
            None,
            {**headers, **auth},
            "multipart",
        )
        body = _json_object(start)
        base = f"{body['access_url']}/multipart/{body['uploadId']}"
        limit = asyncio.Semaphore(MULTIPART_CONCURRENCY)

        async def part(number: int) -> dict[str, object]:
            chunk = data[(number - 1) * self._part_size : number * self._part_size]
            part_headers = {
                **auth,
                "Content-Type": headers["Content-Type"],
                "Accept-Encoding": "identity",  # keeps the ETag header intact
            }
            async with limit:
                response = await self._send(
                    "PUT", f"{base}/{number}", chunk, part_headers, "multipart part"
                )
            return {"partNumber": number, "etag": response.headers["etag"]}

        count = -(-len(data) // self._part_size)
        parts = await asyncio.gather(*(part(n) for n in range(1, count + 1)))
        await self._transport.request(
            "POST",
            f"{base}/complete",
            operation="multipart complete",
            kind=RequestKind.IDEMPOTENT,
            json={"parts": parts},
            headers=auth,
        )
        return str(body["access_url"])


def _token_expiry(value: object, now: datetime) -> datetime:
    """When a CDN token expires: an ISO time, taken as UTC without a zone; unreadable or
    missing, a few minutes (fetching another token is cheap)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return now + _TOKEN_FALLBACK_LIFETIME
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise FalResponseError(
            "fal's storage answered with something that is not a JSON object",
            status_code=response.status_code,
            url=str(response.request.url),
        )
    return body
