"""The catalog assets against the emulator over HTTP: first load, incremental reruns, pricing."""

from __future__ import annotations

import math

import httpx
from catalog_support import (
    CatalogStackFactory,
    models_metadata,
    pricing_metadata,
    query,
    table_rows,
)

from fal_platform.catalog.rows import parse_timestamp
from fal_platform.devstack.emulator_process import EmulatorProcess

PAGE_SIZE = 100


def api_models(emulator: EmulatorProcess, endpoint_ids: list[str]) -> dict[str, dict]:
    response = httpx.get(
        emulator.api_url + "/models",
        params={"endpoint_id": endpoint_ids, "limit": PAGE_SIZE},
        timeout=10,
    )
    response.raise_for_status()
    return {model["endpoint_id"]: model for model in response.json()["models"]}


def test_first_load_then_only_changes_then_nothing(catalog_stack: CatalogStackFactory) -> None:
    stack = catalog_stack(models=1000)

    # Run 1: the whole catalog, page by page.
    first = stack.materialize()
    stats = stack.emulator.stats()
    assert stats["requests"]["models"] == math.ceil(1000 / PAGE_SIZE) >= 10
    assert stats["requests"]["pricing"] == math.ceil(1000 / 50)
    meta = models_metadata(first)
    assert meta["rows_written"] == 1000
    assert meta["dagster/row_count"] == 1000
    assert meta["new_endpoints"] == 1000
    assert len(meta["new_endpoint_ids"]) == 20
    assert pricing_metadata(first)["rows_written"] == 1000
    assert query(stack.duckdb, "SELECT count(*) FROM fal_catalog.models") == [(1000,)]
    checks = first.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {
        "catalog_not_empty",
        "catalog_endpoint_id_unique",
        "prompt_set_endpoints_priced",
    }
    assert all(c.passed for c in checks)

    # Endpoints without metadata are kept, with only their id.
    ((without_metadata,),) = query(
        stack.duckdb,
        "SELECT count(*) FROM fal_catalog.models WHERE NOT has_metadata AND category IS NULL",
    )
    assert without_metadata >= 1

    # Run 2: 7 edited and 3 new endpoints -> exactly 10 rows written.
    touched = stack.emulator.touch_models(7)
    added = stack.emulator.add_models(3)
    stack.emulator.reset_stats()
    second = stack.materialize()
    assert stack.emulator.stats()["requests"]["models"] == math.ceil(1003 / PAGE_SIZE)
    meta = models_metadata(second)
    assert meta["rows_written"] == 10
    assert meta["dagster/row_count"] == 1003
    assert meta["new_endpoints"] == 3
    assert meta["new_endpoint_ids"] == sorted(added)
    assert meta["changed_endpoints"] == 7
    assert meta["changed_endpoint_ids"] == sorted(touched)
    assert meta["newly_deprecated_endpoints"] == 0
    assert pricing_metadata(second)["rows_written"] == 3
    assert query(stack.duckdb, "SELECT count(*) FROM fal_catalog.models") == [(1003,)]

    # The edited rows carry what the API says now.
    truth = api_models(stack.emulator, touched)
    stored = {
        endpoint_id: (description, updated_at)
        for endpoint_id, description, updated_at in query(
            stack.duckdb,
            "SELECT endpoint_id, description, updated_at FROM fal_catalog.models "
            f"WHERE endpoint_id IN ({', '.join(repr(e) for e in touched)})",
        )
    }
    for endpoint_id, model in truth.items():
        description, updated_at = stored[endpoint_id]
        assert description == model["metadata"]["description"]
        assert "(revision 1)" in description
        assert updated_at == parse_timestamp(model["metadata"]["updated_at"])

    # Run 3: nothing changed -> nothing written, table untouched.
    before = table_rows(stack.duckdb, "models")
    stack.emulator.reset_stats()
    third = stack.materialize()
    assert stack.emulator.stats()["requests"]["models"] == math.ceil(1003 / PAGE_SIZE)
    meta = models_metadata(third)
    assert meta["rows_written"] == 0
    assert meta["new_endpoints"] == meta["changed_endpoints"] == 0
    assert pricing_metadata(third)["rows_written"] == 0
    assert table_rows(stack.duckdb, "models") == before


def test_pricing_rows_equal_the_catalog_endpoints(catalog_stack: CatalogStackFactory) -> None:
    stack = catalog_stack(models=230)
    stack.materialize()
    models = {row[0] for row in query(stack.duckdb, "SELECT endpoint_id FROM fal_catalog.models")}
    prices = query(
        stack.duckdb,
        "SELECT endpoint_id, unit_price, unit, currency FROM fal_catalog.pricing",
    )
    assert len(models) == 230
    assert {row[0] for row in prices} == models
    assert len(prices) == len(models)
    # Spot-check values against the API, chunked like the source does.
    sample = sorted(models)[:50]
    response = httpx.get(
        stack.emulator.api_url + "/models/pricing", params={"endpoint_id": sample}, timeout=10
    )
    truth = {
        p["endpoint_id"]: (p["unit_price"], p["unit"], p["currency"])
        for p in response.json()["prices"]
    }
    stored = {row[0]: row[1:] for row in prices if row[0] in truth}
    assert stored == truth


def test_deprecations_and_models_without_metadata(catalog_stack: CatalogStackFactory) -> None:
    stack = catalog_stack(models=300)
    stack.materialize()
    untimed = query(
        stack.duckdb, "SELECT count(*) FROM fal_catalog.models WHERE updated_at IS NULL"
    )[0][0]
    assert untimed >= 1  # the stack.emulator lists ~1% of endpoints without metadata

    deprecated = stack.emulator.deprecate_models(4)
    meta = models_metadata(stack.materialize())
    # Rows without metadata are not re-written just because they have no cursor value.
    assert meta["rows_written"] == 4
    assert meta["newly_deprecated_endpoints"] == 4
    assert meta["newly_deprecated_endpoint_ids"] == sorted(deprecated)
    assert meta["changed_endpoint_ids"] == sorted(deprecated)
    statuses = query(
        stack.duckdb,
        "SELECT DISTINCT status FROM fal_catalog.models "
        f"WHERE endpoint_id IN ({', '.join(repr(e) for e in deprecated)})",
    )
    assert statuses == [("deprecated",)]
