"""A DuckDB table declared by its row dataclass: DDL, Arrow schema and reads derived from it.

The dataclass is the one declaration of a table's columns: a field is a column, in field order,
and its type annotation gives the SQL type (`str` VARCHAR, `int` INTEGER, `float` DOUBLE, `bool`
BOOLEAN, `datetime` TIMESTAMPTZ, a dict or `Any` JSON, a `StrEnum` VARCHAR). A field whose
annotation does not allow None is NOT NULL. Where the default does not fit (BIGINT, HUGEINT, a
column the store always fills), the field says so with `metadata=sql_column(...)`.
"""

from __future__ import annotations

import gc
import json
import operator
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import Field, dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

import pyarrow as pa

T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ARROW_UTC = pa.timestamp("us", tz="UTC")
_ARROW_HUGEINT = pa.decimal128(38, 0)
HUGEINT_LIMIT = 10**38
"""Magnitude bound of values the HUGEINT columns' Arrow staging type (DECIMAL(38,0)) carries."""

_JSON_ENCODER = json.JSONEncoder(allow_nan=False)
_COLUMN_HINT = "sql_column"

_SQL_TYPES: dict[type, str] = {
    str: "VARCHAR",
    int: "INTEGER",
    float: "DOUBLE",
    bool: "BOOLEAN",
    datetime: "TIMESTAMPTZ",
    dict: "JSON",
    list: "JSON",
}
_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int64(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "JSON": pa.string(),
    "TIMESTAMPTZ": _ARROW_UTC,
    "HUGEINT": _ARROW_HUGEINT,
}


@dataclass(frozen=True)
class _ColumnHint:
    sql_type: str | None
    not_null: bool | None


def sql_column(sql_type: str | None = None, *, not_null: bool | None = None) -> dict[str, Any]:
    """Field metadata overriding the SQL type or nullability derived from the annotation."""
    return {_COLUMN_HINT: _ColumnHint(sql_type, not_null)}


def quote(identifier: str) -> str:
    """Quoted SQL identifier: some column names (`position`, `line`) are also SQL keywords."""
    return f'"{identifier}"'


@contextmanager
def _gc_paused(size: int) -> Iterator[None]:
    """Pause the cyclic GC while a large batch is converted.

    Converting 100,000 rows allocates millions of acyclic objects (dicts, strings, datetimes);
    the collector's repeated scans of them doubled conversion time. Nothing here creates cycles.
    """
    if size < 10_000 or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _json_encode(value: Any) -> str:
    return _JSON_ENCODER.encode(value)


def _timestamp_decode(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def epoch_micros(value: datetime) -> int:
    """A timestamp as the epoch microseconds reads take (`Column.select_sql`); the inverse of
    the timestamp columns' decoder, for stores that keep rows outside a database (the journal)."""
    return (value - _EPOCH) // timedelta(microseconds=1)


def _enum_encode(value: StrEnum) -> str:
    return value.value


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    not_null: bool = False
    encode: Callable[[Any], Any] | None = None
    """Python value -> value Arrow accepts for `arrow_type` (None: as is; never sees None)."""
    decode: Callable[[Any], Any] | None = None
    """Value fetched from DuckDB -> field value of the row (None: as is; never sees None)."""

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.sql_type]

    @property
    def quoted(self) -> str:
        return quote(self.name)

    @property
    def select_sql(self) -> str:
        # Timestamps are read as epoch microseconds so loading does not depend on the
        # connection's TimeZone setting or on pytz.
        if self.sql_type == "TIMESTAMPTZ":
            return f"epoch_us({self.quoted})"
        return self.quoted


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """(the type inside `X | None`, whether None is allowed)."""
    if annotation is Any:
        return Any, True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) != 1:
            raise TypeError(f"a column holds one type, not {annotation!r}")
        return members[0], True
    return annotation, False


def _column(row_field: Field[Any], annotation: Any) -> Column:
    inner, nullable = _unwrap_optional(annotation)
    hint: _ColumnHint = row_field.metadata.get(_COLUMN_HINT, _ColumnHint(None, None))
    not_null = (not nullable) if hint.not_null is None else hint.not_null
    base = typing.get_origin(inner) or inner
    if isinstance(base, type) and issubclass(base, StrEnum):
        return Column(row_field.name, "VARCHAR", not_null, _enum_encode, base)
    sql_type = hint.sql_type or ("JSON" if inner is Any else _SQL_TYPES[base])
    if sql_type == "JSON":
        return Column(row_field.name, sql_type, not_null, _json_encode, json.loads)
    if sql_type == "TIMESTAMPTZ":
        return Column(row_field.name, sql_type, not_null, None, _timestamp_decode)
    return Column(row_field.name, sql_type, not_null)


def _columns_of(row_type: type[Any]) -> tuple[Column, ...]:
    if not is_dataclass(row_type):
        raise TypeError(f"{row_type!r} is not a dataclass")
    annotations = typing.get_type_hints(row_type)
    return tuple(_column(each, annotations[each.name]) for each in fields(row_type))


@dataclass(frozen=True)
class TableSpec(Generic[T]):
    name: str
    """Qualified name, `schema.table`."""
    row_type: type[T]
    key: tuple[str, ...]
    """Identifies a row within the table; unique."""
    declare_key: bool = True
    """Declare `key` as PRIMARY KEY. The partition-replaced media tables check uniqueness on
    write instead: an ART index makes DuckDB's delete-then-insert of a partition ~10x slower."""
    accumulate: tuple[str, ...] = ()
    """Counting tables: an upsert of a key already there adds these columns up and keeps the
    row's other columns as first written (the webhook inbox's `deliveries`)."""
    columns: tuple[Column, ...] = field(init=False)
    """Derived from `row_type`'s fields, in their order."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", _columns_of(self.row_type))

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def qualified(self, database: str) -> str:
        """`"db".schema.table`: a database file named like a schema (`media.duckdb`) would
        otherwise make `media.files` ambiguous to DuckDB."""
        return f"{quote(database)}.{self.name}"

    def ddl(self, database: str, *, replace: bool = False) -> str:
        return self.create_sql(self.qualified(database), replace=replace)

    def create_sql(
        self,
        target: str,
        sql_type: Callable[[Column], str] = operator.attrgetter("sql_type"),
        *,
        replace: bool = False,
    ) -> str:
        """CREATE TABLE for `target`; `sql_type` spells a column's type in another dialect."""
        lines = [
            f"    {c.quoted} {sql_type(c)}{' NOT NULL' if c.not_null else ''}" for c in self.columns
        ]
        if self.declare_key:
            lines.append(f"    PRIMARY KEY ({', '.join(map(quote, self.key))})")
        body = ",\n".join(lines)
        create = "CREATE OR REPLACE TABLE" if replace else "CREATE TABLE IF NOT EXISTS"
        return f"{create} {target} (\n{body}\n)"

    def _encoded_columns(self, rows: Sequence[T]) -> Iterator[list[Any]]:
        """One Python list per column, in turn, values encoded (JSON text, enum value).

        Per-column lists (rather than a tuple per row) create no short-lived containers, which
        keeps the garbage collector out of large batches.
        """
        for column in self.columns:
            values = list(map(operator.attrgetter(column.name), rows))
            encode = column.encode
            if encode is not None:
                values = [None if value is None else encode(value) for value in values]
            yield values

    def to_arrow(self, rows: Sequence[T]) -> pa.Table:
        """Column by column: one Python list and one Arrow array per column."""
        with _gc_paused(len(rows)):
            arrays = [
                pa.array(values, type=column.arrow_type)
                for column, values in zip(self.columns, self._encoded_columns(rows), strict=True)
            ]
        return pa.Table.from_arrays(arrays, names=self.column_names)

    def to_records(self, rows: Sequence[T]) -> list[tuple[Any, ...]]:
        """One tuple per row, encoded as for Arrow, for drivers that take rows (Postgres COPY)."""
        with _gc_paused(len(rows)):
            return list(zip(*self._encoded_columns(rows), strict=True))

    def select_sql(self, database: str) -> str:
        columns = ", ".join(c.select_sql for c in self.columns)
        return f"SELECT {columns} FROM {self.qualified(database)}"

    def from_records(
        self,
        records: Sequence[tuple[Any, ...]],
        decoders: Sequence[Callable[[Any], Any] | None] | None = None,
    ) -> list[T]:
        """Rows from tuples fetched with `select_sql`, decoded column by column (`decoders`:
        one per column, for a driver that returns other types than DuckDB's)."""
        if not records:
            return []
        if decoders is None:
            decoders = [column.decode for column in self.columns]
        with _gc_paused(len(records)):
            columns = list(zip(*records, strict=True))
            for position, decode in enumerate(decoders):
                if decode is not None:
                    columns[position] = tuple(
                        None if value is None else decode(value) for value in columns[position]
                    )
            row_type = self.row_type
            return [row_type(*values) for values in zip(*columns, strict=True)]
