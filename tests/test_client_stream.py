"""`FalClient.stream` (fal.run/{id}/stream) and fal-client's `stream` against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import fal_client
import fal_client.client
import pytest
from generation_support import settings_for

from fal_platform.client import FalClient, FalNotFoundError, FalValidationError
from fal_platform.devstack.emulator_process import EmulatorProcess

IMAGE = "fal-ai/flux/schnell"
VIDEO = "fal-ai/kling-video/v2/master/image-to-video"


@pytest.fixture(scope="module")
def streaming() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(models=20, inference_time=0.2, inference_time_jitter=0.0) as emu:
        yield emu


def test_stream_yields_partials_then_the_final_result(streaming: EmulatorProcess) -> None:
    async def main() -> list[dict[str, object]]:
        async with FalClient(settings_for(streaming)) as fal:
            return [event async for event in fal.stream(IMAGE, {"prompt": "a kite"})]

    events = asyncio.run(main())
    assert [event.get("partial") for event in events[:-1]] == [True, True, True]
    assert events[-1]["prompt"] == "a kite" and events[-1]["images"]
    assert streaming.stats()["requests"]["run_stream"] == 1


def test_stream_errors_are_typed(streaming: EmulatorProcess) -> None:
    async def first(endpoint: str, payload: dict[str, object]) -> None:
        async with FalClient(settings_for(streaming)) as fal:
            async for _ in fal.stream(endpoint, payload):
                return

    with pytest.raises(FalValidationError):
        asyncio.run(first(IMAGE, {"not_a_prompt": 1}))
    with pytest.raises(FalNotFoundError):
        asyncio.run(first(VIDEO, {"prompt": "a kite"}))


def test_fal_clients_stream_reads_the_same_events(
    streaming: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAL_KEY", "anything")
    monkeypatch.setattr(fal_client.client, "RUN_URL_FORMAT", streaming.url + "/run/")
    events = list(fal_client.SyncClient().stream(IMAGE, {"prompt": "a kite"}))
    assert len(events) == 4 and events[-1]["prompt"] == "a kite"
