"""A real PostgreSQL 15 server for the whole test session, and a fresh database per test.

One cluster per session (initdb + start take about 1.5 s); each test that wants Postgres gets
its own empty database in it (CREATE DATABASE, tens of milliseconds), so tests never see each
other's rows. The server binaries come from Debian (`make test` installs `postgresql` when
/usr/lib/postgresql/*/bin/initdb is missing); see fal_platform/devstack/postgres.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from fal_platform.devstack.postgres import PostgresCluster, PostgresLogin

_DATABASE_NUMBERS = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    """The session's running cluster: `.login` (host, port, user, password), `.restart()`."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_database(postgres_server: PostgresCluster) -> PostgresLogin:
    """A new empty database in the session's cluster, owned by its login role."""
    return postgres_server.create_database(f"test_{next(_DATABASE_NUMBERS)}")
