"""The emulator's pieces that need no server: option plumbing (flags, env, EmulatorProcess
kwargs share one definition), the queue-position structure and input validation."""

from __future__ import annotations

import os
import random

import pytest

from fal_platform.emulator.__main__ import build_parser, config_from_args
from fal_platform.emulator.config import ENV_PREFIX, EmulatorConfig, to_cli_args
from fal_platform.emulator.jobs import AppQueue
from fal_platform.emulator.schemas import validate_input


def test_every_option_is_a_flag() -> None:
    help_text = build_parser().format_help()
    for name in EmulatorConfig.model_fields:
        assert "--" + name.replace("_", "-") in help_text


def test_cli_args_round_trip() -> None:
    config = EmulatorConfig(
        models=12,
        seed=3,
        require_key=True,
        submit_status_code=202,
        queue_wait=0.25,
        fault_routes=["submit", "status"],
        job_failure_types=["runner_disconnected"],
        retry_after_header=False,
    )
    args = to_cli_args(config)
    parsed = config_from_args(build_parser().parse_args(args))
    assert parsed == config
    assert "accepted_key" not in " ".join(args)


def test_environment_is_below_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    parser = build_parser()
    assert config_from_args(parser.parse_args([])) == EmulatorConfig()
    monkeypatch.setenv("FAL_EMULATOR_QUEUE_WAIT", "2.5")
    monkeypatch.setenv("FAL_EMULATOR_SEED", "9")
    monkeypatch.setenv("FAL_EMULATOR_REQUIRE_KEY", "true")
    monkeypatch.setenv("FAL_EMULATOR_FAULT_ROUTES", "submit, status")
    monkeypatch.setenv("FAL_EMULATOR_SUBMIT_STATUS_CODE", "202")
    config = config_from_args(parser.parse_args(["--seed", "4"]))
    assert (config.queue_wait, config.seed, config.require_key) == (2.5, 4, True)
    assert (config.fault_routes, config.submit_status_code) == (["submit", "status"], 202)
    assert not config_from_args(parser.parse_args(["--no-require-key"])).require_key


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(fault_routes=["everything"])
    with pytest.raises(ValueError):
        EmulatorConfig(job_failure_types=["oops"])
    with pytest.raises(ValueError):
        EmulatorConfig(drop_rate=1.5)


def test_queue_positions_match_a_brute_force_count() -> None:
    rng = random.Random(1)
    for _ in range(100):
        queue = AppQueue()
        starts: list[float] = []
        removed: set[int] = set()
        now = 0.0
        for _ in range(rng.randint(1, 200)):
            now += rng.uniform(0, 0.3)
            roll = rng.random()
            if roll < 0.5 or not starts:
                starts.append(now + rng.uniform(0, 3))
                queue.enqueue(starts[-1])
            elif roll < 0.6:
                seq = rng.randrange(len(starts))
                removed.add(seq)
                queue.remove(seq)
            else:
                seq = rng.randrange(len(starts))
                waiting = [i not in removed and starts[i] > now for i in range(len(starts))]
                expected = sum(waiting[:seq]) if waiting[seq] else 0
                assert queue.ahead_of(seq, now) == expected
                assert queue.waiting(now) == sum(waiting)


def test_validation_errors_look_like_fastapi() -> None:
    assert validate_input("text-to-image", {"prompt": "ok"}) == []
    errors = validate_input("image-to-video", {"prompt": 3, "duration": "7"})
    by_loc = {tuple(item["loc"]): item for item in errors}
    assert by_loc[("body", "image_url")]["type"] == "value_error.missing"
    assert by_loc[("body", "prompt")]["type"] == "type_error.str"
    assert by_loc[("body", "duration")]["type"] == "type_error.enum"
    size = validate_input(
        "text-to-image", {"prompt": "x", "image_size": {"width": 10, "height": 64}}
    )
    assert size and size[0]["loc"][:2] == ["body", "image_size"]
