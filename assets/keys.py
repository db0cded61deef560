"""Asset keys, groups, owners and the DuckDB pool: declared once for every domain.

A key names a table users query and a history the instance keeps, so it never changes; modules
that depend on another domain's asset import its key from here instead of the asset itself.
"""

import dagster as dg

from fal_platform.catalog.source import DATASET_NAME, MODELS_TABLE, PRICING_TABLE

OWNERS = ["team:ml-platform"]
DUCKDB_POOL = "duckdb"
"""DuckDB takes one writer process per file; the instance gives this pool one slot."""

CATALOG_GROUP = "catalog"
GENERATION_GROUP = "generation"
MEDIA_GROUP = "media"
REPORTS_GROUP = "reports"

MODELS_KEY = dg.AssetKey([DATASET_NAME, MODELS_TABLE])
PRICING_KEY = dg.AssetKey([DATASET_NAME, PRICING_TABLE])
REQUESTS_KEY = dg.AssetKey(["generation", "requests"])
MEDIA_FILES_KEY = dg.AssetKey(["media", "files"])
MEDIA_TIMINGS_KEY = dg.AssetKey(["media", "timings"])
MEDIA_ARCHIVE_KEY = dg.AssetKey(["media", "archive"])
ENDPOINT_STATS_KEY = dg.AssetKey(["reports", "endpoint_stats"])

PROMPT_SET_HASH = "prompt_set_hash"
"""Metadata key of a `generation/requests` materialization: the sha256 of the file it ran."""
