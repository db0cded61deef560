"""Shared pytest fixtures: a real emulator process on loopback, never a mock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fal_platform.devstack.emulator_process import EmulatorProcess


def pytest_configure(config: pytest.Config) -> None:
    # `-m ui` selects the real Dagster UI tests (webserver + daemon); they run by default too.
    config.addinivalue_line("markers", "ui: starts a real `dagster dev` and drives it over GraphQL")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    """A started emulator with default options (300 models, seed 0, no key required)."""
    with EmulatorProcess() as process:
        yield process


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., EmulatorProcess]]:
    """Call with EmulatorProcess options to get a started emulator; all stop at teardown."""
    started: list[EmulatorProcess] = []

    def start(**options: Any) -> EmulatorProcess:
        process = EmulatorProcess(**options)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
