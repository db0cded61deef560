"""`fal-platform demo`, the main job: twice, the second time reusing everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from fal_platform.batch.prompts import discover_prompt_sets, load_prompt_set
from fal_platform.devstack.demo import run_demo

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
