"""Row types of the batch tables, one dataclass per DuckDB table.

They are the boundary between the engine/extractors and the store: the store turns lists of
them into Arrow tables and back, nothing else handles raw tuples. Each dataclass is also the one
declaration of its table's columns (names, order, SQL types: see `batch/table_spec.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from fal_platform.batch.prompts import PromptItem
from fal_platform.batch.table_spec import sql_column
from fal_platform.client import RequestHandle


class RequestState(StrEnum):
    """Where one item is in its life on fal's queue: not sent yet (PENDING), held by fal
    (SUBMITTED, IN_QUEUE, IN_PROGRESS), finished (COMPLETED, FAILED, CANCELLED), or UNKNOWN."""

    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"
    """The submit may or may not have reached fal: reconcile before any resubmit."""

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_in_flight(self) -> bool:
        """fal holds the job: re-attach to it rather than submitting again."""
        return self in _IN_FLIGHT


_TERMINAL = frozenset({RequestState.COMPLETED, RequestState.FAILED, RequestState.CANCELLED})
_IN_FLIGHT = frozenset({RequestState.SUBMITTED, RequestState.IN_QUEUE, RequestState.IN_PROGRESS})


@dataclass
class RequestRow:
    """One row of `generation.requests`. Timestamps are timezone-aware (UTC when loaded)."""

    prompt_set: str
    item_key: str
    item_index: int
    line: int
    endpoint_id: str
    input: dict[str, Any]
    replica: int
    request_id: str | None = None
    status_url: str | None = None
    response_url: str | None = None
    cancel_url: str | None = None
    state: RequestState = RequestState.PENDING
    attempts: int = 0
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    queue_position_first: int | None = None
    inference_seconds: float | None = None
    billable_units: float | None = None
    error_type: str | None = None
    error_detail: str | None = None
    result: Any = None
    updated_at: datetime | None = field(default=None, metadata=sql_column(not_null=True))
    """Set by the store on every write; whatever a caller puts here is overwritten."""

    def __post_init__(self) -> None:
        self.state = RequestState(self.state)
        for name in ("submitted_at", "started_at", "completed_at", "updated_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"RequestRow.{name} must be timezone-aware, got {value!r}")

    @classmethod
    def pending(cls, prompt_set: str, item: PromptItem) -> RequestRow:
        """The first row of an item that has never been submitted."""
        return cls(
            prompt_set=prompt_set,
            item_key=item.item_key,
            item_index=item.index,
            line=item.line,
            endpoint_id=item.endpoint_id,
            input=item.input,
            replica=item.replica,
        )


@dataclass
class MediaRow:
    """One row of `media.files`: one generated file of one completed request."""

    prompt_set: str
    request_id: str | None
    endpoint_id: str
    item_key: str
    position: int
    media_kind: str
    url: str
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    file_size: int | None = field(default=None, metadata=sql_column("BIGINT"))
    file_name: str | None = None
    seed: int | None = field(default=None, metadata=sql_column("HUGEINT"))
    """fal seeds exceed 2^53 and even 2^63: stored as HUGEINT, never as a float."""
    nsfw: bool | None = None


@dataclass
class TimingRow:
    """One row of `media.timings`; a duration is None when a timestamp it needs is missing."""

    prompt_set: str
    request_id: str | None
    item_key: str
    endpoint_id: str
    queue_wait_seconds: float | None
    inference_seconds_fal: float | None
    inference_seconds_observed: float | None
    total_seconds: float | None
    attempts: int


@dataclass(frozen=True)
class JobTime:
    """How long one completed request of an endpoint took: what aims a run's first polls."""

    endpoint_id: str
    seconds: float
    """Submit (the intent) to the moment the job had certainly ended (`DONE_BY_SECONDS_SQL` in
    `media/latency.py`)."""
    inference_seconds: float | None


def submitted_row(row: RequestRow, handle: RequestHandle, **changes: Any) -> RequestRow:
    """The row once fal accepted it: from here on, the server's URLs are the ones to use."""
    return replace(
        row,
        state=RequestState.SUBMITTED,
        request_id=handle.request_id,
        status_url=handle.status_url,
        response_url=handle.response_url,
        cancel_url=handle.cancel_url,
        **changes,
    )
