"""media.archive against real things: the emulator's files over loopback into a real folder,
a real DuckDB file, and processes that are SIGKILLed mid-download or run side by side."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from archive_support import image_row, sha256_of, stored_files, table_at, video_row

from fal_platform.batch.rows import MediaRow
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.media.archive import ArchiveSettings, archive_partition, plan, same_media_type
from fal_platform.media.archive_download import DownloadSettings, retry_after_seconds
from fal_platform.media.archive_root import PARTIAL_DIR, MediaRoot, MediaRootError
from fal_platform.media.archive_table import ArchiveRow, ArchiveStatus

WORKER = Path(__file__).resolve().parent / "archive_worker.py"
FAST = ArchiveSettings(download=DownloadSettings(max_concurrency=4, backoff_seconds=0.01))


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(models=5) as process:
        yield process


@pytest.fixture
def fresh(emu: EmulatorProcess) -> Iterator[EmulatorProcess]:
    """The shared emulator with its stats reset and, afterwards, its media options restored."""
    emu.reset_stats()
    yield emu
    emu.configure(media_expire_rate=0.0, fail_rate=0.0, drop_rate=0.0, fault_routes=None)


def media_requests(emu: EmulatorProcess) -> int:
    return int(emu.stats()["requests"]["media"])


def rows_for(emu: EmulatorProcess, prompt_set: str, images: int, videos: int) -> list[MediaRow]:
    return [image_row(emu.url, prompt_set, i) for i in range(images)] + [
        video_row(emu.url, prompt_set, i) for i in range(videos)
    ]


def assert_content_addressed(root: Path) -> list[Path]:
    """Every object under a final name hashes to its name; returns them."""
    files = stored_files(root)
    for path in files:
        assert path.stem == sha256_of(path), f"{path} does not hash to its name"
        assert path.parent.name == path.stem[:2]
    return files


def test_archives_into_a_folder_then_reruns_download_nothing(
    fresh: EmulatorProcess, tmp_path: Path
) -> None:
    rows = rows_for(fresh, "shots", images=12, videos=3)
    rows.append(rows[0])  # the same URL twice is archived once
    db, root = tmp_path / "db.duckdb", tmp_path / "media"
    report = archive_partition(rows, table_at(db), MediaRoot.open(str(root)), FAST)
    assert (report.downloaded, report.reused, report.count(ArchiveStatus.ARCHIVED)) == (15, 0, 15)
    for row in report.rows:
        served = httpx.get(row.url).content
        stored = Path(MediaRoot.open(str(root)).path_of(row.stored_uri or ""))
        assert row.sha256 == sha256_of(stored) and row.bytes == len(served) == stored.stat().st_size
        assert stored.read_bytes() == served
        assert row.stored_uri and row.stored_uri.startswith("file://") and row.error is None
    assert {r.content_type for r in report.rows} == {"image/png", "video/mp4"}
    assert len(assert_content_addressed(root)) == 15
    assert not list((root / PARTIAL_DIR).glob("*.part"))

    # fal deletes everything: a rerun asks for no file and loses nothing
    fresh.configure(media_expire_rate=1.0)
    before = media_requests(fresh)
    again = archive_partition(rows, table_at(db), MediaRoot.open(str(root)), FAST)
    assert media_requests(fresh) == before
    assert (again.downloaded, again.reused, again.count(ArchiveStatus.LOST)) == (0, 15, 0)
    assert table_at(db).load_partition("shots") == again.rows


def test_expired_files_are_lost_and_the_run_succeeds(
    fresh: EmulatorProcess, tmp_path: Path
) -> None:
    rows = rows_for(fresh, "late", images=20, videos=0)
    fresh.configure(media_expire_rate=0.5)  # at runtime: files already handed out expire
    db, root = tmp_path / "db.duckdb", MediaRoot.open(str(tmp_path / "media"))
    report = archive_partition(rows, table_at(db), root, FAST)
    lost = report.count(ArchiveStatus.LOST)
    assert 0 < lost < 20 and report.count(ArchiveStatus.ARCHIVED) == 20 - lost
    assert all(r.error and "404" in r.error for r in report.rows if r.status == ArchiveStatus.LOST)
    # lost files are not asked for again unless forced; then they are still gone
    before = media_requests(fresh)
    assert archive_partition(rows, table_at(db), root, FAST).count(ArchiveStatus.LOST) == lost
    assert media_requests(fresh) == before
    forced = ArchiveSettings(download=FAST.download, retry_lost=True)
    assert archive_partition(rows, table_at(db), root, forced).count(ArchiveStatus.LOST) == lost
    assert media_requests(fresh) == before + lost


def test_expiry_by_option(emulator_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    emu = emulator_factory(models=5, media_expire_rate=1.0)
    rows = rows_for(emu, "gone", images=3, videos=1)
    report = archive_partition(
        rows, table_at(tmp_path / "db.duckdb"), MediaRoot.open(str(tmp_path / "m")), FAST
    )
    assert report.count(ArchiveStatus.LOST) == 4 and not stored_files(tmp_path / "m")


def test_5xx_and_dropped_connections_are_retried(fresh: EmulatorProcess, tmp_path: Path) -> None:
    fresh.configure(fault_routes=["media"], fail_rate=0.3, drop_rate=0.2)
    rows = rows_for(fresh, "flaky", images=16, videos=2)
    settings = ArchiveSettings(download=DownloadSettings(max_attempts=12, backoff_seconds=0.01))
    report = archive_partition(
        rows, table_at(tmp_path / "db.duckdb"), MediaRoot.open(str(tmp_path / "m")), settings
    )
    faults = fresh.stats()["faults"]["media"]
    assert sum(faults.values()) > 0, faults
    assert report.count(ArchiveStatus.ARCHIVED) == 18, [r.error for r in report.rows]
    assert len(assert_content_addressed(tmp_path / "m")) == 18


def _worker(
    db: Path, root: Path, base: str, prompt_set: str, images: int, videos: int, seconds: int
) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        str(WORKER),
        str(db),
        str(root),
        base,
        prompt_set,
        str(images),
        str(videos),
        str(seconds),
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _a_download_has_bytes(partial: Path) -> bool:
    for part in partial.glob("*.part"):
        with contextlib.suppress(FileNotFoundError):  # finished and renamed since the glob
            if part.stat().st_size > 0:
                return True
    return False


def test_sigkill_mid_download_leaves_no_partial_file_under_a_final_name(
    fresh: EmulatorProcess, tmp_path: Path
) -> None:
    db, root = tmp_path / "db.duckdb", tmp_path / "media"
    worker = _worker(db, root, fresh.url, "big", 2, 4, 3)  # 4 videos of 6 MiB
    deadline = time.monotonic() + 120
    while not _a_download_has_bytes(root / PARTIAL_DIR):
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline, "no download started"
        time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert_content_addressed(root)  # whatever is under a final name is whole
    rows = [image_row(fresh.url, "big", i) for i in range(2)] + [
        video_row(fresh.url, "big", i, 3) for i in range(4)
    ]
    report = archive_partition(rows, table_at(db), MediaRoot.open(str(root)), FAST)
    assert report.count(ArchiveStatus.ARCHIVED) == 6
    assert sorted(r.url for r in table_at(db).load_partition("big")) == sorted(r.url for r in rows)
    assert len(assert_content_addressed(root)) == 6


def test_two_partitions_archive_at_once(fresh: EmulatorProcess, tmp_path: Path) -> None:
    db, root = tmp_path / "db.duckdb", tmp_path / "media"
    workers = [_worker(db, root, fresh.url, name, 20, 1, 2) for name in ("left", "right")]
    outcomes = [json.loads(w.communicate(timeout=180)[0]) for w in workers]
    assert [o["archived"] for o in outcomes] == [21, 21], [w.stderr for w in workers]
    assert {r.prompt_set for r in table_at(db).load_partition(None)} == {"left", "right"}
    # the two sets' images share colours and sizes: identical content is stored once
    distinct = {r.sha256 for r in table_at(db).load_partition(None)}
    assert len(assert_content_addressed(root)) == len(distinct) < 42


@pytest.mark.parametrize("root", ["", "   ", "s3:/bucket", "nope://somewhere/x", "s3://"])
def test_a_malformed_root_fails_naming_it(root: str) -> None:
    with pytest.raises(MediaRootError, match="media root"):
        MediaRoot.open(root).check_writable()


def test_an_unwritable_root_fails_before_any_download(
    fresh: EmulatorProcess, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    root = MediaRoot.open(str(blocker / "media"))
    with pytest.raises(MediaRootError, match=f"media root '{blocker / 'media'}' is not writable"):
        archive_partition(rows_for(fresh, "x", 2, 0), table_at(tmp_path / "db.duckdb"), root, FAST)
    assert media_requests(fresh) == 0


def test_plan_reuses_only_what_is_stored_with_the_right_size() -> None:
    def file(name: str) -> MediaRow:
        return MediaRow("p", "r", "e", name, 0, "image", f"https://x.example/{name}.png")

    def row(name: str, status: ArchiveStatus, size: int | None = 10) -> ArchiveRow:
        return ArchiveRow(
            f"https://x.example/{name}.png", "p", "r", status, "s", size, None, f"file:///{name}"
        )

    known = {
        r.url: r
        for r in [
            row("ok", ArchiveStatus.ARCHIVED),
            row("shrunk", ArchiveStatus.ARCHIVED),
            row("gone", ArchiveStatus.ARCHIVED),
            row("lost", ArchiveStatus.LOST, None),
            row("failed", ArchiveStatus.FAILED, None),
        ]
    }
    sizes = {"file:///ok": 10, "file:///shrunk": 9, "file:///gone": None}
    files = [file(n) for n in ("ok", "shrunk", "gone", "lost", "failed", "new")]
    files.append(MediaRow("p", "r", "e", "inline", 0, "image", "data:image/png;base64,AAAA"))
    fetch, kept = plan(files, known, sizes)
    assert [f.item_key for f in fetch] == ["shrunk", "gone", "failed", "new"]
    assert [k.url.rsplit("/", 1)[1] for k in kept] == ["ok.png", "lost.png"]
    fetch, _ = plan(files, known, sizes, retry_lost=True)
    assert "lost" in [f.item_key for f in fetch]


def test_content_types_and_retry_after() -> None:
    assert same_media_type("audio/wav", "audio/x-wav") and same_media_type(
        "image/jpg", "image/jpeg"
    )
    assert not same_media_type("image/png", "image/jpeg")
    assert same_media_type(None, "video/mp4")
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_a_size_other_than_fals_fails_the_file_and_stores_nothing(
    fresh: EmulatorProcess, tmp_path: Path
) -> None:
    good, wrong = rows_for(fresh, "sizes", images=2, videos=0)
    wrong = replace(wrong, file_size=(wrong.file_size or 0) + 1)
    report = archive_partition(
        [good, wrong], table_at(tmp_path / "db.duckdb"), MediaRoot.open(str(tmp_path / "m")), FAST
    )
    failed = [r for r in report.rows if r.status == ArchiveStatus.FAILED]
    assert [r.url for r in failed] == [wrong.url]
    assert "differs from fal's file_size" in (failed[0].error or "")
    assert len(assert_content_addressed(tmp_path / "m")) == 1
