"""Opening DuckDB files safely from several processes, and bulk-loading Arrow tables.

DuckDB lets one process at a time open a file read-write; a second one fails at once with
"Could not set lock on file". `connect_duckdb` makes writers queue instead: a `filelock` lock
file beside the database serializes processes that use it, and a retry with backoff covers
processes that do not (Dagster's `DuckDBResource`, a notebook, the UI). Connections are meant
to be short-lived: open, write a batch, close.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
from filelock import FileLock

from fal_platform.batch.retrying import exponential, retry_sync

ConnectionFactory = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
"""Anything that opens a connection for one `with` block; `DuckDBResource.get_connection` fits."""

DEFAULT_LOCK_TIMEOUT = 600.0
_LOCK_ERROR_MARKERS = ("could not set lock", "conflicting lock", "being used by another process")

# One FileLock object per database file and process, re-entrant across the process's threads
# (`thread_local=False`): it keeps *other processes* out, while threads of this one share the
# file through DuckDB's own in-process locking. A connection the batch store holds may be
# opened in one worker thread and closed in another; a thread-local lock would never be
# released then.
_locks: dict[str, FileLock] = {}
_locks_guard = threading.Lock()


def _file_lock(path: Path) -> FileLock:
    lock_path = f"{path}.lock"
    with _locks_guard:
        lock = _locks.get(lock_path)
        if lock is None:
            lock = _locks[lock_path] = FileLock(lock_path, thread_local=False)
        return lock


def is_lock_error(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException) and any(
        marker in str(error).lower() for marker in _LOCK_ERROR_MARKERS
    )


@contextmanager
def connect_duckdb(
    path: Path | str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the DuckDB file at `path`, held for one `with` block.

    Creates the parent directory. Waits up to `timeout` seconds for other writers (the lock file
    `<path>.lock`, then DuckDB's own file lock) instead of failing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with _file_lock(path).acquire(timeout=timeout):
        conn = _connect_with_retry(path, deadline)
        try:
            yield conn
        finally:
            conn.close()


def _connect_with_retry(path: Path, deadline: float) -> duckdb.DuckDBPyConnection:
    return retry_sync(
        lambda: duckdb.connect(str(path)),
        delay=exponential(0.05, cap=2.0, jitter=True),
        retry_if=lambda exc: isinstance(exc, duckdb.IOException) and is_lock_error(exc),
        deadline=deadline,
    )


def duckdb_connection_factory(
    path: Path | str, *, timeout: float = DEFAULT_LOCK_TIMEOUT
) -> ConnectionFactory:
    """A `ConnectionFactory` over `connect_duckdb`, for the CLI, scripts and tests."""
    return partial(connect_duckdb, path, timeout=timeout)


@contextmanager
def staged(conn: duckdb.DuckDBPyConnection, table: pa.Table) -> Iterator[str]:
    """Expose an Arrow table to SQL under a unique name for one block (zero-copy).

    One `INSERT ... SELECT FROM <name>` then loads a whole batch in a single vectorized
    statement, which is what makes large writes fast compared with row-by-row parameters.
    """
    name = f"_staged_{uuid.uuid4().hex}"
    conn.register(name, table)
    try:
        yield name
    finally:
        conn.unregister(name)
