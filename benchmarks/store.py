"""Benchmark 4: writing batch results to DuckDB, our store path against a naive loop.

Rows look like a real image batch: COMPLETED request rows carrying a flux-style result with three
images, and the media rows `fal_platform.media.extract.media_rows` extracts from them (3 per request).

- Store path: `BatchStore.upsert_requests` (Arrow, one `INSERT ... SELECT ... ON CONFLICT`) and
  `BatchStore.replace_media` (Arrow, delete + insert of the partition), each as one call.
- Naive: `executemany` of a parameterized `INSERT` (`ON CONFLICT ... DO UPDATE` for requests, the
  same statement semantics as the store) on a fresh database with the same tables. It is
  measured on a subset (`naive_rows`) because it is slow; its rate is extrapolated linearly to
  the full row count, which flatters it if anything (DuckDB's per-statement cost does not fall
  as the table grows).

Both sides include turning the row dataclasses into what DuckDB takes (Arrow arrays for the
store, parameter tuples for the loop); building the rows themselves is not timed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.config import StoreConfig
from benchmarks.items import ENDPOINT_ID, item_input
from benchmarks.measure import Section, load_average
from fal_platform.batch.prompts import make_item_key
from fal_platform.batch.rows import MediaRow, RequestRow, RequestState
from fal_platform.batch.store import BatchStore
from fal_platform.batch.tables import MEDIA_FILES, REQUESTS, TableSpec, quote
from fal_platform.media.extract import media_rows

PROMPT_SET = "store_bench"
IMAGES_PER_REQUEST = 3


@dataclass(frozen=True)
class StoreRow:
    table: str
    rows: int
    store_seconds: float
    store_rows_per_second: float
    store_cpu_seconds: float
    naive_rows_measured: int
    naive_seconds: float
    naive_rows_per_second: float
    naive_extrapolated_seconds: float
    """Time the naive loop would take for `rows`, at its measured rate."""
    speedup: float
    load_average: float


@dataclass
class StoreResult:
    rows: list[StoreRow] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _result(index: int, request_id: str, base: str) -> dict[str, Any]:
    seed = 1_000_003 * index + 7
    return {
        "images": [
            {
                "url": f"{base}/media/{request_id}/{n}.png",
                "content_type": "image/png",
                "width": 1024,
                "height": 768,
                "file_size": 1_234_567 + n,
                "file_name": f"{n}.png",
            }
            for n in range(IMAGES_PER_REQUEST)
        ],
        "seed": seed,
        "has_nsfw_concepts": [False] * IMAGES_PER_REQUEST,
        "prompt": item_input("store", index)["prompt"],
        "timings": {"inference": 0.8123},
    }


def build_rows(count: int) -> tuple[list[RequestRow], list[MediaRow]]:
    """`count` COMPLETED request rows and the media rows extracted from their results."""
    base = "https://v3.fal.media/files"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    requests: list[RequestRow] = []
    for index in range(count):
        arguments = item_input("store", index)
        request_id = f"{index:08d}-0000-4000-8000-000000000000"
        queue = f"https://queue.fal.run/fal-ai/flux/requests/{request_id}"
        submitted = start + timedelta(seconds=index)
        requests.append(
            RequestRow(
                prompt_set=PROMPT_SET,
                item_key=make_item_key(ENDPOINT_ID, arguments, 0),
                item_index=index,
                line=index + 1,
                endpoint_id=ENDPOINT_ID,
                input=arguments,
                replica=0,
                request_id=request_id,
                status_url=queue + "/status",
                response_url=queue,
                cancel_url=queue + "/cancel",
                state=RequestState.COMPLETED,
                attempts=1,
                submitted_at=submitted,
                started_at=submitted + timedelta(seconds=0.2),
                completed_at=submitted + timedelta(seconds=1.1),
                queue_position_first=0,
                inference_seconds=0.8123,
                billable_units=1.0,
                result=_result(index, request_id, base),
            )
        )
    media = [row for request in requests for row in media_rows(request)]
    return requests, media


def _params(spec: TableSpec[Any], row: Any) -> tuple[Any, ...]:
    """One row as DuckDB parameters, the way a hand-written loop would encode it."""
    values = []
    for column in fields(row):
        value = getattr(row, column.name)
        if value is not None and spec is REQUESTS and column.name in ("input", "result"):
            value = json.dumps(value)
        elif isinstance(value, RequestState):
            value = value.value
        values.append(value)
    return tuple(values)


def _naive_sql(spec: TableSpec[Any], database: str) -> str:
    names = spec.column_names
    columns = ", ".join(map(quote, names))
    marks = ", ".join("?" for _ in names)
    sql = f"INSERT INTO {spec.qualified(database)} ({columns}) VALUES ({marks})"
    if spec is REQUESTS:
        updates = ", ".join(
            f"{quote(n)} = excluded.{quote(n)}" for n in names if n not in REQUESTS.key
        )
        sql += f" ON CONFLICT ({', '.join(map(quote, REQUESTS.key))}) DO UPDATE SET {updates}"
    return sql


def _naive(path: Path, spec: TableSpec[Any], rows: list[Any]) -> Section:
    BatchStore.at_path(path).ensure_schema()
    now = datetime.now(UTC)
    with duckdb.connect(str(path)) as conn:
        database = str(conn.execute("SELECT current_database()").fetchall()[0][0])
        sql = _naive_sql(spec, database)
        with Section() as section:
            params = []
            for row in rows:
                if isinstance(row, RequestRow):
                    row.updated_at = now
                params.append(_params(spec, row))
            conn.executemany(sql, params)
    return section


def _compare(
    table: str, total: int, store: Section, naive: Section, naive_rows: int, load: float
) -> StoreRow:
    store_rate = total / store.wall_seconds
    naive_rate = naive_rows / naive.wall_seconds
    return StoreRow(
        table=table,
        rows=total,
        store_seconds=round(store.wall_seconds, 3),
        store_rows_per_second=round(store_rate),
        store_cpu_seconds=round(store.cpu_seconds, 3),
        naive_rows_measured=naive_rows,
        naive_seconds=round(naive.wall_seconds, 3),
        naive_rows_per_second=round(naive_rate, 1),
        naive_extrapolated_seconds=round(total / naive_rate, 1),
        speedup=round(store_rate / naive_rate, 1),
        load_average=load,
    )


def run_store(config: StoreConfig, workdir: Path) -> StoreResult:
    directory = workdir / "store"
    directory.mkdir(parents=True, exist_ok=True)
    requests, media = build_rows(config.requests)
    media = media[: config.media]
    load = load_average()
    store = BatchStore.at_path(directory / "store.duckdb")
    store.ensure_schema()
    with Section() as store_requests:
        store.upsert_requests(requests)
    with Section() as store_media:
        store.replace_media(PROMPT_SET, media)
    subset = config.naive_rows
    naive_requests = _naive(directory / "naive_requests.duckdb", REQUESTS, requests[:subset])
    naive_media = _naive(directory / "naive_media.duckdb", MEDIA_FILES, media[:subset])
    return StoreResult(
        rows=[
            _compare(REQUESTS.name, len(requests), store_requests, naive_requests, subset, load),
            _compare(MEDIA_FILES.name, len(media), store_media, naive_media, subset, load),
        ]
    )
