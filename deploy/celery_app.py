"""The Celery app every fal-platform worker runs: `python -m celery -A deploy.celery_app worker`.

It is dagster-celery's own app and `execute_plan` task (what `dagster_celery.app` builds), set
up from the same `deploy/celery.yaml` the code location's executor reads
(`fal_platform/executor_choice.py`), with `{env: ...}` resolved here. Unlike
`dagster-celery worker start`, it writes no config module under `$DAGSTER_HOME` holding the
broker URL (and any password in it). Importing the code location here, before Celery forks its
pool, means a step does not pay the import (10-20 s on a busy 2-core machine) each time.
"""

from __future__ import annotations

import os

from dagster_celery.cli import get_validated_config
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

import fal_platform.definitions  # noqa: F401  (preloaded for the forked pool)
from fal_platform.executor_choice import celery_yaml_path

_config = get_validated_config(str(celery_yaml_path(os.environ)))
app = make_app(
    CeleryExecutor.for_cli(
        broker=_config.get("broker"),
        backend=_config.get("backend"),
        include=_config.get("include"),
        config_source=_config.get("config_source"),
    ).app_args()
)
execute_plan = create_task(app)
