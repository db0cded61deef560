"""The code location as the launch benchmark loads it: once per executor, without sensors.

The benchmark launches every run itself; the prompt-file sensor and the automation sensor would
add runs of their own that compete for the one `duckdb` pool slot and blur the figures. Paths
and the fal target come from the environment the benchmark gives `dagster dev`, read here at
the top as `fal_platform/definitions.py` does.
"""

from __future__ import annotations

import os

import dagster as dg

from fal_platform.definitions import FORKSERVER, IN_PROCESS, build_defs, fal_from_env
from resources.paths import PlatformPaths


def _without_sensors(executor: dg.ExecutorDefinition) -> dg.Definitions:
    defs = build_defs(
        PlatformPaths.from_env(os.environ), fal_from_env(os.environ), executor=executor
    )
    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        resources=defs.resources,
        executor=defs.executor,
    )


in_process = _without_sensors(IN_PROCESS)
multiprocess = _without_sensors(FORKSERVER)
