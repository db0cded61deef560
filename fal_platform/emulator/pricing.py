"""Prices per endpoint, billable units per request, and the two estimate types.

Units follow the category (image/megapixels, second/video, 1000 characters, compute seconds),
so `X-Fal-Billable-Units` times the unit price is what a request cost.
"""

from __future__ import annotations

import math
from typing import Any

from fal_platform.emulator import schemas
from fal_platform.emulator.catalog import Model

CURRENCY = "USD"

# Units one typical call consumes, for estimate_type=historical_api_price (a GUESS: fal derives
# it from real traffic). E.g. a default video is 5 seconds long.
TYPICAL_UNITS_PER_CALL: dict[str, float] = {
    "image": 1.0,
    "megapixels": 1.0,
    "video": 1.0,
    "second": 5.0,
    "1000 characters": 0.5,
    "compute seconds": 10.0,
}


def price_json(model: Model) -> dict[str, Any]:
    return {
        "endpoint_id": model.endpoint_id,
        "unit_price": model.unit_price,
        "unit": model.unit,
        "currency": CURRENCY,
    }


def image_dimensions(model: Model, payload: dict[str, Any]) -> tuple[int, int]:
    size = payload.get("image_size", model.default_image_size)
    if isinstance(size, dict):
        return int(size.get("width", 512)), int(size.get("height", 512))
    return schemas.IMAGE_SIZES.get(str(size), schemas.IMAGE_SIZES["landscape_4_3"])


def video_seconds(payload: dict[str, Any]) -> int:
    try:
        return int(payload.get("duration", "5"))
    except (TypeError, ValueError):
        return 5


def billable_units(model: Model, payload: dict[str, Any], inference_time: float) -> float:
    """How many `model.unit`s a successful request with this input is charged."""
    unit = model.unit
    if unit == "image":
        return float(payload.get("num_images", 1))
    if unit == "megapixels":
        width, height = image_dimensions(model, payload)
        # fal rounds each image up to whole megapixels.
        return float(payload.get("num_images", 1) * math.ceil(width * height / 1_000_000))
    if unit == "second":
        return float(video_seconds(payload))
    if unit == "video":
        return 1.0
    if unit == "1000 characters":
        return round(len(str(payload.get("prompt", ""))) / 1000, 3)
    return round(inference_time, 3)


def format_units(units: float) -> str:
    return str(int(units)) if float(units).is_integer() else f"{units:g}"


def estimate_cost(estimate_type: str, quantities: list[tuple[Model, float]]) -> float:
    """Total cost of the given call counts (historical_api_price) or unit counts (unit_price)."""
    total = 0.0
    for model, quantity in quantities:
        units = quantity
        if estimate_type == "historical_api_price":
            units = quantity * TYPICAL_UNITS_PER_CALL.get(model.unit, 1.0)
        total += units * model.unit_price
    return round(total, 6)
