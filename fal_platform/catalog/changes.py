"""What changed in the catalog table between two moments: new, changed, newly deprecated endpoints.

dlt reports how many rows it wrote, not which endpoints appeared or were deprecated, and that is
what a person scanning the materialization wants to know. So the asset snapshots
`(endpoint_id, status, content_hash)` before the load and after it, and compares. The snapshot
goes through dlt's SQL client, so it works on any SQL destination, not only DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from fal_platform.catalog.names import MODELS_TABLE

DEPRECATED = "deprecated"
MAX_IDS = 20


@dataclass(frozen=True)
class CatalogEntry:
    status: str | None
    content_hash: str | None


@dataclass(frozen=True)
class CatalogSnapshot:
    entries: Mapping[str, CatalogEntry] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)


def read_catalog_snapshot(pipeline: dlt.Pipeline, table: str = MODELS_TABLE) -> CatalogSnapshot:
    """The models table as it is now; empty before the first load."""
    try:
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(table)
            rows = client.execute_sql(f"SELECT endpoint_id, status, content_hash FROM {qualified}")
    except DatabaseUndefinedRelation:
        return CatalogSnapshot()
    return CatalogSnapshot(
        {
            str(endpoint_id): CatalogEntry(status, digest)
            for endpoint_id, status, digest in rows or []
        }
    )


def count_rows(pipeline: dlt.Pipeline, table: str) -> int:
    """Rows in a table of the pipeline's dataset (0 when it does not exist yet)."""
    try:
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(table)
            rows = client.execute_sql(f"SELECT count(*) FROM {qualified}")
    except DatabaseUndefinedRelation:
        return 0
    return int(rows[0][0]) if rows else 0


@dataclass(frozen=True)
class CatalogChange:
    """Endpoint ids, sorted. `newly_deprecated` only counts endpoints that were loaded before
    with another status; an endpoint that first appears already deprecated is just `new`."""

    new: tuple[str, ...]
    changed: tuple[str, ...]
    newly_deprecated: tuple[str, ...]

    @classmethod
    def between(cls, before: CatalogSnapshot, after: CatalogSnapshot) -> CatalogChange:
        new, changed, deprecated = [], [], []
        for endpoint_id, now in after.entries.items():
            then = before.entries.get(endpoint_id)
            if then is None:
                new.append(endpoint_id)
                continue
            if now.content_hash != then.content_hash:
                changed.append(endpoint_id)
            if now.status == DEPRECATED and then.status != DEPRECATED:
                deprecated.append(endpoint_id)
        return cls(tuple(sorted(new)), tuple(sorted(changed)), tuple(sorted(deprecated)))

    def summary(self, max_ids: int = MAX_IDS) -> dict[str, Any]:
        """Counts and the first `max_ids` ids of each kind, JSON-ready."""
        return {
            "new_count": len(self.new),
            "new_ids": list(self.new[:max_ids]),
            "changed_count": len(self.changed),
            "changed_ids": list(self.changed[:max_ids]),
            "newly_deprecated_count": len(self.newly_deprecated),
            "newly_deprecated_ids": list(self.newly_deprecated[:max_ids]),
        }
