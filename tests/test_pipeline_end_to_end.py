"""catalog -> generation/requests -> media/files, media/timings -> reports/endpoint_stats.

Real Dagster runs (in-process job execution on an ephemeral instance) against a real emulator
and a real DuckDB file; every expectation is derived from the prompt sets and the results the
emulator returned, not hard-coded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
from generation_support import FAST, write_jsonl
from support.asset_runs import run_assets

from fal_platform.definitions import build_defs
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.media.extract import extract_media, extract_seed
from fal_platform.paths import DataPaths
from resources.fal import FalResource
from resources.paths import PlatformPaths

MEDIA_KEYS = [["generation", "requests"], ["media", "files"], ["media", "timings"]]
CATALOG_KEYS = [["fal_catalog", "models"], ["fal_catalog", "pricing"]]

MIXED_ITEMS: list[dict[str, Any]] = [
    {"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "a red kite", "num_images": 2}},
    {"endpoint_id": "fal-ai/flux/dev", "input": {"prompt": "a blue door"}},
    {"endpoint_id": "fal-ai/kokoro/american-english", "input": {"prompt": "Hello there."}},
    {"endpoint_id": "fal-ai/whisper", "input": {"audio_url": "https://example.com/a.wav"}},
    {
        "endpoint_id": "fal-ai/kling-video/v2/master/text-to-video",
        "input": {"prompt": "waves at night", "duration": "5"},
    },
]


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[dg.Definitions, dg.DagsterInstance, Path]]:
    with EmulatorProcess(**FAST) as emulator:
        paths = DataPaths.under(tmp_path / "data", tmp_path / "prompts")
        database = paths.duckdb
        write_jsonl(tmp_path / "prompts" / "mixed.jsonl", MIXED_ITEMS)
        write_jsonl(
            tmp_path / "prompts" / "images.jsonl",
            [
                {"endpoint_id": "fal-ai/fast-sdxl", "input": {"prompt": f"tile {i}"}}
                for i in range(4)
            ],
        )
        fal = FalResource(
            api_url=emulator.api_url, queue_url=emulator.queue_url, run_url=emulator.run_url
        )
        defs = build_defs(PlatformPaths.of(paths), fal)
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("prompt_sets", ["mixed", "images"])
        assert run_assets(defs, instance, CATALOG_KEYS).success
        yield defs, instance, database


def _query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(database), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_media_timings_and_stats_follow_the_requests(
    pipeline: tuple[dg.Definitions, dg.DagsterInstance, Path],
) -> None:
    defs, instance, database = pipeline
    for name in ("mixed", "images"):
        result = run_assets(defs, instance, MEDIA_KEYS, partition_key=name)
        assert result.success
        assert all(check.passed for check in result.get_asset_check_evaluations())
    stats_run = run_assets(defs, instance, [["reports", "endpoint_stats"]])
    assert stats_run.success

    results = _query(
        database,
        "SELECT prompt_set, item_key, endpoint_id, CAST(result AS VARCHAR) "
        "FROM generation.requests WHERE state = 'COMPLETED'",
    )
    assert len(results) == len(MIXED_ITEMS) + 4
    expected_media = {
        (prompt_set, item_key): extract_media(json.loads(raw))
        for prompt_set, item_key, _, raw in results
    }
    media = _query(
        database,
        "SELECT prompt_set, item_key, position, media_kind, url, width, height, file_size, "
        "CAST(seed AS VARCHAR) FROM media.files ORDER BY prompt_set, item_key, position",
    )
    assert len(media) == sum(len(files) for files in expected_media.values())
    for prompt_set, item_key, position, kind, url, width, height, size, seed in media:
        expected = expected_media[(prompt_set, item_key)][position]
        assert (kind, url, width, height, size) == (
            expected.media_kind,
            expected.url,
            expected.width,
            expected.height,
            expected.file_size,
        )
        raw = next(r[3] for r in results if r[0] == prompt_set and r[1] == item_key)
        result_seed = extract_seed(json.loads(raw))
        assert seed == (str(result_seed) if result_seed is not None else None)

    assert {"image", "audio", "video"} <= {row[3] for row in media}
    whisper_key = next(r[1] for r in results if r[2] == "fal-ai/whisper")
    assert not expected_media[("mixed", whisper_key)]  # speech-to-text: text, no media

    timings = _query(
        database,
        "SELECT count(*), min(total_seconds), min(queue_wait_seconds) FROM media.timings",
    )[0]
    assert timings[0] == len(results)
    assert timings[1] > 0 and timings[2] >= 0

    stats = {
        row[0]: row[1:]
        for row in _query(
            database,
            "SELECT endpoint_id, requests, failure_rate, media_count, p50_seconds, "
            "cost_per_item_usd FROM reports.endpoint_stats",
        )
    }
    assert set(stats) == {item["endpoint_id"] for item in MIXED_ITEMS} | {"fal-ai/fast-sdxl"}
    assert stats["fal-ai/fast-sdxl"][0] == 4
    assert stats["fal-ai/flux/schnell"][2] == 2  # num_images: 2
    assert all(
        row[1] == 0.0 and row[3] is not None and row[4] is not None for row in stats.values()
    )


def test_rematerializing_a_partition_replaces_only_its_rows(
    pipeline: tuple[dg.Definitions, dg.DagsterInstance, Path],
) -> None:
    defs, instance, database = pipeline
    for name in ("mixed", "images"):
        assert run_assets(defs, instance, MEDIA_KEYS, partition_key=name).success
    before = _query(database, "SELECT prompt_set, count(*) FROM media.files GROUP BY 1 ORDER BY 1")
    rerun = run_assets(defs, instance, MEDIA_KEYS, partition_key="images")
    assert rerun.success
    after = _query(database, "SELECT prompt_set, count(*) FROM media.files GROUP BY 1 ORDER BY 1")
    assert after == before
    duplicates = _query(
        database,
        "SELECT count(*) FROM (SELECT prompt_set, item_key, position FROM media.files "
        "GROUP BY ALL HAVING count(*) > 1)",
    )
    assert duplicates == [(0,)]
    timing_counts = _query(
        database, "SELECT prompt_set, count(*) FROM media.timings GROUP BY 1 ORDER BY 1"
    )
    assert timing_counts == [("images", 4), ("mixed", len(MIXED_ITEMS))]
