"""The tables in a PostgreSQL database, for workers on several machines (psycopg 3).

Writes are batched: an upsert COPYs the rows into a temporary table and merges them with one
`INSERT ... ON CONFLICT ... DO UPDATE`; a partition replace is DELETE + COPY + a uniqueness
check in one transaction. Each operation is one transaction, committed before it returns.

Faults. The first connection of a backend fails at once with a message naming the host, port,
database and user (never the password): a wrong URL must not look like a slow run. Once the
server has been reached, a lost connection (restart, failover, network blip) is retried for up
to `retry_seconds`, re-running the whole transaction: every operation is idempotent (an upsert
of the same rows, a replace of the same partition), and one that failed never committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import psycopg

from fal_platform.batch.table_spec import Column, TableSpec, quote
from fal_platform.store.address import PostgresAddress
from fal_platform.store.backend import (
    InformationSchema,
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
R = TypeVar("R")
logger = logging.getLogger("fal_platform.store")

RETRY_SECONDS = 120.0
"""How long a lost server is waited for before an operation fails (a restart takes seconds)."""
_PG_TYPES = {"DOUBLE": "DOUBLE PRECISION", "HUGEINT": "NUMERIC(38, 0)"}
"""DuckDB type names Postgres spells differently; the others (VARCHAR, INTEGER, BIGINT,
BOOLEAN, JSON, TIMESTAMPTZ) are the same in both."""
_DDL_LOCK = "fal_platform.ddl"
"""Advisory lock name: concurrent CREATE ... IF NOT EXISTS can still collide in Postgres."""


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be reached or refused the login; names where, never the password."""


def pg_type(column: Column) -> str:
    return _PG_TYPES.get(column.sql_type, column.sql_type)


def _decoders(spec: TableSpec[Any]) -> list[Callable[[Any], Any] | None]:
    """psycopg already returns aware datetimes (the session is in UTC) and parsed JSON; only
    NUMERIC (Decimal -> int) and enums need decoding."""
    decoders: list[Callable[[Any], Any] | None] = []
    for column in spec.columns:
        if column.sql_type == "HUGEINT":
            decoders.append(int)
        elif column.sql_type == "VARCHAR":
            decoders.append(column.decode)
        else:
            decoders.append(None)
    return decoders


class PostgresReader(InformationSchema):
    """`SqlReader` over one open connection (`$1` parameters through psycopg's RawCursor)."""

    dialect = "postgres"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, list(params) or None)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


class PostgresBackend(TableBackend):
    dialect = "postgres"

    def __init__(self, address: PostgresAddress, *, retry_seconds: float = RETRY_SECONDS) -> None:
        self.address = address
        self._retry_seconds = retry_seconds
        self._conn: psycopg.Connection[Any] | None = None
        self._hold = False
        self._reached = False
        self._ensured: set[str] = set()
        self._lock = threading.RLock()

    def describe(self) -> str:
        return f"PostgreSQL {self.address.describe()}"

    # --- connections ---------------------------------------------------------------------

    def keep_open(self, seconds: float) -> None:
        """Postgres has no file lock to hand over: any positive time keeps the connection."""
        self._hold = seconds > 0

    def release(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(psycopg.Error):
                conn.close()

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection, or DatabaseUnavailableError naming where (never the password)."""
        try:
            conn = psycopg.connect(
                **self.address.connect_kwargs(), cursor_factory=psycopg.RawCursor
            )
        except psycopg.Error as exc:
            raise self.unavailable(exc) from None
        self._reached = True
        return conn

    def unavailable(self, exc: BaseException) -> DatabaseUnavailableError:
        reason = " ".join(self.address.scrub(str(exc)).split())
        return DatabaseUnavailableError(
            f"cannot use PostgreSQL {self.address.describe()} (FAL_PLATFORM_DATABASE_URL): {reason}"
        )

    def _run(self, operation: Callable[[psycopg.Connection[Any]], R]) -> R:
        """`operation` in one transaction; a lost connection is retried (see module doc)."""
        deadline: float | None = None
        attempt = 0
        while True:
            try:
                return self._run_once(operation)
            except (psycopg.OperationalError, DatabaseUnavailableError) as exc:
                if not self._reached:
                    raise (
                        exc if isinstance(exc, DatabaseUnavailableError) else self.unavailable(exc)
                    ) from None
                deadline = deadline or time.monotonic() + self._retry_seconds
                if time.monotonic() > deadline:
                    raise self.unavailable(exc) from None
                attempt += 1
                logger.warning(
                    "lost PostgreSQL %s (%s); retrying (attempt %d)",
                    self.address.describe(),
                    type(exc).__name__,
                    attempt,
                )
                time.sleep(min(0.1 * 2**attempt, 2.0))

    def _run_once(self, operation: Callable[[psycopg.Connection[Any]], R]) -> R:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = self.connect()
            conn = self._conn
            try:
                with conn.transaction():
                    result = operation(conn)
            except psycopg.OperationalError:
                self._drop()
                raise
            finally:
                if not self._hold:
                    self._drop()
            return result

    @contextmanager
    def reader(self) -> Iterator[PostgresReader]:
        conn = self.connect()
        try:
            with conn.transaction():
                yield PostgresReader(conn)
        finally:
            conn.close()

    # --- tables --------------------------------------------------------------------------

    def _ready(self, conn: psycopg.Connection[Any], specs: Sequence[TableSpec[Any]]) -> None:
        missing = [spec for spec in specs if spec.name not in self._ensured]
        if not missing:
            return
        conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", [_DDL_LOCK])
        for spec in missing:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.schema}")
            conn.execute(spec.create_sql(spec.name, pg_type))
            if not spec.declare_key:  # the uniqueness check and partition deletes need it
                index = quote(f"{spec.name.split('.', 1)[1]}_key")
                columns = ", ".join(map(quote, spec.key))
                conn.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {spec.name} ({columns})")
        self._ensured.update(spec.name for spec in missing)

    def ensure(self, *specs: TableSpec[Any]) -> None:
        self._ensured.difference_update(spec.name for spec in specs)
        self._run(lambda conn: self._ready(conn, specs))

    def upsert(self, spec: TableSpec[T], rows: Sequence[T]) -> int:
        latest = latest_by_key(spec, rows)
        if not latest:
            return 0
        records = spec.to_records(latest)

        def write(conn: psycopg.Connection[Any]) -> None:
            self._ready(conn, [spec])
            stage = quote(f"_stage_{spec.name.replace('.', '_')}")
            conn.execute(f"CREATE TEMP TABLE {stage} (LIKE {spec.name}) ON COMMIT DROP")
            _copy(conn, stage, spec, records)
            conn.execute(upsert_sql(spec, spec.name, stage))

        self._run(write)
        return len(latest)

    def upsert_if(self, spec: TableSpec[T], row: T, condition: str, params: Sequence[Any]) -> bool:
        (record,) = spec.to_records([row])
        sql = upsert_if_sql(spec, spec.name, condition, len(record))

        def write(conn: psycopg.Connection[Any]) -> bool:
            self._ready(conn, [spec])
            return bool(PostgresReader(conn).rows(sql, [*record, *params]))

        return self._run(write)

    def load(self, spec: TableSpec[T], where: Where, order_by: Sequence[str]) -> list[T]:
        condition, params = where_sql(where)
        columns = ", ".join(column.quoted for column in spec.columns)
        order = ", ".join(map(quote, order_by)) or "1"
        sql = f"SELECT {columns} FROM {spec.name} WHERE {condition} ORDER BY {order}"

        def read(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            self._ready(conn, [spec])
            return PostgresReader(conn).rows(sql, params)

        return spec.from_records(self._run(read), _decoders(spec))

    def replace(self, spec: TableSpec[T], where: Where, rows: Sequence[T]) -> int:
        check_belongs(spec, where, rows)
        records = spec.to_records(rows)
        condition, params = where_sql(where)

        def write(conn: psycopg.Connection[Any]) -> None:
            self._ready(conn, [spec])
            conn.execute(f"DELETE FROM {spec.name} WHERE {condition}", params or None)
            _copy(conn, spec.name, spec, records)
            duplicate = PostgresReader(conn).rows(*duplicate_sql(spec, spec.name, where))
            if duplicate:
                raise duplicate_error(spec, duplicate[0])

        self._run(write)
        return len(rows)

    def delete_keys(
        self, spec: TableSpec[Any], where: Where, column: str, values: Sequence[Any]
    ) -> int:
        if not values:
            return 0
        condition, params = where_sql(where)
        sql = (
            f"DELETE FROM {spec.name} WHERE {condition} AND "
            f"{quote(column)} = ANY(${len(params) + 1})"
        )

        def delete(conn: psycopg.Connection[Any]) -> None:
            self._ready(conn, [spec])
            conn.execute(sql, [*params, list(values)])

        self._run(delete)
        return len(values)

    def count(
        self, spec: TableSpec[Any], where: Where, group_by: str | None = None
    ) -> dict[Any, int]:
        def count(conn: psycopg.Connection[Any]) -> dict[Any, int]:
            self._ready(conn, [spec])
            return one_per_group(PostgresReader(conn).rows(*count_sql(spec.name, where, group_by)))

        return self._run(count)


def _copy(
    conn: psycopg.Connection[Any],
    target: str,
    spec: TableSpec[Any],
    records: list[tuple[Any, ...]],
) -> None:
    if not records:
        return
    columns = ", ".join(map(quote, spec.column_names))
    with conn.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
        for record in records:
            copy.write_row(record)
