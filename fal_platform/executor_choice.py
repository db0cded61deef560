"""Which Dagster executor runs the steps, and where the Celery settings live: declared once.

The default stays in process (DuckDB on one machine, `fal_platform/definitions.py` says why).
`FAL_PLATFORM_EXECUTOR=celery` sends every step to the Celery workers; the executor and the
workers read the same `deploy/celery.yaml` (`FAL_PLATFORM_CELERY_YAML` picks another), so their
broker and acknowledgement settings cannot drift apart. Only entry points call these with the
environment: the code location and the worker's Celery app (`deploy/celery_app.py`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ENV_EXECUTOR = "FAL_PLATFORM_EXECUTOR"
ENV_CELERY_YAML = "FAL_PLATFORM_CELERY_YAML"
ENV_CELERY_BROKER_URL = "FAL_PLATFORM_CELERY_BROKER_URL"
ENV_CELERY_BACKEND_URL = "FAL_PLATFORM_CELERY_BACKEND_URL"
DEPLOY_DIR = Path(__file__).resolve().parents[1] / "deploy"
DEFAULT_CELERY_YAML = DEPLOY_DIR / "celery.yaml"


class ExecutorChoice(enum.StrEnum):
    IN_PROCESS = "in_process"
    MULTIPROCESS = "multiprocess"
    CELERY = "celery"


class ExecutorConfigError(ValueError):
    """A bad FAL_PLATFORM_EXECUTOR or Celery yaml, named with the variable or the file."""


def executor_choice(environ: Mapping[str, str]) -> ExecutorChoice:
    value = environ.get(ENV_EXECUTOR) or ExecutorChoice.IN_PROCESS.value
    try:
        return ExecutorChoice(value)
    except ValueError:
        choices = ", ".join(choice.value for choice in ExecutorChoice)
        raise ExecutorConfigError(f"{ENV_EXECUTOR}={value!r}: expected one of {choices}") from None


def celery_yaml_path(environ: Mapping[str, str]) -> Path:
    configured = environ.get(ENV_CELERY_YAML)
    return Path(configured) if configured else DEFAULT_CELERY_YAML


def celery_executor_config(path: Path) -> dict[str, Any]:
    """The `execution: config:` block of a Celery yaml: dagster-celery's executor config, with
    `{env: NAME}` left for Dagster to resolve where the step runs."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ExecutorConfigError(f"{path}: cannot read the Celery settings: {exc}") from None
    config = (
        (document or {}).get("execution", {}).get("config") if isinstance(document, dict) else None
    )
    if not isinstance(config, dict):
        raise ExecutorConfigError(f"{path}: expected a mapping at execution.config")
    return config
