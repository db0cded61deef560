"""Flattening fal's model JSON into catalog rows (pure functions, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fal_platform.catalog.changes import CatalogChange, CatalogEntry, CatalogSnapshot
from fal_platform.catalog.rows import (
    MODEL_COLUMNS,
    content_hash,
    flatten_model,
    parse_timestamp,
    pricing_row,
)

FLUX = {
    "endpoint_id": "fal-ai/flux/dev",
    "metadata": {
        "display_name": "FLUX.1 [dev]",
        "category": "text-to-image",
        "description": "A flow transformer.",
        "status": "active",
        "tags": ["flux", "realism"],
        "updated_at": "2026-02-20T10:15:00Z",
        "is_favorited": None,
        "thumbnail_url": "https://v3.fal.media/files/x.jpg",
        "model_url": "https://fal.run/fal-ai/flux/dev",
        "date": "2024-08-01T09:00:00Z",
        "highlighted": True,
        "pinned": False,
        "group": {"key": "flux-1", "label": "FLUX.1"},
        "duration_estimate": 0.1,
        "some_future_field": {"nested": 1},
    },
}


def test_metadata_fields_become_typed_top_level_columns() -> None:
    row = flatten_model(FLUX)
    assert row["endpoint_id"] == "fal-ai/flux/dev"
    assert row["has_metadata"] is True
    assert row["category"] == "text-to-image"
    assert row["status"] == "active"
    assert row["tags"] == ["flux", "realism"]
    assert row["updated_at"] == datetime(2026, 2, 20, 10, 15, tzinfo=UTC)
    assert row["date"] == datetime(2024, 8, 1, 9, 0, tzinfo=UTC)
    assert (row["group_key"], row["group_label"]) == ("flux-1", "FLUX.1")
    assert "group" not in row
    # Unknown fields are kept under their own name (stored as JSON by max_table_nesting=0).
    assert row["some_future_field"] == {"nested": 1}
    assert row["content_hash"] == content_hash(FLUX)


def test_model_without_metadata_is_kept_with_its_id_only() -> None:
    row = flatten_model({"endpoint_id": "acme/raw-endpoint"})
    assert row["endpoint_id"] == "acme/raw-endpoint"
    assert row["has_metadata"] is False
    assert row.get("updated_at") is None
    assert set(row) == {"endpoint_id", "has_metadata", "content_hash"}


def test_metadata_cannot_overwrite_bookkeeping_columns() -> None:
    model = {"endpoint_id": "a/b", "metadata": {"endpoint_id": "evil", "has_metadata": False}}
    row = flatten_model(model)
    assert row["endpoint_id"] == "a/b"
    assert row["has_metadata"] is True


def test_entry_without_endpoint_id_is_an_error() -> None:
    with pytest.raises(ValueError, match="endpoint_id"):
        flatten_model({"metadata": {}})


def test_content_hash_ignores_key_order_and_sees_any_change() -> None:
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T12:00:00+00:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ("not a date", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_timestamp(text: str | None, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_pricing_row_keeps_the_documented_fields() -> None:
    row = pricing_row(
        {"endpoint_id": "fal-ai/flux/dev", "unit_price": 0.025, "unit": "image", "currency": "USD"}
    )
    assert row == {
        "endpoint_id": "fal-ai/flux/dev",
        "unit_price": 0.025,
        "unit": "image",
        "currency": "USD",
    }


def test_every_declared_column_has_a_type() -> None:
    assert all("data_type" in hint for hint in MODEL_COLUMNS.values())


def test_catalog_change_between_snapshots() -> None:
    before = CatalogSnapshot(
        {
            "a": CatalogEntry("active", "h1"),
            "b": CatalogEntry("active", "h2"),
            "c": CatalogEntry("deprecated", "h3"),
        }
    )
    after = CatalogSnapshot(
        {
            "a": CatalogEntry("active", "h1"),
            "b": CatalogEntry("deprecated", "h2x"),
            "c": CatalogEntry("deprecated", "h3"),
            "d": CatalogEntry("deprecated", "h4"),
        }
    )
    change = CatalogChange.between(before, after)
    assert change.new == ("d",)
    assert change.changed == ("b",)
    assert change.newly_deprecated == ("b",)
    summary = CatalogChange(tuple(f"e{i:02d}" for i in range(30)), (), ()).summary()
    assert summary["new_count"] == 30
    assert len(summary["new_ids"]) == 20
