"""A `postgresql://user:password@host:port/database` URL, parsed once, its password kept out of
every message.

The URL is a secret (it carries the password), so nothing prints it: errors and logs name the
host, port, database and user (`describe()`), and the password is reachable only by the code
that connects (`connect_kwargs`, `dlt_credentials`). Problems are reported all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")
DEFAULT_PORT = 5432
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseUrlError(ValueError):
    """The database URL cannot be used; the message lists every problem, never the password."""


@dataclass(frozen=True)
class PostgresAddress:
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    options: tuple[tuple[str, str], ...] = ()
    """Query-string parameters passed to libpq as they are (e.g. `sslmode=require`)."""

    @classmethod
    def parse(cls, url: str, *, setting: str = "FAL_PLATFORM_DATABASE_URL") -> PostgresAddress:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:  # a port that is not a number (the text may hold the password)
            raise DatabaseUrlError(f"{setting} is not usable: the port is not a number") from None
        problems = []
        if parts.scheme not in SCHEMES:
            problems.append(f"scheme {parts.scheme!r} is not one of {', '.join(SCHEMES)}")
        if not parts.hostname:
            problems.append("no host (postgresql://user:password@HOST:port/database)")
        database = unquote(parts.path.lstrip("/"))
        if not database:
            problems.append("no database name after the host (.../DATABASE)")
        if not parts.username:
            problems.append("no user name (postgresql://USER:password@host/database)")
        if problems:
            raise DatabaseUrlError(f"{setting} is not usable: " + "; ".join(problems))
        return cls(
            host=str(parts.hostname),
            port=port or DEFAULT_PORT,
            database=database,
            user=unquote(str(parts.username)),
            password=unquote(parts.password or ""),
            options=tuple(parse_qsl(parts.query)),
        )

    def describe(self) -> str:
        """`database 'x' at host:port as user 'u'`: what a message may show."""
        return f"database {self.database!r} at {self.host}:{self.port} as user {self.user!r}"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `psycopg.connect` (sessions in UTC, bounded connect time)."""
        return {
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            "user": self.user,
            "password": self.password,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "options": "-c TimeZone=UTC",
            "application_name": "fal-platform",
            **dict(self.options),
        }

    def dlt_credentials(self) -> dict[str, Any]:
        """dlt's postgres credentials. dlt requires a password even under trust auth."""
        return {
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "username": self.user,
            "password": self.password or "unused",
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        }

    def scrub(self, text: str) -> str:
        """`text` with the password (and its URL-encoded form) replaced by `***`."""
        return _scrub(text, self.password)


def _scrub(text: str, secret: str) -> str:
    if not secret:
        return text
    for form in {secret, quote(secret, safe="")}:
        text = text.replace(form, "***")
    return text
