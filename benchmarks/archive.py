"""Media archive throughput and memory: files/s, MiB/s and peak RSS, to a folder and to S3.

`python -m benchmarks.archive [--images 1000] [--videos 20] [--video-mib 20] [--out DIR]`
(see benchmarks/README.md).

One emulator serves the files over loopback. Each case archives one prompt set in a fresh
worker process (`--worker`), so its peak RSS (VmHWM) is its own: 1,000 images, then 20 videos
of 20 MiB, then the same 20 videos at a tenth of the size. Peak RSS that does not grow with the
video size shows that downloads stream. Every case runs against a local folder and against
moto's S3-compatible server on loopback (s3fs, credentials from the AWS variables).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.measure import Section, own_peak_rss_mb
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.media.archive import ArchiveSettings, archive_partition
from fal_platform.media.archive_download import DownloadSettings
from fal_platform.media.archive_root import MediaRoot
from fal_platform.media.archive_table import ArchiveStatus
from tests.archive_support import aws_environment, image_row, moto_server, table_at, video_row

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results"
MIB = 1024 * 1024
VIDEO_SECONDS = 5
CONCURRENCY = 8


@dataclass(frozen=True)
class CaseResult:
    target: str
    case: str
    files: int
    mib: float
    seconds: float
    files_per_second: float
    mib_per_second: float
    peak_rss_mb: float
    archived: int


def _worker(argv: list[str]) -> None:
    """Archive one case in this process and print its figures as JSON."""
    base, root, db, case, count, video_mib = argv
    if case == "images":
        rows = [image_row(base, case, i, side=512) for i in range(int(count))]
    else:
        bps = int(float(video_mib) * MIB) // VIDEO_SECONDS
        rows = [video_row(base, case, i, VIDEO_SECONDS, bps) for i in range(int(count))]
    media_root = MediaRoot.open(root)
    if not media_root.is_local:
        media_root.fs.mkdir(root.removeprefix("s3://").split("/", 1)[0])
    settings = ArchiveSettings(download=DownloadSettings(max_concurrency=CONCURRENCY))
    with Section() as section:
        report = archive_partition(rows, table_at(Path(db)), media_root, settings)
    print(
        json.dumps(
            {
                "files": len(rows),
                "bytes": report.bytes_downloaded,
                "seconds": section.wall_seconds,
                "peak_rss_mb": own_peak_rss_mb(),
                "archived": report.count(ArchiveStatus.ARCHIVED),
            }
        )
    )


def _run_case(
    emulator: EmulatorProcess, target: str, root: str, work: Path, case: str, count: int, mib: float
) -> CaseResult:
    db = work / f"{target}-{case}.duckdb"
    argv = [sys.executable, "-m", "benchmarks.archive", "--worker", emulator.url, root, str(db)]
    argv += [case, str(count), str(mib)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError(f"{target}/{case} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    seconds = max(figures["seconds"], 1e-9)
    return CaseResult(
        target=target,
        case=case,
        files=figures["files"],
        mib=round(figures["bytes"] / MIB, 1),
        seconds=round(seconds, 2),
        files_per_second=round(figures["files"] / seconds, 1),
        mib_per_second=round(figures["bytes"] / MIB / seconds, 1),
        peak_rss_mb=round(figures["peak_rss_mb"], 1),
        archived=figures["archived"],
    )


def run(images: int, videos: int, video_mib: float, work: Path) -> list[CaseResult]:
    cases = [
        ("images", images, 0.0),
        (f"videos-{video_mib:g}MiB", videos, video_mib),
        (f"videos-{video_mib / 10:g}MiB", videos, video_mib / 10),
    ]
    results: list[CaseResult] = []
    with EmulatorProcess(models=5) as emulator:
        for case, count, mib in cases:
            root = str(work / "folder" / case)
            results.append(_run_case(emulator, "folder", root, work, case, count, mib))
        with moto_server() as endpoint:
            os.environ.update(aws_environment(endpoint, "benchmark-secret"))
            for case, count, mib in cases:
                root = f"s3://bench-{case.lower().replace('.', '-')}/archive"
                results.append(_run_case(emulator, "s3", root, work, case, count, mib))
    return results


def markdown(results: list[CaseResult]) -> str:
    lines = [
        "| target | case | files | MiB | s | files/s | MiB/s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.target} | {r.case} | {r.archived}/{r.files} | {r.mib} | {r.seconds} "
            f"| {r.files_per_second} | {r.mib_per_second} | {r.peak_rss_mb} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        _worker(args[1:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.archive")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--video-mib", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    options = parser.parse_args(args)
    with tempfile.TemporaryDirectory(prefix="fal-archive-bench-") as work:
        results = run(options.images, options.videos, options.video_mib, Path(work))
    table = markdown(results)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "archive.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    (options.out / "archive.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
