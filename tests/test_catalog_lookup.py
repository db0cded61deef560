"""Where a batch gets the catalog and prices: the DuckDB tables, else fal's platform API.

`run-batch` on a fresh DuckDB file has no catalog tables, so it asks the platform API for just
the prompt set's endpoints. An endpoint fal lists but cannot price must not stop the batch.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from catalog_support import EmulatorFactory
from generation_support import FAST, distinct_items, run_cli, write_jsonl

from fal_platform.catalog.lookup import fetch_catalog, fetch_prices, read_catalog, read_prices
from fal_platform.client import ClientSettings, FalClient, RetryPolicy

FLUX = "fal-ai/flux/dev"
SCHNELL = "fal-ai/flux/schnell"


@pytest.mark.anyio
async def test_fresh_database_lookup_survives_an_unpriced_endpoint(
    tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(models=40, unpriced_endpoints=[SCHNELL])
    ids = [FLUX, SCHNELL]
    with duckdb.connect(str(tmp_path / "fresh.duckdb")) as conn:
        assert read_catalog(conn) is None
        assert read_prices(conn, ids) is None

    settings = ClientSettings.for_emulator(
        emulator.url, retry=RetryPolicy(max_attempts=3, base_delay=0.01), request_timeout=10.0
    )
    async with FalClient(settings) as client:
        catalog = await fetch_catalog(client, ids)
        prices = await fetch_prices(client, [i for i in ids if i in catalog])
    assert sorted(catalog) == ids
    assert list(prices) == [FLUX]
    assert prices[FLUX].unit_price == 0.025
    assert emulator.stats()["responses"]["pricing"]["404"] >= 1


def test_run_batch_on_a_fresh_database_runs_an_unpriced_endpoint(
    tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(models=40, unpriced_endpoints=[SCHNELL], **FAST)
    prompts = write_jsonl(
        tmp_path / "mixed.jsonl",
        [*distinct_items(2, endpoint_id=FLUX), *distinct_items(2, endpoint_id=SCHNELL)],
    )
    result = run_cli(prompts, tmp_path / "fresh.duckdb", emulator)
    assert result.returncode == 0, result.stderr
    stats = emulator.stats()
    assert stats["responses"]["pricing"]["404"] >= 1
    assert stats["accepted_submits"] == 4
