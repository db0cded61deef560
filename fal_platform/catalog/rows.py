"""Turn fal's `/v1/models` and `/v1/models/pricing` JSON into flat, typed table rows.

fal nests everything a person filters on (`category`, `status`, `updated_at`) inside an optional
`metadata` object. Analysts and the other assets want plain columns (`WHERE category = ...`), so
each metadata field becomes a top-level column with the same name. The column hints below give
every known field a type even when a page happens to hold only nulls for it, so the table's shape
does not depend on which models fal returned first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dlt.common.schema.typing import TTableSchemaColumns

from fal_platform.canonical_json import canonical_sha256

# Columns that `flatten_model` always owns; a metadata field with one of these names is dropped
# rather than allowed to overwrite the value computed here.
RESERVED_COLUMNS = frozenset(
    {"endpoint_id", "has_metadata", "content_hash", "group_key", "group_label"}
)

# Timestamps fal sends as ISO8601 strings; parsed so DuckDB stores TIMESTAMP WITH TIME ZONE.
TIMESTAMP_FIELDS = ("updated_at", "date")

MODEL_COLUMNS: TTableSchemaColumns = {
    "endpoint_id": {"data_type": "text", "nullable": False},
    "has_metadata": {"data_type": "bool", "nullable": False},
    "display_name": {"data_type": "text"},
    "category": {"data_type": "text"},
    "description": {"data_type": "text"},
    "status": {"data_type": "text"},
    # Lists stay one JSON value per row (no child table): one row per endpoint, and DuckDB can
    # still filter them, e.g. `list_contains(CAST(tags AS VARCHAR[]), 'lora')`.
    "tags": {"data_type": "json"},
    "updated_at": {"data_type": "timestamp"},
    "date": {"data_type": "timestamp"},
    "is_favorited": {"data_type": "bool"},
    "thumbnail_url": {"data_type": "text"},
    "thumbnail_animated_url": {"data_type": "text"},
    "model_url": {"data_type": "text"},
    "github_url": {"data_type": "text"},
    "stream_url": {"data_type": "text"},
    "license_type": {"data_type": "text"},
    "kind": {"data_type": "text"},
    "group_key": {"data_type": "text"},
    "group_label": {"data_type": "text"},
    "training_endpoint_ids": {"data_type": "json"},
    "inference_endpoint_ids": {"data_type": "json"},
    "duration_estimate": {"data_type": "double"},
    "highlighted": {"data_type": "bool"},
    "pinned": {"data_type": "bool"},
    "content_hash": {"data_type": "text", "nullable": False},
}

PRICING_COLUMNS: TTableSchemaColumns = {
    "endpoint_id": {"data_type": "text", "nullable": False},
    "unit_price": {"data_type": "double"},
    "unit": {"data_type": "text"},
    "currency": {"data_type": "text"},
}


def content_hash(value: Any) -> str:
    """A short, stable fingerprint of a JSON value (key order does not matter).

    Used to notice that a row changed when there is no `updated_at` to tell us so.
    """
    return canonical_sha256(value)[:16]


def parse_timestamp(value: Any) -> datetime | None:
    """ISO8601 (`Z`, an offset, or none = UTC) to an aware datetime; anything else to None.

    An unparsable `updated_at` is treated like a missing one (the row is then tracked by its
    content hash), which is better than failing the whole catalog load over one odd row.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def flatten_model(model: Mapping[str, Any]) -> dict[str, Any]:
    """One `/v1/models` entry as one row: metadata fields lifted to columns, plus bookkeeping.

    `has_metadata` is False for endpoints fal lists without a registry entry; those rows are
    kept (they are real endpoints) with only `endpoint_id` set.
    """
    endpoint_id = model.get("endpoint_id")
    if not isinstance(endpoint_id, str) or not endpoint_id:
        raise ValueError(f"model entry without an endpoint_id: keys {sorted(model)}")
    metadata = model.get("metadata")
    row: dict[str, Any] = {
        "endpoint_id": endpoint_id,
        "has_metadata": isinstance(metadata, Mapping),
    }
    if isinstance(metadata, Mapping):
        for name, value in metadata.items():
            if name == "group":
                if isinstance(value, Mapping):
                    row["group_key"] = value.get("key")
                    row["group_label"] = value.get("label")
                continue
            if name in RESERVED_COLUMNS:
                continue
            row[name] = parse_timestamp(value) if name in TIMESTAMP_FIELDS else value
    if "enterprise_status" in model:
        row["enterprise_status"] = model["enterprise_status"]
    # The hash covers what fal sent, so any change to the entry (not only to updated_at) shows.
    row["content_hash"] = content_hash(dict(model))
    return row


def pricing_row(price: Mapping[str, Any]) -> dict[str, Any]:
    """One `/v1/models/pricing` entry, restricted to the documented fields."""
    endpoint_id = price.get("endpoint_id")
    if not isinstance(endpoint_id, str) or not endpoint_id:
        raise ValueError(f"price entry without an endpoint_id: keys {sorted(price)}")
    unit_price = price.get("unit_price")
    return {
        "endpoint_id": endpoint_id,
        "unit_price": float(unit_price) if isinstance(unit_price, int | float) else None,
        "unit": price.get("unit"),
        "currency": price.get("currency"),
    }
