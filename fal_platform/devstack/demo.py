"""`fal-platform demo`: the main job, end to end, on a local emulator, in one process.

catalog -> every prompt set in `prompts/` -> media and timings -> endpoint stats, as runs of
the code location the UI loads (`location_runs.py`: they show up in `fal-platform dev`
afterwards, and "Re-execute" there runs them again without a version warning), then a
summary read back from DuckDB. A second run reuses everything: the catalog writes no rows and no
prompt-set item is submitted again.

Nothing here edits `os.environ`: the demo's paths and emulator reach the location's resources
as run config (`demo_run_config`), and the instance is opened from its directory. The emulator
listens on `make dev`'s address (`DEFAULT_EMULATOR_URL`) when that port is free, so the media
links the demo writes keep working under `make dev`; on a free port otherwise. The demo starts
no Dagster process (runs execute in this one), so Dagster's telemetry upload thread, which only
the webserver and daemon run, never starts, and `open_instance` turns the instance's telemetry
off for the in-process runs.

Like `definitions.py` and `dev.py`, this is the Dagster-facing edge of the package; Dagster is
imported only inside `run_demo`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fal_platform.batch.prompts import discover_prompt_sets
from fal_platform.devstack.dagster_home import WORKSPACE_FILE, find_repo_root, resolve_dagster_home
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.devstack.location_runs import LocationJob
from fal_platform.media.latency import p50_p95_sql
from fal_platform.paths import ENV_MEDIA_ROOT, DataPaths, default_media_root
from fal_platform.store.target import StoreTarget
from fal_platform.target import DEFAULT_EMULATOR_PORT, emulator_urls

if TYPE_CHECKING:
    from dagster import DagsterInstance

# Latencies of a fast but visibly queued fal: every request waits and runs for a moment.
DEMO_EMULATOR: dict[str, Any] = {"models": 300, "seed": 7, "queue_wait": 0.3, "inference_time": 0.8}


@dataclass
class Step:
    name: str
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DemoSettings:
    """What the demo works on, resolved once from arguments and the environment."""

    paths: DataPaths
    dagster_home: Path
    workspace: Path
    media_root_from_env: bool
    """FAL_PLATFORM_MEDIA_ROOT is set: the location's own resource reads it (it may carry
    credentials, so it never goes into run config); otherwise `<data>/media`."""

    @classmethod
    def resolve(
        cls,
        data_dir: Path | None,
        prompts: Path | None,
        dagster_home: Path | None,
        environ: Mapping[str, str],
    ) -> DemoSettings:
        defaults = DataPaths.from_env(environ)
        data = (data_dir or defaults.data_dir).resolve()
        root = find_repo_root()
        return cls(
            # The demo's own data directory holds its DuckDB file (FAL_PLATFORM_DUCKDB is not
            # followed: `--data-dir` must not write into someone else's database).
            # FAL_PLATFORM_DATABASE_URL is followed: with it, every table lives in Postgres.
            paths=DataPaths.under(
                data, (prompts or defaults.prompts_dir).resolve(), defaults.database_url
            ),
            # The same instance as `fal-platform dev`, so the demo's runs show in the UI.
            dagster_home=resolve_dagster_home(root, dagster_home, environ),
            # The runs are the code location's, loaded as `dg dev` loads it.
            workspace=root / WORKSPACE_FILE,
            media_root_from_env=bool(environ.get(ENV_MEDIA_ROOT)),
        )


def open_instance(home: Path) -> DagsterInstance:
    """The instance in `home`; its dagster.yaml finds storage through $DAGSTER_HOME, which the
    demo does not set, so the storage directory is given explicitly. Telemetry is off whatever
    that file says (the demo's runs execute in this process: `DAGSTER_DISABLE_TELEMETRY` would
    mean editing our own environment)."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef

    overrides = {
        "storage": {"sqlite": {"base_dir": str(home)}},
        "telemetry": {"enabled": False},
    }
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=overrides))


def _timed(steps: list[Step], name: str, action: Callable[[], list[str]]) -> None:
    started = time.perf_counter()
    notes = action()
    steps.append(Step(name, time.perf_counter() - started, notes))
    print(f"  {name}: {steps[-1].seconds:.1f}s" + (f"  ({'; '.join(notes)})" if notes else ""))


def _materialization_metadata(result: Any, key_path: list[str]) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.path == key_path:
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    return {}


def run_demo(
    data_dir: Path | None = None,
    prompts: Path | None = None,
    dagster_home: Path | None = None,
) -> int:
    """The `demo` command; defaults come from the environment (read here, at the entry point)."""
    settings = DemoSettings.resolve(data_dir, prompts, dagster_home, os.environ)
    paths = settings.paths
    prompt_files = discover_prompt_sets(paths.prompts_dir)
    steps: list[Step] = []
    totals = {"submitted": 0, "reused": 0}
    started = time.perf_counter()
    print(
        f"fal-platform demo: {len(prompt_files)} prompt sets from {paths.prompts_dir}, "
        f"data in {paths.data_dir}, tables in {paths.store.describe()}"
    )
    # `make dev`'s emulator port when free: the demo's media links then outlive the demo.
    with EmulatorProcess(**DEMO_EMULATOR, preferred_port=DEFAULT_EMULATOR_PORT) as emulator:
        print(f"  emulator: {emulator.url} ({DEMO_EMULATOR['models']} models)")
        demo = DemoRuns(
            LocationJob.from_workspace(settings.workspace),
            open_instance(settings.dagster_home),
            demo_run_config(settings, emulator.url),
        )
        instance = demo.instance
        try:
            _timed(steps, "catalog", lambda: _catalog(demo))
            instance.add_dynamic_partitions("prompt_sets", [f.name for f in prompt_files])
            for prompt_file in prompt_files:
                _timed(
                    steps,
                    f"prompt set {prompt_file.name}",
                    lambda name=prompt_file.name: _prompt_set(demo, name, totals),  # type: ignore[misc]
                )
            _timed(steps, "endpoint stats", lambda: _stats(demo))
        finally:
            instance.dispose()
    total = time.perf_counter() - started
    print()
    print(summary_table(paths.store))
    if totals["submitted"] == 0 and totals["reused"]:
        print(f"\nEverything was reused: {totals['reused']} completed items, nothing submitted.")
    else:
        print(f"\nSubmitted {totals['submitted']} requests, reused {totals['reused']} completed.")
    print(f"Total {total:.1f}s. Steps: " + ", ".join(f"{s.name} {s.seconds:.1f}s" for s in steps))
    return 0


@dataclass(frozen=True)
class DemoRuns:
    """The code location's asset job, the instance its runs are recorded in, the demo's config."""

    location: LocationJob
    instance: DagsterInstance
    run_config: Mapping[str, Any]

    def materialize(self, keys: list[list[str]], partition_key: str | None = None) -> Any:
        return self.location.materialize(self.instance, keys, self.run_config, partition_key)


def demo_run_config(settings: DemoSettings, emulator_url: str) -> dict[str, Any]:
    """The demo's data, prompts and emulator, as run config over the location's own resources.

    Every fal URL is explicit and the key is unset, so neither FAL_KEY nor a FAL_PLATFORM_*_URL
    in the caller's environment can send the demo's requests anywhere else: the demo never
    bills anyone. Run config is not part of the job's snapshot, so the runs stay the location's
    (`fal_platform/devstack/location_runs.py`).
    """
    from resources.fal import FalResource
    from resources.paths import PlatformPaths

    paths = settings.paths
    api_url, queue_url, run_url = emulator_urls(emulator_url)
    fal = FalResource(api_key=None, api_url=api_url, queue_url=queue_url, run_url=run_url)
    resources: dict[str, dict[str, Any]] = {
        "fal": fal.model_dump(exclude_unset=True),
        "paths": PlatformPaths.of(paths).model_dump(exclude_unset=True),
        "duckdb": {"database": str(paths.duckdb)},
    }
    if not settings.media_root_from_env:
        resources["media_archive"] = {"root": default_media_root(paths.data_dir)}
    return {
        "resources": {name: {"config": config} for name, config in resources.items()},
        # Our own one-line-per-step output is the demo's story; Dagster's event log stays in
        # the instance (and the UI) instead of flooding the terminal.
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }


def _catalog(demo: DemoRuns) -> list[str]:
    result = demo.materialize([["fal_catalog", "models"], ["fal_catalog", "pricing"]])
    meta = _materialization_metadata(result, ["fal_catalog", "models"])
    return [
        f"{meta.get('rows_written', '?')} model rows written",
        f"{meta.get('new_endpoints', 0)} new and {meta.get('changed_endpoints', 0)} changed "
        "endpoints",
    ]


def _prompt_set(demo: DemoRuns, name: str, totals: dict[str, int]) -> list[str]:
    result = demo.materialize(
        [
            ["generation", "requests"],
            ["media", "files"],
            ["media", "timings"],
            ["media", "archive"],
        ],
        partition_key=name,
    )
    meta = _materialization_metadata(result, ["generation", "requests"])
    submitted, reused = meta.get("submitted_this_run", 0), meta.get("reused", 0)
    totals["submitted"] += submitted
    totals["reused"] += reused
    if submitted == 0 and reused:
        return [f"reused all {reused} completed items, submitted nothing"]
    return [f"submitted {submitted}, reused {reused}"]


def _stats(demo: DemoRuns) -> list[str]:
    result = demo.materialize([["reports", "endpoint_stats"]])
    meta = _materialization_metadata(result, ["reports", "endpoint_stats"])
    return [f"{meta.get('dagster/row_count', '?')} endpoints"]


def summary_table(database: StoreTarget) -> str:
    """The demo's closing table, read back from the tables (what a user would query themselves)."""
    with database.backend().reader() as conn:
        tables = conn.rows(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('fal_catalog', 'generation', 'media', 'reports') "
            "AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\' ORDER BY 1"
        )
        counts = [(name, conn.rows(f"SELECT count(*) FROM {name}")[0][0]) for (name,) in tables]
        per_set = conn.rows(
            f"""
            SELECT r.prompt_set,
                   count(*) FILTER (WHERE state = 'COMPLETED'),
                   count(*) FILTER (WHERE state = 'FAILED'),
                   {p50_p95_sql("t.total_seconds")},
                   (SELECT count(*) FROM media.files f WHERE f.prompt_set = r.prompt_set)
            FROM generation.requests r
            LEFT JOIN media.timings t USING (prompt_set, item_key)
            GROUP BY 1 ORDER BY 1
            """
        )
        cost = conn.rows("SELECT coalesce(sum(total_cost_usd), 0) FROM reports.endpoint_stats")[0][
            0
        ]
    lines = ["| table | rows |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in counts]
    lines += [
        "",
        "| prompt set | completed | failed | p50 s | p95 s | media files |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {done} | {failed} | {p50 or 0:.2f} | {p95 or 0:.2f} | {media} |"
        for name, done, failed, p50, p95, media in per_set
    ]
    lines += ["", f"Cost (billed where fal reported units, else estimated): {cost:.4f} USD"]
    return "\n".join(lines)
