"""Latency percentiles in SQL: the one spelling of p50/p95 for the reports and the demo.

`percentile_cont` interpolates linearly between the two nearest values, as
`batch/progress.py`'s `percentile` does for the live progress of a run (where the figures come
from memory, not from a table), so a run's log and the tables agree. The spelling is the
standard one (`WITHIN GROUP`), which DuckDB and Postgres both accept.
"""

from __future__ import annotations


def _seconds_since_submit(column: str) -> str:
    return f"CAST(extract(epoch FROM ({column} - submitted_at)) AS DOUBLE PRECISION)"


REQUEST_SECONDS_SQL = _seconds_since_submit("completed_at")
"""A `generation.requests` row's submit-to-completion latency in seconds (NULL if unfinished):
from the submit to the moment the run saw the job done."""

DONE_BY_SECONDS_SQL = (
    f"LEAST({REQUEST_SECONDS_SQL}, "
    f"COALESCE({_seconds_since_submit('started_at')} + inference_seconds, {REQUEST_SECONDS_SQL}))"
)
"""Seconds from submit by which the job had certainly ended: when it was seen done or, if
sooner, when it was first seen running plus fal's running time. A job followed by blind polls is
seen done well after it ended (a 1 s job seen at 1.9 s); this bound is what earlier runs tell
the next run's polls (`BatchStore.recent_job_times`, `batch/poll_schedule.py`)."""

QUANTILES = (0.5, 0.95)


def p50_p95_sql(seconds_sql: str, *, where: str | None = None) -> str:
    """Two select-list expressions, p50 and p95 of `seconds_sql`, over rows matching `where`."""
    only = f" FILTER (WHERE {where})" if where else ""
    return ", ".join(
        f"percentile_cont({q}) WITHIN GROUP (ORDER BY {seconds_sql}){only}" for q in QUANTILES
    )
