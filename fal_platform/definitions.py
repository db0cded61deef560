"""The code location: the one place assets, checks, automation and resources are wired together."""

from __future__ import annotations

import os

import dagster as dg
from dagster_dlt import DagsterDltResource
from dagster_duckdb import DuckDBResource

from assets.catalog.schedules import catalog_defs
from assets.generation.sensors import generation_defs
from assets.media.sensors import media_defs
from fal_platform.paths import duckdb_path
from fal_platform.target import ENV_KEY
from resources.fal import FalResource


def fal_resource() -> FalResource:
    """Read the key through EnvVar so the UI shows `FAL_KEY`, never the value.

    Without a key the emulator is the target, and EnvVar would fail on the unset variable.
    """
    return FalResource(api_key=dg.EnvVar(ENV_KEY) if os.environ.get(ENV_KEY) else None)


# Steps run in their own processes (Dagster's default), forked from a server that has already
# imported the code location: without it every step re-imports Dagster, dlt, DuckDB and Arrow,
# seconds per step, and the `duckdb` pool runs these steps one at a time anyway.
EXECUTOR = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["fal_platform.definitions"]}}}
)


def build_defs() -> dg.Definitions:
    """Built from the environment at call time, so the demo and tests can point it elsewhere."""
    return dg.Definitions.merge(
        catalog_defs(),
        generation_defs(),
        media_defs(),
        dg.Definitions(
            executor=EXECUTOR,
            resources={
                "fal": fal_resource(),
                "dlt": DagsterDltResource(),
                "duckdb": DuckDBResource(database=str(duckdb_path())),
            },
        ),
    )


defs = build_defs()
