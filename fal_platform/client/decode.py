"""Reading success bodies: a 2xx that breaks the protocol becomes a `FalResponseError`
that names the URL and the missing or malformed field, instead of a bare KeyError."""

from __future__ import annotations

import math
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from fal_platform.client.error_mapping import REQUEST_ID_HEADER
from fal_platform.client.errors import FalResponseError

BILLABLE_UNITS_HEADER = "x-fal-billable-units"

M = TypeVar("M", bound=BaseModel)


def _error(
    response: httpx.Response, message: str, *, may_have_been_accepted: bool = False
) -> FalResponseError:
    return FalResponseError(
        message,
        status_code=response.status_code,
        request_id=response.headers.get(REQUEST_ID_HEADER),
        url=str(response.request.url),
        may_have_been_accepted=may_have_been_accepted,
    )


def json_object(
    response: httpx.Response, what: str, *, may_have_been_accepted: bool = False
) -> dict[str, Any]:
    """The body as a JSON object, or a FalResponseError saying what was expected."""
    try:
        data = response.json()
    except ValueError:
        raise _error(
            response, f"{what} is not JSON", may_have_been_accepted=may_have_been_accepted
        ) from None
    if not isinstance(data, dict):
        raise _error(
            response,
            f"{what} is not a JSON object (got {type(data).__name__})",
            may_have_been_accepted=may_have_been_accepted,
        )
    return data


def required_str(
    response: httpx.Response,
    data: dict[str, Any],
    key: str,
    what: str,
    *,
    may_have_been_accepted: bool = False,
) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _error(
            response,
            f"{what} is missing the '{key}' field",
            may_have_been_accepted=may_have_been_accepted,
        )
    return value


def parse_model(response: httpx.Response, model: type[M], what: str) -> M:
    data = json_object(response, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "<root>"
        problem = "missing the" if first["type"] == "missing" else "has an invalid"
        raise _error(response, f"{what} is {problem} '{location}' field ({first['msg']})") from None


def billable_units(response: httpx.Response) -> float | None:
    """`X-Fal-Billable-Units` as a number; None if absent or not a finite number."""
    raw = response.headers.get(BILLABLE_UNITS_HEADER)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
