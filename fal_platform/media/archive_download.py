"""Download one media file to a local partial file: streamed, hashed and size-checked.

A video is never held in memory: chunks go to disk as they arrive while sha256 is updated. 5xx,
429, timeouts and dropped connections are retried with backoff (tenacity), waiting at least as
long as `Retry-After` asks; 404 and 410 mean fal has deleted the file (`FileGoneError`), which no
retry brings back. Any other failure is a `DownloadError` for this run, retried next run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import filetype
import httpx
import tenacity

GONE_STATUSES = frozenset({404, 410})
SNIFF_BYTES = 8192
"""`filetype` needs at most the first 8 KiB to recognize a format."""


@dataclass(frozen=True)
class DownloadSettings:
    max_concurrency: int = 8
    max_attempts: int = 4
    timeout_seconds: float = 60.0
    """Per connect and per read of one chunk, not for a whole (possibly large) file."""
    backoff_seconds: float = 0.5
    max_wait_seconds: float = 30.0
    """Longest wait between two tries, `Retry-After` included."""
    chunk_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class Downloaded:
    partial: Path
    sha256: str
    size: int
    sniffed_type: str | None
    sniffed_extension: str | None


class FileGoneError(Exception):
    """fal answered 404 or 410: the file was deleted."""


class DownloadError(Exception):
    """This download failed for now (the message says why); the next run tries again."""


class _RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date (RFC 9110); None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _wait(settings: DownloadSettings) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_exponential(
        multiplier=settings.backoff_seconds, max=settings.max_wait_seconds
    )

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        asked = error.retry_after if isinstance(error, _RetryableError) else None
        return min(max(backoff(state), asked or 0.0), settings.max_wait_seconds)

    return wait


async def download(
    client: httpx.AsyncClient,
    url: str,
    partial: Path,
    expected_size: int | None,
    settings: DownloadSettings,
) -> Downloaded:
    """`url` into `partial`; on any failure `partial` is removed before the error is raised."""
    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(settings.max_attempts),
        wait=_wait(settings),
        retry=tenacity.retry_if_exception_type(_RetryableError),
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await _fetch(client, url, partial, expected_size, settings)
    except _RetryableError as error:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"{error} (after {settings.max_attempts} attempts)") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    raise AssertionError("unreachable: tenacity returns or raises")


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    partial: Path,
    expected_size: int | None,
    settings: DownloadSettings,
) -> Downloaded:
    try:
        async with client.stream("GET", url) as response:
            _check_status(response)
            declared = _declared_length(response)
            if declared is not None and expected_size is not None and declared != expected_size:
                raise DownloadError(
                    f"Content-Length {declared} differs from fal's file_size {expected_size}"
                )
            digest = hashlib.sha256()
            head = bytearray()
            size = 0
            try:
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes(settings.chunk_bytes):
                        digest.update(chunk)
                        if len(head) < SNIFF_BYTES:
                            head += chunk[: SNIFF_BYTES - len(head)]
                        out.write(chunk)
                        size += len(chunk)
            except OSError as error:
                raise DownloadError(f"writing {partial.name}: {error.strerror or error}") from None
    except httpx.TimeoutException as error:
        raise _RetryableError(f"timed out: {type(error).__name__}") from None
    except httpx.TransportError as error:
        raise _RetryableError(f"connection failed: {type(error).__name__}: {error}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise DownloadError(f"{type(error).__name__}: {error}") from None
    _check_size(size, declared, expected_size)
    kind = filetype.guess(bytes(head))
    return Downloaded(
        partial,
        digest.hexdigest(),
        size,
        kind.mime if kind is not None else None,
        kind.extension if kind is not None else None,
    )


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status in GONE_STATUSES:
        raise FileGoneError(f"HTTP {status}: the file is gone")
    if status == 429 or status >= 500:
        raise _RetryableError(
            f"HTTP {status}", retry_after_seconds(response.headers.get("Retry-After"))
        )
    if status != 200:
        raise DownloadError(f"HTTP {status}")


def _declared_length(response: httpx.Response) -> int | None:
    """Content-Length of the body as decoded, so only when no Content-Encoding applies."""
    raw = response.headers.get("Content-Length")
    if raw is None or not raw.isdigit() or response.headers.get("Content-Encoding"):
        return None
    return int(raw)


def _check_size(size: int, declared: int | None, expected: int | None) -> None:
    if declared is not None and size != declared:
        raise _RetryableError(f"short body: {size} of {declared} bytes")
    if expected is not None and size != expected:
        raise DownloadError(f"received {size} bytes, fal's file_size says {expected}")
