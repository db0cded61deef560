"""What a prompt set will cost before it is sent, and what it did cost after.

The estimate is deliberately simple and documented, because a budget guard must be
predictable. Units per request, by the price's `unit`:

- `image` / `images`: the input's `num_images` (default 1);
- `megapixels`: `num_images` x whole megapixels of an explicit `image_size: {width, height}`
  (default 1 megapixel per image: fal's named sizes are all about 1 MP or less);
- `second` / `seconds`: the input's `duration` when it is a number (or a numeric string);
- anything else (`video`, `1000 characters`, compute seconds, ...): 1 per request.

So image endpoints are estimated exactly, video by duration when given, and compute-priced
endpoints only roughly (fal bills their real GPU time; `billable_units` after the run tells).
The billed cost is exact: `X-Fal-Billable-Units` x unit price, summed over completed requests.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fal_platform.batch.prompts import PromptItem, PromptSet
from fal_platform.client import Price

_IMAGE_UNITS = frozenset({"image", "images"})
_MEGAPIXEL_UNITS = frozenset({"megapixel", "megapixels"})
_SECOND_UNITS = frozenset({"second", "seconds"})


class BudgetExceededError(RuntimeError):
    """The estimate does not fit the budget; raised before anything is submitted."""

    def __init__(self, estimate: CostEstimate, max_cost_usd: float) -> None:
        self.estimate = estimate
        self.max_cost_usd = max_cost_usd
        over = estimate.total_usd - max_cost_usd
        super().__init__(
            f"estimated cost {estimate.total_usd:.4f} USD for {estimate.items} requests exceeds "
            f"the budget of {max_cost_usd:.4f} USD by {over:.4f} USD; nothing was submitted. "
            f"Raise max_cost_usd or split the prompt set. {estimate.describe()}"
        )


@dataclass(frozen=True)
class EndpointCost:
    endpoint_id: str
    items: int
    units: float
    unit: str | None
    unit_price: float | None
    currency: str | None

    @property
    def cost(self) -> float:
        return self.units * self.unit_price if self.unit_price is not None else 0.0


@dataclass(frozen=True)
class CostEstimate:
    """Estimated cost of the requests a run will submit, per endpoint and in total (USD)."""

    endpoints: list[EndpointCost] = field(default_factory=list)

    @property
    def total_usd(self) -> float:
        return float(sum(e.cost for e in self.endpoints if e.currency in (None, "USD")))

    @property
    def items(self) -> int:
        return sum(e.items for e in self.endpoints)

    @property
    def unpriced(self) -> list[str]:
        """Endpoints without a price: their cost is unknown and counted as 0."""
        return [e.endpoint_id for e in self.endpoints if e.unit_price is None]

    @property
    def non_usd(self) -> list[str]:
        return [e.endpoint_id for e in self.endpoints if e.currency not in (None, "USD")]

    def describe(self) -> str:
        top = sorted(self.endpoints, key=lambda e: e.cost, reverse=True)[:5]
        parts = [
            f"{e.endpoint_id}: {e.items} x ~{e.units / max(e.items, 1):g} {e.unit} "
            f"@ {e.unit_price} = {e.cost:.4f}"
            for e in top
            if e.unit_price is not None
        ]
        text = "Largest: " + "; ".join(parts) if parts else "No priced endpoints."
        if self.unpriced:
            text += f" Unpriced (counted as 0): {', '.join(self.unpriced)}."
        if self.non_usd:
            text += f" Not in USD (left out): {', '.join(self.non_usd)}."
        return text


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value.strip().rstrip("s"))
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def units_per_request(unit: str | None, item_input: Mapping[str, Any]) -> float:
    """Estimated billable units of one request (see the module docstring for the rules)."""
    normalized = (unit or "").strip().lower()
    images = _number(item_input.get("num_images"))
    image_count = max(images, 1.0) if images is not None else 1.0
    if normalized in _IMAGE_UNITS:
        return image_count
    if normalized in _MEGAPIXEL_UNITS:
        size = item_input.get("image_size")
        megapixels = 1.0
        if isinstance(size, Mapping):
            width, height = _number(size.get("width")), _number(size.get("height"))
            if width and height:
                megapixels = float(math.ceil(width * height / 1_000_000))
        return image_count * megapixels
    if normalized in _SECOND_UNITS:
        duration = _number(item_input.get("duration"))
        return duration if duration is not None and duration > 0 else 1.0
    return 1.0


class CostTally:
    """Estimated units per endpoint, added an item at a time: a streamed plan tallies what it
    will submit without keeping the items."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = prices
        self._counts: dict[str, int] = {}
        self._units: dict[str, float] = {}

    def add(self, item: PromptItem) -> None:
        endpoint_id = item.endpoint_id
        price = self._prices.get(endpoint_id)
        self._counts[endpoint_id] = self._counts.get(endpoint_id, 0) + 1
        self._units[endpoint_id] = self._units.get(endpoint_id, 0.0) + units_per_request(
            price.unit if price is not None else None, item.input
        )

    def estimate(self) -> CostEstimate:
        endpoints = []
        for endpoint_id, count in self._counts.items():
            price = self._prices.get(endpoint_id)
            endpoints.append(
                EndpointCost(
                    endpoint_id=endpoint_id,
                    items=count,
                    units=self._units[endpoint_id],
                    unit=price.unit if price is not None else None,
                    unit_price=price.unit_price if price is not None else None,
                    currency=price.currency.upper() if price is not None else None,
                )
            )
        return CostEstimate(endpoints)


def estimate_items_cost(items: Iterable[PromptItem], prices: Mapping[str, Price]) -> CostEstimate:
    tally = CostTally(prices)
    for item in items:
        tally.add(item)
    return tally.estimate()


def estimate_cost(
    prompt_set: PromptSet,
    prices: Mapping[str, Price] | Iterable[Price],
    *,
    exclude_item_keys: Collection[str] = (),
) -> CostEstimate:
    """Estimated cost of `prompt_set`, leaving out items (e.g. already completed ones)."""
    by_endpoint = price_map(prices)
    excluded = set(exclude_item_keys)
    return estimate_items_cost(
        (item for item in prompt_set.items if item.item_key not in excluded), by_endpoint
    )


def check_budget(estimate: CostEstimate, max_cost_usd: float | None) -> None:
    """Raise `BudgetExceededError` when the estimate is over `max_cost_usd` (None: no limit)."""
    if max_cost_usd is not None and estimate.total_usd > max_cost_usd + 1e-9:
        raise BudgetExceededError(estimate, max_cost_usd)


def price_map(prices: Mapping[str, Price] | Iterable[Price]) -> dict[str, Price]:
    if isinstance(prices, Mapping):
        return dict(prices)
    return {price.endpoint_id: price for price in prices}


def billed_cost(billable_units: float | None, price: Price | None) -> float:
    """What one completed request cost, from fal's `X-Fal-Billable-Units` (0 when unknown)."""
    if billable_units is None or price is None or price.currency.upper() != "USD":
        return 0.0
    return billable_units * price.unit_price
