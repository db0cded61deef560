"""Regenerate the screenshots in docs/ from a live Dagster UI.

    make browser && uv run python scripts/screenshots.py [--out docs]

The same path as the browser test (tests/test_ui_browser.py): `tests/support/dagster_stack.py`
starts an emulator and `dagster dev` with a scratch Dagster home, data and prompts directory
under `.screenshots/run/` (git-ignored; the developer's `.dagster_home` and `data/` are not
touched) and materializes the catalog and the `product-shots` partition; here also
`media/timings` and the endpoint report, so every asset in the graph is green. Then
`tests/browser/capture.cjs` photographs the pages in Debian's chromium:
asset-graph.png, requests-materialization.png (+ -preview.png when the preview is a dialog)
and media-materialization.png. Exits non-zero if a page failed or logged an error.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from fal_platform.devstack.dagster_home import find_repo_root
from tests.support.dagster_stack import (
    MEDIA_ARCHIVE,
    MEDIA_FILES,
    MEDIA_TIMINGS,
    REQUESTS,
    live_ui,
    materialize_prompt_set,
)
from tests.support.ui_browser import (
    CHROMIUM,
    BrowserToolsMissingError,
    capture,
    check_browser_tools,
)

PROMPT_SET = "product-shots"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--chromium", type=Path, default=CHROMIUM)
    parser.add_argument("--out", type=Path, default=None, help="output directory [docs/]")
    args = parser.parse_args(argv)

    root = find_repo_root()
    try:
        check_browser_tools(args.chromium)
    except BrowserToolsMissingError as error:
        print(error, file=sys.stderr)
        return 2
    out = (args.out or root / "docs").resolve()
    scratch = root / ".screenshots" / "run"
    shutil.rmtree(scratch, ignore_errors=True)  # the same state on every regeneration
    with live_ui(scratch, repo_root=root, emulator_models=60) as live:
        partition = materialize_prompt_set(
            live,
            root / "prompts" / f"{PROMPT_SET}.jsonl",
            [REQUESTS, MEDIA_FILES, MEDIA_TIMINGS, MEDIA_ARCHIVE],
            report=True,
        )
        report = capture(live.ui.base_url, partition, out_dir=out, chromium=args.chromium)
    problems = 0
    for page in report.pages:
        for path in page.screenshots:
            print(f"[screenshots] wrote {path}")
        for problem in ([page.failure] if page.failure else []) + [
            e.text for e in page.consoleErrors
        ]:
            print(f"[screenshots] {page.name}: {problem}", file=sys.stderr)
            problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
