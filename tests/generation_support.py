"""Shared helpers for the batch engine and generation asset tests (real emulator, real DuckDB)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fal_platform.batch.engine import run_batch
from fal_platform.batch.progress import OnProgress
from fal_platform.batch.prompts import PromptSet, load_prompt_set
from fal_platform.batch.report import BatchReport
from fal_platform.batch.rows import RequestState
from fal_platform.batch.settings import BatchSettings
from fal_platform.batch.store import BatchStore
from fal_platform.client import ClientSettings, FalClient, Price, RetryPolicy
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import isolated_env
from fal_platform.emulator.stats import input_hash
from fal_platform.webhooks.inbox import WebhookInbox

PROJECT_ROOT = Path(__file__).resolve().parents[1]
IMAGE_ENDPOINT = "fal-ai/flux/schnell"
FAST = {"queue_wait": 0.05, "inference_time": 0.1, "retry_after": 0}
"""Emulator latencies that keep a 200-item batch at a few seconds."""


def write_jsonl(path: Path, items: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def distinct_items(
    n: int, *, endpoint_id: str = IMAGE_ENDPOINT, tag: str = "item", **extra: Any
) -> list[dict[str, Any]]:
    """n items with distinct inputs, so each input hash stands for exactly one item."""
    return [
        {"endpoint_id": endpoint_id, "input": {"prompt": f"{tag} {i}: a lighthouse", **extra}}
        for i in range(n)
    ]


def prompt_set(tmp_path: Path, name: str, items: Iterable[dict[str, Any]]) -> PromptSet:
    return load_prompt_set(write_jsonl(tmp_path / "prompts" / f"{name}.jsonl", items))


def settings_for(emulator: EmulatorProcess, *, attempts: int = 4) -> ClientSettings:
    """Client settings with short backoffs (the emulator's faults are instant)."""
    return ClientSettings.for_emulator(
        emulator.url,
        request_timeout=10.0,
        retry=RetryPolicy(max_attempts=attempts, base_delay=0.02, max_delay=0.2),
        max_connections=100,
    )


def fast_options(**overrides: Any) -> BatchSettings:
    values: dict[str, Any] = {
        "max_cost_usd": None,
        "max_concurrency": 32,
        "submit_rate": 400.0,
        "poll_interval": 0.05,
        "max_poll_interval": 0.5,
        "progress_interval": 0.5,
    }
    values.update(overrides)
    return BatchSettings(**values)


async def fetch_prices(emulator: EmulatorProcess, endpoint_ids: list[str]) -> list[Price]:
    async with FalClient(settings_for(emulator)) as client:
        return await client.platform.pricing(endpoint_ids)


def run_engine(
    emulator: EmulatorProcess,
    store: BatchStore,
    prompts: PromptSet,
    options: BatchSettings | None = None,
    *,
    with_prices: bool = True,
    stop_when: Callable[[], bool] | None = None,
    on_progress: OnProgress | None = None,
    inbox: WebhookInbox | None = None,
) -> BatchReport:
    """Run the engine once; `stop_when` is polled (in a thread) and sets the stop event."""

    async def main() -> BatchReport:
        stop = asyncio.Event()
        async with FalClient(settings_for(emulator)) as client:
            prices = await client.platform.pricing(prompts.endpoint_ids) if with_prices else []
            watcher = None
            if stop_when is not None:

                async def watch() -> None:
                    while not await asyncio.to_thread(stop_when):
                        await asyncio.sleep(0.05)
                    stop.set()

                watcher = asyncio.create_task(watch())
            try:
                return await run_batch(
                    client,
                    store,
                    prompts,
                    options or fast_options(),
                    prices=prices,
                    stop=stop,
                    on_progress=on_progress,
                    inbox=inbox,
                )
            finally:
                if watcher is not None:
                    watcher.cancel()

    return asyncio.run(main())


def accepted_by_item(emulator: EmulatorProcess, prompts: PromptSet) -> list[int]:
    """Accepted submits the emulator counted for each item's input (items have distinct inputs)."""
    counts = emulator.stats()["accepted_submits_by_input_hash"]
    return [int(counts.get(input_hash(item.input), 0)) for item in prompts.items]


def states(store: BatchStore, name: str) -> dict[RequestState, int]:
    return store.count_by_state(name)


def requests_sent(stats: dict[str, Any]) -> int:
    return sum(int(n) for n in stats["requests"].values())


def cli_command(prompt_file: Path, db: Path, emulator: EmulatorProcess, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fal_platform.cli",
        "run-batch",
        str(prompt_file),
        "--db",
        str(db),
        "--emulator-url",
        emulator.url,
        "--no-progress",
        *extra,
    ]


subprocess_env = isolated_env


def run_cli(
    prompt_file: Path, db: Path, emulator: EmulatorProcess, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`fal-platform run-batch` against `emulator`, to the end; its output captured as text."""
    return subprocess.run(
        cli_command(prompt_file, db, emulator, *extra),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen(cmd: list[str], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd,
        cwd=PROJECT_ROOT,
        env=subprocess_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
