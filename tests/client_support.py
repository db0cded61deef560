"""Shared helpers for the client tests: one emulator per module and clients with quick retries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fal_platform.client import ClientSettings, FalClient, RetryEvent, RetryPolicy
from fal_platform.devstack.emulator_process import EmulatorProcess

QUICK_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


def emulator_per_module(
    *, baseline: dict[str, Any] | None = None, **start: Any
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The `shared_emulator` and `emu` fixtures of a test module.

    Starting an emulator costs ~1 s, so one process (started with `start`) serves the whole
    module; `emu` puts it back to `baseline` (when given) and zeroes its counters before each
    test. Tests whose faults leave requests hanging on the server use `emulator_factory`
    instead, so a late response can never land in another test's counters. Use as
    `shared_emulator, emu = emulator_per_module(...)` at module level.
    """

    @pytest.fixture(scope="module")
    def shared_emulator() -> Iterator[EmulatorProcess]:
        with EmulatorProcess(**start) as process:
            yield process

    @pytest.fixture
    def emu(shared_emulator: EmulatorProcess) -> EmulatorProcess:
        if baseline is not None:
            shared_emulator.configure(**baseline)
        shared_emulator.reset_stats()
        return shared_emulator

    return shared_emulator, emu


def client_for(
    emulator: EmulatorProcess, events: list[RetryEvent] | None = None, **overrides: Any
) -> FalClient:
    """A client of `emulator` whose retries wait milliseconds; `events` collects the retries."""
    overrides.setdefault("retry", QUICK_RETRY)
    overrides.setdefault("request_timeout", 10.0)
    settings = ClientSettings.for_emulator(emulator.url, **overrides)
    return FalClient(settings, on_retry=events.append if events is not None else None)


async def stats(emulator: EmulatorProcess) -> dict[str, Any]:
    return await asyncio.to_thread(emulator.stats)
