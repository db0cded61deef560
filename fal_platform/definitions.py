"""The code location: the one place assets, checks, automation and resources are wired together."""

from __future__ import annotations

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from fal_platform.paths import duckdb_path
from fal_platform.target import ENV_KEY
from resources.fal import FalResource


def fal_resource() -> FalResource:
    """Read the key through EnvVar so the UI shows `FAL_KEY`, never the value.

    Without a key the emulator is the target, and EnvVar would fail on the unset variable.
    """
    return FalResource(api_key=dg.EnvVar(ENV_KEY) if os.environ.get(ENV_KEY) else None)


defs = dg.Definitions(
    resources={
        "fal": fal_resource(),
        "duckdb": DuckDBResource(database=str(duckdb_path())),
    },
)
