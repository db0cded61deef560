"""The batch store: requests, media files and timings in DuckDB.

The store never keeps a connection. Every operation opens one through the factory it was given,
does one short batch, and closes it, so the engine never holds the DuckDB file lock while it
waits on fal and concurrent partition runs (and the Dagster UI) get their turn. Writes go
through Arrow: a whole batch is one `INSERT ... SELECT` instead of one statement per row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from fal_platform.batch.duckdb_io import (
    DEFAULT_LOCK_TIMEOUT,
    ConnectionFactory,
    duckdb_connection_factory,
    staged,
)
from fal_platform.batch.rows import MediaRow, RequestRow, RequestState, TimingRow
from fal_platform.batch.tables import (
    MEDIA_FILES,
    MEDIA_TIMINGS,
    REQUESTS,
    RowT,
    TableSpec,
    quote,
    schema_statements,
)

HANDOVER_SECONDS = 0.05
"""Pause between closing a held connection and opening the next: another process's turn."""


@dataclass(frozen=True)
class _Session:
    """An open connection and the name of the database it writes to."""

    conn: duckdb.DuckDBPyConnection
    database: str

    def table(self, spec: TableSpec[Any]) -> str:
        return spec.qualified(self.database)


class BatchStore:
    """Reads and writes `generation.requests`, `media.files` and `media.timings`."""

    def __init__(self, connect: ConnectionFactory) -> None:
        self._connect = connect
        self._schema_ready = False
        self._hold_seconds = 0.0
        self._held: tuple[ExitStack, _Session, float] | None = None
        self._lock = threading.Lock()

    def keep_open(self, seconds: float) -> None:
        """Reuse one connection across back-to-back calls, for at most `seconds` at a time.

        Opening the file costs ~20 ms of CPU, a small upsert ~3 ms, so a busy batch writer
        would spend most of its time opening connections. Holding is bounded: after `seconds`
        the connection is closed and the next call waits `HANDOVER_SECONDS` first, so another
        process (a second partition, the UI) can take the file; `release()` closes it at once.
        """
        self._hold_seconds = seconds

    def release(self) -> None:
        """Close a held connection, e.g. when the writer has nothing left to write."""
        with self._lock:
            self._close_held()

    def _close_held(self) -> None:
        if self._held is not None:
            stack, _, _ = self._held
            self._held = None
            stack.close()

    @classmethod
    def at_path(cls, path: Path | str, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> BatchStore:
        """A store on a DuckDB file, with cross-process locking (for the CLI and scripts)."""
        return cls(duckdb_connection_factory(path, timeout=timeout))

    # --- connections and schema ----------------------------------------------------------

    def _open(self, conn: duckdb.DuckDBPyConnection) -> _Session:
        session = _Session(conn, str(_one(conn, "SELECT current_database()")[0]))
        if not self._schema_ready:
            _create_schema(session)
            self._schema_ready = True
        return session

    @contextmanager
    def _session(self) -> Iterator[_Session]:
        if self._hold_seconds <= 0:
            with self._connect() as conn:
                yield self._open(conn)
            return
        with self._lock:
            if self._held is not None and time.monotonic() - self._held[2] > self._hold_seconds:
                self._close_held()
                time.sleep(HANDOVER_SECONDS)
            if self._held is None:
                stack = ExitStack()
                try:
                    session = self._open(stack.enter_context(self._connect()))
                except BaseException:
                    stack.close()
                    raise
                self._held = (stack, session, time.monotonic())
            try:
                yield self._held[1]
            except BaseException:
                self._close_held()  # never reuse a connection a failed statement went through
                raise

    def ensure_schema(self) -> None:
        """Create the schemas and tables if they do not exist (idempotent)."""
        self._schema_ready = False
        with self._session():
            pass

    # --- generation.requests -------------------------------------------------------------

    def load_requests(self, prompt_set: str) -> list[RequestRow]:
        """Every recorded row of a prompt set, in item order."""
        return self._load(REQUESTS, prompt_set, order_by="item_index, item_key")

    def upsert_requests(self, rows: Sequence[RequestRow]) -> int:
        """Insert or update rows by (prompt_set, item_key) in one statement; returns the count.

        Stamps `updated_at` on the given rows. When a batch holds the same key twice, the last
        row wins (DuckDB refuses to update one row twice in one statement).
        """
        latest = {(row.prompt_set, row.item_key): row for row in rows}
        if not latest:
            return 0
        now = datetime.now(UTC)
        for row in latest.values():
            row.updated_at = now
        names = REQUESTS.column_names
        columns = ", ".join(map(quote, names))
        values = [name for name in names if name not in REQUESTS.key]
        updates = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in values)
        table = REQUESTS.to_arrow(list(latest.values()))
        with self._session() as db, staged(db.conn, table) as source:
            # Most writes (the engine's state changes) touch rows that exist: a plain UPDATE
            # costs ~40% less CPU than the upsert. Rows it missed take the upsert; a crash
            # between the two leaves whole rows written or not, never half a row.
            updated = _one(
                db.conn,
                f"UPDATE {db.table(REQUESTS)} AS t SET "
                + ", ".join(f"{quote(name)} = s.{quote(name)}" for name in values)
                + f" FROM {source} AS s WHERE "
                + " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in REQUESTS.key),
            )[0]
            if updated < len(latest):
                db.conn.execute(
                    f"INSERT INTO {db.table(REQUESTS)} ({columns}) SELECT {columns} FROM {source} "
                    f"ON CONFLICT ({', '.join(map(quote, REQUESTS.key))}) DO UPDATE SET {updates}"
                )
        return len(latest)

    def delete_requests(self, prompt_set: str, item_keys: Sequence[str]) -> int:
        """Forget items that left an edited prompt file (their media goes with the next replace)."""
        if not item_keys:
            return 0
        with self._session() as db:
            db.conn.execute(
                f"DELETE FROM {db.table(REQUESTS)} WHERE prompt_set = ? AND item_key IN "
                "(SELECT unnest(?::VARCHAR[]))",
                [prompt_set, list(item_keys)],
            )
        return len(item_keys)

    def count_by_state(self, prompt_set: str) -> dict[RequestState, int]:
        """Rows per state, in state-machine order, states with no rows left out."""
        with self._session() as db:
            records = db.conn.execute(
                f"SELECT state, count(*) FROM {db.table(REQUESTS)} "
                "WHERE prompt_set = ? GROUP BY state",
                [prompt_set],
            ).fetchall()
        counts = {RequestState(state): int(count) for state, count in records}
        return {state: counts[state] for state in RequestState if state in counts}

    # --- media.files and media.timings ---------------------------------------------------

    def replace_media(self, prompt_set: str, rows: Sequence[MediaRow]) -> int:
        """Make `rows` the whole of this prompt set's media; other prompt sets are untouched."""
        return self._replace_partition(MEDIA_FILES, prompt_set, rows)

    def replace_timings(self, prompt_set: str, rows: Sequence[TimingRow]) -> int:
        """Make `rows` the whole of this prompt set's timings; other prompt sets are untouched."""
        return self._replace_partition(MEDIA_TIMINGS, prompt_set, rows)

    def load_media(self, prompt_set: str) -> list[MediaRow]:
        return self._load(MEDIA_FILES, prompt_set, order_by="item_key, position")

    def load_timings(self, prompt_set: str) -> list[TimingRow]:
        return self._load(MEDIA_TIMINGS, prompt_set, order_by="item_key")

    def row_counts(self, prompt_set: str) -> dict[str, int]:
        """Rows of one prompt set in each table, keyed by table name (`media.files`...)."""
        counts: dict[str, int] = {}
        with self._session() as db:
            for spec in (REQUESTS, MEDIA_FILES, MEDIA_TIMINGS):
                sql = f"SELECT count(*) FROM {db.table(spec)} WHERE prompt_set = ?"
                counts[spec.name] = int(_one(db.conn, sql, [prompt_set])[0])
        return counts

    # --- shared --------------------------------------------------------------------------

    def _load(self, spec: TableSpec[RowT], prompt_set: str, *, order_by: str) -> list[RowT]:
        with self._session() as db:
            records = db.conn.execute(
                f"{spec.select_sql(db.database)} WHERE prompt_set = ? ORDER BY {order_by}",
                [prompt_set],
            ).fetchall()
        return spec.from_records(records)

    def _replace_partition(
        self, spec: TableSpec[RowT], prompt_set: str, rows: Sequence[RowT]
    ) -> int:
        strangers = {row.prompt_set for row in rows} - {prompt_set}
        if strangers:
            raise ValueError(
                f"replacing {spec.name} rows of prompt set {prompt_set!r} with rows of "
                f"{sorted(strangers)!r}"
            )
        table = spec.to_arrow(rows)
        columns = ", ".join(map(quote, spec.column_names))
        # Registered outside the transaction: DuckDB refuses to unregister in an aborted one.
        with self._session() as db, staged(db.conn, table) as source:
            target = db.table(spec)
            db.conn.execute("BEGIN TRANSACTION")
            try:
                db.conn.execute(f"DELETE FROM {target} WHERE prompt_set = ?", [prompt_set])
                db.conn.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source}")
                _check_unique(db, spec, prompt_set)
                db.conn.execute("COMMIT")
            except BaseException:
                db.conn.execute("ROLLBACK")
                raise
        return len(rows)


def _check_unique(db: _Session, spec: TableSpec[Any], prompt_set: str) -> None:
    """Stand-in for a PRIMARY KEY on the partition-replaced tables (see `TableSpec.declare_key`)."""
    key = ", ".join(map(quote, spec.key))
    duplicate = db.conn.execute(
        f"SELECT {key}, count(*) FROM {db.table(spec)} WHERE prompt_set = ? "
        "GROUP BY ALL HAVING count(*) > 1 LIMIT 1",
        [prompt_set],
    ).fetchall()
    if duplicate:
        *values, count = duplicate[0]
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(spec.key, values, strict=True))
        raise ValueError(f"duplicate {spec.name} key ({shown}) appears {count} times")


def _one(
    conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> tuple[Any, ...]:
    """The single row of an aggregate query, fully consumed.

    `fetchone()` leaves the result open, and DuckDB then refuses the next `register()` or
    `COMMIT` on that connection ("unfinished result").
    """
    rows = conn.execute(sql, params or []).fetchall()
    if len(rows) != 1:
        raise RuntimeError(f"expected one row, got {len(rows)}: {sql}")
    return tuple(rows[0])


def _create_schema(db: _Session) -> None:
    for statement in schema_statements(db.database):
        db.conn.execute(statement)
