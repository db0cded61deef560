"""Turn fal's error responses and httpx's exceptions into the typed errors of `errors.py`.

fal speaks three error dialects: the queue's validation list `{"detail": [{loc, msg, type}]}`,
the queue's request errors `{"detail": "...", "error_type": "..."}` (plus `X-Fal-Error-Type`),
and the platform API's `{"error": {"type", "message", "docs_url", "request_id"}}`. All three
end up in the same `FalError` fields so callers never parse bodies themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx_sse

from fal_platform.client import errors
from fal_platform.client.auth import ApiKey
from fal_platform.client.retry import parse_retry_after

REQUEST_ID_HEADER = "x-fal-request-id"
ERROR_TYPE_HEADER = "x-fal-error-type"
RETRYABLE_HEADER = "x-fal-retryable"
TIMEOUT_TYPE_HEADER = "x-fal-request-timeout-type"

_MAX_MESSAGE_CHARS = 300
_MAX_FIELD_ERRORS_IN_MESSAGE = 3


@dataclass(frozen=True)
class ErrorBody:
    """What could be read out of an error body, whichever dialect it was in."""

    message: str = ""
    error_type: str | None = None
    request_id: str | None = None
    docs_url: str | None = None
    field_errors: list[errors.FieldError] = field(default_factory=list)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _MAX_MESSAGE_CHARS:
        return text
    return text[: _MAX_MESSAGE_CHARS - 3] + "..."


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _field_error(item: Any) -> errors.FieldError | None:
    if not isinstance(item, dict):
        return None
    loc = item.get("loc")
    if isinstance(loc, list | tuple):
        loc_parts: list[str | int] = [p if isinstance(p, int | str) else str(p) for p in loc]
    elif loc is None:
        loc_parts = []
    else:
        loc_parts = [str(loc)]
    ctx = item.get("ctx")
    return errors.FieldError(
        loc=loc_parts,
        msg=str(item.get("msg", "")),
        type=str(item.get("type", "")),
        url=_optional_str(item.get("url")),
        ctx=ctx if isinstance(ctx, dict) else None,
    )


def _describe_field_errors(items: list[errors.FieldError]) -> str:
    parts = [f"{e.path}: {e.msg}" if e.path else e.msg for e in items]
    shown = parts[:_MAX_FIELD_ERRORS_IN_MESSAGE]
    hidden = len(parts) - len(shown)
    return "; ".join(shown) + (f" (+{hidden} more)" if hidden > 0 else "")


def parse_error_body(content: bytes | str) -> ErrorBody:
    """Read any of fal's error body dialects; never raises, whatever the bytes are."""
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        stripped = text.strip()
        # An HTML error page from a proxy says nothing a person can use; the status will do.
        return ErrorBody(message="" if stripped.startswith("<") else _shorten(stripped))
    if not isinstance(body, dict):
        return ErrorBody(message=_shorten(text) if body is not None else "")

    message = ""
    error_type = _optional_str(body.get("error_type"))
    request_id = _optional_str(body.get("request_id"))
    docs_url: str | None = None
    field_errors: list[errors.FieldError] = []

    platform_error = body.get("error")
    if isinstance(platform_error, dict):
        message = str(platform_error.get("message") or "")
        error_type = error_type or _optional_str(platform_error.get("type"))
        request_id = request_id or _optional_str(platform_error.get("request_id"))
        docs_url = _optional_str(platform_error.get("docs_url"))
    elif isinstance(platform_error, str):
        message = platform_error

    detail = body.get("detail")
    if isinstance(detail, list):
        field_errors = [fe for fe in map(_field_error, detail) if fe is not None]
        message = _describe_field_errors(field_errors) or message
    elif isinstance(detail, str):
        message = detail
    elif isinstance(detail, dict):
        message = str(detail.get("msg") or detail.get("message") or json.dumps(detail))
    elif detail is not None:
        message = str(detail)

    if not message and isinstance(body.get("message"), str):
        message = body["message"]
    return ErrorBody(
        message=_shorten(message),
        error_type=error_type,
        request_id=request_id,
        docs_url=docs_url,
        field_errors=field_errors,
    )


def _retryable_hint(response: httpx.Response) -> bool | None:
    value = response.headers.get(RETRYABLE_HEADER, "").strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    return None


def _auth_message(server_message: str, api_key: ApiKey) -> str:
    said = f": {server_message}" if server_message else ""
    if not api_key.is_set:
        return f"fal requires an API key{said}. Set the FAL_KEY environment variable."
    return (
        f"fal rejected the API key{said}. Set FAL_KEY to a valid fal API key "
        "with permission for this operation."
    )


def error_from_response(
    response: httpx.Response, *, api_key: ApiKey, may_have_been_accepted: bool = False
) -> errors.FalError:
    """Build the typed error for a non-2xx response (the body must already be read).

    `may_have_been_accepted` is the caller's judgement for the submit route; it is forced to
    False for 4xx, which fal answers before queueing anything.
    """
    status = response.status_code
    parsed = parse_error_body(response.content)
    message = api_key.redact(parsed.message or response.reason_phrase or f"HTTP {status}")
    common: dict[str, Any] = {
        "status_code": status,
        "error_type": parsed.error_type or response.headers.get(ERROR_TYPE_HEADER) or None,
        "request_id": response.headers.get(REQUEST_ID_HEADER) or parsed.request_id,
        "url": api_key.redact(str(response.request.url)),
        "may_have_been_accepted": may_have_been_accepted and not 400 <= status < 500,
        "server_retryable": _retryable_hint(response),
    }
    if status in (401, 403):
        return errors.FalAuthenticationError(_auth_message(message, api_key), **common)
    if status == 404:
        return errors.FalNotFoundError(f"Not found: {message}", **common)
    if status == 422:
        return errors.FalValidationError(
            f"Invalid input: {message}", field_errors=parsed.field_errors, **common
        )
    if status == 429:
        return errors.FalRateLimitedError(
            f"Rate limited: {message}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            **common,
        )
    if 400 <= status < 500:
        return errors.FalBadRequestError(f"Request rejected: {message}", **common)
    if 500 <= status < 600:
        return errors.FalServerError(f"fal server error: {message}", **common)
    return errors.FalResponseError(f"Unexpected HTTP status {status}: {message}", **common)


def _exception_detail(exc: Exception, api_key: ApiKey) -> str:
    return api_key.redact(_shorten(str(exc))) or type(exc).__name__


def error_from_exception(
    exc: httpx.RequestError, *, url: str, api_key: ApiKey, may_be_accepted_if_sent: bool
) -> errors.FalError:
    """Build the typed error for an httpx exception raised while sending or reading.

    Only connect-phase failures (refused, DNS, TLS, connect timeout, no free pooled
    connection) prove that the request never left this machine; everything else happened
    after the bytes may have reached fal, so a submit is flagged `may_have_been_accepted`.
    """
    detail = _exception_detail(exc, api_key)
    safe_url = api_key.redact(url)
    sent = may_be_accepted_if_sent
    host = httpx.URL(url).host
    if isinstance(exc, httpx.ConnectTimeout):
        return errors.FalTimeoutError(f"Timed out connecting to {host}", url=safe_url)
    if isinstance(exc, httpx.PoolTimeout):
        return errors.FalTimeoutError(
            "Timed out waiting for a free connection (raise max_connections?)", url=safe_url
        )
    if isinstance(exc, httpx.TimeoutException):
        phase = "sending the request" if isinstance(exc, httpx.WriteTimeout) else "the response"
        return errors.FalTimeoutError(
            f"Timed out waiting for {phase} from {host}", url=safe_url, may_have_been_accepted=sent
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return errors.FalConnectionError(f"Cannot send to {safe_url}: {detail}", url=safe_url)
    if isinstance(exc, httpx.ConnectError):
        return errors.FalConnectionError(f"Could not connect to {host}: {detail}", url=safe_url)
    if isinstance(exc, httpx_sse.SSEError):
        return errors.FalResponseError(f"Expected an event stream: {detail}", url=safe_url)
    if isinstance(exc, httpx.DecodingError):
        return errors.FalResponseError(
            f"Could not decode the response: {detail}", url=safe_url, may_have_been_accepted=sent
        )
    return errors.FalConnectionError(
        f"Connection to {host} failed mid-request: {detail}",
        url=safe_url,
        may_have_been_accepted=sent,
    )


def is_certainly_not_sent(exc: httpx.RequestError) -> bool:
    """True when the request provably never reached the server (safe to resend a POST)."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def is_gateway_like(response: httpx.Response) -> bool:
    """A 502/503/504 from fal's edge rather than from a job: safe to retry an idempotent call.

    A 5xx that carries `x-fal-request-id` is the job's own answer, and a 504 with
    `X-Fal-Request-Timeout-Type` is the caller's own start deadline expiring; neither is a
    glitch that goes away by asking again.
    """
    return (
        response.status_code in (502, 503, 504)
        and REQUEST_ID_HEADER not in response.headers
        and TIMEOUT_TYPE_HEADER not in response.headers
    )
