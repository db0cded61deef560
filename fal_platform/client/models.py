"""Value types of the queue protocol: request handles, statuses and results.

Parsing is tolerant where fal's own clients are (missing `logs`, `labels` instead of
`level`/`source`, no `metrics`) and strict where a wrong guess would corrupt state (an unknown
status, a submit response without its URLs): those raise `FalResponseError`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class LogEntry:
    message: str
    level: str | None = None
    source: str | None = None
    timestamp: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> LogEntry:
        if not isinstance(data, dict):
            return cls(message=str(data))
        raw_labels = data.get("labels")
        labels: dict[str, Any] = raw_labels if isinstance(raw_labels, dict) else {}
        return cls(
            message=str(data.get("message", "")),
            level=_opt_str(data.get("level")) or _opt_str(labels.get("level")),
            source=_opt_str(data.get("source")) or _opt_str(labels.get("source")),
            timestamp=_opt_str(data.get("timestamp")),
            labels=dict(labels),
        )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Queued:
    position: int
    """Requests ahead of this one (0-indexed)."""


@dataclass(frozen=True)
class InProgress:
    logs: list[LogEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Completed:
    """The job ended. fal has no FAILED status: a failure shows up as `error` here and as an
    error response when the result is fetched."""

    logs: list[LogEntry] = field(default_factory=list)
    inference_time: float | None = None
    error: str | None = None
    error_type: str | None = None


QueueStatus = Queued | InProgress | Completed


def _parse_logs(value: Any) -> list[LogEntry]:
    if not isinstance(value, list):
        return []
    return [LogEntry.from_json(item) for item in value]


def parse_status(data: Any, *, url: str) -> QueueStatus:
    """Parse a status body (from the status route or one SSE event)."""
    if not isinstance(data, dict):
        raise FalResponseError("Status response is not a JSON object", url=url)
    status = data.get("status")
    if status == "IN_QUEUE":
        position = data.get("queue_position")
        if not isinstance(position, int) or isinstance(position, bool):
            raise FalResponseError(
                "Status IN_QUEUE without an integer 'queue_position' field", url=url
            )
        return Queued(position=position)
    if status == "IN_PROGRESS":
        return InProgress(logs=_parse_logs(data.get("logs")))
    if status == "COMPLETED":
        metrics = data.get("metrics")
        inference_time = metrics.get("inference_time") if isinstance(metrics, dict) else None
        error = data.get("error")
        return Completed(
            logs=_parse_logs(data.get("logs")),
            inference_time=float(inference_time)
            if isinstance(inference_time, int | float) and not isinstance(inference_time, bool)
            else None,
            error=error if isinstance(error, str) else (None if error is None else str(error)),
            error_type=_opt_str(data.get("error_type")),
        )
    if status is None:
        raise FalResponseError("Status response has no 'status' field", url=url)
    raise FalResponseError(f"Unknown queue status {status!r}", url=url)


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
