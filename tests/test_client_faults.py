"""Every error class and every retry rule, provoked for real on the emulator.

Faults are configured with rate 1.0 on one route so each test is deterministic; "retried and
then succeeds" is produced by healing the emulator (configure) once it has seen the failing
request, never by sleeping for a fixed time.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from client_support import QUICK_RETRY, client_for, emulator_per_module, stats

from fal_platform.client import (
    ClientSettings,
    Completed,
    FalClient,
    RequestHandle,
    RetryEvent,
    RetryPolicy,
    errors,
)
from fal_platform.devstack.emulator_process import EmulatorProcess

pytestmark = pytest.mark.anyio

FLUX = "fal-ai/flux/dev"
FAST = {"queue_wait": 0.0, "inference_time": 0.05}
ErrorT = TypeVar("ErrorT", bound=errors.FalError)
# Every runtime option a test in this module changes, at its neutral value.
BASELINE: dict[str, Any] = {
    **FAST,
    "queue_wait_jitter": 0.5,
    "inference_time_jitter": 0.5,
    "require_key": False,
    "accepted_key": None,
    "rate_limit_rate": 0.0,
    "retry_after": 1,
    "retry_after_header": True,
    "fail_rate": 0.0,
    "fail_status": 503,
    "drop_rate": 0.0,
    "timeout_rate": 0.0,
    "fault_routes": None,
    "job_failure_rate": 0.0,
    "job_user_error_rate": 0.0,
    "result_pending_status": 400,
}


shared_emulator, emu = emulator_per_module(baseline=BASELINE, models=20, **FAST)


async def heal_after(emulator: Any, route: str, requests: int, **options: Any) -> None:
    """Reconfigure the emulator once `route` has received `requests` requests."""
    while (await stats(emulator))["requests"][route] < requests:
        await asyncio.sleep(0.01)
    await asyncio.to_thread(emulator.configure, **options)


async def start_faults(emulator: EmulatorProcess, **options: Any) -> None:
    """Switch faults on and zero the counters: what the test then counts is the faulty part."""
    await asyncio.to_thread(emulator.configure, **options)
    await asyncio.to_thread(emulator.reset_stats)


async def completed_handle(fal: FalClient, input: dict[str, Any] | None = None) -> RequestHandle:
    handle = await fal.queue.submit(FLUX, input or {"prompt": "ok"})
    await fal.queue.wait(handle, use_stream=False, poll_interval=0.02)
    return handle


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- 401 / 403 -----------------------------------------------------------------------------------

WRONG_KEY = "wrong-key-id:wrong-key-secret-987"


async def test_wrong_key_is_an_authentication_error_that_never_shows_the_key(
    emu: EmulatorProcess,
) -> None:
    emu.configure(require_key=True, accepted_key="the-right-key")
    async with client_for(emu, api_key=WRONG_KEY) as fal:
        with pytest.raises(errors.FalAuthenticationError) as queue_error:
            await fal.queue.submit(FLUX, {"prompt": "x"})
        with pytest.raises(errors.FalAuthenticationError) as platform_error:
            await fal.platform.list_models(limit=1)
        assert WRONG_KEY not in repr(fal) and WRONG_KEY not in repr(fal.settings)
    for error in (queue_error.value, platform_error.value):
        assert error.status_code == 401
        assert error.retryable is False
        assert error.may_have_been_accepted is False
        for text in (str(error), repr(error), error.message):
            assert "FAL_KEY" in text
            assert WRONG_KEY not in text and "wrong-key-secret-987" not in text
    assert platform_error.value.error_type == "authorization_error"
    snapshot = await stats(emu)
    assert snapshot["requests"]["submit"] == 1  # 401 is not retried
    assert snapshot["accepted_submits"] == 0


async def test_missing_key_tells_the_user_to_set_fal_key(emu: EmulatorProcess) -> None:
    emu.configure(require_key=True)
    async with client_for(emu) as fal:
        with pytest.raises(errors.FalAuthenticationError, match="FAL_KEY"):
            await fal.queue.status(RequestHandle.from_ids(emu.url, FLUX, "nope"))


# --- 422 -----------------------------------------------------------------------------------------


async def test_invalid_input_surfaces_as_validation_error_at_result(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        handle = await fal.queue.submit(FLUX, {"num_images": 1})  # no prompt
        status = await fal.queue.wait(handle, use_stream=False, poll_interval=0.02)
        with pytest.raises(errors.FalValidationError) as info:
            await fal.queue.result(handle)
        with pytest.raises(errors.FalValidationError) as run_info:
            await fal.queue.run(FLUX, {"num_images": 1})
    assert isinstance(status, Completed) and status.error_type == "validation_error"
    for error in (info.value, run_info.value):
        assert error.status_code == 422
        assert error.field_errors[0].loc == ["body", "prompt"]
        assert error.retryable is False
        assert "body.prompt" in str(error)
    assert info.value.request_id == handle.request_id
    snapshot = await stats(emu)
    assert snapshot["requests"]["result"] == 1


async def test_content_policy_rejection_is_a_validation_error(emu: EmulatorProcess) -> None:
    emu.configure(job_user_error_rate=1.0)
    async with client_for(emu) as fal:
        handle = await completed_handle(fal)
        with pytest.raises(errors.FalValidationError) as info:
            await fal.queue.result(handle)
    assert info.value.field_errors[0].loc == ["body", "prompt"]
    assert info.value.field_errors[0].type == "content_policy_violation"


# --- 429 -----------------------------------------------------------------------------------------


async def test_429_with_retry_after_is_retried_and_succeeds(emu: EmulatorProcess) -> None:
    events: list[RetryEvent] = []
    async with client_for(emu, events, retry=RetryPolicy(max_attempts=6)) as fal:
        handle = await completed_handle(fal)
        await start_faults(emu, rate_limit_rate=1.0, retry_after=1, fault_routes=["status"])
        status, _ = await asyncio.gather(
            fal.queue.status(handle), heal_after(emu, "status", 1, rate_limit_rate=0.0)
        )
    assert isinstance(status, Completed)
    assert events and all(isinstance(e.error, errors.FalRateLimitedError) for e in events)
    assert all(e.delay == 1.0 for e in events)  # the server's Retry-After, not our backoff
    snapshot = await stats(emu)
    assert snapshot["responses"]["status"]["429"] == len(events)
    assert snapshot["responses"]["status"]["200"] == 1


async def test_429_without_retry_after_uses_backoff(emu: EmulatorProcess) -> None:
    emu.configure(rate_limit_rate=1.0, retry_after_header=False, fault_routes=["submit"])
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_attempts=20, base_delay=0.05, max_delay=0.2, jitter=0.5)
    async with client_for(emu, events, retry=policy) as fal:
        handle, _ = await asyncio.gather(
            fal.queue.submit(FLUX, {"prompt": "after 429"}),
            heal_after(emu, "submit", 2, rate_limit_rate=0.0),
        )
    assert handle.request_id
    assert len(events) >= 2
    assert all(isinstance(e.error, errors.FalRateLimitedError) for e in events)
    assert all(e.error.retry_after is None for e in events)  # type: ignore[attr-defined]
    assert all(0.025 <= e.delay <= 0.2 for e in events)
    snapshot = await stats(emu)
    # A 429 proves the submit was refused, so resending it is safe: still one accepted job.
    assert snapshot["accepted_submits"] == 1
    assert snapshot["requests"]["submit"] == len(events) + 1


async def test_429_with_retries_disabled_exposes_retry_after(emu: EmulatorProcess) -> None:
    emu.configure(rate_limit_rate=1.0, retry_after=7, fault_routes=["submit", "models"])
    async with client_for(emu, retry=RetryPolicy.disabled()) as fal:
        with pytest.raises(errors.FalRateLimitedError) as queue_error:
            await fal.queue.submit(FLUX, {"prompt": "x"})
        with pytest.raises(errors.FalRateLimitedError) as platform_error:
            await fal.platform.list_models()
    assert queue_error.value.retry_after == 7.0
    assert queue_error.value.retryable is True
    assert queue_error.value.may_have_been_accepted is False
    assert platform_error.value.retry_after == 7.0
    assert platform_error.value.error_type == "rate_limited"


# --- gateway 5xx ---------------------------------------------------------------------------------


async def status_keeps_failing(
    emulator: EmulatorProcess, error: type[ErrorT], **faults: Any
) -> tuple[ErrorT, list[RetryEvent]]:
    """A completed request's status read while every status call fails with `faults`: the
    error it ends with once the retries run out, and the retries it made."""
    events: list[RetryEvent] = []
    async with client_for(emulator, events) as fal:
        handle = await completed_handle(fal)
        await start_faults(emulator, fault_routes=["status"], **faults)
        with pytest.raises(error) as info:
            await fal.queue.status(handle)
    return info.value, events


async def test_gateway_5xx_on_status_is_retried_until_attempts_run_out(
    emu: EmulatorProcess,
) -> None:
    error, events = await status_keeps_failing(emu, errors.FalServerError, fail_rate=1.0)
    assert error.status_code == 503
    assert error.request_id is None  # gateway-like: no x-fal-request-id
    assert len(events) == QUICK_RETRY.max_attempts - 1
    snapshot = await stats(emu)
    assert snapshot["requests"]["status"] == QUICK_RETRY.max_attempts
    assert snapshot["responses"]["status"] == {"503": QUICK_RETRY.max_attempts}


async def test_gateway_5xx_on_status_is_retried_and_succeeds(emu: EmulatorProcess) -> None:
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_attempts=100, base_delay=0.02, max_delay=0.05)
    async with client_for(emu, events, retry=policy) as fal:
        handle = await completed_handle(fal)
        await start_faults(emu, fail_rate=1.0, fail_status=502, fault_routes=["status", "result"])
        status, _ = await asyncio.gather(
            fal.queue.status(handle), heal_after(emu, "status", 2, fail_rate=0.0)
        )
        result = await fal.queue.result(handle)
    assert isinstance(status, Completed)
    assert result.output["images"]
    snapshot = await stats(emu)
    assert snapshot["responses"]["status"]["502"] >= 2
    assert snapshot["responses"]["status"]["200"] == 1
    assert len(events) == snapshot["responses"]["status"]["502"]


async def submit_is_not_resent(
    emulator: EmulatorProcess, error: type[errors.FalError], prompt: str, **overrides: Any
) -> dict[str, Any]:
    """One submit that fails with `error`: fal may have accepted it, so the client must not send
    it again. The emulator's counters afterwards."""
    events: list[RetryEvent] = []
    async with client_for(emulator, events, **overrides) as fal:
        with pytest.raises(error) as info:
            await fal.queue.submit(FLUX, {"prompt": prompt})
    assert info.value.may_have_been_accepted is True
    assert events == []
    snapshot = await stats(emulator)
    assert snapshot["requests"]["submit"] == 1
    return snapshot


async def test_submit_5xx_is_not_resent(emu: EmulatorProcess) -> None:
    emu.configure(fail_rate=1.0, fault_routes=["submit"])
    snapshot = await submit_is_not_resent(emu, errors.FalServerError, "pay once")
    assert snapshot["accepted_submits"] == 0


# --- dropped connections -------------------------------------------------------------------------


async def test_dropped_submit_may_have_been_accepted_and_is_not_resent(
    emu: EmulatorProcess,
) -> None:
    emu.configure(drop_rate=1.0, fault_routes=["submit"])
    events: list[RetryEvent] = []
    prompt = {"prompt": f"ambiguous {uuid.uuid4()}"}
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with client_for(emu, events) as fal:
        with pytest.raises(errors.FalConnectionError) as info:
            await fal.queue.submit(FLUX, prompt)
        # The way to reconcile: the job the emulator accepted shows up in request history.
        history = await fal.platform.request_history(FLUX, start=since, expand_payloads=True)
    assert info.value.may_have_been_accepted is True
    assert info.value.retryable is True
    assert events == []
    snapshot = await stats(emu)
    assert snapshot["accepted_submits"] == 1
    assert snapshot["requests"]["submit"] == 1
    assert [item.json_input for item in history.items].count(prompt) == 1


async def test_dropped_status_is_retried(emu: EmulatorProcess) -> None:
    error, events = await status_keeps_failing(emu, errors.FalConnectionError, drop_rate=1.0)
    assert error.may_have_been_accepted is False  # meaningless outside submit
    assert all(isinstance(e.error, errors.FalConnectionError) for e in events)
    assert (await stats(emu))["requests"]["status"] == QUICK_RETRY.max_attempts


async def test_broken_status_stream_raises_a_typed_error(emu: EmulatorProcess) -> None:
    emu.configure(queue_wait=0.5, inference_time=0.1)
    async with client_for(emu) as fal:
        handle = await fal.queue.submit(FLUX, {"prompt": "stream"})
        await asyncio.to_thread(emu.configure, drop_rate=1.0, fault_routes=["status_stream"])
        with pytest.raises(errors.FalConnectionError):
            async for _ in fal.queue.stream_status(handle):
                pass
    assert (await stats(emu))["requests"]["status_stream"] == QUICK_RETRY.max_attempts


# --- connection refused --------------------------------------------------------------------------


async def test_connection_refused_submit_is_retried_then_not_accepted() -> None:
    events: list[RetryEvent] = []
    settings = ClientSettings.for_emulator(closed_port_url(), retry=QUICK_RETRY)
    async with FalClient(settings, on_retry=events.append) as fal:
        with pytest.raises(errors.FalConnectionError) as info:
            await fal.queue.submit(FLUX, {"prompt": "nobody home"})
    assert info.value.may_have_been_accepted is False
    assert info.value.retryable is True
    assert len(events) == QUICK_RETRY.max_attempts - 1
    assert all(e.operation == "submit" for e in events)


# --- timeouts ------------------------------------------------------------------------------------


async def test_hanging_status_times_out_and_is_retried(emulator_factory: Any) -> None:
    emulator = emulator_factory(**FAST)
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_attempts=2, base_delay=0.01)
    async with client_for(emulator, events, retry=policy, request_timeout=0.3) as fal:
        handle = await completed_handle(fal)
        await start_faults(emulator, timeout_rate=1.0, hang_seconds=1.5, fault_routes=["status"])
        with pytest.raises(errors.FalTimeoutError) as info:
            await fal.queue.status(handle)
    assert info.value.status_code is None
    assert len(events) == 1
    assert (await stats(emulator))["requests"]["status"] == 2


async def test_hanging_submit_times_out_and_is_not_resent(emulator_factory: Any) -> None:
    emulator = emulator_factory(**FAST, timeout_rate=1.0, hang_seconds=1.5, fault_routes=["submit"])
    snapshot = await submit_is_not_resent(
        emulator, errors.FalTimeoutError, "slow", request_timeout=0.3
    )
    assert snapshot["accepted_submits"] == 1


async def test_run_timeout_override(emulator_factory: Any) -> None:
    emulator = emulator_factory(inference_time=1.5, inference_time_jitter=0.0)
    async with client_for(emulator) as fal:
        with pytest.raises(errors.FalTimeoutError) as info:
            await fal.queue.run(FLUX, {"prompt": "slow run"}, timeout=0.3)
    assert info.value.may_have_been_accepted is True
    assert (await stats(emulator))["requests"]["run"] == 1


# --- job failures --------------------------------------------------------------------------------


async def test_failed_job_raises_its_own_server_error_without_retry(emu: EmulatorProcess) -> None:
    emu.configure(job_failure_rate=1.0)
    events: list[RetryEvent] = []
    async with client_for(emu, events) as fal:
        handle = await fal.queue.submit(FLUX, {"prompt": "doomed"})
        status = await fal.queue.wait(handle, use_stream=False, poll_interval=0.02)
        with pytest.raises(errors.FalServerError) as info:
            await fal.queue.result(handle)
    assert status.error is not None and status.error_type is not None
    error = info.value
    assert error.error_type == status.error_type
    assert error.request_id == handle.request_id
    assert error.status_code in (500, 502, 503, 504)
    assert error.retryable is True  # a resubmit may succeed; fetching again will not
    assert events == []
    assert (await stats(emu))["requests"]["result"] == 1


# --- 404 / 400 / protocol violations -------------------------------------------------------------


async def test_unknown_request_and_endpoint_are_not_found(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        with pytest.raises(errors.FalNotFoundError):
            await fal.queue.status(RequestHandle.from_ids(emu.url, FLUX, "no-such-request"))
        with pytest.raises(errors.FalNotFoundError) as info:
            await fal.queue.submit("nobody/nothing", {"prompt": "x"})
    assert info.value.may_have_been_accepted is False
    assert (await stats(emu))["requests"]["status"] == 1  # 404 is not retried


async def test_result_before_completion_is_a_bad_request(emu: EmulatorProcess) -> None:
    emu.configure(queue_wait=30.0, queue_wait_jitter=0.0)
    async with client_for(emu) as fal:
        handle = await fal.queue.submit(FLUX, {"prompt": "not yet"})
        with pytest.raises(errors.FalBadRequestError) as info:
            await fal.queue.result(handle)
        await asyncio.to_thread(emu.configure, result_pending_status=202)
        with pytest.raises(errors.FalBadRequestError) as pending:
            await fal.queue.result(handle)
    assert info.value.status_code == 400 and info.value.retryable is False
    assert pending.value.status_code == 202 and pending.value.retryable is True
    assert "IN_QUEUE" in pending.value.message
    assert (await stats(emu))["requests"]["result"] == 2


async def test_start_timeout_must_exceed_one_second(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        with pytest.raises(ValueError, match="start_timeout"):
            await fal.queue.submit(FLUX, {"prompt": "x"}, start_timeout=0.5)
    assert (await stats(emu))["requests"]["submit"] == 0


async def test_success_bodies_that_break_the_protocol(emu: EmulatorProcess) -> None:
    async with client_for(emu) as fal:
        handle = await completed_handle(fal)
        image_url = (await fal.queue.result(handle)).output["images"][0]["url"]
        health = f"{emu.url}/_emulator/health"  # {"status": "ok", ...}
        admin_stats = f"{emu.url}/_emulator/stats"  # JSON without a "status" key
        bogus = RequestHandle(FLUX, handle.request_id, health, image_url, health)
        with pytest.raises(errors.FalResponseError) as unknown_status:
            await fal.queue.status(bogus)
        with pytest.raises(errors.FalResponseError) as missing_status:
            await fal.queue.status(RequestHandle(FLUX, "r", admin_stats, image_url, health))
        with pytest.raises(errors.FalResponseError) as result_error:
            await fal.queue.result(bogus)
    assert unknown_status.value.url == health
    assert "Unknown queue status 'ok'" in str(unknown_status.value)
    assert missing_status.value.url == admin_stats
    assert "'status' field" in missing_status.value.message
    assert result_error.value.url == image_url
    assert "not JSON" in result_error.value.message
    assert result_error.value.status_code == 200
    assert isinstance(result_error.value, errors.FalError)
    assert result_error.value.retryable is False
