"""Per-request timings derived from the request state table.

Three clocks tell different stories: time waiting in fal's queue (our submit -> we saw
IN_PROGRESS), time running (IN_PROGRESS -> COMPLETED, next to fal's own `inference_time`), and
the total a user waited. Durations whose timestamps are missing stay None rather than being
guessed, so percentiles are computed over real observations only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from fal_platform.batch.rows import RequestRow, TimingRow


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def timing_row(request: RequestRow) -> TimingRow | None:
    """The `media.timings` row of a request, or None if it never reached fal."""
    if request.submitted_at is None:
        return None
    return TimingRow(
        prompt_set=request.prompt_set,
        request_id=request.request_id,
        item_key=request.item_key,
        endpoint_id=request.endpoint_id,
        queue_wait_seconds=_seconds(request.submitted_at, request.started_at),
        inference_seconds_fal=request.inference_seconds,
        inference_seconds_observed=_seconds(request.started_at, request.completed_at),
        total_seconds=_seconds(request.submitted_at, request.completed_at),
        attempts=request.attempts,
    )


def timing_rows(requests: Iterable[RequestRow]) -> list[TimingRow]:
    return [row for row in map(timing_row, requests) if row is not None]
