"""The Dagster UI as a user sees it: headless Chromium on a real `dagster dev` (issue 10).

One prompt set is materialized against the emulator (catalog, then `generation/requests`,
`media/files` and `media/archive` for its partition), the emulator is stopped (as fal's URLs
die after their retention, issue 13), then tests/browser/capture.cjs opens the asset graph and
the three materializations' metadata in Debian's chromium and reports what it rendered. The previews must
show real pictures (naturalWidth > 0) that fit a 1600 x 1000 window, and no page may log an
error. Needs `make browser` (part of `make test`). The pictures land in the test's tmp dir;
scripts/screenshots.py runs the same capture into docs/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.dagster_stack import (
    MEDIA_ARCHIVE,
    MEDIA_FILES,
    REQUESTS,
    live_ui,
    materialize_prompt_set,
)
from support.ui_browser import CaptureReport, PageReport, RenderedImage, capture

from fal_platform.devstack.dagster_home import find_repo_root

# Generous: dagster dev's start, two runs and three pages took 6 minutes on two cores at a load
# average of 11 (each run 1.5 minutes); a safety net, not a speed requirement.
pytestmark = [pytest.mark.ui, pytest.mark.timeout(900)]

REPO_ROOT = find_repo_root(Path(__file__).resolve().parents[1])
PROMPT_FILE = REPO_ROOT / "prompts" / "product-shots.jsonl"
PREVIEW_PAGES = ("requests-materialization", "media-materialization", "archive-materialization")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> CaptureReport:
    scratch = tmp_path_factory.mktemp("ui-browser")
    with live_ui(scratch, repo_root=REPO_ROOT, emulator_models=60) as live:
        partition = materialize_prompt_set(
            live, PROMPT_FILE, [REQUESTS, MEDIA_FILES, MEDIA_ARCHIVE]
        )
        # Every picture must come from the platform: nothing answers at fal's URLs any more.
        live.emulator.stop()
        return capture(live.ui.base_url, partition, out_dir=scratch / "screenshots")


def _describe(image: RenderedImage) -> str:
    return (
        f"{image.alt or image.src}: natural {image.naturalWidth}x{image.naturalHeight}, "
        f"rendered {image.width:g}x{image.height:g} at x={image.left:g}..{image.right:g}"
    )


def _page(report: CaptureReport, name: str) -> PageReport:
    page = report.page(name)
    assert page.failure is None, page.failure
    assert page.window is not None
    return page


def test_every_page_renders_without_console_errors(report: CaptureReport) -> None:
    assert [p.name for p in report.pages] == ["asset-graph", *PREVIEW_PAGES]
    for page in report.pages:
        _page(report, page.name)
        # No filter: every preview image is an embedded thumbnail (the emulator is stopped, and
        # links are not fetched), and chromium's own calls to Google hosts are switched off by
        # its flags (tests/browser/capture.cjs).
        assert page.consoleErrors == [], f"{page.name} logged errors: {page.consoleErrors}"


@pytest.mark.parametrize("name", PREVIEW_PAGES)
def test_preview_images_load(report: CaptureReport, name: str) -> None:
    page = _page(report, name)
    assert page.images, f"{name}: no preview image on the page"
    broken = [_describe(i) for i in page.images if i.naturalWidth <= 0]
    assert not broken, f"{name}: images that did not load: {broken}"


@pytest.mark.parametrize("name", PREVIEW_PAGES)
def test_preview_images_fit_the_window(report: CaptureReport, name: str) -> None:
    page = _page(report, name)
    assert page.window is not None and page.images
    window = page.window
    too_big = [
        _describe(i)
        for i in page.images
        # Inside the window side to side, and no taller than it: a thumbnail, not a poster.
        if i.width > window.width
        or i.left < 0
        or i.right > window.width
        or i.height > window.height
    ]
    assert not too_big, (
        f"{name}: previews larger than the {window.width}x{window.height} window: {too_big}"
    )
