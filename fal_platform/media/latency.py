"""Latency percentiles in SQL: the one spelling of p50/p95 for the reports and the demo.

`percentile_cont` interpolates linearly between the two nearest values, as
`batch/progress.py`'s `percentile` does for the live progress of a run (where the figures come
from memory, not from a table), so a run's log and the tables agree. The spelling is the
standard one (`WITHIN GROUP`), which DuckDB and Postgres both accept.
"""

from __future__ import annotations

REQUEST_SECONDS_SQL = "CAST(extract(epoch FROM (completed_at - submitted_at)) AS DOUBLE PRECISION)"
"""A `generation.requests` row's submit-to-completion latency in seconds (NULL if unfinished)."""

QUANTILES = (0.5, 0.95)


def p50_p95_sql(seconds_sql: str, *, where: str | None = None) -> str:
    """Two select-list expressions, p50 and p95 of `seconds_sql`, over rows matching `where`."""
    only = f" FILTER (WHERE {where})" if where else ""
    return ", ".join(
        f"percentile_cont({q}) WITHIN GROUP (ORDER BY {seconds_sql}){only}" for q in QUANTILES
    )
