"""The whole pipeline with FAL_PLATFORM_DATABASE_URL set: every table, and the catalog dlt loads,
in a real PostgreSQL database; no DuckDB file; the password nowhere it could leak.

Real Dagster runs (in-process, on a temporary instance whose event log is read back), a real
emulator and the session's Postgres server (tests/support/postgres_server.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from generation_support import FAST, write_jsonl
from support.asset_runs import run_assets

from fal_platform.batch.store import BatchStore
from fal_platform.definitions import build_defs
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.postgres import PostgresCluster, PostgresLogin
from fal_platform.media.extract import extract_media
from fal_platform.paths import DataPaths
from fal_platform.store.target import StoreTarget
from resources.fal import FalResource
from resources.paths import PlatformPaths

CATALOG_KEYS = [["fal_catalog", "models"], ["fal_catalog", "pricing"]]
MEDIA_KEYS = [["generation", "requests"], ["media", "files"], ["media", "timings"]]
ARCHIVE_KEY = ["media", "archive"]
PLATFORM_SCHEMAS = ("fal_catalog", "generation", "media", "reports")
ITEMS = [
    {"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": f"tile {i}", "num_images": 2}}
    for i in range(5)
] + [{"endpoint_id": "fal-ai/kokoro/american-english", "input": {"prompt": "Hello there."}}]


def _instance_home(tmp_path: Path) -> str:
    home = tmp_path / "dagster_home"
    home.mkdir()
    return str(home)


def _defs(tmp_path: Path, emulator: EmulatorProcess, url: str) -> dg.Definitions:
    paths = DataPaths.under(tmp_path / "data", tmp_path / "prompts", database_url=url)
    fal = FalResource(
        api_url=emulator.api_url, queue_url=emulator.queue_url, run_url=emulator.run_url
    )
    return build_defs(PlatformPaths.of(paths), fal)


def _metadata(result: Any, path: list[str]) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.path == path:
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    raise AssertionError(f"no materialization of {path}")


def _every_table_as_text(login: PostgresLogin) -> tuple[dict[str, int], str]:
    """Row counts of the platform's tables and all their contents as one string."""
    with StoreTarget.from_url(login.url(), "unused").backend().reader() as reader:
        names = [
            f"{schema}.{table}"
            for schema, table in reader.rows(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema = ANY($1) ORDER BY 1, 2",
                [list(PLATFORM_SCHEMAS)],
            )
        ]
        counts = {name: reader.rows(f"SELECT count(*) FROM {name}")[0][0] for name in names}
        text = "\n".join(
            str(row) for name in names for row in reader.rows(f"SELECT t::text FROM {name} t")
        )
    return counts, text


def _event_log_text(instance: dg.DagsterInstance) -> str:
    return "\n".join(
        str(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)
    )


def _files_text(root: Path) -> str:
    chunks = []
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            chunks.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(chunks)


def test_every_table_lives_in_postgres_and_the_password_leaks_nowhere(
    tmp_path: Path,
    postgres_database: PostgresLogin,
    capfd: pytest.CaptureFixture[str],
) -> None:
    password = postgres_database.password
    write_jsonl(tmp_path / "prompts" / "tiles.jsonl", ITEMS)
    with (
        EmulatorProcess(**FAST) as emulator,
        dg.instance_for_test(temp_dir=_instance_home(tmp_path)) as instance,
    ):
        defs = _defs(tmp_path, emulator, postgres_database.url())
        instance.add_dynamic_partitions("prompt_sets", ["tiles"])

        first = run_assets(defs, instance, CATALOG_KEYS)
        assert first.success
        touched = emulator.touch_models(4)
        again = run_assets(defs, instance, CATALOG_KEYS)  # dlt merge: only the changed rows
        assert _metadata(first, CATALOG_KEYS[0])["rows_written"] == 300
        second = _metadata(again, CATALOG_KEYS[0])
        assert second["rows_written"] == 4 and second["changed_endpoint_ids"] == sorted(touched)
        assert second["dagster/row_count"] == 300

        run = run_assets(defs, instance, [*MEDIA_KEYS, ARCHIVE_KEY], partition_key="tiles")
        assert run.success
        assert all(check.passed for check in run.get_asset_check_evaluations())
        assert _metadata(run, MEDIA_KEYS[0])["submitted_this_run"] == len(ITEMS)
        assert _metadata(run, ARCHIVE_KEY)["failed"] == 0
        assert run_assets(defs, instance, [["reports", "endpoint_stats"]]).success
        assert emulator.stats()["accepted_submits"] == len(ITEMS)
        events = _event_log_text(instance)

    counts, contents = _every_table_as_text(postgres_database)
    store = BatchStore(StoreTarget.from_url(postgres_database.url(), "unused").backend())
    requests = store.load_requests("tiles")
    assert counts["generation.requests"] == len(ITEMS) == len(requests)
    assert counts["media.files"] == sum(len(extract_media(r.result)) for r in requests) > 10
    assert counts["media.timings"] == len(ITEMS)
    assert counts["media.archive"] == counts["media.files"]  # every file kept, in Postgres too
    assert counts["reports.endpoint_stats"] == 2
    assert counts["fal_catalog.models"] == 300 and counts["fal_catalog.pricing"] > 0
    assert not list(tmp_path.rglob("*.duckdb")), "a DuckDB file was created"

    output = capfd.readouterr()
    assert "fal-ai/flux/schnell" in contents and "tiles" in events
    for where, text in {
        "tables": contents,
        "event log and metadata": events,
        "stdout/stderr": output.out + output.err,
        "files": _files_text(tmp_path),
    }.items():
        assert password not in text, f"the password appears in {where}"


def test_a_wrong_password_fails_the_step_at_once_naming_where(
    tmp_path: Path, postgres_server: PostgresCluster, postgres_database: PostgresLogin
) -> None:
    wrong = PostgresLogin(
        postgres_database.host,
        postgres_database.port,
        postgres_database.database,
        postgres_database.user,
        "not-" + postgres_database.password,
    )
    write_jsonl(tmp_path / "prompts" / "tiles.jsonl", ITEMS[:1])
    with (
        EmulatorProcess(**FAST) as emulator,
        dg.instance_for_test(temp_dir=_instance_home(tmp_path)) as instance,
    ):
        defs = _defs(tmp_path, emulator, wrong.url())
        instance.add_dynamic_partitions("prompt_sets", ["tiles"])
        job = defs.resolve_implicit_job_def_def_for_assets([dg.AssetKey(MEDIA_KEYS[0])])
        assert job is not None
        result = job.execute_in_process(
            instance=instance,
            partition_key="tiles",
            asset_selection=[dg.AssetKey(MEDIA_KEYS[0])],
            raise_on_error=False,
        )
        assert not result.success
        events = _event_log_text(instance)
        assert emulator.stats()["accepted_submits"] == 0
    where = f"{wrong.host}:{wrong.port}"
    assert where in events and wrong.database in events
    assert wrong.password not in events and postgres_database.password not in events
    assert os.environ.get("FAL_PLATFORM_DATABASE_URL") is None
