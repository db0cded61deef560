"""The official fal-client 1.0.1 against the emulator (fal_protocol.md 6.6, option B:
plain HTTP by patching the URL formats, any FAL_KEY)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import fal_client
import fal_client.client
import pytest

from fal_platform.devstack.emulator_process import EmulatorProcess

FLUX = "fal-ai/flux/dev"
TIMING = {
    "queue_wait": 0.3,
    "inference_time": 0.3,
    "queue_wait_jitter": 0.0,
    "inference_time_jitter": 0.0,
}
ASYNC_NAMES = ("run", "submit", "subscribe", "status", "result", "cancel")


@pytest.fixture
def fal(
    emulator_factory: Callable[..., EmulatorProcess], monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorProcess]:
    emu = emulator_factory(models=20, **TIMING)
    monkeypatch.setenv("FAL_KEY", "anything")
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", emu.url + "/")
    monkeypatch.setattr(fal_client.client, "RUN_URL_FORMAT", emu.url + "/run/")
    # The module-level async client caches one httpx.AsyncClient, which is tied to the event
    # loop it was first used on; give each test's loop a fresh one behind the same names.
    fresh = fal_client.AsyncClient()
    for name in ASYNC_NAMES:
        monkeypatch.setattr(fal_client, f"{name}_async", getattr(fresh, name))
    yield emu


def test_submit_status_and_get(fal: EmulatorProcess) -> None:
    handle = fal_client.submit(FLUX, {"prompt": "a fox", "num_images": 2})
    assert handle.status_url == f"{fal.url}/fal-ai/flux/requests/{handle.request_id}/status"
    assert isinstance(handle.status(), fal_client.Queued | fal_client.InProgress)
    output = handle.get()
    assert len(output["images"]) == 2
    done = handle.status(with_logs=True)
    assert isinstance(done, fal_client.Completed)
    assert done.metrics["inference_time"] > 0 and done.logs and done.error is None
    stats = fal.stats()
    assert stats["accepted_submits"] == 1 and stats["responses"]["result"] == {"200": 1}


def test_subscribe_reports_queue_updates_and_logs(fal: EmulatorProcess) -> None:
    updates: list[fal_client.Status] = []
    enqueued: list[str] = []
    output = fal_client.subscribe(
        FLUX,
        {"prompt": "a lighthouse"},
        with_logs=True,
        on_enqueue=enqueued.append,
        on_queue_update=updates.append,
    )
    assert output["images"][0]["url"].startswith(fal.url + "/media/")
    kinds = {type(update) for update in updates}
    assert {fal_client.Queued, fal_client.InProgress, fal_client.Completed} <= kinds
    assert any(isinstance(u, fal_client.InProgress) and u.logs for u in updates)
    assert next(u.position for u in updates if isinstance(u, fal_client.Queued)) == 0
    assert len(enqueued) == 1


def test_cancel_both_outcomes(fal: EmulatorProcess) -> None:
    fal.configure(queue_wait=30.0)
    queued = fal_client.submit(FLUX, {"prompt": "never"})
    queued.cancel()  # 202 CANCELLATION_REQUESTED
    status = queued.status()
    assert isinstance(status, fal_client.Completed) and status.error_type == "client_cancelled"
    with pytest.raises(fal_client.FalClientHTTPError) as cancelled:
        queued.get()
    assert cancelled.value.status_code == 499
    assert cancelled.value.error_type == "client_cancelled"

    fal.configure(queue_wait=0.0, inference_time=0.05)
    finished = fal_client.submit(FLUX, {"prompt": "quick"})
    finished.get()
    with pytest.raises(fal_client.FalClientHTTPError) as late:
        finished.cancel()
    assert late.value.status_code == 400
    assert fal.stats()["responses"]["cancel"] == {"202": 1, "400": 1}


def test_run_and_lookups_by_app_id(fal: EmulatorProcess) -> None:
    output = fal_client.run("fal-ai/flux/schnell", {"prompt": "now"})
    assert output["images"]
    handle = fal_client.submit(FLUX, {"prompt": "later"})
    result = fal_client.result(FLUX, handle.request_id)  # rebuilt from owner/app only
    assert result["prompt"] == "later"
    status = fal_client.status(FLUX, handle.request_id, with_logs=True)
    assert isinstance(status, fal_client.Completed) and status.logs
    with pytest.raises(fal_client.FalClientHTTPError):
        fal_client.cancel(FLUX, handle.request_id)
    assert fal.stats()["runs"] == 1


def test_validation_errors_raise_with_detail(fal: EmulatorProcess) -> None:
    handle = fal_client.submit(FLUX, {"num_images": 2})
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        handle.get()
    assert error.value.status_code == 422
    assert error.value.message[0]["loc"] == ["body", "prompt"]  # type: ignore[index]
    with pytest.raises(fal_client.FalClientHTTPError) as run_error:
        fal_client.run(FLUX, {})
    assert run_error.value.status_code == 422


def test_workflow_namespace_round_trip(fal: EmulatorProcess) -> None:
    app = "workflows/fal-ai/sdxl-sticker"
    handle = fal_client.submit(app, {"prompt": "sticker", "image_url": "https://a/b.png"})
    assert f"/{app}/requests/" in handle.status_url
    assert fal_client.result(app, handle.request_id)["images"]


def test_gateway_errors_are_retried_by_fal_client(fal: EmulatorProcess) -> None:
    # Injected 5xx carry an nginx page and no x-fal-request-id, so fal_client retries them.
    fal.configure(fail_rate=0.6, fault_routes=["submit", "result"], queue_wait=0.0)
    output = fal_client.subscribe(FLUX, {"prompt": "flaky gateway"})
    assert output["images"]
    stats = fal.stats()
    assert stats["accepted_submits"] == 1
    assert stats["faults"]["submit"].get("fail", 0) + stats["faults"]["result"].get("fail", 0) >= 1
    assert stats["responses"]["result"]["200"] == 1


def test_async_variants(fal: EmulatorProcess) -> None:
    async def scenario() -> dict[str, Any]:
        handle = await fal_client.submit_async(FLUX, {"prompt": "async fox"})
        first = await handle.status(with_logs=True)
        assert isinstance(first, fal_client.Queued | fal_client.InProgress)
        output = await handle.get()
        assert output["prompt"] == "async fox"

        updates: list[fal_client.Status] = []
        subscribed = await fal_client.subscribe_async(
            FLUX, {"prompt": "async sub"}, with_logs=True, on_queue_update=updates.append
        )
        assert subscribed["images"]
        assert {fal_client.Queued, fal_client.InProgress} <= {type(u) for u in updates}

        ran = await fal_client.run_async("fal-ai/flux/schnell", {"prompt": "async run"})
        assert ran["images"]

        assert (await fal_client.result_async(FLUX, handle.request_id)) == output
        status = await fal_client.status_async(FLUX, handle.request_id, with_logs=True)
        assert isinstance(status, fal_client.Completed)

        fal.configure(queue_wait=30.0)
        queued = await fal_client.submit_async(FLUX, {"prompt": "cancel me"})
        await fal_client.cancel_async(FLUX, queued.request_id)
        with pytest.raises(fal_client.FalClientHTTPError) as late:
            await queued.cancel()
        assert late.value.status_code == 400
        return fal.stats()

    stats = asyncio.run(scenario())
    assert stats["accepted_submits"] == 3 and stats["runs"] == 1
    assert stats["responses"]["cancel"] == {"202": 1, "400": 1}
