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


def test_without_a_stream_every_item_completes_in_at_most_four_requests_on_average(
    emulator_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emu = emulator_factory(
        models=50,
        queue_wait=0.3,
        inference_time=0.7,
        retry_after=0,
        status_stream=False,
        queue_wait_jitter=0.0,
        inference_time_jitter=0.0,
    )
    store = BatchStore.at_path(tmp_path / "data" / "fal.duckdb")
    prompts = prompt_set(tmp_path, "polled", distinct_items(40))
    options = fast_options(max_concurrency=16, submit_rate=20.0, poll_interval=0.5)

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
