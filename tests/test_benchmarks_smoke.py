"""The benchmarks run end to end at a tiny size and produce every result field.

No timing assertions (the numbers are meaningless at this size and on a shared machine): only
that each benchmark ran against real emulators, real DuckDB files and real dlt pipelines, and
that the report, the JSON and the chart are written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageColor

from benchmarks.__main__ import main, write_outputs
from benchmarks.config import TINY
from benchmarks.plot import IDEAL_COLOR, SERIES_COLORS
from benchmarks.report import render
from benchmarks.suite import BENCHMARKS, BenchResults, run_suite
from benchmarks.targets import evaluate
from benchmarks.throughput import CLIENTS


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchResults]:
    yield run_suite(TINY, BENCHMARKS, tmp_path_factory.mktemp("bench"))


def test_every_benchmark_ran(results: BenchResults) -> None:
    assert results.errors == {}
    assert set(results.seconds) == set(BENCHMARKS)
    assert results.machine.nproc >= 1 and results.machine.packages["duckdb"]


def test_throughput_rows(results: BenchResults) -> None:
    assert results.throughput is not None
    config = TINY.throughput
    assert {(r.client, r.concurrency) for r in results.throughput.rows} == {
        (client, c) for client in CLIENTS for c in config.concurrencies
    }
    for row in results.throughput.rows:
        assert row.error is None, row
        assert row.completed == row.items == config.items
        assert row.items_per_second > 0 and row.ideal_items_per_second > 0
        assert row.requests_per_item >= 3  # submit, status (poll or stream), result
        assert row.requests_by_route["submit"] == config.items
        assert row.requests_by_route["result"] == config.items
        assert row.http_requests == sum(row.requests_by_route.values())
        assert row.requests_per_item == round(row.http_requests / config.items, 2)
        assert row.cpu_seconds_per_1k_items > 0 and row.peak_rss_mb > 0
        assert row.emulator_cpu_seconds > 0  # it served every one of those requests
    engine = results.throughput.row("engine", config.concurrencies[0])
    assert engine is not None and "status_stream" in engine.requests_by_route
    # The engine follows each item over one status stream: three requests per item, no polls.
    assert engine.requests_by_route == dict.fromkeys(
        ("submit", "status_stream", "result"), config.items
    )
    assert engine.requests_per_item == 3.0


def test_memory_rows_and_diagnosis(results: BenchResults) -> None:
    memory = results.memory
    assert memory is not None
    assert [row.items for row in memory.rows] == list(TINY.memory.sizes)
    for row in memory.rows:
        assert row.error is None and row.completed == row.items
        assert row.peak_rss_mb > 0 and row.rss_with_inputs_mb > 0 and row.samples
    assert memory.flat is not None and memory.verdict
    diagnosis = memory.diagnosis
    assert diagnosis is not None and diagnosis.error is None
    assert diagnosis.items == TINY.memory.diagnose_items
    assert diagnosis.inputs and diagnosis.inputs_total_kib > 0
    assert any("fal_platform/batch/" in growth.where for growth in diagnosis.inputs)


def test_catalog_runs(results: BenchResults) -> None:
    catalog = results.catalog
    assert catalog is not None
    assert {(r.pipeline, r.run) for r in catalog.runs} == {
        (p, r) for p in ("ours", "plain_rest_api") for r in ("full", "after_touch")
    }
    for run in catalog.runs:
        assert run.models_page_requests > 0 and run.model_rows_written > 0
    ours_full = catalog.run("ours", "full")
    assert ours_full is not None and ours_full.model_rows_written >= TINY.catalog.models


def test_store_rows(results: BenchResults) -> None:
    store = results.store
    assert store is not None
    assert [row.table for row in store.rows] == ["generation.requests", "media.files"]
    assert [row.rows for row in store.rows] == [TINY.store.requests, TINY.store.media]
    for row in store.rows:
        assert row.store_rows_per_second > 0 and row.naive_rows_per_second > 0
        assert row.naive_rows_measured == TINY.store.naive_rows and row.speedup > 0


def test_dagster_overhead(results: BenchResults) -> None:
    dagster = results.dagster
    assert dagster is not None
    assert {run.path for run in dagster.runs} == {"cli_run_batch", "dagster_materialize"}
    for run in dagster.runs:
        assert run.error is None and run.completed == TINY.dagster.items
        assert run.in_call_seconds > 0 and run.process_seconds >= run.in_call_seconds
    assert dagster.ratio_in_call is not None and dagster.ratio_process is not None
    for attribute, ratio in (
        ("in_call_seconds", dagster.ratio_in_call),
        ("process_seconds", dagster.ratio_process),
    ):
        best = {
            path: dagster.best(path, attribute) for path in ("cli_run_batch", "dagster_materialize")
        }
        assert ratio == round(best["dagster_materialize"] / best["cli_run_batch"], 3), best


def test_report_targets_and_files(results: BenchResults, tmp_path: Path) -> None:
    targets = evaluate(results)
    assert len(targets) == 9 and all(t.passed is not None for t in targets)
    report = render(results)
    assert "## Targets" in report and "## 5. Dagster overhead" in report
    written = write_outputs(results, report, tmp_path)
    assert {p.name for p in written} == {"latest.json", "latest.md", "throughput.png"}
    data = json.loads((tmp_path / "latest.json").read_text())
    assert set(BENCHMARKS) <= set(data) and data["throughput"]["rows"]
    with Image.open(tmp_path / "throughput.png") as chart:
        assert chart.format == "PNG"
        assert chart.size == (960, 560)
        colours = {colour for _, colour in chart.convert("RGB").getcolors(960 * 560) or []}
    # Every client's series (and the ideal line) is drawn in its own colour.
    for hex_colour in [*SERIES_COLORS.values(), IDEAL_COLOR]:
        assert ImageColor.getrgb(hex_colour) in colours, hex_colour


def test_cli_only_one_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--size", "tiny", "--only", "store", "--out", str(tmp_path)]) == 0
    assert "## 4. Store" in capsys.readouterr().out
    assert json.loads((tmp_path / "latest.json").read_text())["throughput"] is None
