"""The whole deployment of `deploy/` on one machine: PostgreSQL, Redis, Celery workers, and
Dagster's webserver and daemon, all of them real servers on free loopback ports.

`fal-platform dev --stack` starts it for a user who wants to see the scale-out set-up, and
tests/test_deploy_celery.py runs its runs on it. Every process reads `deploy/dagster.yaml` (copied
into a fresh `DAGSTER_HOME`) and `deploy/celery.yaml`, with connection details in the
environment only: the Postgres password is never on a command line. The workers run
`python -m celery -A deploy.celery_app worker` exactly as the README's "Deploying" tells a user;
the webserver and daemon are `dg dev` (one code server for both). Logs go to `<scratch>/logs/`,
never under `$DAGSTER_HOME/logs`. Everything stops together, in reverse order.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from fal_platform.devstack.dagster_dev import STARTUP_TIMEOUT, dagster_dev_process
from fal_platform.devstack.dagster_home import DAGSTER_YAML_NAME
from fal_platform.devstack.postgres import PostgresCluster, PostgresLogin
from fal_platform.devstack.processes import (
    NO_TELEMETRY_ENV,
    ManagedProcess,
    ProcessStartError,
    free_port,
)
from fal_platform.devstack.redis import RedisServer
from fal_platform.executor_choice import (
    DEPLOY_DIR,
    ENV_CELERY_BACKEND_URL,
    ENV_CELERY_BROKER_URL,
    ENV_CELERY_YAML,
    ENV_EXECUTOR,
    ExecutorChoice,
)
from fal_platform.paths import ENV_DATABASE_URL

DEPLOY_DAGSTER_YAML = DEPLOY_DIR / DAGSTER_YAML_NAME
CELERY_APP = "deploy.celery_app"
DAGSTER_DATABASE = "dagster"
WORKER_READY_MARKER = " ready."
"""Celery logs `celery@<name> ready.` once it consumes from the broker."""
GRPC_TIMEOUT_ENV = {"DAGSTER_GRPC_TIMEOUT_SECONDS": "300"}
"""The daemon waits on the code server while it starts each run worker (an import of the whole
code location); with 4 runs starting at once on a busy 2-core machine that took more than
Dagster's default 60 s, and the runs failed to launch."""


def dagster_instance_env(login: PostgresLogin) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads."""
    return {
        "DAGSTER_PG_HOST": login.host,
        "DAGSTER_PG_PORT": str(login.port),
        "DAGSTER_PG_DB": login.database,
        "DAGSTER_PG_USER": login.user,
        "DAGSTER_PG_PASSWORD": login.password,
    }


def celery_env(
    redis_url: str,
    celery_yaml: Path | None = None,
    executor: ExecutorChoice = ExecutorChoice.CELERY,
) -> dict[str, str]:
    """The executor choice (Celery, or another one for comparison), the broker and backend,
    and (optionally) the yaml."""
    env = {
        ENV_EXECUTOR: executor.value,
        ENV_CELERY_BROKER_URL: redis_url,
        ENV_CELERY_BACKEND_URL: redis_url,
    }
    if celery_yaml is not None:
        env[ENV_CELERY_YAML] = str(celery_yaml)
    return env


def install_dagster_home(home: Path) -> Path:
    """A DAGSTER_HOME holding deploy/dagster.yaml as it is (the instance then lives in Postgres)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DEPLOY_DAGSTER_YAML, home / DAGSTER_YAML_NAME)
    return home


def celery_worker(
    name: str, *, repo_root: Path, env: Mapping[str, str], log_path: Path, concurrency: int = 1
) -> ManagedProcess:
    """An unstarted Celery worker named `name@<host>`; `wait_for_workers` tells when it consumes.

    Gossip and mingle are off: they only exchange state between workers, and mingle alone adds
    a second to every start.
    """
    argv = [
        sys.executable, "-m", "celery", "-A", CELERY_APP, "worker",
        "-n", f"{name}@%h",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip
    return ManagedProcess(
        f"celery worker {name}",
        argv,
        env={**env, **NO_TELEMETRY_ENV},
        cwd=repo_root,
        ready_url="",
        log_path=log_path,
        stop_grace=10.0,
    )


def wait_for_workers(workers: Sequence[ManagedProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(workers)
    while waiting:
        for worker in list(waiting):
            if WORKER_READY_MARKER in worker.output():
                waiting.remove(worker)
            elif worker.exit_code() is not None or time.monotonic() > deadline:
                tail = "\n".join(worker.output().splitlines()[-30:])
                raise ProcessStartError(
                    f"{worker.name} is not ready (exit code {worker.exit_code()}, log "
                    f"{worker.log_path}); last output:\n{tail}"
                )
        time.sleep(0.2)


@dataclass
class LocalStack:
    """`with LocalStack(scratch, repo_root=..., env=...) as stack: stack.ui_url`.

    `env` is what every Dagster process also needs (data and prompts directories, the emulator
    URL); the stack adds DAGSTER_HOME, DAGSTER_PG_* and the Celery variables. `celery_yaml`
    replaces deploy/celery.yaml (the tests shorten its timeouts).
    """

    scratch: Path
    repo_root: Path
    env: Mapping[str, str]
    workers: int = 2
    host: str = "127.0.0.1"
    port: int = 0
    celery_yaml: Path | None = None
    executor: ExecutorChoice = ExecutorChoice.CELERY
    """Anything but Celery is for comparisons (benchmarks/scaleout.py runs it with workers=0)."""
    stop_grace: float | None = None
    """Seconds each process gets to stop before SIGKILL (None: its own default; tests use 2)."""
    startup_timeout: float = STARTUP_TIMEOUT
    """For the workers and `dg dev` to be ready; a loaded 2-core machine needs several times this."""
    while_starting: Callable[[LocalStack], object] | None = None
    """Work to do while the servers start up (the tests load the catalog meanwhile)."""
    worker_processes: list[ManagedProcess] = field(default_factory=list)
    dagster: ManagedProcess | None = None
    postgres: PostgresCluster | None = None
    redis: RedisServer | None = None
    _exit: ExitStack = field(default_factory=ExitStack)

    @property
    def home(self) -> Path:
        return self.scratch / "dagster_home"

    @property
    def logs(self) -> Path:
        return self.scratch / "logs"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def platform_url(self) -> str:
        """Where every process of the stack keeps the platform's tables: the cluster's own
        database, beside Dagster's, so nothing a worker writes stays on its disk (FAL_PLATFORM_
        DATABASE_URL; the password travels in the environment only)."""
        assert self.postgres is not None, "stack not started"
        return self.postgres.login.url()

    @property
    def process_env(self) -> dict[str, str]:
        """The environment of every Dagster process of the stack (workers, webserver, daemon)."""
        assert self.postgres is not None and self.redis is not None, "stack not started"
        return {
            **self.env,
            **dagster_instance_env(self.postgres.login.with_database(DAGSTER_DATABASE)),
            ENV_DATABASE_URL: self.platform_url,
            **celery_env(self.redis.url, self.celery_yaml, self.executor),
            "DAGSTER_HOME": str(self.home),
            **GRPC_TIMEOUT_ENV,
        }

    def __enter__(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit.close()

    def _enter(self, process: ManagedProcess) -> ManagedProcess:
        if self.stop_grace is not None:
            process.stop_grace = self.stop_grace
        return self._exit.enter_context(process)

    def _start(self) -> None:
        self.postgres = self._exit.enter_context(PostgresCluster())
        self.postgres.create_database(DAGSTER_DATABASE)
        self.redis = self._exit.enter_context(RedisServer(self.scratch / "redis"))
        install_dagster_home(self.home)
        env = self.process_env
        self.port = self.port or free_port(self.host)
        self.dagster = self._enter(
            dagster_dev_process(
                repo_root=self.repo_root,
                dagster_home=self.home,
                host=self.host,
                port=self.port,
                env=env,
                log_path=self.logs / "dagster.log",
            )
        )
        for number in range(1, self.workers + 1):
            worker = celery_worker(
                f"w{number}",
                repo_root=self.repo_root,
                env=env,
                log_path=self.logs / f"w{number}.log",
            )
            self.worker_processes.append(self._enter(worker))
        if self.while_starting is not None:
            self.while_starting(self)
        wait_for_workers(self.worker_processes, self.startup_timeout)
        self.dagster.wait_ready(self.startup_timeout)
