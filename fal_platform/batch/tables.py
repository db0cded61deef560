"""The batch tables: columns, DDL, and conversion between row dataclasses and Arrow.

Each table is declared once as a list of columns; the DDL, the Arrow schema used for bulk
writes and the SELECT used for reads are all derived from it, so they cannot drift apart.
"""

from __future__ import annotations

import gc
import json
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import pyarrow as pa

from fal_platform.batch.rows import MediaRow, RequestRow, RequestState, TimingRow

RowT = TypeVar("RowT", RequestRow, MediaRow, TimingRow)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ARROW_UTC = pa.timestamp("us", tz="UTC")
_ARROW_HUGEINT = pa.decimal128(38, 0)
HUGEINT_LIMIT = 10**38
"""Magnitude bound of values the seed column's Arrow staging type (DECIMAL(38,0)) can carry."""

_JSON_ENCODER = json.JSONEncoder(allow_nan=False)


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


def quote(identifier: str) -> str:
    """Quoted SQL identifier: some column names (`position`, `line`) are also SQL keywords."""
    return f'"{identifier}"'


def _json_encode(value: Any) -> str:
    return _JSON_ENCODER.encode(value)


def _timestamp_decode(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _state_encode(value: RequestState) -> str:
    return value.value


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    arrow_type: pa.DataType
    not_null: bool = False
    encode: Callable[[Any], Any] | None = None
    """Python value -> value Arrow accepts for `arrow_type` (None: as is; never sees None)."""
    decode: Callable[[Any], Any] | None = None
    """Value fetched from DuckDB -> field value of the row (None: as is; never sees None)."""

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


_SIMPLE_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int64(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}


def _col(name: str, sql_type: str, *, not_null: bool = False) -> Column:
    if sql_type == "JSON":
        return Column(name, sql_type, pa.string(), not_null, _json_encode, json.loads)
    if sql_type == "TIMESTAMPTZ":
        return Column(name, sql_type, _ARROW_UTC, not_null, None, _timestamp_decode)
    if sql_type == "HUGEINT":
        return Column(name, sql_type, _ARROW_HUGEINT, not_null)
    return Column(name, sql_type, _SIMPLE_ARROW_TYPES[sql_type], not_null)


@dataclass(frozen=True)
class TableSpec(Generic[RowT]):
    name: str
    """Qualified name, `schema.table`."""
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    """Identifies a row within the table; unique."""
    row_type: type[RowT]
    declare_key: bool = True
    """Declare `key` as PRIMARY KEY. The partition-replaced media tables check uniqueness on
    write instead: an ART index makes DuckDB's delete-then-insert of a partition ~10x slower."""

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

    def ddl(self, database: str) -> str:
        lines = [
            f"    {c.quoted} {c.sql_type}{' NOT NULL' if c.not_null else ''}" for c in self.columns
        ]
        if self.declare_key:
            lines.append(f"    PRIMARY KEY ({', '.join(map(quote, self.key))})")
        body = ",\n".join(lines)
        return f"CREATE TABLE IF NOT EXISTS {self.qualified(database)} (\n{body}\n)"

    def to_arrow(self, rows: Sequence[RowT]) -> pa.Table:
        """Column by column: one Python list and one Arrow array per column.

        Per-column lists (rather than a tuple per row) create no short-lived containers, which
        keeps the garbage collector out of large batches.
        """
        arrays = []
        with _gc_paused(len(rows)):
            for column in self.columns:
                values = list(map(operator.attrgetter(column.name), rows))
                encode = column.encode
                if encode is not None:
                    values = [None if value is None else encode(value) for value in values]
                arrays.append(pa.array(values, type=column.arrow_type))
        return pa.Table.from_arrays(arrays, names=self.column_names)

    def select_sql(self, database: str) -> str:
        columns = ", ".join(c.select_sql for c in self.columns)
        return f"SELECT {columns} FROM {self.qualified(database)}"

    def from_records(self, records: Sequence[tuple[Any, ...]]) -> list[RowT]:
        """Rows from fetched tuples, decoded column by column."""
        if not records:
            return []
        with _gc_paused(len(records)):
            columns = list(zip(*records, strict=True))
            for position, column in enumerate(self.columns):
                decode = column.decode
                if decode is not None:
                    columns[position] = tuple(
                        None if value is None else decode(value) for value in columns[position]
                    )
            row_type = self.row_type
            return [row_type(*values) for values in zip(*columns, strict=True)]


REQUESTS: TableSpec[RequestRow] = TableSpec(
    name="generation.requests",
    columns=(
        _col("prompt_set", "VARCHAR", not_null=True),
        _col("item_key", "VARCHAR", not_null=True),
        _col("item_index", "INTEGER", not_null=True),
        _col("line", "INTEGER", not_null=True),
        _col("endpoint_id", "VARCHAR", not_null=True),
        _col("input", "JSON", not_null=True),
        _col("replica", "INTEGER", not_null=True),
        _col("request_id", "VARCHAR"),
        _col("status_url", "VARCHAR"),
        _col("response_url", "VARCHAR"),
        _col("cancel_url", "VARCHAR"),
        Column(
            "state",
            "VARCHAR",
            pa.string(),
            not_null=True,
            encode=_state_encode,
            decode=RequestState,
        ),
        _col("attempts", "INTEGER", not_null=True),
        _col("submitted_at", "TIMESTAMPTZ"),
        _col("started_at", "TIMESTAMPTZ"),
        _col("completed_at", "TIMESTAMPTZ"),
        _col("queue_position_first", "INTEGER"),
        _col("inference_seconds", "DOUBLE"),
        _col("billable_units", "DOUBLE"),
        _col("error_type", "VARCHAR"),
        _col("error_detail", "VARCHAR"),
        _col("result", "JSON"),
        _col("updated_at", "TIMESTAMPTZ", not_null=True),
    ),
    key=("prompt_set", "item_key"),
    row_type=RequestRow,
)

MEDIA_FILES: TableSpec[MediaRow] = TableSpec(
    name="media.files",
    columns=(
        _col("prompt_set", "VARCHAR", not_null=True),
        _col("request_id", "VARCHAR"),
        _col("endpoint_id", "VARCHAR", not_null=True),
        _col("item_key", "VARCHAR", not_null=True),
        _col("position", "INTEGER", not_null=True),
        _col("media_kind", "VARCHAR", not_null=True),
        _col("url", "VARCHAR", not_null=True),
        _col("content_type", "VARCHAR"),
        _col("width", "INTEGER"),
        _col("height", "INTEGER"),
        _col("duration_seconds", "DOUBLE"),
        _col("file_size", "BIGINT"),
        _col("file_name", "VARCHAR"),
        _col("seed", "HUGEINT"),
        _col("nsfw", "BOOLEAN"),
    ),
    key=("prompt_set", "item_key", "position"),
    row_type=MediaRow,
    declare_key=False,
)

MEDIA_TIMINGS: TableSpec[TimingRow] = TableSpec(
    name="media.timings",
    columns=(
        _col("prompt_set", "VARCHAR", not_null=True),
        _col("request_id", "VARCHAR"),
        _col("item_key", "VARCHAR", not_null=True),
        _col("endpoint_id", "VARCHAR", not_null=True),
        _col("queue_wait_seconds", "DOUBLE"),
        _col("inference_seconds_fal", "DOUBLE"),
        _col("inference_seconds_observed", "DOUBLE"),
        _col("total_seconds", "DOUBLE"),
        _col("attempts", "INTEGER", not_null=True),
    ),
    key=("prompt_set", "item_key"),
    row_type=TimingRow,
    declare_key=False,
)

ALL_TABLES: tuple[TableSpec[Any], ...] = (REQUESTS, MEDIA_FILES, MEDIA_TIMINGS)


def schema_statements(database: str) -> list[str]:
    """DDL for every batch table in the attached database `database` (idempotent)."""
    schemas = dict.fromkeys(table.schema for table in ALL_TABLES)
    return [f"CREATE SCHEMA IF NOT EXISTS {quote(database)}.{schema}" for schema in schemas] + [
        table.ddl(database) for table in ALL_TABLES
    ]


def _check_columns_match_rows() -> None:
    """Positional construction in `from_records` relies on columns in dataclass field order."""
    for table in ALL_TABLES:
        expected = [field.name for field in fields(table.row_type)]
        if table.column_names != expected:
            raise RuntimeError(f"{table.name} columns {table.column_names} != {expected}")


_check_columns_match_rows()
