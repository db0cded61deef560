"""The pieces of deploy/ that need no Dagster deployment: which executor the code location
picks, the Celery settings file's errors, and the throw-away Redis the stack starts.
(The whole stack runs in tests/test_deploy_celery.py.)"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fal_platform.definitions import IN_PROCESS, executor_from_env
from fal_platform.devstack.redis import RedisServer, answers_ping
from fal_platform.executor_choice import (
    DEFAULT_CELERY_YAML,
    ENV_CELERY_YAML,
    ENV_EXECUTOR,
    ExecutorChoice,
    ExecutorConfigError,
    celery_executor_config,
    executor_choice,
)


def test_in_process_stays_the_default_and_celery_reads_deploy_yaml() -> None:
    assert executor_choice({}) is ExecutorChoice.IN_PROCESS
    assert executor_from_env({}) is IN_PROCESS
    celery = executor_from_env({ENV_EXECUTOR: "celery"})
    assert celery.name == "celery"
    config = celery_executor_config(DEFAULT_CELERY_YAML)
    # Secrets stay in the environment: the file names variables, never a URL.
    assert config["broker"] == {"env": "FAL_PLATFORM_CELERY_BROKER_URL"}
    assert config["config_source"]["task_acks_late"] is True
    assert config["config_source"]["task_reject_on_worker_lost"] is True


def test_a_bad_executor_or_celery_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ExecutorConfigError, match=r"FAL_PLATFORM_EXECUTOR='k8s'.*celery"):
        executor_choice({ENV_EXECUTOR: "k8s"})
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ExecutorConfigError, match=str(missing)):
        executor_from_env({ENV_EXECUTOR: "celery", ENV_CELERY_YAML: str(missing)})
    wrong = tmp_path / "celery.yaml"
    wrong.write_text("execution:\n  celery: {}\n")
    with pytest.raises(
        ExecutorConfigError, match=rf"{wrong}: expected a mapping at execution.config"
    ):
        celery_executor_config(wrong)


def test_redis_starts_on_a_free_port_and_stops(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as redis:
        assert redis.url == f"redis://127.0.0.1:{redis.port}/0"
        assert answers_ping("127.0.0.1", redis.port)
    assert not answers_ping("127.0.0.1", redis.port)
    with socket.socket() as sock:  # the port is free again
        sock.bind(("127.0.0.1", redis.port))
