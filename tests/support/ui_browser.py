"""Run tests/browser/capture.cjs against a live Dagster UI and read back what Chromium saw.

The script (Playwright's `playwright-core` driving Debian's chromium, both installed by
`make browser`) prints one JSON report; these models are its shape, so the test asserts on
typed fields and a renamed key fails loudly instead of reading as "no images".
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pydantic import BaseModel

REPO_ROOT = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO_ROOT / "tests" / "browser"
CAPTURE_SCRIPT = BROWSER_DIR / "capture.cjs"
CHROMIUM = Path("/usr/bin/chromium")
CAPTURE_TIMEOUT = 240.0


class BrowserToolsMissingError(RuntimeError):
    """Chromium, node or playwright-core is not installed: `make browser` installs them."""


class WindowSize(BaseModel):
    width: int
    height: int


class ConsoleError(BaseModel):
    text: str
    url: str = ""


class RenderedImage(BaseModel):
    src: str
    alt: str
    naturalWidth: int
    naturalHeight: int
    width: float
    height: float
    left: float
    right: float


class PageReport(BaseModel):
    name: str
    url: str
    consoleErrors: list[ConsoleError]
    images: list[RenderedImage]
    window: WindowSize | None = None
    previewInDialog: bool | None = None
    screenshots: list[str]
    failure: str | None = None


class CaptureReport(BaseModel):
    window: WindowSize
    pages: list[PageReport]

    def page(self, name: str) -> PageReport:
        return next(p for p in self.pages if p.name == name)


def check_browser_tools(chromium: Path = CHROMIUM) -> None:
    missing = [
        what
        for what, present in (
            (str(chromium), chromium.exists()),
            ("node", shutil.which("node") is not None),
            ("playwright-core", (BROWSER_DIR / "node_modules" / "playwright-core").is_dir()),
        )
        if not present
    ]
    if missing:
        raise BrowserToolsMissingError(
            f"missing {', '.join(missing)}: run `make browser` (Debian's chromium and npm ci in "
            f"{BROWSER_DIR.relative_to(REPO_ROOT)})"
        )


def capture(
    base_url: str, partition: str, out_dir: Path | None, chromium: Path = CHROMIUM
) -> CaptureReport:
    """Visit the UI's pages in headless Chromium; PNGs go to `out_dir` when given."""
    check_browser_tools(chromium)
    argv = ["node", str(CAPTURE_SCRIPT), "--base-url", base_url, "--partition", partition]
    argv += ["--chromium", str(chromium)]
    if out_dir is not None:
        argv += ["--out", str(out_dir)]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=CAPTURE_TIMEOUT, cwd=BROWSER_DIR
    )
    if done.returncode != 0:
        raise RuntimeError(f"capture.cjs exited {done.returncode}:\n{done.stderr[-4000:]}")
    return CaptureReport.model_validate_json(done.stdout)
