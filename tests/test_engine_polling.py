"""Polling when the server has no status stream (the route answers 404), against the emulator."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from generation_support import (
    accepted_by_item,
    distinct_items,
    fast_options,
    prompt_set,
    run_engine,
)

from fal_platform.batch.rows import RequestState
from fal_platform.batch.store import BatchStore

S = RequestState
NO_STREAM = {
    "models": 50,
    "queue_wait": 0.3,
    "inference_time": 0.7,
    "retry_after": 0,
    "status_stream": False,
}
"""A 1 s job (0.3 s queue + 0.7 s running, each +-50% unless fixed) on a server without SSE."""
STEADY = {"queue_wait_jitter": 0.0, "inference_time_jitter": 0.0}


@pytest.fixture
def options():
    return fast_options(max_concurrency=16, submit_rate=20.0, poll_interval=0.5)


@pytest.fixture
def store(tmp_path: Path) -> BatchStore:
    return BatchStore.at_path(tmp_path / "data" / "fal.duckdb")


def test_without_a_stream_every_item_completes_in_at_most_four_requests_on_average(
    emulator_factory, tmp_path: Path, store, options, caplog: pytest.LogCaptureFixture
) -> None:
    # Fixed job times, as the issue measured them (with +-50% jitter on both parts it takes
    # ~3.6-3.8 requests per item: more aimed polls miss).
    emu = emulator_factory(**NO_STREAM, **STEADY)
    prompts = prompt_set(tmp_path, "polled", distinct_items(40))

    with caplog.at_level(logging.WARNING, logger="fal_platform.batch"):
        report = run_engine(emu, store, prompts, options)

    assert report.counts == {S.COMPLETED: 40}
    assert accepted_by_item(emu, prompts) == [1] * 40
    requests = emu.stats()["requests"]
    # One run learns once that there is no stream, not once per item.
    assert requests["status_stream"] == 1
    assert "polling from now on" in caplog.text
    per_item = (requests["submit"] + requests["status"] + requests["result"]) / 40
    print(f"\n40 items polled: {per_item:.2f} requests per item ({requests})")
    assert requests["submit"] == 40 and requests["result"] == 40
    assert per_item <= 4.0


def test_a_later_run_aims_its_polls_from_the_earlier_runs_job_times(
    emulator_factory, tmp_path: Path, store, options
) -> None:
    """The second run has no blind start: every new item is polled at the learned aim."""
    emu = emulator_factory(**NO_STREAM, **STEADY)
    items = distinct_items(24)
    run_engine(emu, store, prompt_set(tmp_path, "grown", items[:16]), options)
    emu.reset_stats()

    report = run_engine(emu, store, prompt_set(tmp_path, "grown", items), options)

    assert report.submitted == 8 and report.reused == 16
    assert report.counts == {S.COMPLETED: 24}
    requests = emu.stats()["requests"]
    # A blind start polls at 0.5 s and 1.25 s for a 1 s job: two polls per item at least.
    assert requests["status"] < 2 * 8, requests


def test_polling_through_gateway_faults_pays_once_per_item(
    emulator_factory, tmp_path: Path, store
) -> None:
    """Failed and dropped status polls are waited out, never turned into a second submit."""
    emu = emulator_factory(
        **{**NO_STREAM, "queue_wait": 0.05, "inference_time": 0.2},
        fail_rate=0.15,
        drop_rate=0.05,
        fault_routes="status,result",
    )
    prompts = prompt_set(tmp_path, "faulty", distinct_items(30))

    report = run_engine(emu, store, prompts, fast_options(max_concurrency=8))

    assert report.counts == {S.COMPLETED: 30}
    assert accepted_by_item(emu, prompts) == [1] * 30
    stats = emu.stats()
    assert stats["faults"]["status"] and stats["requests"]["status_stream"] == 1


def test_a_new_prompt_set_aims_from_other_sets_job_times_on_the_same_endpoint(
    emulator_factory, tmp_path: Path, store, options
) -> None:
    """Job times are the endpoint's, not the prompt set's: a set never run before starts aimed."""
    emu = emulator_factory(**NO_STREAM, **STEADY)
    items = distinct_items(24)
    run_engine(emu, store, prompt_set(tmp_path, "first", items[:16]), options)
    emu.reset_stats()

    report = run_engine(emu, store, prompt_set(tmp_path, "second", items[16:]), options)

    assert report.submitted == 8 and report.counts == {S.COMPLETED: 8}
    requests = emu.stats()["requests"]
    assert requests["status"] < 2 * 8, requests
