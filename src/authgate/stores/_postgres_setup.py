"""Connecting to PostgreSQL, naming what went wrong, and bringing its schema up to date.

Used by `PostgresStore` and by the `authgate` command (through `authgate.stores.postgres`, which
re-exports the public names); needs asyncpg, which that module checks for first.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeAlias
from urllib.parse import urlsplit

import asyncpg
import asyncpg.exceptions
from asyncpg.pool import PoolConnectionProxy

from .._errors import Configuration, DatabaseUnavailable, ServiceUnavailable
from ..schema._postgres import MIGRATIONS, VERSION_TABLE_SQL

__all__ = [
    "UNAVAILABLE",
    "UNAVAILABLE_ON_OPEN",
    "Connection",
    "Pool",
    "apply_schema",
    "check_schema_name",
    "connect",
    "describe_location",
    "open_errors",
    "require_current_schema",
    "schema_version",
    "unavailable",
]

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"

# Failures of the database service rather than of the query: the caller gets ServiceUnavailable
# (HTTP 503, retry later). TimeoutError covers command_timeout and pool acquire timeouts.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # protocol state broken by a server-side disconnect
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now, query canceled
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a failover left us on a standby
)
# Also unavailable while connecting: wrong credentials or database name cannot be fixed by a retry
# either, but the application only needs to know that storage is not there.
UNAVAILABLE_ON_OPEN: tuple[type[BaseException], ...] = (
    *UNAVAILABLE,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,
)

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MIGRATION_LOCK = 0x6175746867617465  # "authgate" in ASCII: one advisory lock key for schema changes
_MIGRATION_TIMEOUT = 3600.0  # hashing a large AuthInGo sessions table may outlast command_timeout


@contextmanager
def unavailable(kinds: tuple[type[BaseException], ...] = UNAVAILABLE) -> Iterator[None]:
    """Failures of the database service (`kinds`) become ServiceUnavailable."""
    try:
        yield
    except kinds as exc:
        raise ServiceUnavailable() from exc


def check_schema_name(schema: str) -> None:
    """Refuse a schema name that is not a plain identifier, so quoting it is enough."""
    if not _SCHEMA_NAME.fullmatch(schema):
        raise Configuration("Postgres schema name must be letters, digits and underscores")


def describe_location(url: str | None) -> str:
    """`host:port/database as user` from a URL, never its password (for operators' messages)."""
    if url is None:
        return "the pool's server"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "localhost", parts.port or 5432
    except ValueError:
        return "the configured server"
    database = parts.path.lstrip("/") or parts.username or "postgres"
    return f"{host}:{port}/{database}" + (f" as {parts.username!r}" if parts.username else "")


@contextmanager
def open_errors(url: str | None) -> Iterator[None]:
    """Turn the generic ServiceUnavailable of a failed open into one that names the cause and the fix."""
    try:
        yield
    except ServiceUnavailable as error:
        if isinstance(error, DatabaseUnavailable):
            raise
        cause = error.__cause__
        where = describe_location(url)
        if isinstance(cause, asyncpg.exceptions.InvalidCatalogNameError):
            database = where.split("/", 1)[-1].split(" as ")[0]
            raise DatabaseUnavailable(
                f"PostgreSQL at {where}: {cause}. Create it (`createdb {database}`) or fix the database name"
                " in the database URL",
                reachable=True,
            ) from None
        if isinstance(cause, asyncpg.exceptions.InvalidAuthorizationSpecificationError):
            raise DatabaseUnavailable(
                f"PostgreSQL at {where} refused the login: {cause}. Fix the user and password in the database URL"
                " (or the server's pg_hba.conf)",
                reachable=True,
            ) from None
        reason = _reason(cause)
        raise DatabaseUnavailable(
            f"cannot reach PostgreSQL at {where} ({reason}). Start PostgreSQL, or fix the host and port in the"
            " database URL",
            reachable=False,
        ) from None


def _reason(cause: BaseException | None) -> str:
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return "host name not found"
    if isinstance(cause, TimeoutError):
        return "timed out"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return type(cause).__name__ if cause is not None else "unavailable"


async def connect(url: str, *, schema: str | None = None) -> asyncpg.Connection[asyncpg.Record]:
    """One connection (search_path = `schema` when given) for the CLI; a failure is a
    DatabaseUnavailable naming the cause and the fix."""
    if schema is not None:
        check_schema_name(schema)
    settings = {"application_name": "authgate"} | ({"search_path": f'"{schema}"'} if schema else {})
    with open_errors(url), unavailable(UNAVAILABLE_ON_OPEN):
        return await asyncpg.connect(url, timeout=5.0, server_settings=settings)


async def schema_version(target: Pool | Connection) -> int | None:
    """The highest applied migration, or None when the database has no authgate schema."""
    if isinstance(target, asyncpg.Pool):
        async with target.acquire() as conn:
            return await schema_version(conn)
    if await target.fetchval("SELECT to_regclass('authgate_schema_version')") is None:
        return None
    version = await target.fetchval("SELECT max(version) FROM authgate_schema_version")
    return int(version) if version is not None else None


async def require_current_schema(pool: Pool, url: str | None) -> None:
    """Raise DatabaseUnavailable, saying what to run, unless the schema is current."""
    found, latest = await schema_version(pool), MIGRATIONS[-1].version
    if found is None:
        raise DatabaseUnavailable(
            f"PostgreSQL at {describe_location(url)} has no authgate schema (table authgate_schema_version is"
            " missing in this search_path). Run `authgate migrate --database-url ...` (with the same --schema),"
            " or let the store create it with PostgresStore(apply_schema=True)",
            reachable=True,
        )
    if found < latest:
        raise DatabaseUnavailable(
            f"PostgreSQL at {describe_location(url)} has authgate schema version {found}; this authgate needs {latest}."
            " Run `authgate migrate --database-url ...` (with the same --schema)",
            reachable=True,
        )


async def apply_schema(target: Pool | Connection) -> list[int]:
    """Bring the database (the connection's search_path) to the current authgate schema and return
    the migration versions applied now. Idempotent; concurrent callers serialise on an advisory
    lock, so two processes starting together apply each migration once. Also takes over an
    AuthInGo database (see `authgate.schema`)."""
    if isinstance(target, asyncpg.Pool):
        async with target.acquire() as conn:
            return await _apply_schema(conn)
    return await _apply_schema(target)


async def _apply_schema(conn: Connection) -> list[int]:
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK, timeout=_MIGRATION_TIMEOUT)
        await conn.execute(VERSION_TABLE_SQL)
        done = {row["version"] for row in await conn.fetch("SELECT version FROM authgate_schema_version")}
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            for statement in migration.statements:
                try:
                    await conn.execute(statement, timeout=_MIGRATION_TIMEOUT)
                except _SCHEMA_CONFLICTS as error:
                    raise _schema_conflict(migration.version, migration.name, error) from None
            await conn.execute(
                "INSERT INTO authgate_schema_version (version, name) VALUES ($1, $2)", migration.version, migration.name
            )
            applied.append(migration.version)
    return applied


# What a table of the same name with other columns (an app's own `users`) makes a migration fail with.
_SCHEMA_CONFLICTS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.UndefinedColumnError,
    asyncpg.exceptions.DatatypeMismatchError,
    asyncpg.exceptions.DuplicateObjectError,
    asyncpg.exceptions.InvalidForeignKeyError,
    asyncpg.exceptions.NotNullViolationError,
)


def _schema_conflict(version: int, name: str, error: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        f"migration {version} ({name}) failed: {str(error).splitlines()[0]}. A table authgate uses (users, sessions,"
        " accounts, ...) already exists here with other columns, probably your app's own. Keep authgate's tables in"
        " a schema of their own: `authgate migrate --schema authgate` and PostgresStore(url, schema='authgate')",
        reachable=True,
    )
