"""The batch store's contract, run on both backends (a real DuckDB file and a real PostgreSQL
server started by the session), then what only DuckDB files need: cross-process locking."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from fal_platform.batch.duckdb_io import connect_duckdb, is_lock_error
from fal_platform.batch.lease import (
    LEASES,
    LeaseRow,
    PartitionBusyError,
    PartitionLease,
    holder_gone,
)
from fal_platform.batch.rows import MediaRow, RequestRow, RequestState, TimingRow
from fal_platform.batch.store import BatchStore
from fal_platform.devstack.postgres import PostgresLogin
from fal_platform.media.latency import REQUEST_SECONDS_SQL, p50_p95_sql
from fal_platform.store.target import StoreTarget
from fal_platform.webhooks.inbox import WebhookInbox
from fal_platform.webhooks.rows import WebhookRow

BIG_SEED = 196619188014358660
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def pending_row(prompt_set: str, index: int) -> RequestRow:
    return RequestRow(
        prompt_set=prompt_set,
        item_key=f"key-{index:06d}",
        item_index=index,
        line=index + 1,
        endpoint_id="fal-ai/flux/schnell",
        input={"prompt": f"item {index}"},
        replica=0,
    )


def full_row(prompt_set: str = "shots", index: int = 0) -> RequestRow:
    """A row with every column set, timestamps given in a non-UTC offset on purpose."""
    plus_two = timezone(timedelta(hours=2))
    return replace(
        pending_row(prompt_set, index),
        endpoint_id="fal-ai/flux/dev",
        input={"prompt": "a caf\u00e9 at dawn \U0001f305", "image_size": {"width": 512}, "n": 2},
        replica=1,
        request_id=f"req-{index}",
        status_url=f"http://127.0.0.1:1/fal-ai/flux/requests/req-{index}/status",
        response_url=f"http://127.0.0.1:1/fal-ai/flux/requests/req-{index}",
        cancel_url=f"http://127.0.0.1:1/fal-ai/flux/requests/req-{index}/cancel",
        state=RequestState.COMPLETED,
        attempts=2,
        submitted_at=T0.astimezone(plus_two),
        started_at=(T0 + timedelta(seconds=1.5)).astimezone(plus_two),
        completed_at=T0 + timedelta(seconds=4, microseconds=7),
        queue_position_first=3,
        inference_seconds=2.25,
        billable_units=1.5,
        error_type=None,
        error_detail="none so far",
        result={
            "images": [{"url": "https://x/y.png", "width": 1, "height": 2}],
            "seed": BIG_SEED,
            "beyond_uint64": 2**70,
            "has_nsfw_concepts": [False],
        },
    )


def media_row(prompt_set: str, item: int, position: int, seed: int | None = BIG_SEED) -> MediaRow:
    return MediaRow(
        prompt_set=prompt_set,
        request_id=f"req-{item}",
        endpoint_id="fal-ai/flux/dev",
        item_key=f"key-{item:06d}",
        position=position,
        media_kind="image",
        url=f"https://media.example/{prompt_set}/{item}/{position}.png",
        content_type="image/png",
        width=1024,
        height=768,
        duration_seconds=None,
        file_size=123456789012,
        file_name=f"{position}.png",
        seed=seed,
        nsfw=position % 2 == 1,
    )


def timing(prompt_set: str, item: int) -> TimingRow:
    return TimingRow(
        prompt_set=prompt_set,
        request_id=f"req-{item}",
        item_key=f"key-{item:06d}",
        endpoint_id="fal-ai/flux/dev",
        queue_wait_seconds=0.5,
        inference_seconds_fal=1.25,
        inference_seconds_observed=1.5,
        total_seconds=2.0,
        attempts=1,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "fal_platform.duckdb"


BACKENDS = ["duckdb", "postgres"]


def open_store(where: str) -> BatchStore:
    """A store on a DuckDB file path or a postgresql:// URL (child processes get a string)."""
    if where.startswith("postgresql://"):
        return BatchStore(StoreTarget.from_url(where, "unused.duckdb").backend())
    return BatchStore.at_path(where)


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, db_path: Path) -> str:
    """Where the contract tests' store lives: the DuckDB file, or a fresh Postgres database."""
    if request.param == "duckdb":
        return str(db_path)
    login: PostgresLogin = request.getfixturevalue("postgres_database")
    return login.url()


@pytest.fixture
def store(location: str, db_path: Path) -> Iterator[BatchStore]:
    store = open_store(location)
    yield store
    store.release()
    if location.startswith("postgresql://"):
        assert not db_path.exists(), "a Postgres store created a DuckDB file"


def query(store: BatchStore, sql: str) -> list[tuple[Any, ...]]:
    """Portable SQL on the store's database, as reports and checks run it."""
    with store.tables.reader() as reader:
        return reader.rows(sql)


def fields(row: Any) -> dict[str, Any]:
    return asdict(row)


# --- schema --------------------------------------------------------------------------------


def test_ensure_schema_creates_tables_with_lossless_types(db_path: Path) -> None:
    store = BatchStore.at_path(db_path)
    store.ensure_schema()
    store.ensure_schema()  # idempotent
    assert db_path.exists()
    with duckdb.connect(str(db_path)) as conn:
        types = dict(
            conn.execute(
                "SELECT table_schema || '.' || table_name || '.' || column_name, data_type "
                "FROM information_schema.columns "
                "WHERE table_schema IN ('generation', 'media')"
            ).fetchall()
        )
        keys = conn.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
            "WHERE constraint_type = 'PRIMARY KEY' ORDER BY table_name"
        ).fetchall()
    assert types["generation.requests.submitted_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["generation.requests.input"] == "JSON"
    assert types["generation.requests.result"] == "JSON"
    assert types["media.files.seed"] == "HUGEINT"
    assert types["media.timings.attempts"] == "INTEGER"
    assert len([name for name in types if name.startswith("generation.requests.")]) == 23
    # media tables are unique per (prompt_set, item_key[, position]) by a check on write
    assert keys == [("requests", ["prompt_set", "item_key"])]


# --- generation.requests -------------------------------------------------------------------


def test_upsert_then_load_round_trips_every_field(store: BatchStore) -> None:
    row = full_row()
    pending = pending_row("shots", 1)
    assert store.upsert_requests([row, pending]) == 2
    loaded, loaded_pending = store.load_requests("shots")

    expected = fields(row)
    actual = fields(loaded)
    for name in ("submitted_at", "started_at", "completed_at", "updated_at"):
        assert actual[name].utcoffset() == timedelta(0), name
    assert actual.pop("updated_at") == expected.pop("updated_at")
    assert actual == expected  # aware datetimes compare as instants
    assert loaded.result["seed"] == BIG_SEED
    assert loaded.result["beyond_uint64"] == 2**70
    assert loaded.state is RequestState.COMPLETED

    assert loaded_pending.state is RequestState.PENDING
    assert loaded_pending.request_id is None
    assert loaded_pending.submitted_at is None
    assert loaded_pending.result is None
    assert loaded_pending.attempts == 0
    assert store.load_requests("other") == []


def test_upsert_updates_existing_rows_and_last_duplicate_wins(store: BatchStore) -> None:
    rows = [pending_row("set", i) for i in range(5)]
    store.upsert_requests(rows)
    first_write = store.load_requests("set")[0].updated_at
    assert first_write is not None

    submitted = replace(
        rows[0],
        state=RequestState.SUBMITTED,
        request_id="r0",
        submitted_at=T0,
        attempts=1,
    )
    done = replace(submitted, state=RequestState.COMPLETED, completed_at=T0 + timedelta(seconds=3))
    assert store.upsert_requests([submitted, done]) == 1

    loaded = store.load_requests("set")
    assert len(loaded) == 5
    assert loaded[0].state is RequestState.COMPLETED
    assert loaded[0].request_id == "r0"
    assert loaded[0].updated_at is not None and loaded[0].updated_at >= first_write
    assert [row.state for row in loaded[1:]] == [RequestState.PENDING] * 4


def test_planning_reads_a_chunks_rows_the_sets_keys_and_its_request_ids(
    store: BatchStore,
) -> None:
    rows = [pending_row("set", i) for i in range(7)]
    rows[3] = replace(rows[3], state=RequestState.SUBMITTED, request_id="r3", attempts=1)
    store.upsert_requests([*rows, pending_row("other", 9)])

    wanted = [rows[1].item_key, rows[3].item_key, "not-stored", pending_row("other", 9).item_key]
    found = sorted(store.load_requests_of("set", wanted), key=lambda row: row.item_key)
    assert [row.item_key for row in found] == sorted([rows[1].item_key, rows[3].item_key])
    assert store.load_requests_of("set", []) == []

    pages, after = [], ""
    while page := store.request_keys_after("set", after, 3):
        pages.append(page)
        after = page[-1].item_key
    assert [len(page) for page in pages] == [3, 3, 1]
    keys = [stored.item_key for page in pages for stored in page]
    assert keys == sorted(row.item_key for row in rows)
    by_key = {stored.item_key: stored for page in pages for stored in page}
    assert by_key[rows[3].item_key][1:] == (RequestState.SUBMITTED, "r3")
    assert by_key[rows[0].item_key][1:] == (RequestState.PENDING, None)
    # Reconciliation asks which request ids the set's rows hold instead of keeping them all.
    assert store.recorded_request_ids("set", ["r3", "r-unknown"]) == {"r3"}
    assert store.recorded_request_ids("other", ["r3"]) == set()


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        replace(pending_row("s", 0), submitted_at=datetime(2026, 1, 1))


def test_state_helpers() -> None:
    assert {s for s in RequestState if s.is_terminal} == {"COMPLETED", "FAILED", "CANCELLED"}
    assert {s for s in RequestState if s.is_in_flight} == {"SUBMITTED", "IN_QUEUE", "IN_PROGRESS"}
    assert not RequestState.UNKNOWN.is_terminal and not RequestState.UNKNOWN.is_in_flight
    assert not RequestState.PENDING.is_terminal and not RequestState.PENDING.is_in_flight


def test_counts_and_latency_percentiles(store: BatchStore) -> None:
    rows = []
    for i in range(10):
        row = pending_row("lat", i)
        row.state = RequestState.COMPLETED
        row.submitted_at = T0
        row.completed_at = T0 + timedelta(seconds=i + 1)
        rows.append(row)
    rows.append(replace(pending_row("lat", 10), state=RequestState.FAILED, submitted_at=T0))
    rows.append(pending_row("lat", 11))
    rows.append(replace(full_row("elsewhere"), completed_at=T0 + timedelta(hours=1)))
    store.upsert_requests(rows)

    assert store.count_by_state("lat") == {
        RequestState.PENDING: 1,
        RequestState.COMPLETED: 10,
        RequestState.FAILED: 1,
    }

    def latency(where: str) -> tuple[int, float | None, float | None, float | None]:
        """The reports' p50/p95 (`media/latency.py`) over this store's COMPLETED rows."""
        count, p50, p95, longest = query(
            store,
            f"SELECT count(*), {p50_p95_sql(REQUEST_SECONDS_SQL)}, max({REQUEST_SECONDS_SQL}) "
            f"FROM generation.requests WHERE state = 'COMPLETED' AND submitted_at IS NOT NULL "
            f"AND completed_at IS NOT NULL "
            f"AND {where}",
        )[0]
        return int(count), p50, p95, longest

    count, p50, p95, longest = latency("prompt_set = 'lat'")
    assert count == 10
    assert p50 == pytest.approx(5.5)
    assert p95 == pytest.approx(9.55)
    assert longest == pytest.approx(10.0)
    assert latency("prompt_set = 'lat' AND endpoint_id = 'fal-ai/flux/dev'")[0] == 0
    assert latency("true")[0] == 11
    empty = latency("prompt_set = 'nothing'")
    assert (empty[0], empty[1]) == (0, None)


def test_readers_name_a_tables_columns_and_none_for_a_missing_table(store: BatchStore) -> None:
    store.upsert_requests([pending_row("columns", 0)])
    with store.tables.reader() as reader:
        columns = reader.column_names("generation", "requests")
        assert {"item_key", "request_id", "completed_at"} <= columns
        assert reader.column_names("generation", "no_such_table") == frozenset()
        assert reader.column_names("no_such_schema", "requests") == frozenset()


def test_recent_job_times_bound_a_job_seen_done_late_by_when_it_was_seen_running(
    store: BatchStore,
) -> None:
    def done(index: int, seen_done: float, seen_running: float | None) -> RequestRow:
        return replace(
            pending_row("history", index),
            state=RequestState.COMPLETED,
            submitted_at=T0,
            started_at=None if seen_running is None else T0 + timedelta(seconds=seen_running),
            completed_at=T0 + timedelta(seconds=seen_done),
            inference_seconds=0.7,
        )

    store.upsert_requests(
        [
            done(0, seen_done=1.89, seen_running=0.76),  # blind polls: done by 0.76 + 0.7
            done(1, seen_done=1.02, seen_running=0.35),  # seen done within 0.7 s of running
            done(2, seen_done=1.30, seen_running=None),  # never seen running: as seen
            replace(done(3, 1.0, 0.3), endpoint_id="other/endpoint"),
        ]
    )
    jobs = store.recent_job_times(["fal-ai/flux/schnell"])
    assert sorted(job.seconds for job in jobs) == pytest.approx([1.02, 1.30, 1.46])
    assert {job.inference_seconds for job in jobs} == {0.7}


# --- media.files and media.timings ---------------------------------------------------------


def test_replace_media_touches_only_its_prompt_set(store: BatchStore) -> None:
    store.replace_media("a", [media_row("a", i, p) for i in range(3) for p in range(2)])
    store.replace_media("b", [media_row("b", i, 0, seed=2**64 - 1) for i in range(4)])
    assert store.row_counts("a")["media.files"] == 6

    # re-materializing "a" with fewer rows replaces exactly a's rows
    store.replace_media("a", [media_row("a", 9, 0)])
    loaded_a = store.load_media("a")
    assert [fields(row) for row in loaded_a] == [fields(media_row("a", 9, 0))]
    loaded_b = store.load_media("b")
    assert len(loaded_b) == 4
    assert {row.seed for row in loaded_b} == {2**64 - 1}

    store.replace_media("a", [])
    assert store.load_media("a") == []
    assert len(store.load_media("b")) == 4

    typeof = "typeof(seed)" if store.tables.dialect == "duckdb" else "pg_typeof(seed)::text"
    seed, kind = query(store, f"SELECT seed, {typeof} FROM media.files WHERE prompt_set = 'b'")[0]
    assert (int(seed), kind) == (
        2**64 - 1,
        {"duckdb": "HUGEINT"}.get(store.tables.dialect, "numeric"),
    )


def test_replace_is_atomic_and_checks_prompt_set(store: BatchStore) -> None:
    original = [media_row("a", i, 0) for i in range(3)]
    store.replace_media("a", original)
    duplicate_key = [media_row("a", 1, 0), media_row("a", 1, 0)]
    with pytest.raises(
        ValueError, match=r"duplicate media\.files key .*item_key='key-000001', position=0"
    ):
        store.replace_media("a", duplicate_key)
    assert [fields(r) for r in store.load_media("a")] == [fields(r) for r in original]

    with pytest.raises(ValueError, match="rows of \\['b'\\]"):
        store.replace_media("a", [media_row("b", 0, 0)])
    assert len(store.load_media("a")) == 3


def test_replace_timings_round_trip(store: BatchStore) -> None:
    store.replace_timings("a", [timing("a", i) for i in range(3)])
    store.replace_timings("b", [timing("b", 0)])
    store.replace_timings("a", [timing("a", 7), replace(timing("a", 8), total_seconds=None)])
    assert [fields(r) for r in store.load_timings("a")] == [
        fields(timing("a", 7)),
        fields(replace(timing("a", 8), total_seconds=None)),
    ]
    assert store.row_counts("b") == {"generation.requests": 0, "media.files": 0, "media.timings": 1}


def test_large_batches_round_trip(store: BatchStore) -> None:
    rows = [pending_row("big", i) for i in range(5000)]
    assert store.upsert_requests(rows) == 5000
    for row in rows:
        row.state = RequestState.IN_QUEUE
        row.request_id = f"r-{row.item_index}"
    store.upsert_requests(rows)
    loaded = store.load_requests("big")
    assert len(loaded) == 5000
    assert {row.state for row in loaded} == {RequestState.IN_QUEUE}
    assert loaded[4321].request_id == "r-4321"
    media = [media_row("big", i, p) for i in range(5000) for p in range(3)]
    assert store.replace_media("big", media) == 15000
    assert store.row_counts("big")["media.files"] == 15000


def test_accepts_dagster_duckdb_resource_as_connection_factory(db_path: Path) -> None:
    # imported here: the spawned writer processes below import this module and need no Dagster
    from dagster_duckdb import DuckDBResource

    db_path.parent.mkdir(parents=True)
    resource = DuckDBResource(database=str(db_path))
    store = BatchStore(resource.get_connection)
    store.upsert_requests([full_row()])
    assert store.load_requests("shots")[0].result["seed"] == BIG_SEED


# --- several processes on one database ---------------------------------------------------------


def _write_prompt_set(location: str, prompt_set: str, rounds: int, barrier: Any) -> None:
    """Child process: many short write batches to its own prompt set, started in lock step."""
    store = open_store(location)
    rows = [pending_row(prompt_set, i) for i in range(200)]
    barrier.wait()
    for round_number in range(rounds):
        for row in rows:
            row.attempts = round_number
        store.upsert_requests(rows)
        store.replace_media(prompt_set, [media_row(prompt_set, i, 0) for i in range(100)])
        store.replace_timings(prompt_set, [timing(prompt_set, i) for i in range(100)])
        store.load_requests(prompt_set)


def test_two_processes_write_different_prompt_sets_at_once(db_path: Path) -> None:
    # On Postgres, two processes at once: tests/test_engine_postgres.py (two workers, one set).
    location = str(db_path)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    rounds = 6
    workers = [
        context.Process(target=_write_prompt_set, args=(location, name, rounds, barrier))
        for name in ("left", "right")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]

    store = open_store(location)
    for name in ("left", "right"):
        assert store.row_counts(name) == {
            "generation.requests": 200,
            "media.files": 100,
            "media.timings": 100,
        }
        assert {row.attempts for row in store.load_requests(name)} == {rounds - 1}


def _hold_duckdb_open(path: str, opened: Any, release: Any) -> None:
    """Child process: holds DuckDB's own file lock without using our lock file."""
    conn = duckdb.connect(path)
    opened.set()
    release.wait(timeout=60)
    conn.close()


def test_connect_waits_for_a_writer_that_ignores_the_lock_file(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    context = multiprocessing.get_context("spawn")
    opened, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_duckdb_open, args=(str(db_path), opened, release))
    holder.start()
    try:
        assert opened.wait(timeout=60)
        # While the other process holds the file, a short wait fails with DuckDB's lock error...
        with pytest.raises(duckdb.IOException) as caught, connect_duckdb(db_path, timeout=0.3):
            pass
        assert is_lock_error(caught.value)
        # ...and a normal wait succeeds once the holder lets go.
        release.set()
        with connect_duckdb(db_path) as conn:
            assert conn.execute("SELECT 42").fetchall() == [(42,)]
    finally:
        release.set()
        holder.join(timeout=60)
    assert holder.exitcode == 0


def test_nested_connections_in_one_thread_do_not_deadlock(db_path: Path) -> None:
    with connect_duckdb(db_path) as outer, connect_duckdb(db_path, timeout=5) as inner:
        outer.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert inner.execute("SELECT x FROM t").fetchall() == [(1,)]


@pytest.mark.parametrize("file_name", ["media.duckdb", "generation.duckdb"])
def test_database_file_named_like_a_schema(tmp_path: Path, file_name: str) -> None:
    # DuckDB names the database after the file, so unqualified `media.files` would be ambiguous
    store = BatchStore.at_path(tmp_path / file_name)
    store.upsert_requests([full_row()])
    store.replace_media("shots", [media_row("shots", 0, 0)])
    store.replace_timings("shots", [timing("shots", 0)])
    assert store.row_counts("shots") == {
        "generation.requests": 1,
        "media.files": 1,
        "media.timings": 1,
    }
    assert store.count_by_state("shots") == {RequestState.COMPLETED: 1}


def test_a_held_connection_released_from_another_thread_frees_the_file(tmp_path: Path) -> None:
    """The batch writer opens its held connection in one worker thread and may release it
    from another; the cross-process file lock must be released all the same."""
    path = tmp_path / "held.duckdb"
    store = BatchStore.at_path(path)
    store.tables.keep_open(60.0)
    opener = threading.Thread(target=store.ensure_schema)
    opener.start()
    opener.join()
    store.release()  # from this thread, not the opener's
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from fal_platform.batch.duckdb_io import connect_duckdb\n"
            "with connect_duckdb(sys.argv[1], timeout=10) as conn: conn.execute('SELECT 1')",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr


# --- conditional upserts and leases (one driver per prompt set) ---------------------------


def test_upsert_if_writes_only_where_the_condition_holds(store: BatchStore) -> None:
    tables = store.tables
    first = LeaseRow("set", "w1", "host", 1, T0 + timedelta(seconds=30), T0)
    assert tables.upsert_if(LEASES, first, "existing.owner = $1", ["w1"])  # a new key: inserted
    second = replace(first, owner="w2", expires_at=T0 + timedelta(seconds=60))
    assert not tables.upsert_if(LEASES, second, "existing.expires_at <= $1", [T0])
    assert [r.owner for r in tables.load(LEASES, {"prompt_set": "set"}, ())] == ["w1"]
    later = T0 + timedelta(seconds=31)
    assert tables.upsert_if(LEASES, second, "existing.expires_at <= $1", [later])
    (row,) = tables.load(LEASES, {"prompt_set": "set"}, ())
    assert (row.owner, row.expires_at) == ("w2", T0 + timedelta(seconds=60))


def test_a_prompt_set_has_one_lease_holder_at_a_time(store: BatchStore) -> None:
    first = PartitionLease(store.tables, "shots", seconds=30)
    second = PartitionLease(store.tables, "shots", seconds=30)
    assert first.try_take() is None
    assert first.try_take() is None  # ours already: renewed
    holder = second.try_take()
    assert holder is not None and holder.owner == first.owner
    with pytest.raises(PartitionBusyError, match=r"prompt set 'shots' is being run by process"):
        second.acquire(wait=0)
    assert PartitionLease(store.tables, "other").try_take() is None  # other sets are free
    assert first.renew() and not second.renew()
    first.release()
    assert second.try_take() is None
    assert not first.renew()


def test_a_dead_holders_lease_is_taken_over(store: BatchStore) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    taker = PartitionLease(store.tables, "shots")
    now = datetime.now(UTC)
    # a process of this host that is gone: taken at once
    store.tables.upsert(
        LEASES,
        [LeaseRow("shots", "x", taker.host, int(dead.stdout), now + timedelta(hours=1), now)],
    )
    assert taker.try_take() is None
    # a live process on another host: only once its lease expired
    store.tables.upsert(
        LEASES, [LeaseRow("shots", "y", "elsewhere", 1, now + timedelta(hours=1), now)]
    )
    assert taker.try_take() is not None
    store.tables.upsert(
        LEASES, [LeaseRow("shots", "y", "elsewhere", 1, now - timedelta(seconds=1), now)]
    )
    assert taker.try_take() is None


def test_holder_gone_rule() -> None:
    now = T0
    lease = LeaseRow("s", "o", "h1", 42, now + timedelta(seconds=5), now)
    assert not holder_gone(lease, now, "h1", lambda pid: True)
    assert holder_gone(lease, now, "h1", lambda pid: False)
    assert not holder_gone(lease, now, "h2", lambda pid: False)
    assert holder_gone(lease, now + timedelta(seconds=5), "h2", lambda pid: True)


def test_the_webhook_inbox_counts_duplicates_and_keeps_the_first_copy(store: BatchStore) -> None:
    """The receiver's table on either database (fal_platform/webhooks/inbox.py): a delivery
    fal retries only counts once more, and runs find new ones by their receipt time."""
    inbox = WebhookInbox(store.tables)
    before = datetime.now(UTC) - timedelta(seconds=1)

    def delivery(request_id: str, payload: Any) -> WebhookRow:
        return WebhookRow(request_id, "OK", None, payload, None, None, "user", before)

    assert inbox.record([delivery("r1", {"n": 1}), delivery("r2", {"n": 2})]) == 2
    assert inbox.record([delivery("r1", {"n": "retry"}), delivery("r1", {"n": "again"})]) == 2
    found = {row.request_id: row for row in inbox.outcomes(["r1", "r2", "unknown"])}
    assert set(found) == {"r1", "r2"} and inbox.count() == 2
    assert (found["r1"].deliveries, found["r1"].payload) == (3, {"n": 1})
    assert found["r2"].deliveries == 1
    assert {row.request_id for row in inbox.received_since(before)} == {"r1", "r2"}
    assert inbox.received_since(datetime.now(UTC) + timedelta(hours=1)) == []
