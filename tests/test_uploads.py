"""`file:` inputs end to end: checked before submit, uploaded once per content through fal's
storage flows on a real emulator, remembered in a real DuckDB `generation.uploads`, and (in a
real Dagster run) the key kept out of rows, logs and metadata."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import pytest
from catalog_support import emulator_fal, isolate, materialize_catalog
from dagster_duckdb import DuckDBResource
from generation_support import FAST, fast_options, settings_for, write_jsonl

from assets.generation.assets import generation_requests
from fal_platform.batch.local_files import MAX_FILE_BYTES
from fal_platform.batch.prompts import PromptSetError
from fal_platform.batch.rows import RequestState
from fal_platform.batch.run import Catalog, PromptSetRun, run_prompt_set
from fal_platform.catalog.lookup import EndpointInfo
from fal_platform.client import ClientSettings, FalAuthenticationError, RetryPolicy
from fal_platform.client.storage import StorageClient
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.emulator.media import png_bytes
from fal_platform.paths import DataPaths
from fal_platform.store.target import StoreTarget
from resources.fal import FalResource
from resources.paths import PlatformPaths

VIDEO = "fal-ai/kling-video/v2/master/image-to-video"
KEY = "uploads-test-key-4f9c2e"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(models=40, **FAST) as process:
        yield process


@pytest.fixture
def fal(emu: EmulatorProcess) -> EmulatorProcess:
    emu.configure(fail_rate=0.0, fault_routes=None, storage_v3=True, require_key=False)
    emu.reset_stats()
    return emu


def _run(emu: EmulatorProcess, path: Path, db: Path, **client: Any) -> PromptSetRun:
    return run_prompt_set(
        path,
        settings=fast_options(),
        client_settings=settings_for(emu).with_changes(**client),
        tables=StoreTarget(db).backend(),
    )


def _one_photo_set(tmp_path: Path, name: str, colour: str) -> Path:
    """A prompt set of one image-to-video item whose image is a fresh local PNG."""
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes(4, 4, colour))
    return write_jsonl(folder / f"{name}.jsonl", _items([("x", "a.png")]))


def _completed(run: PromptSetRun) -> int:
    return run.report.counts.get(RequestState.COMPLETED, 0)


def _counts(emu: EmulatorProcess) -> tuple[int, int]:
    stats = emu.stats()
    return stats["uploads"], stats["accepted_submits"]


def _items(specs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"endpoint_id": VIDEO, "input": {"prompt": prompt, "image_url": f"file:{spec}"}}
        for prompt, spec in specs
    ]


def test_equal_bytes_under_two_names_are_replicas_of_one_input(
    fal: EmulatorProcess, tmp_path: Path
) -> None:
    # Keys come from the bytes: two names for equal bytes with the same prompt are one input
    # named twice, so the items are its replicas 0 and 1 (counted across the streamed set).
    (tmp_path / "a.png").write_bytes(png_bytes(8, 8, "ff0000"))
    (tmp_path / "b.png").write_bytes(png_bytes(8, 8, "ff0000"))
    specs = [("same", "a.png"), ("other", "a.png"), ("same", "b.png")]
    run = _run(fal, write_jsonl(tmp_path / "twins.jsonl", _items(specs)), tmp_path / "fal.duckdb")
    assert _completed(run) == 3
    assert [item.replica for item in run.prompt_set.items] == [0, 0, 1]
    assert len({item.item_key for item in run.prompt_set.items}) == 3


def test_each_content_is_uploaded_once_and_keys_follow_the_bytes(
    fal: EmulatorProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "prompts"
    (folder / "photos").mkdir(parents=True)
    red, blue = png_bytes(8, 8, "ff0000"), png_bytes(8, 8, "0000ff")
    (folder / "photos" / "red.png").write_bytes(red)
    (folder / "photos" / "blue.png").write_bytes(blue)
    (tmp_path / "red-copy.png").write_bytes(red)  # same bytes, another name, absolute path
    specs = [
        ("pan left", "photos/red.png"),
        ("pan right", "photos/red.png"),
        ("zoom", str(tmp_path / "red-copy.png")),
        ("orbit", "photos/blue.png"),
    ]
    path = write_jsonl(folder / "shots.jsonl", _items(specs))
    db = tmp_path / "fal.duckdb"

    first = _run(fal, path, db)
    assert _completed(first) == 4
    assert _counts(fal) == (2, 4)  # three items share the red bytes: one upload for them
    urls = {item.input["image_url"] for item in first.prompt_set.items}
    assert len(urls) == 2
    red_url = first.prompt_set.items[0].input["image_url"]
    fetched = httpx.get(red_url)
    assert fetched.content == red and fetched.headers["content-type"] == "image/png"

    fal.reset_stats()
    again = _run(fal, path, db)
    assert _counts(fal) == (0, 0)  # reused URLs, reused results
    assert again.report.reused == 4

    fal.reset_stats()
    (folder / "photos" / "blue.png").write_bytes(png_bytes(8, 8, "00ff00"))
    changed = _run(fal, path, db)
    assert _counts(fal) == (1, 1)  # only the changed file, only its item
    assert _completed(changed) == 4

    with duckdb.connect(str(db)) as conn:
        conn.execute("UPDATE generation.uploads SET expires_at = now() - INTERVAL 1 DAY")
    fal.reset_stats()
    expired = _run(fal, path, db)
    assert _counts(fal) == (2, 0)  # re-uploaded, but no item is new
    assert expired.report.reused == 4

    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "SELECT file_name, content_type, bytes, expires_at > uploaded_at "
            "FROM generation.uploads ORDER BY file_name, expires_at"
        ).fetchall()
    # the first blue stays (expired), the changed blue and red were uploaded again
    assert [row[:2] for row in rows] == [
        ("blue.png", "image/png"),
        ("blue.png", "image/png"),
        ("red.png", "image/png"),
    ]
    assert rows[2][2:] == (len(red), True)


def test_bad_files_are_reported_by_line_and_nothing_is_submitted(
    fal: EmulatorProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "prompts"
    (folder / "a-directory").mkdir(parents=True)
    huge = folder / "huge.png"
    with huge.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    unreadable = folder / "locked.png"
    unreadable.write_bytes(png_bytes(2, 2, "000000"))
    unreadable.chmod(0)
    # root reads anything; /proc/self/mem is a regular file whose first bytes never read
    locked = "/proc/self/mem" if os.geteuid() == 0 else "locked.png"
    specs = [
        ("missing", "nowhere/missing.png"),
        ("directory", "a-directory"),
        ("unreadable", locked),
        ("too big", "huge.png"),
    ]
    path = write_jsonl(folder / "bad.jsonl", _items(specs))
    with pytest.raises(PromptSetError) as error:
        _run(fal, path, tmp_path / "fal.duckdb")
    shown = [str(problem) for problem in error.value.problems]
    assert len(shown) == 4, shown
    assert shown[0].startswith(f"{path}:1: input.image_url: file not found: ")
    assert shown[1].startswith(f"{path}:2: input.image_url: ") and "is a directory" in shown[1]
    assert shown[2].startswith(f"{path}:3: input.image_url: cannot read ")
    assert shown[3].startswith(f"{path}:4: input.image_url: ") and "upload limit" in shown[3]
    assert _counts(fal) == (0, 0)
    assert fal.stats()["requests"]["storage_token"] == 0


def test_upload_5xx_is_retried_then_falls_back_to_initiate(
    fal: EmulatorProcess, tmp_path: Path
) -> None:
    path = _one_photo_set(tmp_path, "retry", "123456")
    fal.configure(fail_rate=1.0, fault_routes=["cdn_upload"])
    run = _run(fal, path, tmp_path / "fal.duckdb")
    stats = fal.stats()
    assert stats["requests"]["cdn_upload"] == 4  # settings_for: 4 attempts
    assert stats["uploads_by_flow"] == {"fal": 1}
    assert _completed(run) == 1
    assert httpx.get(run.prompt_set.items[0].input["image_url"]).status_code == 200


async def _video_catalog(tables: object, client: object, prompt_set: object) -> Catalog:
    """The catalog without asking the emulator, so the upload is the run's first request."""
    return Catalog({VIDEO: EndpointInfo(VIDEO, "image-to-video", "active")}, {})


def test_rejected_key_names_fal_key_and_submits_nothing(
    fal: EmulatorProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _one_photo_set(tmp_path, "auth", "abcdef")
    fal.configure(require_key=True, accepted_key="another-key")
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(FalAuthenticationError) as error:
            run_prompt_set(
                path,
                settings=fast_options(),
                client_settings=settings_for(fal).with_changes(api_key=KEY),
                tables=StoreTarget(tmp_path / "fal.duckdb").backend(),
                lookup=_video_catalog,
            )
    finally:
        fal.configure(require_key=False)
    assert (error.value.url or "").startswith(f"{fal.url}/rest/storage/")
    assert "FAL_KEY" in str(error.value) and KEY not in str(error.value)
    assert _counts(fal) == (0, 0)
    assert fal.stats()["requests"]["submit"] == 0
    assert KEY not in caplog.text


def test_the_key_reaches_no_row_log_or_metadata(
    fal: EmulatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Dagster asset with a key set (the emulator takes any): uploads rows, requests
    rows, the run's event log, Python logs and the materialization's metadata."""
    db = isolate(tmp_path, monkeypatch).duckdb
    materialize_catalog(emulator_fal(fal), db)
    path = _one_photo_set(tmp_path, "secret", "fedcba")
    resource = FalResource(
        api_key=KEY,
        api_url=f"{fal.url}/v1",
        queue_url=fal.url,
        run_url=f"{fal.url}/run",
        rest_url=f"{fal.url}/rest",
        cdn_url=f"{fal.url}/cdn",
        poll_interval=0.05,
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("prompt_sets", ["secret"])
    caplog.set_level(logging.DEBUG)
    result = dg.materialize(
        [generation_requests],
        partition_key="secret",
        instance=instance,
        resources={
            "fal": resource,
            "duckdb": DuckDBResource(database=str(db)),
            "paths": PlatformPaths.of(DataPaths.under(db.parent, path.parent)),
        },
    )
    assert _counts(fal) == (1, 1)
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute("SELECT * FROM generation.uploads").fetchall()
        rows += conn.execute("SELECT * FROM generation.requests").fetchall()
    events = instance.all_logs(result.run_id)
    metadata = result.asset_materializations_for_node("generation__requests")[0].metadata
    seen = repr(rows) + repr(events) + repr(metadata) + caplog.text
    assert "/cdn/files/" in seen and KEY not in seen


def test_storage_flows_multipart_and_lifecycle(fal: EmulatorProcess) -> None:
    data = os.urandom(50_000)

    async def main() -> tuple[str, str]:
        settings = ClientSettings.for_emulator(fal.url, retry=RetryPolicy(max_attempts=2))
        big = StorageClient(settings, multipart_threshold=20_000, part_size=16_000)
        async with aclosing(big):
            multipart = await big.upload(data, "application/octet-stream", "blob.bin")
        async with aclosing(StorageClient(settings)) as small:
            short = await small.upload(b"hello", "text/plain", "hi.txt", expires_in=1)
        return multipart, short

    multipart, short = asyncio.run(main())
    assert httpx.get(multipart).content == data
    assert fal.stats()["uploads_by_flow"] == {"multipart": 1, "fal_v3": 1}
    assert fal.stats()["requests"]["cdn_multipart"] == 6  # start, 4 parts, complete
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while httpx.get(short).status_code == 200 and datetime.now(UTC) < deadline:
        time.sleep(0.2)
    assert httpx.get(short).status_code == 404  # the lifecycle asked for 1 s
