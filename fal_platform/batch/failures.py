"""How the engine judges a failed item: what to record, and whether another attempt may help.

The judgement is stored with the row (as JSON in `error_detail`), so the next run can decide
"retry or leave alone" without re-deriving it from an error class it no longer has.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from fal_platform.client import errors

_DEFAULT_TYPES: tuple[tuple[type[errors.FalError], str], ...] = (
    (errors.FalValidationError, "validation_error"),
    (errors.FalRateLimitedError, "rate_limited"),
    (errors.FalTimeoutError, "timeout"),
    (errors.FalConnectionError, "connection_error"),
    (errors.FalNotFoundError, "not_found"),
    (errors.FalBadRequestError, "bad_request"),
    (errors.FalServerError, "server_error"),
    (errors.FalResponseError, "bad_response"),
)


@dataclass(frozen=True)
class Failure:
    """A failed attempt, as recorded in `error_type` and `error_detail`."""

    error_type: str
    message: str
    retryable: bool
    status_code: int | None = None
    request_id: str | None = None
    field_errors: list[dict[str, Any]] = field(default_factory=list)

    def detail_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k != "error_type" and v not in (None, [])}
        data["retryable"] = self.retryable
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_row(cls, error_type: str | None, error_detail: str | None) -> Failure:
        """Read back what `detail_json` stored; unreadable details count as not retryable,
        because retrying blindly is the choice that can cost money."""
        try:
            data = json.loads(error_detail) if error_detail else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        return cls(
            error_type=error_type or "unknown",
            message=str(data.get("message", error_detail or "")),
            retryable=bool(data.get("retryable", False)),
            status_code=data.get("status_code")
            if isinstance(data.get("status_code"), int)
            else None,
            request_id=data.get("request_id") if isinstance(data.get("request_id"), str) else None,
            field_errors=list(data.get("field_errors") or []),
        )


def error_type_of(error: errors.FalError) -> str:
    if error.error_type:
        return error.error_type
    for cls, name in _DEFAULT_TYPES:
        if isinstance(error, cls):
            return name
    return "error"


def failure_from_error(error: errors.FalError, *, retryable: bool | None = None) -> Failure:
    field_errors: list[dict[str, Any]] = []
    if isinstance(error, errors.FalValidationError):
        field_errors = [
            {"loc": list(fe.loc), "msg": fe.msg, "type": fe.type} for fe in error.field_errors
        ]
    return Failure(
        error_type=error_type_of(error),
        message=error.message,
        retryable=error.retryable if retryable is None else retryable,
        status_code=error.status_code,
        request_id=error.request_id,
        field_errors=field_errors,
    )


def is_job_failure(error: errors.FalError) -> bool:
    """True when the job itself failed (resubmit), not the HTTP exchange (fetch again).

    fal marks a job's own error with `x-fal-request-id` (gateway glitches carry none), and a
    504 for the caller's start deadline with an error type; a failed job answers its result
    route with that error every time, so asking again cannot help.
    """
    if isinstance(error, errors.FalValidationError):
        return True
    status = error.status_code
    if status is None or status < 500:
        return False
    return error.request_id is not None or error.error_type is not None


def retryable_fal_error(error: BaseException) -> bool:
    """Worth another try of the same call: a retryable fal error other than a refused key."""
    return (
        isinstance(error, errors.FalError)
        and not isinstance(error, errors.FalAuthenticationError)
        and error.retryable
    )
