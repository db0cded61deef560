"""The tables in a DuckDB file: the zero-setup default.

The backend never keeps a connection unless asked (`keep_open`). Every operation opens one
through the factory it was given, does one short batch, and closes it, so the engine never holds
the DuckDB file lock while it waits on fal and concurrent partition runs (and the Dagster UI)
get their turn. Writes go through Arrow: a whole batch is one `INSERT ... SELECT` from a
registered Arrow table instead of one statement per row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from fal_platform.batch.duckdb_io import ConnectionFactory, staged
from fal_platform.batch.table_spec import TableSpec, quote
from fal_platform.store.backend import (
    InformationSchema,
    SqlReader,
    TableBackend,
    Where,
    check_belongs,
    count_sql,
    duplicate_error,
    duplicate_sql,
    latest_by_key,
    one_per_group,
    upsert_if_sql,
    upsert_sql,
    where_sql,
)

T = TypeVar("T")

HANDOVER_SECONDS = 0.05
"""Pause between closing a held connection and opening the next: another process's turn."""


@dataclass(frozen=True)
class _Session:
    """An open connection and the name of the database it writes to."""

    conn: duckdb.DuckDBPyConnection
    database: str

    def table(self, spec: TableSpec[Any]) -> str:
        return spec.qualified(self.database)


class DuckDBReader(InformationSchema):
    """`SqlReader` over one open DuckDB connection."""

    dialect = "duckdb"

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.conn.execute(sql, list(params)).fetchall()]

    def _schema_exists(self, schema: str) -> bool:
        found = self.rows("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = $1", [schema])
        return bool(found[0][0])

    def table_exists(self, schema: str, table: str) -> bool:
        """DuckDB's own catalog functions, schema first: on a new connection the first
        information_schema query costs ~16 ms, `duckdb_tables()` ~9 ms, `duckdb_schemas()` ~1 ms,
        and a run asks before its first submit, for a schema that is often absent."""
        if not self._schema_exists(schema):
            return False
        found = self.rows(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $1 AND table_name = $2",
            [schema, table],
        )
        return bool(found[0][0])

    def column_names(self, schema: str, table: str) -> frozenset[str]:
        """From an empty select's description: ~1 ms, where `duckdb_columns()` or
        information_schema costs ~15-20 ms on a new connection (a run asks for the catalog's
        columns before its first submit)."""
        if not self._schema_exists(schema):
            return frozenset()
        database = self.rows("SELECT current_database()")[0][0]  # a file may share a schema's name
        try:
            described = self.conn.execute(
                f"SELECT * FROM {quote(database)}.{quote(schema)}.{quote(table)} LIMIT 0"
            )
        except duckdb.CatalogException:  # no such table
            return frozenset()
        return frozenset(column[0] for column in described.description or ())


Queryable = SqlReader | duckdb.DuckDBPyConnection
"""What the report and check queries take: a reader from any backend, or (scripts, tests) an
open DuckDB connection."""


def as_reader(source: Queryable) -> SqlReader:
    return DuckDBReader(source) if isinstance(source, duckdb.DuckDBPyConnection) else source


class DuckDBBackend(TableBackend):
    dialect = "duckdb"

    def __init__(
        self,
        connect: ConnectionFactory,
        *,
        where: str = "a DuckDB file",
        journal_path: Path | None = None,
    ) -> None:
        self._connect = connect
        self.journal_path = journal_path
        self._where = where
        self._ensured: set[str] = set()
        self._hold_seconds = 0.0
        self._held: tuple[ExitStack, _Session, float] | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self._where

    def keep_open(self, seconds: float) -> None:
        """Opening the file costs ~20 ms of CPU, a small upsert ~3 ms, so a busy batch writer
        would spend most of its time opening connections. Holding is bounded: after `seconds`
        the connection is closed and the next call waits `HANDOVER_SECONDS` first, so another
        process (a second partition, the UI) can take the file; `release()` closes it at once."""
        self._hold_seconds = seconds

    def release(self) -> None:
        with self._lock:
            self._close_held()

    def _close_held(self) -> None:
        if self._held is not None:
            stack, _, _ = self._held
            self._held = None
            stack.close()

    def _open(self, conn: duckdb.DuckDBPyConnection) -> _Session:
        database = conn.execute("SELECT current_database()").fetchall()[0][0]
        return _Session(conn, str(database))

    @contextmanager
    def _session(self, *specs: TableSpec[Any]) -> Iterator[_Session]:
        with self._connection() as session:
            for spec in specs:
                if spec.name not in self._ensured:
                    _create(session, spec)
                    self._ensured.add(spec.name)
            yield session

    @contextmanager
    def _connection(self) -> Iterator[_Session]:
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

    @contextmanager
    def reader(self) -> Iterator[DuckDBReader]:
        with self._connection() as session:
            yield DuckDBReader(session.conn)

    def ensure(self, *specs: TableSpec[Any]) -> None:
        self._ensured.difference_update(spec.name for spec in specs)
        with self._session(*specs):
            pass

    def upsert(self, spec: TableSpec[T], rows: Sequence[T]) -> int:
        latest = latest_by_key(spec, rows)
        if not latest:
            return 0
        table = spec.to_arrow(latest)
        with self._session(spec) as db, staged(db.conn, table) as source:
            # Most writes (the engine's state changes) touch rows that exist, and DuckDB's plain
            # UPDATE costs ~40% less CPU than its upsert (benchmarks/README.md, section 7); rows
            # it missed take the upsert. Each statement commits whole rows, so a crash between
            # the two leaves every row written or not, never half a row.
            upsert = upsert_sql(spec, db.table(spec), source)  # raises for a keyless table
            if spec.accumulate or _updated_rows(db.conn, spec, db.table(spec), source) < len(
                latest
            ):
                db.conn.execute(upsert)
        return len(latest)

    def upsert_if(self, spec: TableSpec[T], row: T, condition: str, params: Sequence[Any]) -> bool:
        (record,) = spec.to_records([row])
        with self._session(spec) as db:
            sql = upsert_if_sql(spec, db.table(spec), condition, len(record))
            return bool(db.conn.execute(sql, [*record, *params]).fetchall())

    def load(self, spec: TableSpec[T], where: Where, order_by: Sequence[str]) -> list[T]:
        condition, params = where_sql(where)
        order = ", ".join(map(quote, order_by)) or "1"
        with self._session(spec) as db:
            records = db.conn.execute(
                f"{spec.select_sql(db.database)} WHERE {condition} ORDER BY {order}", params
            ).fetchall()
        return spec.from_records(records)

    def replace(self, spec: TableSpec[T], where: Where, rows: Sequence[T]) -> int:
        check_belongs(spec, where, rows)
        table = spec.to_arrow(rows)
        columns = ", ".join(map(quote, spec.column_names))
        condition, params = where_sql(where)
        # Registered outside the transaction: DuckDB refuses to unregister in an aborted one.
        with self._session(spec) as db, staged(db.conn, table) as source:
            target = db.table(spec)
            db.conn.execute("BEGIN TRANSACTION")
            try:
                db.conn.execute(f"DELETE FROM {target} WHERE {condition}", params)
                db.conn.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source}")
                duplicate = db.conn.execute(*duplicate_sql(spec, target, where)).fetchall()
                if duplicate:
                    raise duplicate_error(spec, duplicate[0])
                db.conn.execute("COMMIT")
            except BaseException:
                db.conn.execute("ROLLBACK")
                raise
        return len(rows)

    def delete_keys(
        self, spec: TableSpec[Any], where: Where, column: str, values: Sequence[Any]
    ) -> int:
        if not values:
            return 0
        condition, params = where_sql(where)
        with self._session(spec) as db:
            db.conn.execute(
                f"DELETE FROM {db.table(spec)} WHERE {condition} AND {quote(column)} IN "
                f"(SELECT unnest(${len(params) + 1}))",
                [*params, list(values)],
            )
        return len(values)

    def count(
        self, spec: TableSpec[Any], where: Where, group_by: str | None = None
    ) -> dict[Any, int]:
        with self._session(spec) as db:
            return one_per_group(
                db.conn.execute(*count_sql(db.table(spec), where, group_by)).fetchall()
            )


def _create(session: _Session, spec: TableSpec[Any]) -> None:
    session.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(session.database)}.{spec.schema}")
    session.conn.execute(spec.ddl(session.database))


def _updated_rows(
    conn: duckdb.DuckDBPyConnection, spec: TableSpec[Any], target: str, source: str
) -> int:
    """UPDATE the rows of `source` that `target` already has (by key); how many it updated."""
    values = [name for name in spec.column_names if name not in spec.key]
    if not values:
        return 0
    sql = (
        f"UPDATE {target} AS t SET "
        + ", ".join(f"{quote(name)} = s.{quote(name)}" for name in values)
        + f" FROM {source} AS s WHERE "
        + " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in spec.key)
    )
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0
