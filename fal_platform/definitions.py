"""The code location: each domain's definitions, plus the resources and executor they share.

The environment is read here, at the top, and nowhere below: `build_defs` takes the paths and
the fal resource as arguments, so the demo and tests pass their own instead of editing
`os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg
from dagster_dlt import DagsterDltResource

from assets.catalog import definitions as catalog
from assets.generation import definitions as generation
from assets.media import definitions as media
from assets.reports import definitions as reports
from fal_platform.devstack.webhooks_process import ENV_WEBHOOK_URL
from fal_platform.executor_choice import (
    ExecutorChoice,
    celery_executor_config,
    celery_yaml_path,
    executor_choice,
)
from fal_platform.paths import default_media_root
from fal_platform.sensor_interval import SENSOR_INTERVAL_SECONDS, sensor_interval_seconds
from fal_platform.target import ENV_KEY
from resources.database import PlatformDatabase
from resources.fal import FalResource
from resources.media_archive import MediaArchiveResource
from resources.paths import PlatformPaths

FORKSERVER = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["fal_platform.definitions"]}}}
)
"""Each step in its own process, forked from a server that has already imported the location."""
IN_PROCESS = dg.in_process_executor
"""Every step in the run worker's own process, one after another."""
EXECUTOR = IN_PROCESS
"""Every step that writes DuckDB is in the one-slot `duckdb` pool, so steps run one at a time
whatever the executor; in process they skip a process start each (about 1 s on 2 cores) and
a run that reuses everything ends seconds after it starts (`benchmarks/launch.py`, figures in
benchmarks/README.md). A step interrupted by a terminated run behaves as under `materialize()`."""


def executor_from_env(environ: Mapping[str, str]) -> dg.ExecutorDefinition:
    """`FAL_PLATFORM_EXECUTOR`: in process (default), multiprocess, or celery (deploy/)."""
    choice = executor_choice(environ)
    if choice is ExecutorChoice.CELERY:
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_executor_config(celery_yaml_path(environ)))
    return FORKSERVER if choice is ExecutorChoice.MULTIPROCESS else IN_PROCESS


def fal_from_env(environ: Mapping[str, str]) -> FalResource:
    """Read the key through EnvVar so the UI shows `FAL_KEY`, never the value.

    Without a key the emulator is the target, and EnvVar would fail on the unset variable.
    """
    return FalResource(
        api_key=dg.EnvVar(ENV_KEY) if environ.get(ENV_KEY) else None,
        # set by `fal-platform dev --webhooks`; an EnvVar, so the job's snapshot is the same
        # whatever the URL (fal_platform/devstack/location_runs.py)
        webhook_url=dg.EnvVar(ENV_WEBHOOK_URL) if environ.get(ENV_WEBHOOK_URL) else None,
    )


def build_defs(
    paths: PlatformPaths,
    fal: FalResource,
    *,
    executor: dg.ExecutorDefinition = EXECUTOR,
    media_archive: MediaArchiveResource | None = None,
    sensor_interval: int = SENSOR_INTERVAL_SECONDS,
) -> dg.Definitions:
    """`media_archive` defaults to the folder `<data_dir>/media`."""
    return dg.Definitions.merge(
        catalog.defs(),
        generation.defs(sensor_interval),
        media.defs(sensor_interval),
        reports.defs(),
        dg.Definitions(
            executor=executor,
            resources={
                "fal": fal,
                "paths": paths,
                "dlt": DagsterDltResource(),
                "duckdb": PlatformDatabase(
                    database=paths.duckdb_path, postgres_url=paths.database_url
                ),
                "media_archive": media_archive
                or MediaArchiveResource(root=default_media_root(paths.data_dir)),
            },
        ),
    )


defs = build_defs(
    PlatformPaths.from_env(os.environ),
    fal_from_env(os.environ),
    media_archive=MediaArchiveResource.from_env(os.environ),
    executor=executor_from_env(os.environ),
    sensor_interval=sensor_interval_seconds(os.environ),
)
