"""Archive one prompt set in its own process (for tests that kill it or run two at once).

    python tests/archive_worker.py DB ROOT BASE_URL PROMPT_SET IMAGES VIDEOS VIDEO_SECONDS

Prints the report's counts as JSON on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive_support import image_row, table_at, video_row

from fal_platform.media.archive import ArchiveSettings, archive_partition
from fal_platform.media.archive_download import DownloadSettings
from fal_platform.media.archive_root import MediaRoot
from fal_platform.media.archive_table import ArchiveStatus


def main(argv: list[str]) -> None:
    db, root, base, prompt_set, images, videos, seconds = argv
    rows = [image_row(base, prompt_set, i) for i in range(int(images))]
    rows += [video_row(base, prompt_set, i, int(seconds)) for i in range(int(videos))]
    settings = ArchiveSettings(download=DownloadSettings(max_concurrency=2, chunk_bytes=64 * 1024))
    report = archive_partition(rows, table_at(Path(db)), MediaRoot.open(root), settings)
    counts = {status.value: report.count(status) for status in ArchiveStatus}
    print(json.dumps({**counts, "downloaded": report.downloaded, "reused": report.reused}))


if __name__ == "__main__":
    main(sys.argv[1:])
