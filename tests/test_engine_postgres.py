"""`fal-platform run-batch` with FAL_PLATFORM_DATABASE_URL: the kill test repeated on Postgres,
the server restarted mid-batch, and a URL that does not work.

Real subprocesses, a real emulator (its counters prove what was paid) and the session's
PostgreSQL server, which the restart test really stops and starts.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest
from generation_support import (
    FAST,
    accepted_by_item,
    cli_command,
    distinct_items,
    popen,
    prompt_set,
)
from test_engine_cli import kill_when, wait_until

from fal_platform.batch.rows import RequestState
from fal_platform.batch.store import BatchStore
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.postgres import PostgresCluster, PostgresLogin
from fal_platform.devstack.processes import free_port
from fal_platform.store.address import DatabaseUrlError
from fal_platform.store.postgres_backend import DatabaseUnavailableError
from fal_platform.store.target import StoreTarget

S = RequestState


def pg_command(prompt_file: Path, emulator: EmulatorProcess, *extra: str) -> list[str]:
    """run-batch without `--db`: the rows go where FAL_PLATFORM_DATABASE_URL says."""
    command = cli_command(prompt_file, Path("unused"), emulator, *extra)
    at = command.index("--db")
    return command[:at] + command[at + 2 :]


def pg_store(login: PostgresLogin) -> BatchStore:
    return BatchStore(StoreTarget.from_url(login.url(), "unused").backend())


def run_to_end(command: list[str], url: str) -> subprocess.CompletedProcess[str]:
    process = popen(command, FAL_PLATFORM_DATABASE_URL=url)
    out, err = process.communicate(timeout=180)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def test_sigkill_mid_batch_then_rerun_on_postgres_pays_once_per_item(
    emulator_factory, tmp_path: Path, postgres_database: PostgresLogin
) -> None:
    # As in test_engine_cli: a third of the submits hang after fal accepted them, so killed
    # rows are UNKNOWN and only reconciliation finds them; here the rows live in Postgres and
    # the rerun is a new process that must also take over the dead worker's lease.
    emu = emulator_factory(
        models=50,
        queue_wait=0.3,
        inference_time=0.3,
        timeout_rate=0.3,
        hang_seconds=120,
        fault_routes=["submit"],
        seed=11,
    )
    items = 40
    prompts = prompt_set(tmp_path, "killed", distinct_items(items))
    url = postgres_database.url()
    command = pg_command(prompts.path, emu, "--submit-rate", "40", "--max-concurrency", "16")
    kill_when(
        popen(command, FAL_PLATFORM_DATABASE_URL=url),
        lambda: emu.stats()["accepted_submits"] >= 15,
    )
    at_kill = pg_store(postgres_database).count_by_state("killed")
    assert at_kill.get(S.UNKNOWN, 0) > 0, at_kill

    emu.configure(timeout_rate=0.0)
    rerun = run_to_end(command, url)
    assert rerun.returncode == 0, rerun.stderr
    assert pg_store(postgres_database).count_by_state("killed") == {S.COMPLETED: items}
    assert accepted_by_item(emu, prompts) == [1] * items
    assert not list(tmp_path.rglob("*.duckdb"))


def test_postgres_restarted_mid_batch_loses_nothing_and_pays_once(
    emulator_factory,
    tmp_path: Path,
    postgres_server: PostgresCluster,
    postgres_database: PostgresLogin,
) -> None:
    emu = emulator_factory(models=50, queue_wait=0.2, inference_time=0.2)
    items = 40
    prompts = prompt_set(tmp_path, "restarted", distinct_items(items))
    process = popen(
        pg_command(prompts.path, emu, "--submit-rate", "20"),
        FAL_PLATFORM_DATABASE_URL=postgres_database.url(),
    )
    try:
        wait_until(lambda: emu.stats()["accepted_submits"] >= items // 3)
        postgres_server.stop_server("fast")  # every session is dropped mid-batch
        time.sleep(1.0)
        postgres_server.start_server()
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "lost PostgreSQL" in err and postgres_database.password not in out + err
    assert pg_store(postgres_database).count_by_state("restarted") == {S.COMPLETED: items}
    assert accepted_by_item(emu, prompts) == [1] * items


def wrong_first(secret: str) -> str:
    """`secret` with another first character: a wrong password that keeps the rest."""
    return ("y" if secret.startswith("x") else "x") + secret[1:]


def test_a_url_that_does_not_work_fails_at_once_naming_where(
    emulator_factory, tmp_path: Path, postgres_database: PostgresLogin
) -> None:
    secret = postgres_database.password
    cases = {
        "refused": postgres_database.url().replace(
            f":{postgres_database.port}/", f":{free_port()}/"
        ),
        "wrong password": postgres_database.url().replace(secret, wrong_first(secret)),
        "missing database": postgres_database.with_database("no_such_db").url(),
    }
    for case, url in cases.items():
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailableError) as caught:
            StoreTarget.from_url(url, "unused").check_reachable()
        message = str(caught.value)
        assert f"at 127.0.0.1:{StoreTarget.from_url(url, 'x').postgres.port}" in message, case
        assert "database '" in message and "as user 'fal_platform'" in message, case
        assert secret not in message and secret[1:] not in message, case
        assert time.monotonic() - started < 15, case
    with pytest.raises(DatabaseUrlError) as malformed:
        StoreTarget.from_url(f"mysql://:{secret}@/", "unused")
    for problem in ("scheme 'mysql'", "no host", "no database name", "no user name"):
        assert problem in str(malformed.value)
    assert secret not in str(malformed.value)

    # The CLI refuses before anything is sent, and says why.
    emu = emulator_factory(models=50, **FAST)
    prompts = prompt_set(tmp_path, "nowhere", distinct_items(3))
    result = run_to_end(pg_command(prompts.path, emu), cases["wrong password"])
    assert result.returncode == 2, result.stderr
    assert f"database '{postgres_database.database}' at 127.0.0.1:" in result.stderr
    assert secret[1:] not in result.stderr + result.stdout
    assert emu.stats()["accepted_submits"] == 0


def test_two_workers_on_one_prompt_set_never_drive_the_same_item(
    emulator_factory, tmp_path: Path, postgres_database: PostgresLogin
) -> None:
    # Two machines' worth of run-batch on one set at once: one drives it, the other waits
    # for its lease and then finds everything done.
    emu = emulator_factory(models=50, queue_wait=0.2, inference_time=0.2)
    items = 30
    prompts = prompt_set(tmp_path, "shared", distinct_items(items))
    command = pg_command(prompts.path, emu, "--submit-rate", "30")
    url = postgres_database.url()
    results: list[subprocess.CompletedProcess[str]] = []
    workers = [
        threading.Thread(target=lambda: results.append(run_to_end(command, url))) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert accepted_by_item(emu, prompts) == [1] * items
