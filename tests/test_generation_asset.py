"""`generation/requests` materialized with Dagster against the emulator and a real DuckDB file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from catalog_support import emulator_fal, isolate, materialize_catalog
from dagster_duckdb import DuckDBResource
from generation_support import FAST, distinct_items, write_jsonl

from assets.generation.assets import REQUESTS_KEY, GenerationConfig, generation_requests
from assets.generation.checks import GENERATION_CHECKS
from fal_platform.batch.rows import RequestState
from fal_platform.batch.store import BatchStore
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.paths import DataPaths
from resources.fal import FalResource
from resources.paths import PlatformPaths

S = RequestState


@dataclass
class Env:
    emulator: EmulatorProcess
    db: Path
    prompts: Path
    fal: FalResource
    instance: dg.DagsterInstance

    def materialize(
        self, partition: str, config: GenerationConfig | None = None, **kwargs: Any
    ) -> dg.ExecuteInProcessResult:
        if not self.instance.has_dynamic_partition("prompt_sets", partition):
            self.instance.add_dynamic_partitions("prompt_sets", [partition])
        run_config = (
            dg.RunConfig(ops={"generation__requests": config}) if config is not None else None
        )
        return dg.materialize(
            [generation_requests, *GENERATION_CHECKS],
            partition_key=partition,
            instance=self.instance,
            resources={
                "fal": self.fal,
                "duckdb": DuckDBResource(database=str(self.db)),
                "paths": PlatformPaths.of(DataPaths.under(self.db.parent, self.prompts)),
            },
            run_config=run_config,
            raise_on_error=False,
            **kwargs,
        )

    def store(self) -> BatchStore:
        return BatchStore.at_path(self.db)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_factory) -> Env:
    paths = isolate(tmp_path, monkeypatch)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    monkeypatch.setenv("FAL_PLATFORM_PROMPTS_DIR", str(prompts))
    emu = emulator_factory(models=40, **FAST)
    materialize_catalog(emulator_fal(emu), paths.duckdb)
    fal = FalResource(
        emulator_url=emu.url,
        max_concurrency=16,
        submit_rate=200.0,
        poll_interval=0.05,
        request_timeout=10.0,
        max_attempts=3,
    )
    return Env(emu, paths.duckdb, prompts, fal, dg.DagsterInstance.ephemeral())


def metadata_of(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.get_asset_materialization_events()
    materialization = event.step_materialization_data.materialization
    assert materialization.asset_key == REQUESTS_KEY
    return {name: value.value for name, value in materialization.metadata.items()}


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    (event,) = result.get_step_failure_events()
    data = event.step_failure_data
    parts = [data.error.message if data.error else ""]
    if data.user_failure_data is not None:
        parts.append(data.user_failure_data.description or "")
    return "\n".join(parts)


def test_materialize_one_partition(env: Env):
    write_jsonl(env.prompts / "shots.jsonl", distinct_items(12))

    result = env.materialize("shots")

    assert result.success
    meta = metadata_of(result)
    assert meta["dagster/row_count"] == 12
    assert meta["dagster/table_name"] == "generation.requests"
    assert meta["counts_by_state"] == {"COMPLETED": 12}
    assert meta["submitted_this_run"] == 12 and meta["non_terminal"] == 0
    assert meta["latency_p50_seconds"] > 0 and meta["latency_p95_seconds"] > 0
    assert meta["estimated_cost_usd"] == pytest.approx(meta["billed_cost_usd"])
    assert meta["billed_cost_usd"] > 0
    assert "[![line 1](data:image/jpeg;base64," in meta["preview"]  # a thumbnail, linked
    assert "| [image](http" in meta["preview"]
    assert meta["failures"] == "_no failures_"
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"all_items_terminal": True, "failure_rate_below_bound": True}
    assert env.store().count_by_state("shots") == {S.COMPLETED: 12}
    # Progress reached the Dagster log.
    logs = [
        e.message
        for e in env.instance.all_logs(result.run_id)
        if e.user_message and "done" in e.user_message
    ]
    assert any("shots: 12/12 done" in message for message in logs)

    submits = env.emulator.stats()["accepted_submits"]
    again = env.materialize("shots")
    assert again.success
    again_meta = metadata_of(again)
    assert again_meta["reused"] == 12
    assert again_meta["billed_this_run_usd"] == 0
    assert again_meta["billed_cost_usd"] == pytest.approx(meta["billed_cost_usd"])
    assert again_meta["billing"].startswith("reused all 12, billed nothing this run")
    assert env.emulator.stats()["accepted_submits"] == submits


def test_failures_are_reported_with_their_error_type(env: Env):
    write_jsonl(
        env.prompts / "mixed.jsonl",
        distinct_items(4) + distinct_items(1, tag="bad", num_images=9),
    )
    result = env.materialize("mixed")
    assert result.success
    meta = metadata_of(result)
    assert meta["counts_by_state"] == {"COMPLETED": 4, "FAILED": 1}
    assert meta["failures_by_error_type"] == {"validation_error": 1}
    assert "mixed.jsonl:5" in meta["failures"] and "validation_error" in meta["failures"]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["all_items_terminal"].passed
    assert not checks["failure_rate_below_bound"].passed
    assert checks["failure_rate_below_bound"].severity is dg.AssetCheckSeverity.WARN


def test_budget_guard_fails_the_run_before_any_submit(env: Env):
    write_jsonl(env.prompts / "dear.jsonl", distinct_items(30, endpoint_id="fal-ai/flux/dev"))
    result = env.materialize("dear", GenerationConfig(max_cost_usd=0.1))
    assert not result.success
    message = failure_message(result)
    assert "exceeds the budget of 0.1000 USD by 0.6500 USD" in message
    assert env.emulator.stats()["requests"]["submit"] == 0
    assert env.store().count_by_state("dear") == {}


MALFORMED: dict[str, tuple[str, str]] = {
    # file name: (content, expected problem text)
    "bad-json.jsonl": (
        '{"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "a"}}\n{"endpoint_id": \n',
        "bad-json.jsonl:2: ",
    ),
    "no-endpoint.jsonl": ('{"input": {"prompt": "a"}}\n', "no-endpoint.jsonl:1: endpoint_id: "),
    "unknown-endpoint.jsonl": (
        '{"endpoint_id": "fal-ai/nope/nope", "input": {"prompt": "a"}}\n',
        "unknown-endpoint.jsonl:1: endpoint_id: unknown endpoint",
    ),
    "empty.jsonl": ("", "empty.jsonl:0: "),
    "not-object.jsonl": (
        '{"endpoint_id": "fal-ai/flux/schnell", "input": ["a"]}\n',
        "not-object.jsonl:1: input: ",
    ),
    "bad-row.csv": (
        'endpoint_id,prompt\nfal-ai/flux/schnell,"ok"\n,"no endpoint"\n',
        "bad-row.csv:3: endpoint_id: ",
    ),
    "with,comma.jsonl": (
        '{"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "a"}}\n',
        "with,comma.jsonl:0: file name: ",
    ),
}


def test_malformed_sets_fail_with_file_line_errors_and_lose_nothing(env: Env):
    write_jsonl(env.prompts / "good.jsonl", distinct_items(5))
    assert env.materialize("good").success
    good_before = {r.item_key: r.request_id for r in env.store().load_requests("good")}

    for name, (content, _) in MALFORMED.items():
        (env.prompts / name).write_text(content)
    for name, (_, expected) in MALFORMED.items():
        partition = Path(name).stem
        result = env.materialize(partition)
        assert not result.success, name
        assert expected in failure_message(result), (name, failure_message(result))
        assert "Nothing was submitted" in failure_message(result)

    assert env.emulator.stats()["accepted_submits"] == 5
    # A set that ran before and is then broken by an edit keeps its recorded rows.
    (env.prompts / "good.jsonl").write_text('{"endpoint_id": oops}\n')
    broken = env.materialize("good")
    assert not broken.success and "good.jsonl:1: " in failure_message(broken)
    good_after = {r.item_key: r.request_id for r in env.store().load_requests("good")}
    assert good_after == good_before
    assert env.store().count_by_state("good") == {S.COMPLETED: 5}


def test_no_key_reaches_logs_or_metadata(env: Env, monkeypatch: pytest.MonkeyPatch):
    secret = "test-key-id:test-key-secret-123456"
    env.fal = FalResource(
        api_key=secret,
        api_url=env.emulator.api_url,
        queue_url=env.emulator.queue_url,
        run_url=env.emulator.run_url,
        submit_rate=200.0,
        poll_interval=0.05,
    )
    write_jsonl(env.prompts / "keyed.jsonl", distinct_items(3))
    result = env.materialize("keyed")
    assert result.success
    text = json.dumps([str(e) for e in env.instance.all_logs(result.run_id)])
    assert secret not in text and "test-key-secret" not in text
    assert secret not in json.dumps(metadata_of(result), default=str)
    rows = env.store().load_requests("keyed")
    assert secret not in json.dumps([r.result for r in rows] + [r.input for r in rows])
