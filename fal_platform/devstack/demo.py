"""`fal-platform demo`: the main job, end to end, on a local emulator, in one process.

catalog -> every prompt set in `prompts/` -> media and timings -> endpoint stats, through the
same `Definitions` the UI uses (so the runs show up in `fal-platform dev` afterwards), then a
summary read back from DuckDB. A second run reuses everything: the catalog writes no rows and no
prompt-set item is submitted again.

Nothing here edits `os.environ`: `build_defs` gets the demo's paths and a fal resource aimed at
the demo's emulator as arguments, and the instance is opened from its directory. The emulator
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

import duckdb

from fal_platform.batch.prompts import discover_prompt_sets
from fal_platform.devstack.dagster_home import resolve_dagster_home
from fal_platform.devstack.emulator_process import EmulatorProcess
from fal_platform.paths import DataPaths
from fal_platform.target import DEFAULT_EMULATOR_PORT, emulator_urls

if TYPE_CHECKING:
    from dagster import DagsterInstance, Definitions

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
        return cls(
            # The demo's own data directory holds its DuckDB file (FAL_PLATFORM_DUCKDB is not
            # followed: `--data-dir` must not write into someone else's database).
            paths=DataPaths.under(data, (prompts or defaults.prompts_dir).resolve()),
            # The same instance as `fal-platform dev`, so the demo's runs show in the UI.
            dagster_home=resolve_dagster_home(Path.cwd(), dagster_home, environ),
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


def run_assets(
    defs: Definitions,
    instance: DagsterInstance,
    keys: list[list[str]],
    partition_key: str | None = None,
) -> Any:
    from dagster import AssetKey

    asset_keys = [AssetKey(path) for path in keys]
    job = defs.resolve_implicit_job_def_def_for_assets(asset_keys)
    if job is None:
        raise RuntimeError(f"no implicit job covers {keys}")
    return job.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        asset_selection=asset_keys,
        # Our own one-line-per-step output is the demo's story; Dagster's event log stays in
        # the instance (and the UI) instead of flooding the terminal.
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )


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
        f"data in {paths.data_dir}"
    )
    # `make dev`'s emulator port when free: the demo's media links then outlive the demo.
    with EmulatorProcess(**DEMO_EMULATOR, preferred_port=DEFAULT_EMULATOR_PORT) as emulator:
        print(f"  emulator: {emulator.url} ({DEMO_EMULATOR['models']} models)")
        defs = _demo_defs(paths, emulator.url)
        instance = open_instance(settings.dagster_home)
        try:
            _timed(steps, "catalog", lambda: _catalog(defs, instance))
            instance.add_dynamic_partitions("prompt_sets", [f.name for f in prompt_files])
            for prompt_file in prompt_files:
                _timed(
                    steps,
                    f"prompt set {prompt_file.name}",
                    lambda name=prompt_file.name: _prompt_set(defs, instance, name, totals),  # type: ignore[misc]
                )
            _timed(steps, "endpoint stats", lambda: _stats(defs, instance))
        finally:
            instance.dispose()
    total = time.perf_counter() - started
    print()
    print(summary_table(paths.duckdb))
    if totals["submitted"] == 0 and totals["reused"]:
        print(f"\nEverything was reused: {totals['reused']} completed items, nothing submitted.")
    else:
        print(f"\nSubmitted {totals['submitted']} requests, reused {totals['reused']} completed.")
    print(f"Total {total:.1f}s. Steps: " + ", ".join(f"{s.name} {s.seconds:.1f}s" for s in steps))
    return 0


def _demo_defs(paths: DataPaths, emulator_url: str) -> Definitions:
    """The code location's definitions on the demo's data, prompts and emulator.

    Every fal URL is explicit, so neither FAL_KEY nor a FAL_PLATFORM_*_URL in the caller's
    environment can send the demo's requests anywhere else: the demo never bills anyone.
    """
    from fal_platform.definitions import build_defs
    from resources.fal import FalResource
    from resources.paths import PlatformPaths

    api_url, queue_url, run_url = emulator_urls(emulator_url)
    fal = FalResource(api_key=None, api_url=api_url, queue_url=queue_url, run_url=run_url)
    return build_defs(PlatformPaths.of(paths), fal)


def _catalog(defs: Definitions, instance: DagsterInstance) -> list[str]:
    result = run_assets(defs, instance, [["fal_catalog", "models"], ["fal_catalog", "pricing"]])
    meta = _materialization_metadata(result, ["fal_catalog", "models"])
    return [
        f"{meta.get('rows_written', '?')} model rows written",
        f"{meta.get('new_endpoints', 0)} new and {meta.get('changed_endpoints', 0)} changed "
        "endpoints",
    ]


def _prompt_set(
    defs: Definitions, instance: DagsterInstance, name: str, totals: dict[str, int]
) -> list[str]:
    result = run_assets(
        defs,
        instance,
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


def _stats(defs: Definitions, instance: DagsterInstance) -> list[str]:
    result = run_assets(defs, instance, [["reports", "endpoint_stats"]])
    meta = _materialization_metadata(result, ["reports", "endpoint_stats"])
    return [f"{meta.get('dagster/row_count', '?')} endpoints"]


def summary_table(database: Path) -> str:
    """The demo's closing table, read back from DuckDB (what a user would query themselves)."""
    with duckdb.connect(str(database), read_only=True) as conn:
        tables = conn.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('fal_catalog', 'generation', 'media', 'reports') "
            "AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\' ORDER BY 1"
        ).fetchall()
        counts = [
            (name, conn.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])
            for (name,) in tables
        ]
        per_set = conn.execute(
            """
            SELECT r.prompt_set,
                   count(*) FILTER (WHERE state = 'COMPLETED'),
                   count(*) FILTER (WHERE state = 'FAILED'),
                   quantile_cont(t.total_seconds, 0.5), quantile_cont(t.total_seconds, 0.95),
                   (SELECT count(*) FROM media.files f WHERE f.prompt_set = r.prompt_set)
            FROM generation.requests r
            LEFT JOIN media.timings t USING (prompt_set, item_key)
            GROUP BY 1 ORDER BY 1
            """
        ).fetchall()
        cost = conn.execute(
            "SELECT coalesce(sum(total_cost_usd), 0) FROM reports.endpoint_stats"
        ).fetchall()[0][0]
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
