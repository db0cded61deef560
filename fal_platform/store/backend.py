"""The one interface every platform table goes through, whichever database holds it.

A table is a row dataclass plus a `TableSpec` (`fal_platform/batch/table_spec.py`); the
operations are generic over it, so a table added later works on DuckDB and on Postgres
without code of its own:

- `upsert`: insert or update by the spec's key (tables that declare one), in one statement;
- `load`: the rows matching column = value filters, in a given order;
- `replace`: make `rows` the whole of the rows matching the filters, atomically, checking the
  key is unique among them (the partition-replaced tables declare no key, see `TableSpec`);
- `delete_keys`, `count`: the small rest.

Every operation is one transaction: it commits before it returns, which is what the engine's
write-ahead rule (a row on disk before the request it announces is sent) relies on. Raw SQL for
reports and checks goes through `reader()`, with `$1, $2...` parameters, which both DuckDB and
psycopg (`RawCursor`) accept; such SQL must stay portable (no DuckDB-only functions).
"""

from __future__ import annotations

import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fal_platform.batch.table_spec import TableSpec, quote

T = TypeVar("T")
Where = Mapping[str, Any]
"""Column filters, joined with AND; empty means the whole table. A plain value means equal; in
`load`, `OneOf` and `AtLeast` (below) mean IN and >=."""


class SqlReader(Protocol):
    """Raw, portable SQL on the platform's database (reports, checks, previews)."""

    dialect: str
    """`duckdb` or `postgres`."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def table_exists(self, schema: str, table: str) -> bool: ...

    def column_names(self, schema: str, table: str) -> frozenset[str]:
        """The table's columns in the current database (none when it does not exist)."""
        ...


class InformationSchema:
    """`table_exists` and `column_names` for a reader with `rows`: the standard catalog both
    dialects have."""

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def table_exists(self, schema: str, table: str) -> bool:
        found = self.rows(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = $1 AND table_name = $2",
            [schema, table],
        )
        return bool(found[0][0])

    def column_names(self, schema: str, table: str) -> frozenset[str]:
        found = self.rows(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = "
            "current_database() AND table_schema = $1 AND table_name = $2",
            [schema, table],
        )
        return frozenset(row[0] for row in found)


class TableBackend(ABC):
    """Generic table operations; `DuckDBBackend` and `PostgresBackend` implement them."""

    dialect: str
    journal_path: Path | None = None
    """Where the batch engine journals request rows before they reach this database
    (`fal_platform/batch/journal.py`); None: it writes them here directly."""

    @abstractmethod
    def describe(self) -> str:
        """Where the tables are, for messages (never a password)."""

    @abstractmethod
    def keep_open(self, seconds: float) -> None:
        """Reuse one connection across back-to-back calls for at most `seconds` (0: never)."""

    @abstractmethod
    def release(self) -> None:
        """Close a connection kept open by `keep_open`, if any."""

    _hold_depth = 0

    @contextmanager
    def holding(self, seconds: float) -> Iterator[None]:
        """`keep_open(seconds)` for the block, then close the connection; a block inside
        another (from the same thread) keeps the outer one's connection open."""
        self._hold_depth += 1
        if self._hold_depth == 1:
            self.keep_open(seconds)
        try:
            yield
        finally:
            self._hold_depth -= 1
            if self._hold_depth == 0:
                self.keep_open(0.0)
                self.release()

    @abstractmethod
    def ensure(self, *specs: TableSpec[Any]) -> None:
        """Create the tables and their schemas if missing (idempotent, concurrency-safe)."""

    @abstractmethod
    def upsert(self, spec: TableSpec[T], rows: Sequence[T]) -> int:
        """Insert or update by `spec.key` in one statement; a key given twice: the last wins."""

    @abstractmethod
    def upsert_if(self, spec: TableSpec[T], row: T, condition: str, params: Sequence[Any]) -> bool:
        """Insert `row`, or update the existing row with its key only where `condition` holds:
        SQL over `existing.<column>` and `excluded.<column>`, its parameters numbered from
        `$1` (they follow the row's). True when the row was written. Atomic on both backends:
        the basis of leases (`fal_platform/batch/lease.py`)."""

    @abstractmethod
    def load(self, spec: TableSpec[T], where: Where, order_by: Sequence[str]) -> list[T]: ...

    @abstractmethod
    def replace(self, spec: TableSpec[T], where: Where, rows: Sequence[T]) -> int: ...

    @abstractmethod
    def delete_keys(
        self, spec: TableSpec[Any], where: Where, column: str, values: Sequence[Any]
    ) -> int:
        """Delete the rows matching `where` whose `column` is one of `values`."""

    @abstractmethod
    def count(
        self, spec: TableSpec[Any], where: Where, group_by: str | None = None
    ) -> dict[Any, int]:
        """Rows matching `where`, per value of `group_by` (or `{None: n}` without it)."""

    @abstractmethod
    def reader(self) -> AbstractContextManager[SqlReader]: ...


# --- SQL both dialects share -------------------------------------------------------------


@dataclass(frozen=True)
class AtLeast:
    """A `Where` value for `load`: the column is at least this (rows received since a moment)."""

    value: Any


@dataclass(frozen=True)
class OneOf:
    """A `Where` value for `load`: the column is one of these (no values: no row)."""

    values: tuple[Any, ...]


def where_sql(where: Where, first: int = 1) -> tuple[str, list[Any]]:
    """`"a" = $1 AND "b" >= $2 AND "c" IN ($3, $4)` and its parameters (`TRUE` for no filter)."""
    terms: list[str] = []
    params: list[Any] = []
    for name, value in where.items():
        if isinstance(value, OneOf):
            marks = [f"${first + len(params) + i}" for i in range(len(value.values))]
            terms.append(f"{quote(name)} IN ({', '.join(marks)})" if marks else "FALSE")
            params.extend(value.values)
        elif isinstance(value, AtLeast):
            terms.append(f"{quote(name)} >= ${first + len(params)}")
            params.append(value.value)
        else:
            terms.append(f"{quote(name)} = ${first + len(params)}")
            params.append(value)
    return (" AND ".join(terms) or "TRUE"), params


def count_sql(target: str, where: Where, group_by: str | None) -> tuple[str, list[Any]]:
    condition, params = where_sql(where)
    if group_by is None:
        return f"SELECT NULL, count(*) FROM {target} WHERE {condition}", params
    column = quote(group_by)
    return (
        f"SELECT {column}, count(*) FROM {target} WHERE {condition} GROUP BY {column}",
        params,
    )


def upsert_sql(spec: TableSpec[Any], target: str, source: str) -> str:
    if not spec.declare_key:
        raise ValueError(f"{spec.name} declares no key to upsert by; use replace instead")
    names = spec.column_names
    columns = ", ".join(map(quote, names))
    if spec.accumulate:
        updates = ", ".join(
            f"{quote(name)} = existing.{quote(name)} + excluded.{quote(name)}"
            for name in spec.accumulate
        )
    else:
        updates = ", ".join(
            f"{quote(name)} = excluded.{quote(name)}" for name in names if name not in spec.key
        )
    conflict = ", ".join(map(quote, spec.key))
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {target} AS existing ({columns}) SELECT {columns} FROM {source} "
        f"ON CONFLICT ({conflict}) {action}"
    )


def upsert_if_sql(spec: TableSpec[Any], target: str, condition: str, shift: int) -> str:
    """`INSERT ... VALUES ($1..$n) ON CONFLICT DO UPDATE ... WHERE condition RETURNING`;
    the condition's `$k` parameters are renumbered to follow the row's `shift` values."""
    names = spec.column_names
    values = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    renumbered = re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + shift}", condition)
    updates = ", ".join(
        f"{quote(name)} = excluded.{quote(name)}" for name in names if name not in spec.key
    )
    return (
        f"INSERT INTO {target} AS existing ({', '.join(map(quote, names))}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(map(quote, spec.key))}) DO UPDATE SET {updates} "
        f"WHERE {renumbered} RETURNING 1"
    )


def duplicate_sql(spec: TableSpec[Any], target: str, where: Where) -> tuple[str, list[Any]]:
    """The first key that appears twice among the rows matching `where`, with its count."""
    key = ", ".join(map(quote, spec.key))
    condition, params = where_sql(where)
    return (
        f"SELECT {key}, count(*) FROM {target} WHERE {condition} "
        f"GROUP BY {key} HAVING count(*) > 1 LIMIT 1",
        params,
    )


def duplicate_error(spec: TableSpec[Any], found: Sequence[Any]) -> ValueError:
    *values, count = found
    shown = ", ".join(f"{name}={value!r}" for name, value in zip(spec.key, values, strict=True))
    return ValueError(f"duplicate {spec.name} key ({shown}) appears {count} times")


# --- rules on the rows themselves --------------------------------------------------------


def latest_by_key(spec: TableSpec[T], rows: Sequence[T]) -> list[T]:
    """One row per key, the last given; a statement may not update one row twice."""
    key_of = operator.attrgetter(*spec.key)
    return list({key_of(row): row for row in rows}.values())


def check_belongs(spec: TableSpec[Any], where: Where, rows: Sequence[Any]) -> None:
    """Refuse rows that the replace's filter would not select (they would escape it)."""
    for name, value in where.items():
        strangers = {getattr(row, name) for row in rows} - {value}
        if strangers:
            raise ValueError(
                f"replacing {spec.name} rows where {name}={value!r} with rows of "
                f"{sorted(strangers)!r}"
            )


def one_per_group(records: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]]) -> dict[Any, int]:
    return {group: int(count) for group, count in records}
