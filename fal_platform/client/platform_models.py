"""Pydantic models of the platform API (`/v1/models`, pricing, request history).

Page envelopes are strict (a page without `models` or `has_more` is a broken response), while
per-model metadata is lenient: fal documents most metadata fields as required, but one odd
registry entry should not make a whole catalog sync fail, so they default to None/empty and
unknown fields are kept (`extra="allow"`) for the catalog to store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    # `model_url` is a fal field name; pydantic reserves the `model_` prefix by default.
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class ModelGroup(_Lenient):
    key: str
    label: str | None = None


class ModelMetadata(_Lenient):
    """Every `metadata` field of §3.1 of the protocol notes."""

    display_name: str | None = None
    category: str | None = None
    description: str | None = None
    status: str | None = None
    """`active` or `deprecated` (kept as a string so a new value does not break parsing)."""
    tags: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None
    is_favorited: bool | None = None
    thumbnail_url: str | None = None
    model_url: str | None = None
    date: datetime | None = None
    highlighted: bool | None = None
    pinned: bool | None = None
    thumbnail_animated_url: str | None = None
    github_url: str | None = None
    license_type: str | None = None
    group: ModelGroup | None = None
    kind: str | None = None
    training_endpoint_ids: list[str] | None = None
    inference_endpoint_ids: list[str] | None = None
    stream_url: str | None = None
    duration_estimate: float | None = None


class Model(_Lenient):
    endpoint_id: str
    metadata: ModelMetadata | None = None
    openapi: dict[str, Any] | None = None
    """The OpenAPI 3.0 document with `expand=openapi-3.0`, or fal's `{"error": ...}` object."""
    enterprise_status: str | dict[str, Any] | None = None
    """`ready`/`pending` with `expand=enterprise_status`, or fal's `{"error": ...}` object."""


class _Page(_Lenient):
    next_cursor: str | None = None
    has_more: bool


class ModelsPage(_Page):
    models: list[Model]


class Price(_Lenient):
    endpoint_id: str
    unit_price: float
    unit: str
    currency: str


class PricesPage(_Page):
    prices: list[Price]


class PriceEstimate(_Lenient):
    estimate_type: str
    total_cost: float
    currency: str


class HistoryItem(_Lenient):
    request_id: str
    endpoint_id: str | None = None
    started_at: datetime | None = None
    sent_at: datetime | None = None
    ended_at: datetime | None = None
    status_code: int | None = None
    duration: float | None = None
    json_input: Any = None
    json_output: Any = None


class HistoryPage(_Page):
    items: list[HistoryItem]
