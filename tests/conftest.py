"""Shared pytest fixtures: a real emulator process on loopback, never a mock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_support import CatalogStack, CatalogStackFactory, emulator_fal, isolate
from support.file_order import keep_collection_order, slowest_files_first
from support.postgres_server import postgres_database, postgres_server

from fal_platform.devstack.emulator_process import EmulatorProcess

__all__ = ["postgres_database", "postgres_server"]  # fixtures for every test module


def pytest_configure(config: pytest.Config) -> None:
    # `-m ui` selects the real Dagster UI tests (webserver + daemon); they run by default too.
    config.addinivalue_line("markers", "ui: starts a real `dagster dev` and drives it over GraphQL")
    keep_collection_order(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    slowest_files_first(items)  # for `-n 2 --dist loadfile` (tests/support/file_order.py)


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


@pytest.fixture
def catalog_stack(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator_factory: Callable[..., EmulatorProcess],
) -> CatalogStackFactory:
    """Call with emulator options: paths isolated under tmp_path, an emulator started for them."""

    def start(**options: Any) -> CatalogStack:
        paths = isolate(tmp_path, monkeypatch)
        emulator = emulator_factory(**options)
        return CatalogStack(emulator=emulator, fal=emulator_fal(emulator), duckdb=paths.duckdb)

    return start
