"""The batch store: requests, media files and timings, on whichever database holds them.

The domain operations the engine and the assets need, each one generic table operation
(`fal_platform/store/backend.py`) on a table declared in `batch/tables.py`; the backend is a
DuckDB file (`BatchStore(connection_factory)`, `BatchStore.at_path`) or PostgreSQL
(`BatchStore(target.backend())`, see `fal_platform/store/target.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from fal_platform.batch.duckdb_io import DEFAULT_LOCK_TIMEOUT, ConnectionFactory
from fal_platform.batch.journal import RequestJournal
from fal_platform.batch.rows import JobTime, MediaRow, RequestRow, RequestState, TimingRow
from fal_platform.batch.tables import ALL_TABLES, MEDIA_FILES, MEDIA_TIMINGS, REQUESTS
from fal_platform.batch.writer import JOURNAL_COMMIT_SECONDS, TABLE_COMMIT_SECONDS
from fal_platform.media.latency import DONE_BY_SECONDS_SQL
from fal_platform.store.backend import OneOf, TableBackend
from fal_platform.store.duckdb_backend import DuckDBBackend
from fal_platform.store.target import StoreTarget

JOB_TIMES_PER_ENDPOINT = 64
"""Completed requests per endpoint that seed a run's poll aim (`recent_job_times`)."""
SETTLE_SECONDS = 3.0
"""How often a run moves its journaled rows into the table (`engine.py`): each move opens the
DuckDB file (~20 ms of CPU), so not on every write."""
_ID_CHUNK = 500
"""Request ids per `IN (...)` list."""


class StoredKey(NamedTuple):
    """A stored row reduced to what finding the rows of removed items needs."""

    item_key: str
    state: RequestState
    request_id: str | None


class BatchStore:
    """Reads and writes `generation.requests`, `media.files` and `media.timings`.

    On a DuckDB file with a journal (`StoreTarget.backend()` gives one), the engine's rows reach
    `generation.requests` through `journal.py`: `journal_requests` makes them durable at once,
    and `settle` moves them into the table: every `SETTLE_SECONDS` while the engine runs, before
    this store reads or deletes request rows, and when a `holding` block ends.
    """

    def __init__(self, source: ConnectionFactory | TableBackend) -> None:
        self.tables = source if isinstance(source, TableBackend) else DuckDBBackend(source)
        """The generic operations, for tables other modules declare."""
        self._schema_ready = False
        path = self.tables.journal_path
        self._journal = RequestJournal(path) if path is not None else None
        self._journaled: dict[tuple[str, str], RequestRow] = {}
        """Rows journaled by this store and not yet in the table, newest per item."""
        self._journaled_through: dict[str, int] = {}
        self._journal_lock = threading.Lock()

    @classmethod
    def at_path(cls, path: Path | str, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> BatchStore:
        """A store on a DuckDB file, with cross-process locking (for the CLI and scripts)."""
        from fal_platform.batch.duckdb_io import duckdb_connection_factory

        return cls(
            StoreTarget(Path(path)).backend(duckdb_connection_factory(path, timeout=timeout))
        )

    @property
    def commit_interval(self) -> float:
        """The writer's group-commit wait for this store's writes (`writer.py`)."""
        return TABLE_COMMIT_SECONDS if self._journal is None else JOURNAL_COMMIT_SECONDS

    @contextmanager
    def holding(self, seconds: float) -> Iterator[None]:
        """One connection for the block's calls (the backend's `holding`); journaled rows are
        settled before it closes."""
        with self.tables.holding(seconds):
            try:
                yield
            finally:
                self.settle()

    def release(self) -> None:
        """Close a held connection (the writer is idle: other processes may have the file)."""
        self.tables.release()

    def _ready(self) -> TableBackend:
        """All three tables exist once any is touched: checks and reports read them all."""
        if not self._schema_ready:
            self.tables.ensure(*ALL_TABLES)
            self._schema_ready = True
        return self.tables

    def _requests(self) -> TableBackend:
        """The tables, for a read or delete of `generation.requests`: this store's journaled rows
        are moved into it first, so no read misses a row already durable."""
        self.settle()
        return self._ready()

    def ensure_schema(self) -> None:
        """Create the schemas and tables if they do not exist (idempotent)."""
        self._schema_ready = False
        self._ready()

    # --- generation.requests -------------------------------------------------------------

    def load_requests(self, prompt_set: str) -> list[RequestRow]:
        """Every recorded row of a prompt set, in item order."""
        return self._requests().load(
            REQUESTS, {"prompt_set": prompt_set}, ("item_index", "item_key")
        )

    def load_requests_of(self, prompt_set: str, item_keys: Sequence[str]) -> list[RequestRow]:
        """The stored rows of some items (a chunk of the set being planned), in no set order:
        the join is built on the chunk's keys, so its cost follows the chunk, not the table."""
        if not item_keys:
            return []
        where = {"prompt_set": prompt_set, "item_key": OneOf(tuple(item_keys))}
        return self._requests().load(REQUESTS, where, ())

    def recorded_request_ids(self, prompt_set: str, request_ids: Sequence[str]) -> set[str]:
        """Which of `request_ids` the set's rows hold (reconciliation never hands those out)."""
        tables = self._requests()  # an id journaled a moment ago is held all the same
        found: set[str] = set()
        for start in range(0, len(request_ids), _ID_CHUNK):
            chunk = tuple(request_ids[start : start + _ID_CHUNK])
            where = {"prompt_set": prompt_set, "request_id": OneOf(chunk)}
            found.update(tables.count(REQUESTS, where, "request_id"))
        return found

    def request_keys_after(self, prompt_set: str, after: str, limit: int) -> list[StoredKey]:
        """The set's next `limit` rows in key order after `after` ("" for the first page),
        each as (item_key, state, request_id): all of a set's rows, read a page at a time."""
        with self._requests().reader() as reader:
            records = reader.rows(
                f"SELECT item_key, state, request_id FROM {REQUESTS.name} "
                f"WHERE prompt_set = $1 AND item_key > $2 ORDER BY item_key LIMIT {int(limit)}",
                [prompt_set, after],
            )
        return [
            StoredKey(key, RequestState(state), request_id) for key, state, request_id in records
        ]

    def upsert_requests(self, rows: Sequence[RequestRow]) -> int:
        """Insert or update rows by (prompt_set, item_key) in one statement; returns the count.

        Stamps `updated_at` on the given rows. When a batch holds the same key twice, the last
        row wins.
        """
        if not rows:
            return 0
        now = datetime.now(UTC)
        for row in rows:
            row.updated_at = now
        return self._ready().upsert(REQUESTS, rows)

    def delete_requests(self, prompt_set: str, item_keys: Sequence[str]) -> int:
        """Forget items that left an edited prompt file (their media goes with the next replace)."""
        return self._requests().delete_keys(
            REQUESTS, {"prompt_set": prompt_set}, "item_key", item_keys
        )

    def count_by_state(self, prompt_set: str) -> dict[RequestState, int]:
        """Rows per state, in state-machine order, states with no rows left out."""
        counts = self._requests().count(REQUESTS, {"prompt_set": prompt_set}, "state")
        return {state: counts[state] for state in RequestState if state in counts}

    def recent_job_times(
        self, endpoint_ids: Sequence[str], per_endpoint: int = JOB_TIMES_PER_ENDPOINT
    ) -> list[JobTime]:
        """The latest completed requests of each endpoint, in any prompt set: a run polls its
        first items when jobs of the endpoint usually end (`poll_schedule.py`), not blindly."""
        if not endpoint_ids:
            return []
        tables = self._requests()
        marks = ", ".join(f"${n}" for n in range(1, len(endpoint_ids) + 1))
        sql = (
            f"SELECT endpoint_id, seconds, inference_seconds FROM ("
            f"SELECT endpoint_id, {DONE_BY_SECONDS_SQL} AS seconds, inference_seconds, "
            f"row_number() OVER (PARTITION BY endpoint_id ORDER BY completed_at DESC) AS n "
            f"FROM {REQUESTS.name} WHERE state = 'COMPLETED' AND endpoint_id IN ({marks}) "
            f"AND completed_at >= submitted_at) AS recent WHERE n <= {int(per_endpoint)}"
        )
        with tables.reader() as reader:
            found = reader.rows(sql, list(endpoint_ids))
        return [JobTime(e, float(s), None if i is None else float(i)) for e, s, i in found]

    def journal_requests(self, rows: Sequence[RequestRow]) -> int:
        """The engine writer's path: `rows` are durable when this returns, in the table once
        settled (at once without a journal)."""
        if self._journal is None:
            return self.upsert_requests(rows)
        with self._journal_lock:
            through = self._journal.append(rows)
            for row in rows:
                self._journaled[(row.prompt_set, row.item_key)] = row
                self._journaled_through[row.prompt_set] = through
        return len(rows)

    def settle(self) -> None:
        """Move the rows this store journaled into `generation.requests`."""
        if self._journal is None:
            return
        with self._journal_lock:
            if not self._journaled:
                return
            self.upsert_requests(list(self._journaled.values()))
            for prompt_set, through in self._journaled_through.items():
                self._journal.forget(prompt_set, through)
            self._journaled.clear()
            self._journaled_through.clear()

    def recover(self, prompt_set: str) -> int:
        """Move the rows a run of `prompt_set` journaled and never settled (it died) into the
        table; the caller drives the prompt set (holds its lease). Returns how many."""
        if self._journal is None or not self._journal.path.exists():
            return 0
        with self._journal_lock:
            rows, through = self._journal.latest(prompt_set)
            if rows:
                self.upsert_requests(rows)
            if through:
                self._journal.forget(prompt_set, through)
        return len(rows)

    # --- media.files and media.timings ---------------------------------------------------

    def replace_media(self, prompt_set: str, rows: Sequence[MediaRow]) -> int:
        """Make `rows` the whole of this prompt set's media; other prompt sets are untouched."""
        return self._ready().replace(MEDIA_FILES, {"prompt_set": prompt_set}, rows)

    def replace_timings(self, prompt_set: str, rows: Sequence[TimingRow]) -> int:
        """Make `rows` the whole of this prompt set's timings; other prompt sets are untouched."""
        return self._ready().replace(MEDIA_TIMINGS, {"prompt_set": prompt_set}, rows)

    def load_media(self, prompt_set: str) -> list[MediaRow]:
        return self._ready().load(MEDIA_FILES, {"prompt_set": prompt_set}, ("item_key", "position"))

    def load_timings(self, prompt_set: str) -> list[TimingRow]:
        return self._ready().load(MEDIA_TIMINGS, {"prompt_set": prompt_set}, ("item_key",))

    def row_counts(self, prompt_set: str) -> dict[str, int]:
        """Rows of one prompt set in each table, keyed by table name (`media.files`...)."""
        tables = self._ready()
        return {
            spec.name: tables.count(spec, {"prompt_set": prompt_set}).get(None, 0)
            for spec in (REQUESTS, MEDIA_FILES, MEDIA_TIMINGS)
        }
