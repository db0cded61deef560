"""`fal-platform demo`, the main job: twice, the second time reusing everything."""

from __future__ import annotations

import contextlib
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fal_platform.batch.prompts import discover_prompt_sets, load_prompt_set
from fal_platform.devstack.demo import run_demo
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import free_port
from fal_platform.target import DEFAULT_EMULATOR_HOST, DEFAULT_EMULATOR_PORT

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"


def test_demo_runs_every_prompt_set_then_reuses_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    items = sum(len(load_prompt_set(f.path).items) for f in discover_prompt_sets(PROMPTS))

    assert run_demo(tmp_path / "data", PROMPTS) == 0
    first = capsys.readouterr().out
    assert f"| generation.requests | {items} |" in first
    assert f"Submitted {items} requests, reused 0 completed." in first
    for prompt_file in discover_prompt_sets(PROMPTS):
        assert f"| {prompt_file.name} |" in first

    assert run_demo(tmp_path / "data", PROMPTS) == 0
    second = capsys.readouterr().out
    assert f"Everything was reused: {items} completed items, nothing submitted." in second
    assert "0 model rows written" in second
    assert (tmp_path / "home" / "dagster.yaml").is_file()


def test_demo_emulator_takes_the_dev_port_unless_it_is_taken() -> None:
    """`make dev` and `make demo` share the emulator address (the demo's media links keep
    working under `make dev`), and a busy port never stops the demo: the demo's emulator asks
    for `preferred_port=DEFAULT_EMULATOR_PORT` (fal_platform/devstack/demo.py)."""
    with socket.socket() as holder:
        # As the emulator's server does, so a closed connection in TIME_WAIT does not stop us.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # If someone's `make dev` holds the port already, that is the same situation.
        with contextlib.suppress(OSError):
            holder.bind(("127.0.0.1", DEFAULT_EMULATOR_PORT))
        holder.listen()
        with EmulatorProcess(models=5, preferred_port=DEFAULT_EMULATOR_PORT) as emulator:
            assert emulator.port != DEFAULT_EMULATOR_PORT
            assert emulator.health()


def test_two_emulators_racing_for_one_preferred_port_each_get_their_own() -> None:
    """Both see the port free, both children try to bind it; the loser must not take the
    winner's health answer for its own (it did: two demos then shared one emulator, and the
    first to finish stopped it under the other)."""
    port = free_port(DEFAULT_EMULATOR_HOST)
    emulators = [EmulatorProcess(models=5, preferred_port=port) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda emulator: emulator.start(), emulators))
    try:
        assert len({emulator.port for emulator in emulators}) == 2
        for emulator in emulators:
            assert emulator.health()["pid"] == emulator.pid
    finally:
        for emulator in emulators:
            emulator.stop()
