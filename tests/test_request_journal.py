"""The request journal beside a DuckDB store (`fal_platform/batch/journal.py`): rows are durable
when `journal_requests` returns, reach `generation.requests` when settled, and a process killed
before settling loses nothing: the next driver of the prompt set recovers them."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from dataclasses import asdict, replace
from pathlib import Path

from test_store import full_row, pending_row

from fal_platform.batch.duckdb_io import duckdb_connection_factory
from fal_platform.batch.journal import RequestJournal
from fal_platform.batch.rows import RequestRow, RequestState
from fal_platform.batch.store import BatchStore
from fal_platform.batch.tables import REQUESTS
from fal_platform.store.target import StoreTarget

S = RequestState


def without_stamp(row: RequestRow) -> dict[str, object]:
    fields = asdict(row)
    fields.pop("updated_at")
    return fields


def submitted(row: RequestRow, n: int) -> RequestRow:
    return replace(row, state=S.SUBMITTED, request_id=f"req-{n}", attempts=1)


def test_a_journaled_row_reads_back_exactly(tmp_path: Path) -> None:
    journal = RequestJournal(tmp_path / "j.sqlite")
    rows = [full_row("shots", 0), pending_row("shots", 1)]
    last = journal.append(rows)
    again, through = journal.latest("shots")
    assert through == last
    assert [without_stamp(row) for row in again] == [without_stamp(row) for row in rows]
    assert again[0].submitted_at == rows[0].submitted_at  # same instant, offset aside


def test_latest_row_per_item_wins_and_forget_is_per_prompt_set(tmp_path: Path) -> None:
    journal = RequestJournal(tmp_path / "j.sqlite")
    first = pending_row("a", 0)
    journal.append([first, pending_row("b", 0)])
    through = journal.append([submitted(first, 0)])
    rows, read_through = journal.latest("a")
    assert read_through == through
    assert [(row.item_key, row.state) for row in rows] == [(first.item_key, S.SUBMITTED)]
    journal.forget("a", through)
    assert journal.latest("a") == ([], 0)
    assert [row.state for row in journal.latest("b")[0]] == [S.PENDING]


def test_settle_moves_journaled_rows_into_the_table(tmp_path: Path) -> None:
    store = BatchStore(StoreTarget(tmp_path / "fal.duckdb").backend())
    rows = [pending_row("shots", i) for i in range(3)]
    store.upsert_requests(rows)
    store.journal_requests([submitted(row, i) for i, row in enumerate(rows)])
    journal = RequestJournal(StoreTarget(tmp_path / "fal.duckdb").journal_path or Path())
    assert len(journal.latest("shots")[0]) == 3  # durable before it is in the table
    assert store.count_by_state("shots") == {S.SUBMITTED: 3}  # a read settles first
    assert journal.latest("shots") == ([], 0)


_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from dataclasses import replace
    sys.path.insert(0, {tests!r})
    from test_store import pending_row
    from fal_platform.batch.rows import RequestState
    from fal_platform.batch.store import BatchStore
    from fal_platform.store.target import StoreTarget

    store = BatchStore(StoreTarget({db!r}).backend())
    rows = [pending_row("shots", i) for i in range(5)]
    store.upsert_requests(rows)
    store.journal_requests(
        [replace(r, state=RequestState.SUBMITTED, request_id=f"req-{{i}}") for i, r in enumerate(rows)]
    )
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_rows_of_a_killed_process_are_recovered_by_the_next_run(tmp_path: Path) -> None:
    db = tmp_path / "fal.duckdb"
    script = _KILLED_WRITER.format(tests=str(Path(__file__).parent), db=str(db))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr

    store = BatchStore(StoreTarget(db).backend())
    # The table still says PENDING: the request ids exist only in the journal.
    assert store.count_by_state("shots") == {S.PENDING: 5}
    assert store.recover("other") == 0
    assert store.recover("shots") == 5
    recovered = store.load_requests("shots")
    assert [(row.state, row.request_id) for row in recovered] == [
        (S.SUBMITTED, f"req-{i}") for i in range(5)
    ]
    assert store.recover("shots") == 0  # recovered once, then forgotten


def test_a_store_without_a_journal_writes_the_table_at_once(tmp_path: Path) -> None:
    # A bare connection factory (tests, scripts) has no journal; StoreTarget's backend has one.
    assert BatchStore.at_path(tmp_path / "fal.duckdb").tables.journal_path is not None
    plain = BatchStore(duckdb_connection_factory(tmp_path / "x.duckdb"))
    plain.journal_requests([pending_row("shots", 0)])
    assert plain.tables.load(REQUESTS, {"prompt_set": "shots"}, ())[0].state is S.PENDING
    assert list(tmp_path.glob("*.sqlite")) == []
