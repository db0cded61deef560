"""Webhook mode end to end: emulator -> receiver -> DuckDB inbox -> engine, all real processes.

One emulator and one receiver serve the whole module (each test uses its own prompt set and
resets the emulator's counters and faults); the receiver trusts the emulator's JWKS.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from generation_support import (
    FAST,
    cli_command,
    distinct_items,
    fast_options,
    popen,
    prompt_set,
    run_engine,
)

from fal_platform.batch.journal import RequestJournal
from fal_platform.batch.prompts import PromptSet
from fal_platform.batch.report import BatchReport
from fal_platform.batch.rows import RequestState
from fal_platform.batch.store import BatchStore
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.postgres import PostgresLogin
from fal_platform.devstack.processes import free_port
from fal_platform.devstack.webhooks_process import ReceiverProcess
from fal_platform.emulator.webhooks import JWKS_PATH, signing_key
from fal_platform.store.target import StoreTarget
from fal_platform.target import DEFAULT_EMULATOR_HOST, emulator_base_url
from fal_platform.webhooks.inbox import WebhookInbox
from fal_platform.webhooks.signature import sign

S = RequestState
WEBHOOK_FAULTS = {
    "webhook_drop_rate": 0.0,
    "webhook_duplicate_rate": 0.0,
    "webhook_shuffle": 0.0,
    "webhook_bad_signature_rate": 0.0,
    "webhook_down_seconds": 0.0,
    "webhook_attempts": 10,
}


@dataclass
class Stack:
    emulator: EmulatorProcess
    receiver: ReceiverProcess
    db: Path

    @property
    def store(self) -> BatchStore:
        return BatchStore.at_path(self.db)

    @property
    def inbox(self) -> WebhookInbox:
        return WebhookInbox.beside(self.db)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The emulator and the receiver start side by side (the receiver's key fetch at start may
    miss the emulator; it fetches again at the first delivery)."""
    db = tmp_path_factory.mktemp("webhooks") / "platform.duckdb"
    port = free_port()
    emulator = EmulatorProcess(
        models=20,
        preferred_port=port,
        webhook_retry_delay=0.3,
        webhook_retry_max_delay=2.0,
        **FAST,
    )
    receiver = ReceiverProcess(db, emulator_base_url(DEFAULT_EMULATOR_HOST, port) + JWKS_PATH)
    with ExitStack() as started:
        started.callback(receiver.stop)
        receiver.start(wait=False)
        started.enter_context(emulator)
        if emulator.port != port:  # the port was taken meanwhile: point the receiver anew
            receiver.stop()
            receiver.jwks_url = emulator.url + JWKS_PATH
            receiver.start(wait=False)
        receiver.wait_ready()
        yield Stack(emulator, receiver, db)


@pytest.fixture
def fresh(stack: Stack) -> Stack:
    stack.emulator.configure(**WEBHOOK_FAULTS, **FAST)
    stack.emulator.reset_stats()
    return stack


def _hook_options(stack: Stack, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "webhook_url": stack.receiver.url,
        "webhook_check_interval": 0.1,
        "webhook_fallback_after": 60.0,
    }
    return fast_options(**{**values, **overrides})


def _run_hooked(stack: Stack, prompts: PromptSet, **overrides: Any) -> BatchReport:
    """The engine in this process, in webhook mode against the module's receiver."""
    options = _hook_options(stack, **overrides)
    return run_engine(
        stack.emulator, stack.store, prompts, options, with_prices=False, inbox=stack.inbox
    )


def _queue_requests(stats: dict[str, Any]) -> dict[str, int]:
    names = ("submit", "status", "status_stream", "result", "cancel")
    return {name: int(stats["requests"][name]) for name in names}


def _comparable(rows: list[Any]) -> dict[str, tuple[Any, ...]]:
    return {
        row.item_key: (
            row.state,
            row.attempts,
            row.error_type,
            sorted(row.result or {}),
            len((row.result or {}).get("images", [])),
            bool(row.request_id),
        )
        for row in rows
    }


def test_200_items_complete_with_one_request_each_and_the_rows_of_sse_mode(
    fresh: Stack, tmp_path: Path
) -> None:
    items = distinct_items(200, tag="same")
    sse = prompt_set(tmp_path / "sse", "sse200", items)
    report = run_engine(fresh.emulator, fresh.store, sse, with_prices=False)
    assert report.counts.get(S.COMPLETED) == 200
    fresh.emulator.reset_stats()

    hooked = prompt_set(tmp_path / "hook", "hook200", items)
    report = _run_hooked(fresh, hooked, max_concurrency=64)
    stats = fresh.emulator.stats()
    assert report.counts.get(S.COMPLETED) == 200, report
    assert _queue_requests(stats) == {
        "submit": 200,
        "status": 0,
        "status_stream": 0,
        "result": 0,
        "cancel": 0,
    }
    assert stats["webhooks"]["delivered"] == 200
    webhook_rows = fresh.store.load_requests("hook200")
    assert _comparable(webhook_rows) == _comparable(fresh.store.load_requests("sse200"))
    assert all(row.completed_at and row.submitted_at for row in webhook_rows)


def test_on_postgres_a_receiver_and_a_run_share_the_inbox_in_the_database(
    stack: Stack, tmp_path: Path, postgres_database: PostgresLogin
) -> None:
    """FAL_PLATFORM_DATABASE_URL: the receiver writes its inbox into the platform's Postgres
    database (no DuckDB file beside it) and the run finds every outcome there."""
    stack.emulator.configure(**WEBHOOK_FAULTS, **FAST)
    stack.emulator.reset_stats()
    url = postgres_database.url()
    target = StoreTarget.from_url(url, tmp_path / "unused.duckdb")
    receiver = ReceiverProcess(
        tmp_path / "unused.duckdb", stack.emulator.url + JWKS_PATH, database_url=url
    )
    with receiver:
        hooked = prompt_set(tmp_path / "pg", "pg40", distinct_items(40, tag="pg"))
        options = fast_options(
            webhook_url=receiver.url, webhook_check_interval=0.1, webhook_fallback_after=60.0
        )
        store = BatchStore(target.backend())
        report = run_engine(
            stack.emulator, store, hooked, options, with_prices=False, inbox=WebhookInbox.of(target)
        )
    assert report.counts.get(S.COMPLETED) == 40, report
    assert _queue_requests(stack.emulator.stats())["submit"] == 40
    assert _queue_requests(stack.emulator.stats())["result"] == 0
    assert WebhookInbox.of(target).count() >= 40
    assert not list(tmp_path.rglob("*.duckdb")), "a DuckDB file was created"


def _post(receiver: ReceiverProcess, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        receiver.url, content=body, headers={**headers, "Content-Type": "application/json"}
    )


def _delivery(request_id: str) -> bytes:
    payload = {"images": [{"url": "https://example.com/a.png"}]}
    return json.dumps({"request_id": request_id, "status": "OK", "payload": payload}).encode()


def test_forged_stale_or_tampered_deliveries_get_401_and_write_nothing(fresh: Stack) -> None:
    key = signing_key(fresh.emulator.config.seed)
    before = fresh.inbox.count()
    fetches = int(fresh.receiver.health()["jwks_fetches"])  # type: ignore[call-overload]
    now = int(time.time())

    body = _delivery("tampered")
    good = sign(key, request_id="tampered", user_id="u", timestamp=now, body=body)
    tampered = _post(fresh.receiver, body.replace(b"a.png", b"b.png"), good.as_dict())

    body = _delivery("forged")
    forged_key = signing_key(fresh.emulator.config.seed, "forged")
    forged = sign(forged_key, request_id="forged", user_id="u", timestamp=now, body=body)
    wrong_key = _post(fresh.receiver, body, forged.as_dict())

    body = _delivery("stale")
    stale = sign(key, request_id="stale", user_id="u", timestamp=now - 400, body=body)
    stale_response = _post(fresh.receiver, body, stale.as_dict())

    body = _delivery("unknown-key")
    unknown = Ed25519PrivateKey.generate()
    signed = sign(unknown, request_id="unknown-key", user_id="u", timestamp=now, body=body)
    unknown_response = _post(fresh.receiver, body, signed.as_dict())

    body = _delivery("other-request")
    mismatch = sign(key, request_id="not-this-one", user_id="u", timestamp=now, body=body)
    mismatch_response = _post(fresh.receiver, body, mismatch.as_dict())

    missing = _post(fresh.receiver, _delivery("unsigned"), {})
    responses = [tampered, wrong_key, stale_response, unknown_response, mismatch_response, missing]
    assert [r.status_code for r in responses] == [401] * 6
    assert fresh.inbox.count() == before
    # An unknown key makes the receiver fetch the key set again (the emulator's has not moved).
    assert int(fresh.receiver.health()["jwks_fetches"]) > fetches  # type: ignore[call-overload]

    body = _delivery("genuine-but-unknown-request")
    genuine = sign(
        key, request_id="genuine-but-unknown-request", user_id="u", timestamp=now, body=body
    )
    assert _post(fresh.receiver, body, genuine.as_dict()).status_code == 200
    assert fresh.inbox.count() == before + 1


def test_duplicate_and_out_of_order_deliveries_give_one_outcome(
    fresh: Stack, tmp_path: Path
) -> None:
    fresh.emulator.configure(webhook_duplicate_rate=1.0, webhook_shuffle=0.5)
    prompts = prompt_set(tmp_path, "dupes", distinct_items(30, tag="dupes"))
    report = _run_hooked(fresh, prompts)
    assert report.counts.get(S.COMPLETED) == 30
    rows = fresh.store.load_requests("dupes")
    deadline = time.monotonic() + 20
    while fresh.emulator.stats()["webhooks"].get("delivered", 0) < 60:
        assert time.monotonic() < deadline, fresh.emulator.stats()["webhooks"]
        time.sleep(0.1)
    inbox = fresh.inbox.outcomes([row.request_id for row in rows if row.request_id])
    assert sorted(row.deliveries for row in inbox) == [2] * 30
    assert fresh.emulator.stats()["accepted_submits"] == 30
    assert {row.state for row in rows} == {S.COMPLETED}


def test_receiver_down_for_5_seconds_then_the_retries_land(fresh: Stack, tmp_path: Path) -> None:
    # The emulator's "receiver down" fault: for 5 s every delivery fails as a refused
    # connection would, then its retries (0.3 s doubling to 2 s) reach the receiver.
    fresh.emulator.configure(webhook_down_seconds=5.0)
    prompts = prompt_set(tmp_path, "down", distinct_items(20, tag="down"))
    report = _run_hooked(fresh, prompts)
    assert report.counts.get(S.COMPLETED) == 20
    stats = fresh.emulator.stats()
    assert stats["accepted_submits"] == 20
    assert stats["webhooks"]["failed_attempts"] >= 20
    assert stats["webhooks"]["delivered"] == 20
    assert stats["webhooks"].get("gave_up", 0) == 0
    assert _queue_requests(stats)["status"] == 0  # no fallback check was needed


def _durable_states(stack: Stack, prompt_set: str) -> list[RequestState]:
    """Each item's state as a rerun would find it: the table, with the run's journal on top."""
    states = {row.item_key: row.state for row in stack.store.load_requests(prompt_set)}
    journal = RequestJournal(StoreTarget(stack.db).journal_path or stack.db)
    states.update((row.item_key, row.state) for row in journal.latest(prompt_set)[0])
    return list(states.values())


def test_engine_killed_while_waiting_reruns_with_zero_resubmits(
    fresh: Stack, tmp_path: Path
) -> None:
    fresh.emulator.configure(inference_time=2.0, inference_time_jitter=0.0)
    prompts = prompt_set(tmp_path, "killed", distinct_items(20, tag="killed"))
    cmd = cli_command(
        prompts.path,
        fresh.db,
        fresh.emulator,
        "--webhook-url",
        fresh.receiver.url,
        "--max-cost-usd",
        "-1",
    )
    process = popen(cmd)
    deadline = time.monotonic() + 60
    while _durable_states(fresh, "killed").count(S.SUBMITTED) < 20:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    fresh.store.recover("killed")  # as the rerun does first
    assert fresh.store.count_by_state("killed") == {S.SUBMITTED: 20}
    while fresh.emulator.stats()["webhooks"].get("delivered", 0) < 20:  # delivered meanwhile
        assert time.monotonic() < deadline
        time.sleep(0.1)

    rerun = _run_hooked(fresh, prompts)
    assert rerun.reattached == 20
    assert fresh.store.count_by_state("killed") == {S.COMPLETED: 20}
    stats = fresh.emulator.stats()
    assert stats["accepted_submits"] == 20
    assert _queue_requests(stats)["result"] == 0


def test_lost_and_forged_deliveries_are_completed_by_the_fallback_status_check(
    fresh: Stack, tmp_path: Path
) -> None:
    # Half the deliveries never leave the emulator, the rest are signed with a key fal does not
    # publish (the receiver refuses them); one attempt each, so none lands later.
    fresh.emulator.configure(
        webhook_drop_rate=0.5, webhook_bad_signature_rate=1.0, webhook_attempts=1
    )
    rejected = int(fresh.receiver.health()["rejected"])  # type: ignore[call-overload]
    prompts = prompt_set(tmp_path, "lost", distinct_items(10, tag="lost"))
    report = _run_hooked(fresh, prompts, webhook_fallback_after=0.5)
    assert report.counts.get(S.COMPLETED) == 10
    stats = fresh.emulator.stats()
    hooks = stats["webhooks"]
    assert hooks["dropped"] + hooks["bad_signatures"] == 10 and hooks["bad_signatures"] > 0
    deadline = time.monotonic() + 20
    while int(fresh.receiver.health()["rejected"]) - rejected < hooks["bad_signatures"]:  # type: ignore[call-overload]
        assert time.monotonic() < deadline, fresh.receiver.health()
        time.sleep(0.1)
    assert _queue_requests(stats)["result"] == 10
    assert _queue_requests(stats)["submit"] == 10
    rows = fresh.store.load_requests("lost")
    assert all(row.result for row in rows)
    assert fresh.inbox.outcomes([row.request_id for row in rows if row.request_id]) == []
