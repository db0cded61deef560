"""Materialize one `generation/requests` partition in its own process (for tests that need
separate processes: concurrent partitions, termination by signal).

python tests/generation_worker.py --db DB --emulator-url URL --partition NAME
Prompts are read from FAL_PLATFORM_PROMPTS_DIR. Prints one JSON line with the outcome.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.generation.assets import generation_requests
from assets.generation.checks import GENERATION_CHECKS
from fal_platform.paths import DataPaths
from resources.fal import FalResource
from resources.paths import PlatformPaths


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--emulator-url", required=True)
    parser.add_argument("--partition", required=True)
    parser.add_argument("--submit-rate", type=float, default=200.0)
    args = parser.parse_args()

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("prompt_sets", [args.partition])
    result = dg.materialize(
        [generation_requests, *GENERATION_CHECKS],
        partition_key=args.partition,
        instance=instance,
        resources={
            "fal": FalResource(
                emulator_url=args.emulator_url,
                max_concurrency=16,
                submit_rate=args.submit_rate,
                poll_interval=0.05,
                request_timeout=10.0,
            ),
            "duckdb": DuckDBResource(database=args.db),
            "paths": PlatformPaths.of(
                DataPaths(
                    data_dir=Path(args.db).parent,
                    duckdb=Path(args.db),
                    prompts_dir=DataPaths.from_env(os.environ).prompts_dir,
                )
            ),
        },
        raise_on_error=False,
    )
    failures = [
        str(event.step_failure_data.error.message if event.step_failure_data.error else "")
        for event in result.get_step_failure_events()
    ]
    print(json.dumps({"success": result.success, "failures": failures}), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
