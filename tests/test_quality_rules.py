"""The media-table rules catch what they claim to, on a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from fal_platform.batch.rows import MediaRow, RequestRow, RequestState, TimingRow
from fal_platform.batch.store import BatchStore
from fal_platform.media.quality import (
    completed_without_media,
    inconsistent_timings,
    is_well_formed_url,
    malformed_urls,
    unpriced_endpoints,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _request(key: str, endpoint: str) -> RequestRow:
    return RequestRow(
        prompt_set="set",
        item_key=key,
        item_index=0,
        line=1,
        endpoint_id=endpoint,
        input={"prompt": key},
        replica=0,
        request_id=f"req-{key}",
        state=RequestState.COMPLETED,
        attempts=1,
        submitted_at=T0,
        started_at=T0 + timedelta(seconds=1),
        completed_at=T0 + timedelta(seconds=3),
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "q.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA fal_catalog")
        conn.execute(
            "CREATE TABLE fal_catalog.models AS SELECT * FROM (VALUES "
            "('img/a', 'text-to-image'), ('stt/b', 'speech-to-text')) t(endpoint_id, category)"
        )
        conn.execute(
            "CREATE TABLE fal_catalog.pricing AS SELECT 'img/a' AS endpoint_id, "
            "0.01 AS unit_price, 'image' AS unit, 'USD' AS currency"
        )
    return path


def test_completed_image_request_without_media_is_flagged_but_speech_to_text_is_not(
    db: Path,
) -> None:
    store = BatchStore.at_path(db)
    store.upsert_requests([_request("k1", "img/a"), _request("k2", "stt/b")])
    with duckdb.connect(str(db)) as conn:
        outcome = completed_without_media(conn, "set")
    assert outcome.violations == 1 and "k1" in outcome.examples[0]
    store.replace_media(
        "set",
        [MediaRow("set", "req-k1", "img/a", "k1", 0, "image", "http://h/x.png")],
    )
    with duckdb.connect(str(db)) as conn:
        assert completed_without_media(conn, "set").passed


def test_malformed_urls_and_inconsistent_timings_are_flagged(db: Path) -> None:
    store = BatchStore.at_path(db)
    store.replace_media(
        "set",
        [
            MediaRow("set", "r1", "img/a", "k1", 0, "image", "https://v3.fal.media/files/x.png"),
            MediaRow("set", "r2", "img/a", "k2", 0, "image", "not a url"),
        ],
    )
    store.replace_timings(
        "set",
        [
            TimingRow("set", "r1", "k1", "img/a", 1.0, 2.0, 2.0, 3.0, 1),
            TimingRow("set", "r2", "k2", "img/a", 1.0, 5.0, 5.0, 3.0, 1),  # 1 + 5 > 3
            TimingRow("set", "r3", "k3", "img/a", -0.1, 1.0, 1.0, 1.0, 1),
        ],
    )
    with duckdb.connect(str(db)) as conn:
        urls = malformed_urls(conn, "set")
        timings = inconsistent_timings(conn, "set")
        assert inconsistent_timings(conn, "other").passed
    assert (urls.violations, urls.examples) == (1, ["not a url"])
    assert sorted(timings.examples) == ["r2", "r3"]


def test_url_rule() -> None:
    assert is_well_formed_url("https://v3.fal.media/files/a/b.png")
    assert is_well_formed_url("http://127.0.0.1:8787/media/x/0.png")
    assert is_well_formed_url("data:image/png;base64,iVBORw0KGgo=")
    assert not is_well_formed_url("ftp://host/file")
    assert not is_well_formed_url("/relative/path.png")


def test_unpriced_endpoints(db: Path) -> None:
    with duckdb.connect(str(db)) as conn:
        outcome = unpriced_endpoints(conn, {"img/a", "stt/b"})
    assert outcome.examples == ["stt/b"]
