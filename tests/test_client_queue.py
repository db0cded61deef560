"""Queue and sync-run happy paths over real loopback HTTP against the emulator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client_support import client_for, emulator_per_module, stats

from fal_platform.client import (
    CancelOutcome,
    Completed,
    FalClient,
    InProgress,
    Queued,
    QueueStatus,
    RequestHandle,
)
from fal_platform.devstack.emulator_process import EmulatorProcess

pytestmark = pytest.mark.anyio

FLUX = "fal-ai/flux/dev"
# Every runtime option a test in this module changes, at the value the others expect.
BASELINE: dict[str, Any] = {
    "queue_wait": 0.05,
    "queue_wait_jitter": 0.5,
    "inference_time": 0.1,
    "inference_time_jitter": 0.5,
    "stream_ping_interval": 0.05,
    "fail_rate": 0.0,
    "fault_routes": None,
    "require_key": False,
}


shared_emulator, emu = emulator_per_module(baseline=BASELINE, models=20, **BASELINE)


async def poll_until_completed(fal: FalClient, handle: RequestHandle) -> list[QueueStatus]:
    seen: list[QueueStatus] = []
    while not seen or not isinstance(seen[-1], Completed):
        seen.append(await fal.queue.status(handle, logs=True))
        await asyncio.sleep(0.02)
    return seen


async def test_submit_returns_the_urls_the_server_gave(emu: EmulatorProcess) -> None:
    async with client_for(emu, start_timeout=30.0, priority="low") as fal:
        handle = await fal.queue.submit(
            FLUX,
            {"prompt": "a red fox"},
            hint="warm-runner",
            webhook_url="http://127.0.0.1:9/hook?a=1",
        )
    assert handle.endpoint_id == FLUX
    assert handle.request_id
    # Status, result and cancel live under owner/app only, not under the /dev sub-path.
    base = f"{emu.url}/fal-ai/flux/requests/{handle.request_id}"
    assert handle.response_url == base
    assert handle.status_url == f"{base}/status"
    assert handle.cancel_url == f"{base}/cancel"
    assert handle.queue_position is not None and handle.queue_position >= 0
    assert handle == RequestHandle.from_ids(emu.queue_url, FLUX, handle.request_id)
    snapshot = await stats(emu)
    assert snapshot["requests"]["submit"] == 1
    assert snapshot["accepted_submits"] == 1


async def test_status_walks_through_the_lifecycle(emu: EmulatorProcess) -> None:
    emu.configure(
        queue_wait=0.3, queue_wait_jitter=0.0, inference_time=0.5, inference_time_jitter=0.0
    )
    async with client_for(emu) as fal:
        handle = await fal.queue.submit(FLUX, {"prompt": "a lighthouse"})
        seen = await poll_until_completed(fal, handle)
        assert isinstance(await fal.queue.status(handle, logs=False), Completed)
    kinds = [type(status) for status in seen]
    assert kinds[0] is Queued
    assert InProgress in kinds
    final = seen[-1]
    assert isinstance(final, Completed)
    assert final.error is None
    assert final.inference_time is not None and final.inference_time > 0
    assert all(isinstance(s.position, int) for s in seen if isinstance(s, Queued))


async def test_stream_status_ends_with_completed(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        handle = await fal.queue.submit(FLUX, {"prompt": "stream me"})
        statuses = [status async for status in fal.queue.stream_status(handle, logs=True)]
    assert isinstance(statuses[-1], Completed)
    assert all(not isinstance(s, Completed) for s in statuses[:-1])
    snapshot = await stats(emu)
    assert snapshot["requests"]["status_stream"] == 1
    assert snapshot["requests"]["status"] == 0


async def test_stream_accumulates_logs_like_polling(emu: EmulatorProcess) -> None:
    emu.configure(inference_time=0.3)
    async with client_for(emu) as fal:
        handle = await fal.queue.submit(FLUX, {"prompt": "chatty"})
        streamed = [status async for status in fal.queue.stream_status(handle, logs=True)]
        polled = await fal.queue.status(handle, logs=True)
    final = streamed[-1]
    assert isinstance(final, Completed) and isinstance(polled, Completed)
    assert final.logs and final.logs == polled.logs
    in_progress = [s for s in streamed if isinstance(s, InProgress)]
    # Each event carries every line so far, never fewer than the event before it.
    counts = [len(s.logs) for s in in_progress] + [len(final.logs)]
    assert counts == sorted(counts)


async def test_result_returns_output_and_billable_units(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        handle = await fal.queue.submit(FLUX, {"prompt": "a teapot", "num_images": 2})
        await fal.queue.wait(handle)
        result = await fal.queue.result(handle)
    assert result.request_id == handle.request_id
    assert len(result.output["images"]) == 2
    assert result.output["images"][0]["url"].startswith("http")
    assert result.billable_units is not None and result.billable_units > 0


async def test_cancel_before_and_after_completion(emu: EmulatorProcess) -> None:
    emu.configure(queue_wait=30.0, queue_wait_jitter=0.0)
    async with client_for(emu) as fal:
        queued = await fal.queue.submit(FLUX, {"prompt": "never mind"})
        assert await fal.queue.cancel(queued) is CancelOutcome.REQUESTED

        await asyncio.to_thread(emu.configure, queue_wait=0.0)
        done = await fal.queue.submit(FLUX, {"prompt": "finish first"})
        await fal.queue.wait(done, use_stream=False, poll_interval=0.02)
        assert await fal.queue.cancel(done) is CancelOutcome.ALREADY_COMPLETED
    snapshot = await stats(emu)
    assert snapshot["responses"]["cancel"] == {"202": 1, "400": 1}
    assert snapshot["requests"]["cancel"] == 2  # the 400 ALREADY_COMPLETED is not retried


async def test_run_uses_the_sync_route(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        result = await fal.queue.run(FLUX, {"prompt": "right now"}, timeout=5.0, start_timeout=10)
    assert result.output["images"]
    assert result.request_id
    assert result.billable_units is not None
    snapshot = await stats(emu)
    assert snapshot["requests"]["run"] == 1
    assert snapshot["requests"]["submit"] == 0


async def test_subscribe_streams_and_reports_statuses(emu: EmulatorProcess) -> None:
    seen: list[QueueStatus] = []
    async with client_for(emu) as fal:
        result = await fal.queue.subscribe(FLUX, {"prompt": "subscribe"}, on_status=seen.append)
    assert result.output["images"]
    assert isinstance(seen[-1], Completed)
    snapshot = await stats(emu)
    assert snapshot["requests"]["status_stream"] == 1
    assert snapshot["requests"]["status"] == 0
    assert snapshot["requests"]["result"] == 1


async def test_subscribe_accepts_an_async_callback_and_plain_polling(emu: EmulatorProcess) -> None:
    seen: list[QueueStatus] = []

    async def on_status(status: QueueStatus) -> None:
        seen.append(status)

    async with client_for(emu) as fal:
        result = await fal.queue.subscribe(
            FLUX, {"prompt": "poll"}, on_status=on_status, use_stream=False, poll_interval=0.02
        )
    assert result.output["images"]
    assert isinstance(seen[-1], Completed)
    snapshot = await stats(emu)
    assert snapshot["requests"]["status_stream"] == 0
    assert snapshot["requests"]["status"] == len(seen)


async def test_subscribe_falls_back_to_polling_when_the_stream_fails(
    emu: EmulatorProcess,
) -> None:
    emu.configure(fail_rate=1.0, fault_routes=["status_stream"])
    seen: list[QueueStatus] = []
    async with client_for(emu) as fal:
        result = await fal.queue.subscribe(
            FLUX, {"prompt": "fallback"}, on_status=seen.append, poll_interval=0.02
        )
    assert result.output["images"]
    assert isinstance(seen[-1], Completed)
    snapshot = await stats(emu)
    assert snapshot["requests"]["status_stream"] == 3  # opening the stream was retried
    assert snapshot["requests"]["status"] >= 1


async def test_handle_rebuilt_from_ids_reaches_the_same_request(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        handle = await fal.queue.submit(
            "fal-ai/kling-video/v2/master/text-to-video", {"prompt": "x"}
        )
        rebuilt = RequestHandle.from_ids(emu.queue_url, handle.endpoint_id, handle.request_id)
        await fal.queue.wait(rebuilt)
        result = await fal.queue.result(rebuilt)
    assert result.output["video"]["url"]


async def test_key_is_sent_when_set(emu: EmulatorProcess) -> None:
    emu.configure(require_key=True)
    async with client_for(emu, api_key="any-key-value") as fal:
        result = await fal.queue.subscribe(FLUX, {"prompt": "authorised"})
        page = await fal.platform.list_models(limit=1)
    assert result.output["images"]
    assert len(page.models) == 1
