"""Target selection: real fal with a key, overrides win, the emulator otherwise."""

from __future__ import annotations

import pytest

from fal_platform.devstack.processes import free_port
from fal_platform.target import (
    EmulatorUnavailableError,
    ensure_reachable,
    resolve_target,
)


@pytest.fixture
def unused_port() -> int:
    return free_port()


def test_no_key_no_overrides_points_everything_at_the_emulator() -> None:
    target = resolve_target(has_key=False, env={})
    assert target.uses_emulator
    assert target.api_url == "http://127.0.0.1:8787/v1"
    assert target.queue_url == "http://127.0.0.1:8787"
    assert target.run_url == "http://127.0.0.1:8787/run"


def test_emulator_url_from_env() -> None:
    target = resolve_target(has_key=False, env={"FAL_PLATFORM_EMULATOR_URL": "http://127.0.0.1:9/"})
    assert target.queue_url == "http://127.0.0.1:9"


def test_key_means_real_fal() -> None:
    target = resolve_target(has_key=True, env={})
    assert not target.uses_emulator
    assert target.api_url == "https://api.fal.ai/v1"
    assert target.queue_url == "https://queue.fal.run"
    assert target.run_url == "https://fal.run"


def test_env_overrides_win_over_defaults() -> None:
    env = {
        "FAL_PLATFORM_API_URL": "http://h:1/v1",
        "FAL_PLATFORM_QUEUE_URL": "http://h:1",
        "FAL_PLATFORM_RUN_URL": "http://h:1/run",
    }
    target = resolve_target(has_key=True, env=env)
    assert (target.api_url, target.queue_url, target.run_url) == (
        "http://h:1/v1",
        "http://h:1",
        "http://h:1/run",
    )
    assert not target.uses_emulator


def test_explicit_argument_beats_env() -> None:
    target = resolve_target(
        has_key=False, queue_url="http://a:2", env={"FAL_PLATFORM_QUEUE_URL": "http://b:3"}
    )
    assert target.queue_url == "http://a:2"


def test_unreachable_emulator_fails_fast_with_instructions(unused_port: int) -> None:
    target = resolve_target(has_key=False, env={}, emulator_url=f"http://127.0.0.1:{unused_port}")
    with pytest.raises(EmulatorUnavailableError) as info:
        ensure_reachable(target, timeout=1.0)
    message = str(info.value)
    assert "fal-platform emulator" in message
    assert "FAL_KEY" in message
