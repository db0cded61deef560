"""`media/archive` as Dagster runs it: catalog -> requests -> files -> archive -> report, in
real in-process runs against the emulator and a real DuckDB file; then fal forgets the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from generation_support import FAST, write_jsonl
from support.asset_runs import run_assets

from fal_platform.definitions import build_defs
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.paths import DataPaths
from resources.fal import FalResource
from resources.media_archive import MediaArchiveResource
from resources.paths import PlatformPaths

CATALOG = [["fal_catalog", "models"], ["fal_catalog", "pricing"]]
PARTITION = [["generation", "requests"], ["media", "files"], ["media", "archive"]]
ARCHIVE = [["media", "archive"]]
ARCHIVE_CHECKS = ["completed_media_archived_in_time", "no_lost_media", "stored_objects_intact"]
VIDEO = "fal-ai/kling-video/v2/master/text-to-video"
ITEMS: list[dict[str, Any]] = [
    {"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "a red kite", "num_images": 3}},
    {"endpoint_id": VIDEO, "input": {"prompt": "waves at night", "duration": "5"}},
]


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (materialization,) = [m for m in result.asset_materializations_for_node("media__archive")]
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_archive_asset_keeps_the_media_after_fal_forgets_it(tmp_path: Path) -> None:
    paths = DataPaths.under(tmp_path / "data", tmp_path / "prompts")
    write_jsonl(paths.prompts_dir / "kept.jsonl", ITEMS)
    write_jsonl(paths.prompts_dir / "late.jsonl", ITEMS[:1])
    with EmulatorProcess(models=40, video_bytes_per_second=1024 * 1024, **FAST) as emulator:
        fal = FalResource(emulator_url=emulator.url)
        archive = MediaArchiveResource(root=str(tmp_path / "archive"), max_concurrency=2)
        defs = build_defs(PlatformPaths.of(paths), fal, media_archive=archive)
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("prompt_sets", ["kept", "late"])
        assert run_assets(defs, instance, CATALOG).success

        first = run_assets(defs, instance, PARTITION, partition_key="kept")
        meta = _metadata(first)
        assert (meta["archived"], meta["lost"], meta["failed"]) == (4, 0, 0)
        assert meta["archived_bytes"] > 5 * 1024 * 1024  # the 5 s video is 5 MiB
        assert meta["preview"].count("](data:image/jpeg;base64,") == 3
        assert emulator.url not in meta["preview"]
        assert all(_checks(first).values()) and set(ARCHIVE_CHECKS) <= set(_checks(first))

        # fal deletes every file: a new set's files are lost, and the run still succeeds
        emulator.configure(media_expire_rate=1.0)
        lost = run_assets(defs, instance, PARTITION, partition_key="late")
        assert lost.success and _metadata(lost)["lost"] == 3
        assert _checks(lost)["no_lost_media"] is False

        # then the emulator goes away: archived media needs neither fal nor it
        emulator.stop()
        again = run_assets(defs, instance, ARCHIVE, partition_key="kept")
        assert (_metadata(again)["reused"], _metadata(again)["downloaded_this_run"]) == (4, 0)
        assert _metadata(again)["preview"].count("](data:image/jpeg;base64,") == 3

        report = run_assets(defs, instance, [["reports", "endpoint_stats"]])
        assert report.success
    with duckdb.connect(str(paths.duckdb)) as conn:
        stats = dict(
            (endpoint, (size, lost_files))
            for endpoint, size, lost_files in conn.execute(
                "SELECT endpoint_id, archived_bytes, lost_files FROM reports.endpoint_stats"
            ).fetchall()
        )
        assert stats[VIDEO][0] > 5 * 1024 * 1024 and stats[VIDEO][1] == 0
        assert stats["fal-ai/flux/schnell"][1] == 3 and stats["fal-ai/flux/schnell"][0] > 0
        # a week later nothing of `late` was archived: the check warns
        conn.execute(
            "UPDATE generation.requests SET completed_at = completed_at - INTERVAL 8 DAY "
            "WHERE prompt_set = 'late'"
        )
    stale = run_assets(defs, instance, ARCHIVE, partition_key="late")
    assert _checks(stale)["completed_media_archived_in_time"] is False
    assert _checks(stale)["stored_objects_intact"] is True
