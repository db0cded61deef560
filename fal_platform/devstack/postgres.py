"""A throw-away PostgreSQL cluster on loopback, for the tests and for `fal-platform dev`.

Debian's server binaries (`/usr/lib/postgresql/<version>/bin`, installed by `make test` with
apt when missing) are started exactly as a packaged cluster would be, only in a scratch
directory: `initdb` (as the `postgres` user when we are root, since initdb refuses root),
`pg_ctl start` on a free loopback port with its socket in the same directory, then one
database and one login role with a password. TCP logins need that password (scram-sha-256);
the superuser `postgres` is reached only through the socket, which is how this module creates
roles and databases and how a test restarts the server mid-batch.

`fsync=off` and `synchronous_commit=off`: the cluster is deleted on exit, so durability across
a power cut buys nothing and costs every test a disk flush per commit.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fal_platform.devstack.processes import StartStop, free_port

BIN_GLOB = "/usr/lib/postgresql/*/bin"
PREFERRED_VERSION = "15"
SERVER_USER = "postgres"
STARTUP_TIMEOUT = 60


class PostgresNotInstalledError(RuntimeError):
    """No Debian PostgreSQL server binaries: `make test` installs them (apt-get postgresql)."""


class PostgresCommandError(RuntimeError):
    """initdb, pg_ctl or psql failed; the message quotes what it printed (never a password)."""


@dataclass(frozen=True)
class PostgresLogin:
    """Where a client connects and as whom; `url` is what FAL_PLATFORM_DATABASE_URL takes."""

    host: str
    port: int
    database: str
    user: str
    password: str

    def url(self, scheme: str = "postgresql") -> str:
        return (
            f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(self.database, safe='')}"
        )

    def with_database(self, database: str) -> PostgresLogin:
        return PostgresLogin(self.host, self.port, database, self.user, self.password)


def server_bin_dir() -> Path:
    """Debian's bin directory for PostgreSQL 15, else the newest installed version."""
    found = sorted(Path(p) for p in glob.glob(BIN_GLOB) if (Path(p) / "initdb").exists())
    if not found:
        raise PostgresNotInstalledError(
            f"no PostgreSQL server binaries under {BIN_GLOB}: run `make test` (it installs "
            "Debian's postgresql with apt-get) or `apt-get install -y postgresql`"
        )
    preferred = [p for p in found if p.parent.name == PREFERRED_VERSION]
    return (preferred or sorted(found, key=lambda p: int(p.parent.name)))[-1]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PostgresCluster(StartStop):
    """`with PostgresCluster() as pg: pg.login.url()`: a running server, removed on exit.

    `database`, `user` and `password` (random when not given) name what `start` creates;
    `create_database` adds more (a fresh one per test is cheaper than a cluster per test).
    """

    def __init__(
        self,
        *,
        database: str = "fal_platform",
        user: str = "fal_platform",
        password: str | None = None,
        port: int | None = None,
        root: Path | None = None,
    ) -> None:
        self.bin_dir = server_bin_dir()
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="fal-pg-")) if root is None else root
        self.port = port or free_port()
        self.login = PostgresLogin(
            "127.0.0.1", self.port, database, user, password or secrets.token_urlsafe(18)
        )
        self._started = False

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def start(self) -> PostgresCluster:
        """initdb (once), start the server, create the login role and its database."""
        if self._started:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        self._hand_to_server_user(self.root)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self.start_server()
        self._started = True
        self.psql(
            f"CREATE ROLE {_quote_ident(self.login.user)} LOGIN CREATEDB "
            f"PASSWORD {_quote_literal(self.login.password)}"
        )
        self.create_database(self.login.database)
        return self

    def _initdb(self) -> None:
        self._run_as_server(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SERVER_USER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )

    def start_server(self) -> None:
        """`pg_ctl start` and wait until it accepts connections (also after `stop_server`)."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run_as_server(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-w",
            "-t",
            str(STARTUP_TIMEOUT),
            "-o",
            options,
            "start",
        )

    def stop_server(self, mode: str = "fast") -> None:
        """`pg_ctl stop`: `fast` ends sessions cleanly, `immediate` is a crash (both recover)."""
        self._run_as_server("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop and start on the same port: every open connection is dropped."""
        self.stop_server(mode)
        self.start_server()

    def stop(self) -> None:
        """Stop the server and delete the cluster (if we made its directory); safe twice."""
        if self._started and (self.data_dir / "postmaster.pid").exists():
            self.stop_server("immediate")
        self._started = False
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def server_pid(self) -> int:
        """The postmaster's pid (first line of `postmaster.pid`), e.g. to measure its CPU."""
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def create_database(self, name: str) -> PostgresLogin:
        """A new empty database owned by the login role; returns the login that opens it."""
        self.psql(f"CREATE DATABASE {_quote_ident(name)} OWNER {_quote_ident(self.login.user)}")
        return self.login.with_database(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the socket (stdin, so no secret is on a command line)."""
        return self._run_as_server(
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.root),
            "-p",
            str(self.port),
            "-U",
            SERVER_USER,
            "-d",
            database,
            stdin=sql,
        )

    def _run_as_server(self, tool: str, *args: str, stdin: str | None = None) -> str:
        argv = [str(self.bin_dir / tool), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, cwd=self.root, check=False
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).replace(self.login.password, "***")
            log = self.log_path.read_text(errors="replace")[-2000:] if tool == "pg_ctl" else ""
            raise PostgresCommandError(
                f"{tool} exited with code {done.returncode}: {output.strip()}"
                + (f"\nserver log tail:\n{log}" if log.strip() else "")
            )
        return done.stdout

    @staticmethod
    def _hand_to_server_user(path: Path) -> None:
        """As root, the server runs as `postgres`, which must own its directory."""
        if os.geteuid() != 0:
            return
        entry = pwd.getpwnam(SERVER_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
