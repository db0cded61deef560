"""Injected faults: whatever fails on the wire, every item ends terminal and fal saw exactly one
accepted submit per item (no double billing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import generation_support as gen
import httpx

from fal_platform.batch.rows import RequestRow, RequestState
from fal_platform.batch.store import BatchStore

S = RequestState


def test_5xx_429_and_dropped_connections_never_submit_twice(emulator_factory, tmp_path: Path):
    emu = emulator_factory(
        models=50, fail_rate=0.10, rate_limit_rate=0.05, drop_rate=0.03, seed=7, **gen.FAST
    )
    store = BatchStore.at_path(tmp_path / "fal.duckdb")
    prompts = gen.prompt_set(tmp_path, "faulty", gen.distinct_items(200))

    report = gen.run_engine(emu, store, prompts)

    counts = store.count_by_state("faulty")
    assert sum(counts.values()) == 200
    assert all(state.is_terminal for state in counts), counts
    assert counts == {S.COMPLETED: 200}
    assert gen.accepted_by_item(emu, prompts) == [1] * 200
    stats = emu.stats()
    assert stats["accepted_submits"] == 200
    faults = stats["faults"]
    # The faults really happened, on submits too (some after fal had accepted the job).
    assert sum(faults["submit"].values()) > 0 and faults["submit"].get("drop", 0) > 0
    assert report.reconciled_found >= faults["submit"].get("drop", 0)
    print(
        f"\nfaults {faults['submit']} on submit; reconciled found {report.reconciled_found}, "
        f"not found {report.reconciled_not_found}; "
        f"{gen.requests_sent(stats) / 200:.2f} requests per completed item"
    )


def test_unknown_rows_from_a_dead_run_are_reconciled_not_resubmitted(
    emulator_factory, tmp_path: Path
):
    """Rows a killed run left UNKNOWN: accepted ones are found in history, others resubmitted."""
    emu = emulator_factory(models=50, **gen.FAST)
    store = BatchStore.at_path(tmp_path / "fal.duckdb")
    prompts = gen.prompt_set(tmp_path, "orphans", gen.distinct_items(6))
    # What a SIGKILL right after sending three submits leaves behind: UNKNOWN intents, and on
    # fal's side three accepted jobs (sent directly here), while three intents never left.
    intent_time = datetime.now(UTC)
    rows = []
    for index, item in enumerate(prompts.items):
        if index < 3:
            httpx.post(f"{emu.queue_url}/{item.endpoint_id}", json=item.input).raise_for_status()
        rows.append(
            replace(
                RequestRow.pending("orphans", item),
                state=S.UNKNOWN,
                attempts=1,
                submitted_at=intent_time,
            )
        )
    store.upsert_requests(rows)

    report = gen.run_engine(emu, store, prompts, gen.fast_options(max_attempts=1))

    assert report.reconciled_found == 3 and report.reconciled_not_found == 3
    assert report.counts == {S.COMPLETED: 6}
    assert gen.accepted_by_item(emu, prompts) == [1] * 6
    # Resubmitted items do not count the lost intent as an attempt (max_attempts=1 sufficed).
    assert {row.attempts for row in store.load_requests("orphans")} == {1}


def test_replicas_sharing_an_input_each_get_their_own_request(emulator_factory, tmp_path):
    emu = emulator_factory(models=50, drop_rate=0.3, fault_routes=["submit"], seed=3, **gen.FAST)
    store = BatchStore.at_path(tmp_path / "fal.duckdb")
    items = [{"endpoint_id": "fal-ai/flux/schnell", "input": {"prompt": "same"}, "replicas": 8}]
    prompts = gen.prompt_set(tmp_path, "replicas", items)

    report = gen.run_engine(emu, store, prompts)

    assert report.counts == {S.COMPLETED: 8}
    assert emu.stats()["accepted_submits"] == 8
    request_ids = {row.request_id for row in store.load_requests("replicas")}
    assert len(request_ids) == 8
