"""Error responses in the three formats a fal client meets.

- platform API (`/v1`): `{"error": {"type", "message", "request_id"}}`
- queue / run: `{"detail": "..."}` or `{"detail": [...]}`, plus `error_type` for job errors
- gateway (injected 5xx): an nginx HTML page and no `x-fal-request-id`, which is how
  fal_client recognises an ingress error it may retry
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

REQUEST_ID_HEADER = "x-fal-request-id"
PLATFORM_ROUTES = frozenset({"models", "pricing", "pricing_estimate", "history"})

_NGINX_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


class ApiError(Exception):
    """Raised by handlers to answer with a ready-made error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def platform_error(status: int, error_type: str, message: str) -> JSONResponse:
    body = {"error": {"type": error_type, "message": message, "request_id": uuid.uuid4().hex}}
    return json_response(body, status)


def platform_bad_request(message: str) -> ApiError:
    return ApiError(platform_error(400, "validation_error", message))


def queue_error(
    status: int,
    detail: Any,
    *,
    error_type: str | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    headers: dict[str, str] = {}
    if error_type is not None:
        body["error_type"] = error_type
        headers["X-Fal-Error-Type"] = error_type
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    return json_response(body, status, headers)


def gateway_error(status: int) -> HTMLResponse:
    reason = _NGINX_REASONS.get(status, "Server Error")
    page = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return HTMLResponse(page, status_code=status)


def rate_limited(route: str, retry_after: int | None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if route in PLATFORM_ROUTES:
        body: dict[str, Any] = {
            "error": {
                "type": "rate_limited",
                "message": "Rate limit exceeded",
                "request_id": uuid.uuid4().hex,
            }
        }
    else:
        body = {"detail": "Rate limit exceeded"}
    return json_response(body, 429, headers)


def unauthorized(route: str, message: str) -> JSONResponse:
    if route in PLATFORM_ROUTES:
        return platform_error(401, "authorization_error", message)
    return json_response({"detail": message}, 401)
