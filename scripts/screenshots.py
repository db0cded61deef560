"""Regenerate docs/asset-graph.png and docs/requests-materialization.png from a live Dagster UI.

    uv run python scripts/screenshots.py

Starts its own fal emulator and `dagster dev` (the pieces `fal-platform dev` uses) on free ports,
with a scratch Dagster home, data directory and one prompt set under `.screenshots/run/`
(git-ignored; the developer's `.dagster_home` and `data/` are not touched). It materializes the
catalog, the `product-shots` partition (requests, media, timings) and the endpoint report through
GraphQL, photographs two pages in headless Chromium, and stops everything.

Needs Debian's chromium (`apt-get install -y chromium`) and Node. Playwright's `playwright-core`
(the driver without a bundled browser) is installed into `.screenshots/` with npm on first use.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fal_platform.devstack.dagster_dev import STARTUP_TIMEOUT, dagster_dev_process
from fal_platform.devstack.dagster_home import find_repo_root, write_dagster_yaml
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.processes import free_port, isolated_env
from tests.support.ui_graphql import DagsterUI

LOCATION = "fal_platform"
PROMPT_SET = "product-shots"
RUN_TIMEOUT = 180.0


def _say(message: str) -> None:
    print(f"[screenshots] {message}", flush=True)


def ensure_playwright_core(scratch: Path) -> Path:
    module = scratch / "node_modules" / "playwright-core"
    if not module.is_dir():
        _say("installing playwright-core into .screenshots/ (no browser download)")
        scratch.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(scratch),
                "--no-audit",
                "--no-fund",
                "playwright-core@1",
            ],
            check=True,
            env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
        )
    return module


def prepare_run_dir(root: Path, run_dir: Path) -> tuple[Path, Path, Path]:
    """A fresh home, data dir and prompts dir, so every regeneration shows the same state."""
    shutil.rmtree(run_dir, ignore_errors=True)
    home, data, prompts = run_dir / "dagster_home", run_dir / "data", run_dir / "prompts"
    write_dagster_yaml(home)
    prompts.mkdir(parents=True)
    shutil.copy(root / "prompts" / f"{PROMPT_SET}.jsonl", prompts)
    return home, data, prompts


def materialize_everything(ui: DagsterUI) -> None:
    """Catalog, one prompt-set partition, then the report: every asset in the graph is green."""

    def run(label: str, run_id: str) -> None:
        started = time.monotonic()
        outcome = ui.wait_for_run(run_id, RUN_TIMEOUT)
        if not outcome.succeeded:
            raise RuntimeError(f"{label} run {outcome.status}:\n{ui.run_errors(run_id)}")
        _say(f"{label}: {outcome.status} in {time.monotonic() - started:.1f}s")

    run("catalog", ui.launch(job_name="fal_catalog_refresh"))
    ui.add_dynamic_partition("prompt_sets", PROMPT_SET)  # unless the sensor did already
    assets = [["generation", "requests"], ["media", "files"], ["media", "timings"]]
    run(PROMPT_SET, ui.launch_partition(assets, PROMPT_SET))
    run("report", ui.launch(asset_paths=[["reports", "endpoint_stats"]]))


def capture(root: Path, playwright_core: Path, chromium: str, base_url: str, docs: Path) -> None:
    shots = [
        {
            # The lineage tab of the last asset, upstream: the whole pipeline, with each asset's
            # status, checks, partitions and kinds (the global /asset-groups page collapses groups).
            "url": "/assets/reports/endpoint_stats?view=lineage&lineageScope=upstream&lineageDepth=10",
            "path": str(docs / "asset-graph.png"),
            "width": 1600,
            "height": 1000,
            "waitForText": ["requests", "files", "timings", "models", "pricing"],
        },
        {
            "url": f"/assets/generation/requests?view=events&partition={PROMPT_SET}",
            "path": str(docs / "requests-materialization.png"),
            "width": 1600,
            "height": 1700,
            "waitForText": ["dagster/table_name", "latency_p95_seconds", "preview"],
        },
    ]
    for shot in shots:  # a failed capture leaves <name>.failed.png; drop old ones
        Path(str(shot["path"]).replace(".png", ".failed.png")).unlink(missing_ok=True)
    spec = {
        "playwrightCore": str(playwright_core),
        "chromium": chromium,
        "baseUrl": base_url,
        "shots": shots,
    }
    script = root / "scripts" / "screenshots_capture.cjs"
    subprocess.run(["node", str(script), json.dumps(spec)], check=True, timeout=300)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--docs", type=Path, default=None, help="output directory [docs/]")
    args = parser.parse_args(argv)

    root = find_repo_root()
    if not Path(args.chromium).exists():
        print(f"no chromium at {args.chromium}: apt-get install -y chromium", file=sys.stderr)
        return 2
    if shutil.which("node") is None:
        print(
            "node is not on PATH (needed to drive chromium with playwright-core)", file=sys.stderr
        )
        return 2
    scratch = root / ".screenshots"
    playwright_core = ensure_playwright_core(scratch)
    home, data, prompts = prepare_run_dir(root, scratch / "run")
    docs = (args.docs or root / "docs").resolve()
    docs.mkdir(parents=True, exist_ok=True)

    with EmulatorProcess(models=120) as emulator:
        env = isolated_env(
            FAL_PLATFORM_EMULATOR_URL=emulator.url,
            FAL_PLATFORM_DATA_DIR=str(data),
            FAL_PLATFORM_PROMPTS_DIR=str(prompts),
        )
        port = free_port()
        server = dagster_dev_process(
            repo_root=root,
            dagster_home=home,
            host="127.0.0.1",
            port=port,
            env=env,
            log_path=scratch / "run" / "dagster-dev.log",
        )
        with server, DagsterUI(f"http://127.0.0.1:{port}", location=LOCATION) as ui:
            _say(f"emulator at {emulator.url}; starting dagster dev on port {port}")
            server.wait_ready(STARTUP_TIMEOUT)
            materialize_everything(ui)
            capture(root, playwright_core, args.chromium, ui.base_url, docs)
        _say("stopped dagster dev and the emulator")
    return 0


if __name__ == "__main__":
    sys.exit(main())
