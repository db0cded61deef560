"""A set larger than the engine's planning chunk: planned and submitted a chunk at a time.

`PLAN_CHUNK` is shrunk to 4 so a 10-item set spans three chunks: the table holds PENDING rows
only for the items in flight and the chunk ahead, every item is still submitted exactly once,
and a rerun of an edited file (reordered, one item removed, one added) is planned across chunks
(the moved rows rewritten, the removed one found by paging the set's keys and deleted). The
million-item version is the memory benchmark (benchmarks/memory.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from generation_support import (
    FAST,
    accepted_by_item,
    distinct_items,
    fast_options,
    prompt_set,
    run_engine,
)

from fal_platform.batch import run_planner
from fal_platform.batch.rows import RequestState
from fal_platform.batch.store import BatchStore

S = RequestState
CHUNK = 4


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BatchStore:
    monkeypatch.setattr(run_planner, "PLAN_CHUNK", CHUNK)
    store = BatchStore.at_path(tmp_path / "data" / "fal.duckdb")
    store.ensure_schema()  # before the test's watcher thread and the engine both read it
    return store


def test_pending_rows_cover_a_window_and_every_item_is_paid_once(emulator_factory, tmp_path, store):
    emu = emulator_factory(models=50, queue_wait=0.0, inference_time=3.0)
    prompts = prompt_set(tmp_path, "window", distinct_items(10))

    report = run_engine(
        emu,
        store,
        prompts,
        fast_options(max_concurrency=2),
        stop_when=lambda: emu.stats()["accepted_submits"] >= 2,
    )

    assert report.interrupted and report.total_items == 10
    # The first chunk is in the table (2 in flight, 2 PENDING); the rest is not written yet.
    assert sum(store.count_by_state("window").values()) == CHUNK
    assert report.table_rows == CHUNK

    emu.configure(inference_time=0.05)
    rerun = run_engine(emu, store, prompts, fast_options(max_concurrency=2))
    assert rerun.counts == {S.COMPLETED: 10}
    # Stopped jobs still queued were cancelled (never ran) and are submitted once more.
    accepted = accepted_by_item(emu, prompts)
    assert sum(accepted) == 10 + report.cancelled and max(accepted) <= 2


def test_an_edited_set_is_planned_across_chunks(emulator_factory, tmp_path, store):
    emu = emulator_factory(models=50, **FAST)
    items = distinct_items(10)
    run_engine(emu, store, prompt_set(tmp_path, "edited", items))

    edited = prompt_set(tmp_path, "edited", [*distinct_items(1, tag="new"), *items[::-1][:9]])
    report = run_engine(emu, store, edited)

    assert report.submitted == 1 and report.reused == 9 and report.removed == 1
    assert emu.stats()["accepted_submits"] == 11
    rows = {row.item_key: row for row in store.load_requests("edited")}
    assert set(rows) == {item.item_key for item in edited.items}
    assert all(rows[item.item_key].line == item.line for item in edited.items)
    assert report.counts == {S.COMPLETED: 10} and report.table_rows == 10
