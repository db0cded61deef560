"""Data-quality rules for the media tables, as queries that return the offending rows.

Kept out of the Dagster checks so the rules can be run (and tested) on any DuckDB file or
Postgres database (portable SQL, `$1` parameters, through `fal_platform/store/backend.py`'s reader).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fal_platform.batch.prompts import PromptSetError, discover_prompt_sets, load_prompt_set
from fal_platform.batch.rows import RequestState
from fal_platform.batch.tables import MEDIA_FILES, MEDIA_TIMINGS, REQUESTS
from fal_platform.catalog.lookup import read_prices
from fal_platform.store.duckdb_backend import Queryable, as_reader

MEDIA_CATEGORIES = (
    "text-to-image",
    "image-to-image",
    "text-to-video",
    "image-to-video",
    "text-to-speech",
)
"""Categories whose every completed request must have produced at least one file."""

TIMING_TOLERANCE_SECONDS = 0.5
"""Slack for queue + inference <= total: fal's inference figure and our clock are not one clock."""

SAMPLE = 20


@dataclass(frozen=True)
class RuleOutcome:
    violations: int
    examples: list[str]

    @property
    def passed(self) -> bool:
        return self.violations == 0


def _where_partition(prompt_set: str | None, alias: str = "") -> tuple[str, list[str]]:
    if prompt_set is None:
        return "TRUE", []
    column = f"{alias}.prompt_set" if alias else "prompt_set"
    return f"{column} = $1", [prompt_set]


def completed_without_media(conn: Queryable, prompt_set: str | None = None) -> RuleOutcome:
    where, params = _where_partition(prompt_set, "r")
    categories = ", ".join(f"'{c}'" for c in MEDIA_CATEGORIES)
    rows = as_reader(conn).rows(
        f"""
        SELECT r.prompt_set || ':' || r.item_key || ' (' || r.endpoint_id || ')'
        FROM {REQUESTS.name} r
        JOIN fal_catalog.models m ON m.endpoint_id = r.endpoint_id
        WHERE {where} AND r.state = '{RequestState.COMPLETED.value}'
          AND m.category IN ({categories})
          AND NOT EXISTS (SELECT 1 FROM {MEDIA_FILES.name} f
                          WHERE f.prompt_set = r.prompt_set AND f.item_key = r.item_key)
        """,
        params,
    )
    return RuleOutcome(len(rows), [r[0] for r in rows[:SAMPLE]])


def is_well_formed_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "data":
        return "," in parts.path
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def malformed_urls(conn: Queryable, prompt_set: str | None = None) -> RuleOutcome:
    where, params = _where_partition(prompt_set)
    urls = as_reader(conn).rows(f"SELECT url FROM {MEDIA_FILES.name} WHERE {where}", params)
    bad = [url for (url,) in urls if not is_well_formed_url(url or "")]
    return RuleOutcome(len(bad), bad[:SAMPLE])


def inconsistent_timings(conn: Queryable, prompt_set: str | None = None) -> RuleOutcome:
    where, params = _where_partition(prompt_set)
    rows = as_reader(conn).rows(
        f"""
        SELECT coalesce(request_id, item_key) FROM {MEDIA_TIMINGS.name}
        WHERE {where} AND (
            queue_wait_seconds < 0 OR inference_seconds_fal < 0
            OR inference_seconds_observed < 0 OR total_seconds < 0
            OR coalesce(queue_wait_seconds, 0) + coalesce(inference_seconds_fal, 0)
               > total_seconds + {TIMING_TOLERANCE_SECONDS})
        """,
        params,
    )
    return RuleOutcome(len(rows), [r[0] for r in rows[:SAMPLE]])


def prompt_set_endpoints(directory: Path) -> set[str]:
    """Endpoints named by the readable prompt sets (unreadable ones fail in their own run)."""
    endpoints: set[str] = set()
    for prompt_file in discover_prompt_sets(directory):
        try:
            endpoints.update(load_prompt_set(prompt_file.path).endpoint_ids)
        except PromptSetError:
            continue
    return endpoints


def unpriced_endpoints(conn: Queryable, endpoint_ids: set[str]) -> RuleOutcome:
    prices = read_prices(conn, sorted(endpoint_ids)) or {}
    missing = sorted(endpoint_ids - prices.keys())
    return RuleOutcome(len(missing), missing[:SAMPLE])
