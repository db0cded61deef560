"""Catalog failures a person must be able to act on, and HTTP trouble the load must ride out."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
from catalog_support import (
    CatalogStackFactory,
    EmulatorFactory,
    all_event_text,
    failure_text,
    isolate,
    materialize_catalog,
    models_metadata,
    table_rows,
)

from fal_platform.catalog.changes import count_rows
from fal_platform.catalog.source import catalog_pipeline, fal_catalog_source, run_catalog_load
from fal_platform.devstack.emulator_process import EmulatorProcess
from resources.fal import FalResource

GOOD_KEY = "goodkey-" + secrets.token_hex(12)
WRONG_KEY = "wrongkey-" + secrets.token_hex(12)


def keyed_fal(emulator: EmulatorProcess, key: str) -> FalResource:
    """With a key FalResource would target fal.ai; explicit URLs keep it on the emulator."""
    return FalResource(
        api_key=key,
        api_url=emulator.api_url,
        queue_url=emulator.queue_url,
        run_url=emulator.run_url,
        max_attempts=3,
        request_timeout=10.0,
    )


def files_containing(root: Path, needle: str) -> list[Path]:
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def test_rejected_key_names_fal_key_hides_it_and_keeps_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_factory: EmulatorFactory
) -> None:
    paths = isolate(tmp_path, monkeypatch)
    emulator = emulator_factory(models=150, require_key=True, accepted_key=GOOD_KEY)
    loaded = materialize_catalog(keyed_fal(emulator, GOOD_KEY), paths.duckdb)
    assert models_metadata(loaded)["rows_written"] == 150
    # The good key reached no file: not DuckDB, not dlt's working directory.
    assert files_containing(tmp_path, GOOD_KEY) == []
    assert not any(GOOD_KEY in text for text in all_event_text(loaded))
    models_before = table_rows(paths.duckdb, "models")
    pricing_before = table_rows(paths.duckdb, "pricing")

    emulator.reset_stats()
    failed = materialize_catalog(keyed_fal(emulator, WRONG_KEY), paths.duckdb, raise_on_error=False)
    assert not failed.success
    text = failure_text(failed)
    assert "FalCatalogAuthError" in text
    assert "FAL_KEY" in text
    assert "401" in text
    assert WRONG_KEY not in text
    assert not any(WRONG_KEY in event for event in all_event_text(failed))
    assert files_containing(tmp_path, WRONG_KEY) == []
    # A 401 cannot succeed on retry, so it is asked once.
    assert emulator.stats()["responses"]["models"] == {"401": 1}

    assert table_rows(paths.duckdb, "models") == models_before
    assert table_rows(paths.duckdb, "pricing") == pricing_before


def test_missing_key_says_to_set_fal_key(catalog_stack: CatalogStackFactory) -> None:
    stack = catalog_stack(models=20, require_key=True)
    failed = stack.materialize(raise_on_error=False)
    assert not failed.success
    text = failure_text(failed)
    assert "FAL_KEY is not set" in text
    assert f"{stack.emulator.api_url}/models" in text


def test_malformed_page_names_the_url_and_keeps_rows(catalog_stack: CatalogStackFactory) -> None:
    stack = catalog_stack(models=150)
    stack.materialize()
    models_before = table_rows(stack.duckdb, "models")

    # Every /v1/models page is now a 200 whose body has no `models` list.
    stack.emulator.configure(malformed_rate=1.0, fault_routes=["models"])
    failed = stack.materialize(raise_on_error=False)
    assert not failed.success
    text = failure_text(failed)
    assert "Malformed page from GET" in text
    assert f"{stack.emulator.api_url}/models" in text
    assert "'models' list" in text
    assert stack.emulator.stats()["faults"]["models"]["malformed"] >= 1

    assert table_rows(stack.duckdb, "models") == models_before


def test_rate_limits_gateway_errors_and_dropped_connections_are_retried(
    tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(
        models=250,
        rate_limit_rate=0.25,
        fail_rate=0.3,
        drop_rate=0.3,
        fault_routes=["models", "pricing"],
        retry_after=1,
    )
    pipeline = catalog_pipeline(tmp_path / "catalog.duckdb", tmp_path / "dlt")
    source = fal_catalog_source(
        emulator.api_url, None, max_attempts=10, backoff_factor=0.05, max_retry_delay=2.0
    )
    run_catalog_load(pipeline, source)
    stats = emulator.stats()
    faults = {
        kind: sum(stats["faults"][route].get(kind, 0) for route in ("models", "pricing"))
        for kind in ("rate_limit", "fail", "drop")
    }
    assert all(count >= 1 for count in faults.values()), faults
    assert count_rows(pipeline, "models") == 250
    assert count_rows(pipeline, "pricing") == 250


def test_exhausted_retries_fail_without_writing(
    tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(models=50, fail_rate=1.0, fault_routes=["models"])
    pipeline = catalog_pipeline(tmp_path / "catalog.duckdb", tmp_path / "dlt")
    source = fal_catalog_source(emulator.api_url, None, max_attempts=3, backoff_factor=0.01)
    with pytest.raises(Exception, match="503"):
        run_catalog_load(pipeline, source)
    assert emulator.stats()["requests"]["models"] == 3
    assert count_rows(pipeline, "models") == 0


def test_endpoints_fal_cannot_price_are_left_out_of_the_load(
    tmp_path: Path, emulator_factory: EmulatorFactory
) -> None:
    emulator = emulator_factory(models=70)
    listed = httpx.get(emulator.api_url + "/models", params={"limit": 100}, timeout=10)
    ids = sorted(model["endpoint_id"] for model in listed.json()["models"])
    # Listed in the catalog, but /v1/models/pricing answers 404 for them, as fal does.
    unpriced = [ids[3], ids[60]]
    emulator.configure(unpriced_endpoints=unpriced)
    pipeline = catalog_pipeline(tmp_path / "catalog.duckdb", tmp_path / "dlt")
    run_catalog_load(pipeline, fal_catalog_source(emulator.api_url, None))
    assert count_rows(pipeline, "models") == 70
    with pipeline.sql_client() as client:
        priced = [row[0] for row in client.execute_sql("SELECT endpoint_id FROM pricing")]
    assert sorted(priced) == [eid for eid in ids if eid not in unpriced]
    assert emulator.stats()["responses"]["pricing"]["404"] >= 2
