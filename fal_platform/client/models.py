"""Value types of the queue protocol: request handles, statuses and results.

Parsing is tolerant where fal's own clients are (missing `logs`, `labels` instead of
`level`/`source`, no `metrics`) and strict where a wrong guess would corrupt state (an unknown
status, a submit response without its URLs): those raise `FalResponseError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from pydantic import (
    AliasChoices,
    AliasPath,
    BeforeValidator,
    Discriminator,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from fal_platform.client.endpoints import AppId
from fal_platform.client.errors import FalResponseError

RequestPayload = dict[str, Any]


@dataclass(frozen=True)
class RequestHandle:
    """Everything needed to follow a queued request, and to persist it across runs.

    `queue_position` is the position fal reported at submit time (None when it did not say,
    or when the handle was rebuilt with `from_ids`); it is not part of the handle's identity.
    """

    endpoint_id: str
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str
    queue_position: int | None = field(default=None, compare=False)

    @classmethod
    def from_ids(cls, queue_url: str, endpoint_id: str, request_id: str) -> RequestHandle:
        """Rebuild a handle from stored ids (prefer the URLs fal returned when you have them)."""
        if not request_id or "/" in request_id:
            raise ValueError(f"Invalid request id {request_id!r}")
        base = f"{queue_url.rstrip('/')}/{AppId.parse(endpoint_id).app_path}/requests/{request_id}"
        return cls(
            endpoint_id=endpoint_id,
            request_id=request_id,
            status_url=f"{base}/status",
            response_url=base,
            cancel_url=f"{base}/cancel",
        )


T = TypeVar("T")


def _none_if_invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


Tolerant = Annotated[T | None, WrapValidator(_none_if_invalid)]
"""A field fal may leave out or send with another type: anything that does not validate is None."""


def _list_or_empty(value: Any) -> Any:
    return value if isinstance(value, list) else []


def _dict_or_empty(value: Any) -> Any:
    return value if isinstance(value, dict) else {}


def _text_or_none(value: Any) -> Any:
    return value if value is None else str(value)


@dataclass(frozen=True)
class LogEntry:
    """One log line. fal's SDKs read `level`/`source` from `labels` when the line has none."""

    message: Annotated[str, BeforeValidator(str)]
    level: Annotated[
        Tolerant[StrictStr],
        Field(validation_alias=AliasChoices("level", AliasPath("labels", "level"))),
    ] = None
    source: Annotated[
        Tolerant[StrictStr],
        Field(validation_alias=AliasChoices("source", AliasPath("labels", "source"))),
    ] = None
    timestamp: Tolerant[StrictStr] = None
    labels: Annotated[dict[str, Any], BeforeValidator(_dict_or_empty)] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> LogEntry:
        return _LOG_ENTRY.validate_python(data)


def _log_line_as_object(value: Any) -> Any:
    """A bare log line (not an object) is its own message; an object without one has ""."""
    return {"message": "", **value} if isinstance(value, dict) else {"message": str(value)}


LogLines = Annotated[
    list[Annotated[LogEntry, BeforeValidator(_log_line_as_object)]],
    BeforeValidator(_list_or_empty),
]
"""Missing or null `logs` (fal sends them only with `?logs=1`) read as no lines."""
_LOG_ENTRY: TypeAdapter[LogEntry] = TypeAdapter(
    Annotated[LogEntry, BeforeValidator(_log_line_as_object)]
)


@dataclass(frozen=True)
class Queued:
    position: Annotated[StrictInt, Field(validation_alias="queue_position")]
    """Requests ahead of this one (0-indexed)."""


@dataclass(frozen=True)
class InProgress:
    logs: LogLines = field(default_factory=list)


@dataclass(frozen=True)
class Completed:
    """The job ended. fal has no FAILED status: a failure shows up as `error` here and as an
    error response when the result is fetched."""

    logs: LogLines = field(default_factory=list)
    inference_time: Annotated[
        Tolerant[StrictFloat], Field(validation_alias=AliasPath("metrics", "inference_time"))
    ] = None
    error: Annotated[str | None, BeforeValidator(_text_or_none)] = None
    error_type: Tolerant[StrictStr] = None


QueueStatus = Queued | InProgress | Completed


def _status_tag(body: Any) -> Any:
    return body.get("status") if isinstance(body, dict) else None


_STATUS: TypeAdapter[QueueStatus] = TypeAdapter(
    Annotated[
        Annotated[Queued, Tag("IN_QUEUE")]
        | Annotated[InProgress, Tag("IN_PROGRESS")]
        | Annotated[Completed, Tag("COMPLETED")],
        Discriminator(_status_tag),
    ]
)


def parse_status(data: Any, *, url: str) -> QueueStatus:
    """Parse a status body (from the status route or one SSE event)."""
    try:
        return _STATUS.validate_python(data)
    except ValidationError as error:
        raise FalResponseError(_status_problem(error), url=url) from None


def _status_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    if first["type"] == "union_tag_not_found":
        return "Status response is not a JSON object with a 'status' field"
    if first["type"] == "union_tag_invalid":
        return f"Unknown queue status {first.get('ctx', {}).get('tag')!r}"
    where = ".".join(str(part) for part in first["loc"][1:])
    return f"Status {first['loc'][0]} with a bad {where!r} field: {first['msg']}"


@dataclass(frozen=True)
class QueueResult:
    """A finished job's output. `billable_units` comes from `X-Fal-Billable-Units`."""

    output: RequestPayload
    request_id: str
    billable_units: float | None = None


@dataclass(frozen=True)
class RunResult:
    """Output of the synchronous route. `request_id` is None if fal sent no
    `x-fal-request-id` header (the sync route has no other place to carry it)."""

    output: RequestPayload
    request_id: str | None
    billable_units: float | None = None


class CancelOutcome(enum.Enum):
    REQUESTED = "CANCELLATION_REQUESTED"
    """202: fal will stop the job if it can (a job very late in the queue may still run)."""

    ALREADY_COMPLETED = "ALREADY_COMPLETED"
    """400 `ALREADY_COMPLETED`: nothing to cancel; fetch the result instead."""
