"""media.archive on other stores: a real S3-compatible server (moto's standalone server,
started here on loopback; s3fs talks to it as to S3) and a real, tiny tmpfs that fills up."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from archive_support import (
    aws_environment,
    image_row,
    moto_server,
    stored_files,
    table_at,
    video_row,
)

from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.media.archive import ArchiveSettings, archive_partition
from fal_platform.media.archive_download import DownloadSettings
from fal_platform.media.archive_root import PARTIAL_DIR, MediaRoot
from fal_platform.media.archive_table import ArchiveStatus

SECRET = "moto-secret-never-shown"
FAST = ArchiveSettings(download=DownloadSettings(max_concurrency=4, backoff_seconds=0.01))


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(models=5) as process:
        yield process


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, with the AWS variables pointing at it."""
    with moto_server() as url, pytest.MonkeyPatch.context() as env:
        for name, value in aws_environment(url, SECRET).items():
            env.setenv(name, value)
        yield url


def test_archives_into_s3_then_reruns_download_nothing(
    emu: EmulatorProcess, s3_endpoint: str, tmp_path: Path
) -> None:
    root = MediaRoot.open("s3://fal-media/archive")
    root.fs.mkdir("fal-media")
    rows = [image_row(emu.url, "s3", i) for i in range(5)] + [video_row(emu.url, "s3", 0)]
    db = tmp_path / "db.duckdb"
    report = archive_partition(rows, table_at(db), root, FAST)
    assert report.count(ArchiveStatus.ARCHIVED) == 6, [r.error for r in report.rows]
    for row in report.rows:
        assert row.stored_uri and row.stored_uri.startswith("s3://fal-media/archive/")
        stored = root.fs.cat_file(root.path_of(row.stored_uri))
        assert hashlib.sha256(stored).hexdigest() == row.sha256
        assert stored == httpx.get(row.url).content
        assert SECRET not in repr(row)
    assert not root.fs.exists(f"fal-media/archive/{PARTIAL_DIR}/probe")

    emu.configure(media_expire_rate=1.0)
    try:
        emu.reset_stats()
        again = archive_partition(
            rows, table_at(db), MediaRoot.open("s3://fal-media/archive"), FAST
        )
        assert emu.stats()["requests"]["media"] == 0
        assert (again.reused, again.count(ArchiveStatus.LOST)) == (6, 0)
    finally:
        emu.configure(media_expire_rate=0.0)


def test_a_missing_bucket_fails_naming_the_root(s3_endpoint: str) -> None:
    with pytest.raises(
        ValueError, match="media root 's3://no-such-bucket/x' is not writable"
    ) as error:
        MediaRoot.open("s3://no-such-bucket/x").check_writable()
    assert SECRET not in str(error.value)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root can mount one here; elsewhere the test is skipped)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_fails_the_file_and_the_rerun_completes_it(
    emu: EmulatorProcess, tiny_disk: Path, tmp_path: Path
) -> None:
    rows = [image_row(emu.url, "full", i) for i in range(3)] + [video_row(emu.url, "full", 0)]
    root, db = tiny_disk / "media", tmp_path / "db.duckdb"
    report = archive_partition(rows, table_at(db), MediaRoot.open(str(root)), FAST)
    (video,) = [r for r in report.rows if r.status == ArchiveStatus.FAILED]
    assert video.url == rows[-1].url and "No space left" in (video.error or "")
    assert report.count(ArchiveStatus.ARCHIVED) == 3
    assert len(stored_files(root)) == 3 and not list((root / PARTIAL_DIR).glob("*.part"))

    subprocess.run(["mount", "-o", "remount,size=16m", str(tiny_disk)], check=True)
    again = archive_partition(rows, table_at(db), MediaRoot.open(str(root)), FAST)
    assert (again.downloaded, again.reused, again.count(ArchiveStatus.ARCHIVED)) == (1, 3, 4)
    assert len(stored_files(root)) == 4
