"""A write-ahead journal of request rows beside a DuckDB store: durable in ~0.2 ms, not ~5 ms.

The engine must have an item's intent (UNKNOWN) on disk before it submits and fal's request id
(SUBMITTED) right after (DESIGN.md, state machine). On DuckDB each of those writes was an upsert
costing ~4-5 ms of CPU whatever its size, and at 16 items in flight they were a third of the
engine's CPU (benchmarks/README.md, "Engine CPU"). SQLite in WAL mode commits a small
transaction in ~0.2 ms with the same guarantee (`synchronous=FULL`: on disk when `append`
returns), so the engine's writer appends here and `BatchStore` moves the rows into
`generation.requests` in one upsert every few seconds, before the run reads that table, and
when the run ends.

A run that dies leaves its last rows here; the next run of the prompt set (the only one that
may drive it: `lease.py`) moves them into the table before it plans (`BatchStore.recover`), so
nothing a run made durable is lost. One file per DuckDB file (`StoreTarget.journal_path`), any
number of processes (SQLite locks; each prompt set has one writer). Postgres needs no journal:
its writes are cheap, and the next run of a prompt set may be on another machine.

Rows are stored as the table's own column encoding (`TableSpec.to_records`, timestamps as epoch
microseconds) in JSON, and read back with the table's decoders, so a row survives the journal
exactly as it survives DuckDB.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fal_platform.batch.rows import RequestRow
from fal_platform.batch.table_spec import epoch_micros
from fal_platform.batch.tables import REQUESTS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS request_journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_set TEXT NOT NULL,
    item_key TEXT NOT NULL,
    record TEXT NOT NULL
)
"""
_LATEST = """
SELECT seq, record FROM request_journal
WHERE seq IN (
    SELECT max(seq) FROM request_journal WHERE prompt_set = ? AND seq <= ? GROUP BY item_key
)
ORDER BY seq
"""
_INSERT = "INSERT INTO request_journal (prompt_set, item_key, record) VALUES "
ROWS_PER_INSERT = 300
"""Rows per INSERT statement (3 parameters each, under SQLite's oldest limit of 999). One
statement, not `executemany`: the sqlite3 module lets go of the GIL around every row's step, and
while the event loop is busy each step waited up to the 5 ms switch interval to get it back, so
a write of ~25 rows took 3-15 ms instead of ~1 (benchmarks/README.md section 7)."""
BUSY_TIMEOUT_SECONDS = 60.0
"""How long an append waits for another process's transaction on the same file."""


def _encoded(rows: Sequence[RequestRow]) -> list[str]:
    """Each row's column values (one `to_records` for the batch) as JSON."""
    return [
        json.dumps([_plain(value) for value in record], allow_nan=False)
        for record in REQUESTS.to_records(rows)
    ]


def _flat(records: Sequence[tuple[str, str, str]]) -> list[str]:
    return [value for record in records for value in record]


def _plain(value: Any) -> Any:
    """A column value as JSON carries it: timestamps as the epoch microseconds reads take."""
    return epoch_micros(value) if isinstance(value, datetime) else value


def _decode(records: Sequence[str]) -> list[RequestRow]:
    return REQUESTS.from_records([tuple(json.loads(record)) for record in records])


class RequestJournal:
    """The journal file at `path` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def append(self, rows: Sequence[RequestRow]) -> int:
        """Make `rows` durable; returns the sequence number of the last one."""
        records = [
            (row.prompt_set, row.item_key, record)
            for row, record in zip(rows, _encoded(rows), strict=True)
        ]
        with self._transaction() as db:
            for start in range(0, len(records), ROWS_PER_INSERT):
                part = records[start : start + ROWS_PER_INSERT]
                db.execute(_INSERT + ", ".join(["(?, ?, ?)"] * len(part)), _flat(part))
            return int(db.execute("SELECT last_insert_rowid()").fetchone()[0])

    def latest(self, prompt_set: str) -> tuple[list[RequestRow], int]:
        """The newest journaled row of each item of `prompt_set`, in the order they were
        written, and the sequence number up to which they were read (0: none)."""
        with self._transaction(write=False) as db:
            last = db.execute(
                "SELECT coalesce(max(seq), 0) FROM request_journal WHERE prompt_set = ?",
                (prompt_set,),
            ).fetchone()[0]
            found = db.execute(_LATEST, (prompt_set, last)).fetchall()
        return _decode([record for _, record in found]), int(last)

    def forget(self, prompt_set: str, through: int) -> None:
        """Drop `prompt_set`'s rows up to sequence number `through`: they are in the table."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM request_journal WHERE prompt_set = ? AND seq <= ?",
                (prompt_set, through),
            )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; a reading one takes no write lock (WAL: it never waits for one)."""
        with self._lock:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,  # used from worker threads, one at a time (the lock)
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(_SCHEMA)
            self._db = db
        return self._db
