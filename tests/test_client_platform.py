"""Platform API (catalog, pricing, estimates, request history) against the emulator."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from client_support import client_for, emulator_per_module, stats

from fal_platform.client import FalNotFoundError, Model
from fal_platform.devstack.emulator_process import EmulatorProcess

pytestmark = pytest.mark.anyio

FLUX = "fal-ai/flux/dev"
SCHNELL = "fal-ai/flux/schnell"
CATALOG_SIZE = 130


# The catalog routes are read-only, so the module's one emulator is never reconfigured.
shared_emulator, emu = emulator_per_module(models=CATALOG_SIZE)


async def test_list_models_first_page(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        page = await fal.platform.list_models(limit=25)
    assert len(page.models) == 25
    assert page.has_more and page.next_cursor
    first = page.models[0]
    assert isinstance(first, Model)
    assert first.metadata is not None
    assert first.metadata.display_name
    assert first.metadata.status in ("active", "deprecated")
    assert first.metadata.updated_at is not None
    assert first.openapi is None and first.enterprise_status is None


async def test_list_models_with_repeated_endpoint_ids_and_expand(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        page = await fal.platform.list_models(
            endpoint_ids=[FLUX, SCHNELL], expand=["openapi-3.0", "enterprise_status"]
        )
    assert [m.endpoint_id for m in page.models] == [FLUX, SCHNELL]
    assert page.has_more is False and page.next_cursor is None
    flux = page.models[0]
    assert flux.openapi is not None and str(flux.openapi.get("openapi", "")).startswith("3.0")
    assert flux.enterprise_status is not None
    assert flux.metadata is not None
    assert flux.metadata.model_url and flux.metadata.model_url.endswith(FLUX)
    assert flux.metadata.group is not None and flux.metadata.group.key


async def test_list_models_search_filters(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        images = await fal.platform.list_models(category="text-to-image", status="active", limit=50)
        flux = await fal.platform.list_models(q="flux", limit=50)
        deprecated = await fal.platform.list_models(status="deprecated", limit=50)
    assert images.models
    assert all(m.metadata and m.metadata.category == "text-to-image" for m in images.models)
    assert all(m.metadata and m.metadata.status == "active" for m in images.models)
    assert any(m.endpoint_id == FLUX for m in flux.models)
    assert all(m.metadata and m.metadata.status == "deprecated" for m in deprecated.models)


async def test_cursor_pages_do_not_overlap(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        first = await fal.platform.list_models(limit=10)
        second = await fal.platform.list_models(limit=10, cursor=first.next_cursor)
    first_ids = {m.endpoint_id for m in first.models}
    second_ids = {m.endpoint_id for m in second.models}
    assert len(second_ids) == 10 and not first_ids & second_ids


@pytest.mark.parametrize("page_size", [7, 25])
async def test_iter_models_follows_cursors(emu: EmulatorProcess, page_size: int) -> None:
    async with client_for(emu) as fal:
        models = [m async for m in fal.platform.iter_models(page_size=page_size)]
    ids = [m.endpoint_id for m in models]
    assert len(ids) == CATALOG_SIZE and len(set(ids)) == CATALOG_SIZE
    snapshot = await stats(emu)
    assert snapshot["requests"]["models"] == math.ceil(CATALOG_SIZE / page_size)


async def test_iter_models_chunks_more_than_fifty_ids(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        all_ids = [m.endpoint_id async for m in fal.platform.iter_models(page_size=100)]
        await asyncio.to_thread(emu.reset_stats)
        wanted = all_ids[:75]
        found = [m.endpoint_id async for m in fal.platform.iter_models(endpoint_ids=wanted)]
    assert sorted(found) == sorted(wanted)
    snapshot = await stats(emu)
    assert snapshot["requests"]["models"] == 2


async def test_pricing_is_fetched_in_chunks_of_fifty(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        ids = [m.endpoint_id async for m in fal.platform.iter_models(page_size=100)][:120]
        await asyncio.to_thread(emu.reset_stats)
        prices = await fal.platform.pricing(ids + ids[:5])  # duplicates are asked for once
        assert await fal.platform.pricing([]) == []
    assert [p.endpoint_id for p in prices] == ids
    assert all(p.unit_price >= 0 and p.unit and len(p.currency) == 3 for p in prices)
    snapshot = await stats(emu)
    assert snapshot["requests"]["pricing"] == 3  # 50 + 50 + 20


async def test_pricing_of_a_known_model(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        (price,) = await fal.platform.pricing(FLUX)
    assert (price.endpoint_id, price.unit_price, price.unit, price.currency) == (
        FLUX,
        0.025,
        "image",
        "USD",
    )


async def test_pricing_of_an_unknown_model_is_not_found(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        with pytest.raises(FalNotFoundError) as info:
            await fal.platform.pricing(["nobody/nothing"])
    assert info.value.error_type == "not_found"
    assert info.value.request_id  # from the platform error body


async def test_estimate_pricing_both_forms(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        calls = await fal.platform.estimate_pricing(
            "historical_api_price", {FLUX: 100, SCHNELL: 50}
        )
        units = await fal.platform.estimate_pricing("unit_price", {FLUX: 4})
    assert calls.estimate_type == "historical_api_price"
    assert calls.total_cost > 0 and calls.currency == "USD"
    assert units.total_cost == pytest.approx(4 * 0.025)


async def test_request_history_finds_submitted_requests(emulator_factory: Any) -> None:
    emulator = emulator_factory(queue_wait=0.0, inference_time=0.05)
    since = datetime.now(UTC) - timedelta(minutes=5)
    async with client_for(emulator) as fal:
        handles = [await fal.queue.submit(FLUX, {"prompt": f"p{i}"}) for i in range(5)]
        for handle in handles:
            await fal.queue.wait(handle, use_stream=False, poll_interval=0.02)
        page = await fal.platform.request_history(FLUX, limit=10, start=since, sort_by="ended_at")
        one = await fal.platform.request_history(
            FLUX,
            request_id=handles[2].request_id,
            expand_payloads=True,
            status="success",
            start=since.isoformat(),
            end=datetime.now(UTC) + timedelta(minutes=1),
        )
        paged = [
            item.request_id
            async for item in fal.platform.iter_request_history(FLUX, page_size=2, start=since)
        ]
    assert {h.request_id for h in handles} == {item.request_id for item in page.items}
    assert page.has_more is False
    (item,) = one.items
    assert item.request_id == handles[2].request_id
    assert item.json_input == {"prompt": "p2"}
    assert isinstance(item.json_output, dict) and item.json_output["images"]
    assert item.status_code == 200 and item.ended_at is not None
    assert sorted(paged) == sorted(h.request_id for h in handles)
    snapshot = await stats(emulator)
    assert snapshot["requests"]["history"] == 2 + 3  # two single pages, then 2+2+1


async def test_pricing_can_skip_ids_fal_has_no_price_for(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        ids = [m.endpoint_id async for m in fal.platform.iter_models(page_size=100)][:70]
        await asyncio.to_thread(emu.reset_stats)
        unknown = "nobody/not-in-the-catalog"
        asked = [*ids[:60], unknown, *ids[60:]]
        prices = await fal.platform.pricing(asked, skip_unpriced=True)
    assert sorted(price.endpoint_id for price in prices) == sorted(ids)
    snapshot = await stats(emu)
    # The 404 was isolated by halving the second chunk, not by one request per id.
    assert snapshot["requests"]["pricing"] < 1 + 20
    assert snapshot["responses"]["pricing"]["404"] >= 2
