"""The engine's building blocks: pacing, backoff, cost estimate, failure records, the writer."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from fal_platform.batch.cost import (
    BudgetExceededError,
    check_budget,
    estimate_cost,
    units_per_request,
)
from fal_platform.batch.failures import Failure, failure_from_error, is_job_failure
from fal_platform.batch.pacing import Backoff, Pacer
from fal_platform.batch.progress import percentile
from fal_platform.batch.prompts import PromptItem, PromptSet
from fal_platform.batch.retrying import exponential, retry_async
from fal_platform.batch.rows import RequestRow, RequestState
from fal_platform.batch.store import BatchStore
from fal_platform.batch.writer import RowWriter, WriterFailedError
from fal_platform.client import (
    FalServerError,
    FalTimeoutError,
    FalValidationError,
    FieldError,
    Price,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_calls_without_a_burst():
    clock = FakeClock()
    pacer = Pacer(10.0, clock=clock)
    assert [pacer.reserve() for _ in range(4)] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    clock.now += 5.0  # idle: the next call goes at once, the one after waits a full interval
    assert [pacer.reserve() for _ in range(2)] == pytest.approx([0.0, 0.1])


def test_backoff_grows_to_its_cap_and_resets():
    backoff = Backoff(0.5, 2.0, factor=1.5)
    assert [backoff.next() for _ in range(5)] == pytest.approx([0.5, 0.75, 1.125, 1.6875, 2.0])
    backoff.reset()
    assert backoff.next() == 0.5
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)


def test_units_per_request_follows_the_documented_rules():
    assert units_per_request("image", {"prompt": "x"}) == 1
    assert units_per_request("image", {"num_images": 3}) == 3
    assert units_per_request("megapixels", {"image_size": {"width": 2048, "height": 1024}}) == 3
    assert units_per_request("megapixels", {"num_images": 2, "image_size": "square_hd"}) == 2
    assert units_per_request("second", {"duration": "10"}) == 10
    assert units_per_request("second", {}) == 1
    assert units_per_request("video", {"duration": "10"}) == 1
    assert units_per_request(None, {"num_images": 4}) == 1


def _item(index: int, endpoint_id: str, **inputs: object) -> PromptItem:
    return PromptItem(endpoint_id, dict(inputs), 0, index + 1, f"key{index}", index)


def test_estimate_and_budget_message(tmp_path: Path):
    items = [_item(0, "a/img", num_images=2), _item(1, "a/img"), _item(2, "b/vid"), _item(3, "c/x")]
    prompt_set = PromptSet("s", tmp_path / "s.jsonl", items, "hash")
    prices = [
        Price(endpoint_id="a/img", unit_price=0.5, unit="image", currency="USD"),
        Price(endpoint_id="b/vid", unit_price=2.0, unit="video", currency="USD"),
    ]
    estimate = estimate_cost(prompt_set, prices)
    assert estimate.total_usd == pytest.approx(0.5 * 3 + 2.0)
    assert estimate.unpriced == ["c/x"]
    assert estimate_cost(prompt_set, prices, exclude_item_keys={"key2"}).total_usd == 1.5
    check_budget(estimate, 3.5)
    check_budget(estimate, None)
    with pytest.raises(BudgetExceededError, match=r"exceeds the budget of 3\.0000 USD by 0\.5000"):
        check_budget(estimate, 3.0)


def test_failures_round_trip_through_the_row():
    error = FalValidationError(
        "Invalid input",
        status_code=422,
        error_type="validation_error",
        field_errors=[FieldError(loc=["body", "num_images"], msg="too big", type="value_error")],
    )
    failure = failure_from_error(error)
    assert not failure.retryable
    again = Failure.from_row(failure.error_type, failure.detail_json())
    assert again == failure
    # An unreadable detail counts as not retryable: retrying blindly is what costs money.
    assert not Failure.from_row("x", "free text").retryable


def test_job_failures_are_told_apart_from_gateway_glitches():
    job = FalServerError("boom", status_code=503, request_id="r1", error_type="runner_disconnected")
    gateway = FalServerError("bad gateway", status_code=502)
    assert is_job_failure(job) and failure_from_error(job).retryable
    assert not is_job_failure(gateway)
    assert not is_job_failure(FalTimeoutError("slow"))


def test_percentile_matches_linear_interpolation():
    assert percentile([], 0.5) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)


def _rows(n: int) -> list[RequestRow]:
    return [
        RequestRow(
            prompt_set="w",
            item_key=f"k{i}",
            item_index=i,
            line=i + 1,
            endpoint_id="a/b",
            input={"prompt": str(i)},
            replica=0,
        )
        for i in range(n)
    ]


def test_writer_group_commits_concurrent_durable_writes(tmp_path: Path):
    store = BatchStore.at_path(tmp_path / "w.duckdb")
    rows = _rows(64)

    async def main() -> RowWriter:
        writer = RowWriter(store.upsert_requests)
        writer.start()
        await asyncio.gather(*(writer.put_durable(row) for row in rows))
        # A later version of a row replaces the queued one; close() flushes it.
        writer.put(replace(rows[0], state=RequestState.FAILED))
        await writer.close()
        return writer

    writer = asyncio.run(main())
    assert writer.rows_written == 65
    assert writer.batches < 64  # many rows per write, not one write per row
    loaded = {row.item_key: row for row in store.load_requests("w")}
    assert len(loaded) == 64 and loaded["k0"].state is RequestState.FAILED


def test_writer_failure_reaches_every_waiter(tmp_path: Path):
    def broken(rows: object) -> int:
        raise OSError("disk full")

    async def main() -> None:
        writer = RowWriter(broken, attempts=2, retry_delay=0.01)
        writer.start()
        with pytest.raises(WriterFailedError, match="disk full"):
            await writer.put_durable(_rows(1)[0])
        with pytest.raises(WriterFailedError):
            writer.put(_rows(2)[1])
        with pytest.raises(WriterFailedError):
            await writer.close()

    asyncio.run(main())


def test_retry_policy_repeats_only_what_it_is_told_and_gives_up_on_request():
    calls: list[str] = []

    async def flaky(kind: str) -> str:
        calls.append(kind)
        if len(calls) < 3:
            raise FalServerError("boom", status_code=500) if kind == "5xx" else ValueError(kind)
        return "ok"

    def retryable(exc: BaseException) -> bool:
        return isinstance(exc, FalServerError)

    async def main() -> None:
        no_wait = exponential(0.0, 0.0)
        assert (
            await retry_async(lambda: flaky("5xx"), attempts=3, delay=no_wait, retry_if=retryable)
            == "ok"
        )
        assert calls == ["5xx"] * 3
        calls.clear()
        with pytest.raises(ValueError):  # not retryable: raised at once, as it was
            await retry_async(lambda: flaky("bad"), attempts=3, delay=no_wait, retry_if=retryable)
        assert calls == ["bad"]
        calls.clear()
        with pytest.raises(FalServerError):  # the run is stopping: no second try
            await retry_async(
                lambda: flaky("5xx"),
                attempts=3,
                delay=no_wait,
                retry_if=retryable,
                give_up=lambda: True,
            )
        assert calls == ["5xx"]

    asyncio.run(main())


def test_writer_coalesces_rows_that_do_not_wake_it(tmp_path: Path):
    store = BatchStore.at_path(tmp_path / "w.duckdb")
    rows = _rows(3)

    def states() -> dict[str, RequestState]:
        return {row.item_key: row.state for row in store.load_requests("w")}

    async def main() -> None:
        writer = RowWriter(store.upsert_requests, coalesce_interval=0.3)
        writer.start()
        await writer.put_durable(rows[0])
        writer.put(replace(rows[0], state=RequestState.IN_QUEUE), wake=False)
        await asyncio.sleep(0.1)
        assert writer.pending == 1  # kept in memory: nothing woke the writer
        # ... until the next write takes it along ...
        await writer.put_durable(rows[1])
        assert writer.pending == 0 and states()["k0"] is RequestState.IN_QUEUE
        # ... or the coalescing interval is up.
        written = writer.rows_written
        writer.put(replace(rows[1], state=RequestState.IN_PROGRESS), wake=False)
        for _ in range(100):
            if writer.rows_written > written:
                break
            await asyncio.sleep(0.05)
        assert states()["k1"] is RequestState.IN_PROGRESS
        writer.put(replace(rows[2], state=RequestState.IN_QUEUE), wake=False)
        await writer.close()  # and nothing is left behind at the end

    asyncio.run(main())
    assert states() == {
        "k0": RequestState.IN_QUEUE,
        "k1": RequestState.IN_PROGRESS,
        "k2": RequestState.IN_QUEUE,
    }
