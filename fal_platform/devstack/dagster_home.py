"""The Dagster instance directory (`DAGSTER_HOME`) that `fal-platform dev`, the demo and tests share.

One `dagster.yaml` for all of them, so a run launched by the demo shows in the UI of
`fal-platform dev`, and the UI test exercises the same instance settings as a developer:

- `concurrency.pools.default_limit: 1`: every asset that writes DuckDB declares `pool="duckdb"`,
  and DuckDB allows one read-write process per file; one slot per pool serializes those steps
  instead of failing them with "Could not set lock on file".
- `telemetry` and `nux` (the first-visit "what's new" dialog) off: the UI opens straight onto
  the assets. `telemetry.enabled: false` alone does not stop Dagster's upload of
  `$DAGSTER_HOME/logs/`; `DAGSTER_DISABLE_TELEMETRY=1` does, and the dev stack sets it for every
  Dagster process it starts (`dagster_dev.py`). Nothing of the platform is written under
  `$DAGSTER_HOME/logs/`: our logs go to `<data dir>/logs/`.
- `storage.sqlite.base_dir` follows `DAGSTER_HOME` (read at load time), so run history stays in
  SQLite files next to this dagster.yaml even if the directory is moved.

The keys were checked against dagster 1.13.27's instance schema
(`dagster/_core/instance/config.py`, `dagster_instance_config_schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DAGSTER_YAML_NAME = "dagster.yaml"
DEFAULT_HOME_NAME = ".dagster_home"
WORKSPACE_FILE = "workspace.yaml"

DAGSTER_YAML = """\
# Written by fal-platform (fal_platform/devstack/dagster_home.py). Edit freely: it is only written when missing.
telemetry:
  enabled: false
nux:
  enabled: false
storage:
  sqlite:
    base_dir:
      env: DAGSTER_HOME
concurrency:
  pools:
    # DuckDB takes one writer process per file: the `duckdb` pool (and any other) gets one slot.
    default_limit: 1
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    # Queued runs start within a second instead of Dagster's 5 (benchmarks/README.md, launch).
    dequeue_interval_seconds: {dequeue_interval_seconds}
"""
DEQUEUE_INTERVAL_SECONDS = 1


class RepoRootNotFoundError(RuntimeError):
    """The command must run from the checkout, where workspace.yaml names the code location."""


def find_repo_root(start: Path | None = None) -> Path:
    """The current directory, if it holds workspace.yaml; no walking up, so nothing is guessed."""
    directory = (start or Path.cwd()).resolve()
    if not (directory / WORKSPACE_FILE).is_file():
        raise RepoRootNotFoundError(
            f"no {WORKSPACE_FILE} in {directory}: run this from the root of the fal-platform "
            "checkout (the directory with workspace.yaml and pyproject.toml)"
        )
    return directory


def write_dagster_yaml(
    home: Path, *, dequeue_interval_seconds: int = DEQUEUE_INTERVAL_SECONDS
) -> Path:
    """Write `home/dagster.yaml` unconditionally (tests use a fresh tmp home each time)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / DAGSTER_YAML_NAME
    path.write_text(DAGSTER_YAML.format(dequeue_interval_seconds=dequeue_interval_seconds))
    return path


def ensure_dagster_home(home: Path) -> Path:
    """Create `home` with our dagster.yaml unless one is there already (a user's edits win)."""
    home = home.resolve()
    if not (home / DAGSTER_YAML_NAME).exists():
        write_dagster_yaml(home)
    return home


def default_dagster_home(repo_root: Path) -> Path:
    return repo_root / DEFAULT_HOME_NAME


def resolve_dagster_home(
    repo_root: Path, explicit: Path | None, environ: Mapping[str, str]
) -> Path:
    """The instance `fal-platform dev` and `fal-platform demo` share, created if missing: an
    explicit directory, else `DAGSTER_HOME`, else `<repo>/.dagster_home`. One rule for both, so
    the demo's materializations are the ones the dev UI (and its sensor) sees."""
    configured = explicit or (
        Path(environ["DAGSTER_HOME"]) if environ.get("DAGSTER_HOME") else None
    )
    return ensure_dagster_home(configured or default_dagster_home(repo_root))
