"""Backend URLs as Pulumi's CLI reads them (pure).

A `postgres://` URL goes to Go's net/url and then lib/pq: the user, password and database are
percent-decoded with `+` kept as it is (a `+` in a password is a `+`), while query values are
form-decoded (`+` is a space), https://pkg.go.dev/net/url#URL.Query. urllib does the same:
`unquote` for the first, `parse_qsl` for the second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import parse_qsl, quote, unquote, urlsplit

DEFAULT_TABLE = "pulumi_state"  # Pulumi's table when the URL has no `table=`

# Query parameters of a Pulumi postgres:// URL that libpq (psql, pg_dump) understands the same way, and
# the environment variable libpq reads each from (https://www.postgresql.org/docs/15/libpq-envars.html).
LIBPQ_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "passfile": "PGPASSFILE",
    "application_name": "PGAPPNAME",
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "dbname": "PGDATABASE",
}


class URLError(ValueError):
    """A backend URL that cannot be read; the message names what is wrong (never the password)."""


@dataclass(frozen=True)
class PostgresTarget:
    """Where a postgres:// backend lives: libpq's connection parameters, the password apart."""

    host: str = ""
    port: Optional[int] = None
    dbname: str = ""
    user: str = ""
    password: Optional[str] = field(default=None, repr=False)
    table: str = DEFAULT_TABLE
    params: tuple[tuple[str, str], ...] = ()  # (libpq keyword, value), from the URL's query

    def libpq_env(self) -> dict[str, str]:
        """The target as libpq environment variables, without the password (that goes in a passfile)."""
        env = {name: value for name, value in (("PGHOST", self.host), ("PGUSER", self.user),
                                               ("PGDATABASE", self.dbname)) if value}
        if self.port is not None:
            env["PGPORT"] = str(self.port)
        env.update({LIBPQ_ENV[key]: value for key, value in self.params})
        return env

    def same_database(self, other: "PostgresTarget") -> bool:
        return (self.host, self.port or 5432, self.dbname) == (other.host, other.port or 5432, other.dbname)


def scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def parse_postgres_url(url: str) -> PostgresTarget:
    """A postgres:// (or postgresql://) URL as lib/pq reads it."""
    if scheme(url) not in ("postgres", "postgresql"):
        raise URLError(f"not a postgres:// URL: {scheme(url) or 'no scheme'}")
    if any(c in url for c in "\r\n\t\0"):
        raise URLError("the backend URL holds a control character")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise URLError("the backend URL has a bad port (want postgres://USER@HOST:PORT/DATABASE)") from None
    query = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        query.setdefault(key, value)  # Go's Query().Get: the first value
    table = query.pop("table", "") or DEFAULT_TABLE
    password = unquote(parts.password) if parts.password is not None else None
    password = query.pop("password", password)  # lib/pq: a query parameter overrides the URL's part
    params = tuple((key, value) for key, value in query.items() if key in LIBPQ_ENV)
    return PostgresTarget(
        host=parts.hostname or "",
        port=port,
        dbname=unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path),
        user=unquote(parts.username) if parts.username is not None else "",
        password=password,
        table=table,
        params=params,
    )


def file_backend_dir(url: str, home: Path) -> Path:
    """The directory of a file:// backend (file://~/x is under HOME), query parameters aside."""
    if scheme(url) != "file":
        raise URLError(f"not a file:// URL: {scheme(url) or 'no scheme'}")
    parts = urlsplit(url)
    path = unquote(parts.netloc + parts.path)
    if path == "~" or path.startswith("~/"):
        return home / path[2:]
    return Path(path)


def pgpass_field(value: str) -> str:
    """A value in a pgpass line: `:` and `\\` escaped (https://www.postgresql.org/docs/15/libpq-pgpass.html)."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_any(password: str) -> str:
    """A pgpass line that gives PASSWORD to whatever connection reads the file."""
    return f"*:*:*:*:{pgpass_field(password)}\n"


def novalab_backend_url(role: str, port: int, database: str, passfile: Path) -> str:
    """The URL of novalab's own database. No password in it: lib/pq reads the file `passfile` names
    (its path encoded so that lib/pq's form decoding gives it back: a `+` as %2B)."""
    return (f"postgres://{role}@127.0.0.1:{port}/{database}"
            f"?sslmode=disable&connect_timeout=10&passfile={quote(str(passfile), safe='/')}")
