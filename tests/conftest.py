"""Shared pytest fixtures: a real emulator process on loopback, never a mock."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
