"""PostgreSQL storage on an asyncpg pool.

Every hot path is one round trip: the session check is one indexed query joining users, and a
refresh rotation is one statement (a CTE that swaps the hashes and records the retired one).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from .._optional import extra_error

try:
    import asyncpg
    import asyncpg.exceptions
    from asyncpg.pool import PoolConnectionProxy
except ModuleNotFoundError as error:
    raise extra_error(error, "postgres") from None

from .._errors import AccountInUse, Configuration, DatabaseUnavailable, EmailInUse, PasskeyInUse, ServiceUnavailable
from .._models import Account, Authenticator, AuthEvent, MFAFactor, RetiredRefresh, Session, User, VerificationToken
from ..schema._postgres import MIGRATIONS, VERSION_TABLE_SQL
from ._batch import Coalescer
from .base import StoredCredentials

__all__ = ["PostgresStore", "apply_schema", "connect", "describe_location", "schema_version"]

Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"

# Failures of the database service rather than of the query: the caller gets ServiceUnavailable
# (HTTP 503, retry later). TimeoutError covers command_timeout and pool acquire timeouts.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
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
_UNAVAILABLE_ON_OPEN: tuple[type[BaseException], ...] = (
    *_UNAVAILABLE,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,
)

_EMAIL_CONSTRAINTS = frozenset({"uq_users_email_key", "users_email_key"})
_ACCOUNTS_PKEY = "accounts_pkey"
_AUTHENTICATORS_PKEY = "authenticators_pkey"
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_MIGRATION_LOCK = 0x6175746867617465  # "authgate" in ASCII: one advisory lock key for schema changes
_MIGRATION_TIMEOUT = 3600.0  # hashing a large AuthInGo sessions table may outlast command_timeout

# Written out in full (no string building), so each statement reads as it runs.
SESSION_BY_ACCESS_SQL = """\
SELECT s.id, s.user_id, s.expires_at, s.refresh_expires_at, s.created_at, s.last_used_at, s.ip, s.user_agent,
    s.auth_time, u.email AS u_email, u.name AS u_name, u.email_verified AS u_email_verified, u.image AS u_image,
    u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.credential_version AS u_credential_version
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token = $1"""
# The same row for many tokens at once: concurrent session checks share it (see _batch.py). Derived
# from the single-row statement so the two cannot drift apart; one statement for any batch size (an
# array parameter), so it is prepared once like the single one.
SESSIONS_BY_ACCESS_SQL = SESSION_BY_ACCESS_SQL.replace(
    "SELECT s.id,", "SELECT s.token AS token_hash, s.id,", 1
).replace("s.token = $1", "s.token = ANY($1::text[])")
SESSION_BY_REFRESH_SQL = SESSION_BY_ACCESS_SQL.replace("s.token = $1", "s.refresh_token = $1")
SESSION_BY_ID_SQL = SESSION_BY_ACCESS_SQL.replace("s.token = $1", "s.id = $1")
CREDENTIALS_SQL = """\
SELECT id, email, name, email_verified, image, created_at, updated_at, credential_version, password_hash
FROM users WHERE email_key = $1"""
# FOR SHARE on the user row: a concurrent credential change (which updates that row) either commits
# first, and this insert then re-checks the version and inserts nothing, or waits for this insert,
# and then deletes the new session with every other one.
_CREATE_SESSION_SQL = """\
INSERT INTO sessions (id, user_id, token, refresh_token, expires_at, refresh_expires_at, created_at, last_used_at, ip,
    user_agent, auth_time)
SELECT $1, u.id, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM users u
WHERE u.id = $2 AND ($12::integer IS NULL OR u.credential_version = $12::integer)
FOR SHARE OF u"""
_SESSION_COLUMNS = "id, user_id, expires_at, refresh_expires_at, created_at, last_used_at, ip, user_agent, auth_time"
# One transaction: the version bump, every pending token of every purpose, every other session.
_CREDENTIAL_CHANGE_SQL = (
    "UPDATE users SET credential_version = credential_version + 1 WHERE id = $1",
    "DELETE FROM verification_tokens WHERE user_id = $1",
    "DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2::varchar",
)
_RETIRED_SQL = """\
SELECT r.session_id, r.retired_at, s.previous_refresh_hash = r.token_hash AS is_latest
FROM retired_refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1 AND r.kind = $2"""
_CONFIRM_FACTOR_SQL = """\
UPDATE mfa_factors SET confirmed = TRUE, last_used_step = $4
WHERE user_id = $1 AND kind = $2 AND NOT confirmed AND secret IS NOT DISTINCT FROM $3"""
# Under READ COMMITTED a racing UPDATE waits for the winner's row lock, then re-checks
# `refresh_token = $2` against the new row and matches nothing: exactly one rotation wins, and only
# the winner's CTE inserts the retired hash.
_ROTATE_SQL = """\
WITH old AS (
    SELECT id, token FROM sessions WHERE id = $1 AND refresh_token = $2 FOR UPDATE
), rotated AS (
    UPDATE sessions s SET token = $3, refresh_token = $4, expires_at = $5, refresh_expires_at = $6, last_used_at = $7,
        previous_refresh_hash = $2
    FROM old WHERE s.id = old.id
    RETURNING s.id, s.user_id, s.expires_at, s.refresh_expires_at, s.created_at, s.last_used_at, s.ip, s.user_agent,
        s.auth_time, old.token AS old_token
), retired AS (
    INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at, kind)
    SELECT $2, id, $7, 'refresh' FROM rotated UNION ALL SELECT old_token, id, $7, 'access' FROM rotated
)
SELECT * FROM rotated"""
# Two statements rather than `$1 IS NULL OR user_id = $1`: a generic plan of the OR form cannot use
# the (user_id, created_at) index. detail travels as text both ways (`$n::text::jsonb` on insert), so
# a jsonb codec that an application set on its own pool cannot double-encode it.
EVENTS_SQL = """\
SELECT id, type, created_at, user_id, session_id, ip, user_agent, detail::text AS detail
FROM auth_events ORDER BY created_at DESC LIMIT $1"""
USER_EVENTS_SQL = """\
SELECT id, type, created_at, user_id, session_id, ip, user_agent, detail::text AS detail
FROM auth_events WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"""
# SKIP LOCKED: cleanup passes over rows a request is touching instead of making it wait.
_DELETE_EXPIRED_SQL = """\
DELETE FROM sessions WHERE id IN (
    SELECT id FROM sessions WHERE refresh_expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED
)"""

# data travels as text both ways, as auth_events.detail does.
_CREATE_VERIFICATION_SQL = """\
INSERT INTO verification_tokens (token_hash, purpose, expires_at, created_at, user_id, data, attempts)
VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7)
ON CONFLICT (token_hash) DO UPDATE SET purpose = EXCLUDED.purpose, expires_at = EXCLUDED.expires_at,
    created_at = EXCLUDED.created_at, user_id = EXCLUDED.user_id, data = EXCLUDED.data, attempts = EXCLUDED.attempts"""
_VERIFICATION_SQL = """\
SELECT token_hash, purpose, expires_at, created_at, user_id, data::text AS data, attempts
FROM verification_tokens WHERE token_hash = $1"""
# One statement each: of concurrent consumers exactly one deletes the row (the others wait on its row
# lock, then find it gone), and concurrent increments serialise on the row lock.
_CONSUME_VERIFICATION_SQL = """\
DELETE FROM verification_tokens WHERE token_hash = $1 AND purpose = $2
RETURNING token_hash, purpose, expires_at, created_at, user_id, data::text AS data, attempts"""
_SAVE_FACTOR_SQL = """\
INSERT INTO mfa_factors (user_id, kind, confirmed, created_at, secret, last_used_step)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (user_id, kind) DO UPDATE SET confirmed = EXCLUDED.confirmed, created_at = EXCLUDED.created_at,
    secret = EXCLUDED.secret, last_used_step = EXCLUDED.last_used_step"""
# A racing UPDATE with the same step waits for the winner's row lock, re-checks
# `last_used_step < $2` against the new row and matches nothing: the code works once.
_ADVANCE_TOTP_SQL = """\
UPDATE mfa_factors SET last_used_step = $2 WHERE user_id = $1 AND kind = 'totp' AND last_used_step < $2"""
_ADD_AUTHENTICATOR_SQL = """\
INSERT INTO authenticators (credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up,
    last_used_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"""
_AUTHENTICATOR_SQL = """\
SELECT credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up, last_used_at
FROM authenticators WHERE credential_id = $1"""
_USER_AUTHENTICATORS_SQL = """\
SELECT credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up, last_used_at
FROM authenticators WHERE user_id = $1 ORDER BY created_at"""
# WebAuthn's rule in the WHERE clause, so the check and the write are one atomic step: unless both
# counts are zero, the new count must exceed the stored one (anything else suggests a clone).
_AUTHENTICATOR_USE_SQL = """\
UPDATE authenticators SET sign_count = $2, last_used_at = $3
WHERE credential_id = $1 AND (($2 = 0 AND sign_count = 0) OR $2 > sign_count)"""


@contextmanager
def _unavailable(kinds: tuple[type[BaseException], ...] = _UNAVAILABLE) -> Iterator[None]:
    try:
        yield
    except kinds as exc:
        raise ServiceUnavailable() from exc


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
def _open_errors(url: str | None) -> Iterator[None]:
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
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise Configuration("Postgres schema name must be letters, digits and underscores")
    settings = {"application_name": "authgate"} | ({"search_path": f'"{schema}"'} if schema else {})
    with _open_errors(url), _unavailable(_UNAVAILABLE_ON_OPEN):
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


async def _require_current_schema(pool: Pool, url: str | None) -> None:
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


class _BoundedPool:
    """The pool with a deadline on every acquire. asyncpg waits forever by default for a free
    connection (and a new one may take its 60 s connect timeout on a hung server), so every query
    goes through here. asyncpg also uses the acquire timeout to return a connection whose query
    timed out, so one call waits at most acquire_timeout + command_timeout."""

    __slots__ = ("_pool", "_timeout")

    def __init__(self, pool: Pool, acquire_timeout: float) -> None:
        self._pool = pool
        self._timeout = acquire_timeout

    def acquire(self) -> Any:
        return self._pool.acquire(timeout=self._timeout)

    async def execute(self, query: str, *args: Any) -> str:
        async with self._pool.acquire(timeout=self._timeout) as conn:
            return await conn.execute(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self._pool.acquire(timeout=self._timeout) as conn:
            return await conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self._pool.acquire(timeout=self._timeout) as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self._pool.acquire(timeout=self._timeout) as conn:
            return await conn.fetchval(query, *args)


def _count(status: str) -> int:
    """Rows affected, from a command tag such as 'DELETE 3'."""
    return int(status.rsplit(" ", 1)[-1])


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


async def _reset_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # authgate sets no session state (no SET, LISTEN, advisory locks outside transactions or
    # prepared statements by name), so asyncpg's default reset query is a wasted round trip per
    # request. Only a connection that came back mid-transaction (a cancelled request) needs work;
    # is_in_transaction() is local state, so the common path stays free.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _user(row: asyncpg.Record, *, prefix: str = "", user_id: str | None = None) -> User:
    return User(
        id=user_id if user_id is not None else row[f"{prefix}id"],
        email=row[f"{prefix}email"],
        name=row[f"{prefix}name"],
        email_verified=row[f"{prefix}email_verified"],
        image=row[f"{prefix}image"],
        created_at=row[f"{prefix}created_at"],
        updated_at=row[f"{prefix}updated_at"],
        credential_version=row[f"{prefix}credential_version"],
    )


def _session(row: asyncpg.Record) -> Session:
    return Session(
        id=row["id"],
        user_id=row["user_id"],
        expires_at=row["expires_at"],
        refresh_expires_at=row["refresh_expires_at"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        auth_time=row["auth_time"],
    )


def _account(row: asyncpg.Record) -> Account:
    return Account(
        user_id=row["user_id"], provider=row["provider"], account_id=row["account_id"], created_at=row["created_at"]
    )


def _event(row: asyncpg.Record) -> AuthEvent:
    detail = row["detail"]
    return AuthEvent(
        id=row["id"],
        type=row["type"],
        created_at=row["created_at"],
        user_id=row["user_id"],
        session_id=row["session_id"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        detail=None if detail is None else json.loads(detail),
    )


def _verification(row: asyncpg.Record) -> VerificationToken:
    data = row["data"]
    return VerificationToken(
        token_hash=row["token_hash"],
        purpose=row["purpose"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        user_id=row["user_id"],
        data=None if data is None else json.loads(data),
        attempts=row["attempts"],
    )


def _factor(row: asyncpg.Record) -> MFAFactor:
    return MFAFactor(
        user_id=row["user_id"],
        kind=row["kind"],
        confirmed=row["confirmed"],
        created_at=row["created_at"],
        secret=row["secret"],
        last_used_step=row["last_used_step"],
    )


def _authenticator(row: asyncpg.Record) -> Authenticator:
    return Authenticator(
        credential_id=row["credential_id"],
        user_id=row["user_id"],
        public_key=row["public_key"],
        sign_count=row["sign_count"],
        name=row["name"],
        created_at=row["created_at"],
        transports=tuple(json.loads(row["transports"])),
        backed_up=row["backed_up"],
        last_used_at=row["last_used_at"],
    )


def _joined(row: asyncpg.Record | None) -> tuple[Session, User] | None:
    if row is None:
        return None
    return _session(row), _user(row, prefix="u_", user_id=row["user_id"])


class PostgresStore:
    """Users and sessions in PostgreSQL through asyncpg (the `postgres` extra).

    Pass a URL and the store owns its pool (created in `open()`, closed in `close()`), or pass an
    existing `pool`, which the store uses but never closes. `schema` selects a Postgres schema via
    search_path on an owned pool (with your own pool, set search_path in its server_settings).
    With `apply_schema`, `open()` creates or migrates the tables.

    Every wait is bounded (seconds): `connect_timeout` for opening one connection,
    `acquire_timeout` for getting a connection from the pool (waiting for a free one or opening
    one), `command_timeout` for one statement (owned pools; on your own pool set it there). A store
    call on a hung server raises `ServiceUnavailable` (HTTP 503) after at most
    `acquire_timeout + command_timeout`, and the pool reconnects by itself once the server answers.
    """

    def __init__(
        self,
        # "postgresql://...": the store creates its pool in open() and closes it in close().
        url: str | None = None,
        *,
        # An asyncpg pool of yours instead of a URL: used, never closed.
        pool: Pool | None = None,
        # Postgres schema for authgate's tables (search_path of an owned pool; created when missing).
        schema: str | None = None,
        # open() creates or migrates the tables; False: open() fails unless the schema is current.
        apply_schema: bool = True,
        # Seconds for one statement (pools the store owns; on your own `pool=`, set it there).
        command_timeout: float = 5.0,
        # Seconds for opening one connection (asyncpg's own default is 60).
        connect_timeout: float = 5.0,
        # Seconds for getting a pooled connection: waiting for a free one or opening one. A store call
        # on a hung server answers 503 within acquire_timeout + command_timeout.
        acquire_timeout: float = 2.0,
        # Connections an owned pool keeps open.
        min_size: int = 2,
        # Most connections an owned pool opens.
        max_size: int = 10,
    ) -> None:
        if (url is None) == (pool is None):
            raise Configuration("PostgresStore needs exactly one of url or pool")
        if schema is not None and pool is not None:
            raise Configuration("PostgresStore(schema=...) applies to pools it creates; set search_path on your pool")
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise Configuration("Postgres schema name must be letters, digits and underscores")
        if min(command_timeout, connect_timeout, acquire_timeout) <= 0:
            raise Configuration("PostgresStore command_timeout, connect_timeout and acquire_timeout must be positive")
        self._url = url
        self._pool = pool
        self._owns_pool = pool is None
        self._schema = schema
        self._apply_schema = apply_schema
        self._command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._acquire_timeout = acquire_timeout
        self._bounded_pool: _BoundedPool | None = None
        self._min_size = min_size
        self._max_size = max_size
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._session_checks = Coalescer(self._session_by_token, self._sessions_by_tokens)

    @property
    def _db(self) -> _BoundedPool:
        if self._bounded_pool is None or not self._opened:
            raise ServiceUnavailable("Authentication storage is not open")
        return self._bounded_pool

    @property
    def pool(self) -> Pool:
        """The asyncpg pool in use; ServiceUnavailable before `open()` or after `close()`."""
        if self._pool is None or not self._opened:
            raise ServiceUnavailable("Authentication storage is not open")
        return self._pool

    async def open(self) -> None:
        async with self._open_lock:
            if self._opened:
                return
            with _open_errors(self._url), _unavailable(_UNAVAILABLE_ON_OPEN):
                if self._owns_pool:
                    self._pool = await self._create_pool()
                try:
                    assert self._pool is not None  # noqa: S101 - set above or by the caller
                    if self._apply_schema:
                        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                            await apply_schema(conn)
                    else:
                        await _require_current_schema(self._pool, self._url)
                except BaseException:
                    if self._owns_pool and self._pool is not None:
                        self._pool.terminate()
                        self._pool = None
                    raise
            self._bounded_pool = _BoundedPool(self._pool, self._acquire_timeout)
            self._opened = True

    async def _create_pool(self) -> Pool:
        server_settings = {"application_name": "authgate"}
        if self._schema is not None:
            if self._apply_schema:  # a store that must not migrate creates nothing
                await self._create_schema()
            server_settings["search_path"] = f'"{self._schema}"'
        return await asyncpg.create_pool(
            self._url,
            min_size=self._min_size,
            max_size=self._max_size,
            command_timeout=self._command_timeout,
            timeout=self._connect_timeout,
            server_settings=server_settings,
            reset=_reset_connection,
        )

    async def _create_schema(self) -> None:
        conn = await asyncpg.connect(self._url, timeout=self._connect_timeout, command_timeout=self._command_timeout)
        try:
            # The name is checked against _SCHEMA_NAME, so quoting it is enough.
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
        except asyncpg.UniqueViolationError:
            pass  # another process created it at the same moment
        finally:
            await conn.close()

    async def close(self) -> None:
        async with self._open_lock:
            pool, self._opened = self._pool, False
            self._bounded_pool = None
            if self._owns_pool and pool is not None:
                self._pool = None
                # A graceful close waits for every connection; on a hung server that is forever.
                try:
                    await asyncio.wait_for(pool.close(), self._acquire_timeout + self._command_timeout)
                except TimeoutError:
                    pool.terminate()

    async def create_user(self, user: User, *, email_key: str, password_hash: str | None) -> None:
        with _unavailable():
            try:
                await self._db.execute(
                    "INSERT INTO users (id, email, email_key, name, password_hash, email_verified, image, created_at,"
                    " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    user.id,
                    user.email,
                    email_key,
                    user.name,
                    password_hash,
                    user.email_verified,
                    user.image,
                    user.created_at,
                    user.updated_at,
                )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name in _EMAIL_CONSTRAINTS:
                    raise EmailInUse() from None
                raise

    async def get_credentials(self, email_key: str) -> StoredCredentials | None:
        with _unavailable():
            row = await self._db.fetchrow(CREDENTIALS_SQL, email_key)
        if row is None:
            return None
        return _user(row), row["password_hash"]

    async def get_user(self, user_id: str) -> User | None:
        with _unavailable():
            row = await self._db.fetchrow(
                "SELECT id, email, name, email_verified, image, created_at, updated_at, credential_version"
                " FROM users WHERE id = $1",
                user_id,
            )
        return None if row is None else _user(row)

    async def set_password_hash(self, user_id: str, password_hash: str | None, *, now: datetime) -> None:
        with _unavailable():
            await self._db.execute(
                "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1", user_id, password_hash, now
            )

    async def create_session(
        self, session: Session, *, token_hash: str, refresh_hash: str, credential_version: int | None = None
    ) -> bool:
        with _unavailable():
            status = await self._db.execute(
                _CREATE_SESSION_SQL,
                session.id,
                session.user_id,
                token_hash,
                refresh_hash,
                session.expires_at,
                session.refresh_expires_at,
                session.created_at,
                session.last_used_at,
                session.ip,
                session.user_agent,
                session.auth_time,
                credential_version,
            )
        return _count(status) > 0

    async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        """Concurrent calls in one event-loop turn share one query; each gets its own row."""
        return await self._session_checks.get(token_hash)

    async def _session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        with _unavailable():
            return _joined(await self._db.fetchrow(SESSION_BY_ACCESS_SQL, token_hash))

    async def _sessions_by_tokens(self, token_hashes: list[str]) -> dict[str, tuple[Session, User]]:
        with _unavailable():
            rows = await self._db.fetch(SESSIONS_BY_ACCESS_SQL, token_hashes)
        return {row["token_hash"]: (_session(row), _user(row, prefix="u_", user_id=row["user_id"])) for row in rows}

    async def get_session(self, session_id: str) -> tuple[Session, User] | None:
        with _unavailable():
            return _joined(await self._db.fetchrow(SESSION_BY_ID_SQL, session_id))

    async def get_session_by_refresh(self, refresh_hash: str) -> tuple[Session, User] | None:
        with _unavailable():
            return _joined(await self._db.fetchrow(SESSION_BY_REFRESH_SQL, refresh_hash))

    async def rotate_refresh(
        self,
        session_id: str,
        *,
        old_refresh_hash: str,
        token_hash: str,
        refresh_hash: str,
        expires_at: datetime,
        refresh_expires_at: datetime,
        now: datetime,
    ) -> Session | None:
        with _unavailable():
            row = await self._db.fetchrow(
                _ROTATE_SQL,
                session_id,
                old_refresh_hash,
                token_hash,
                refresh_hash,
                expires_at,
                refresh_expires_at,
                now,
            )
        return None if row is None else _session(row)

    async def get_retired_refresh(self, refresh_hash: str) -> RetiredRefresh | None:
        with _unavailable():
            row = await self._db.fetchrow(_RETIRED_SQL, refresh_hash, "refresh")
        if row is None:
            return None
        return RetiredRefresh(row["session_id"], row["retired_at"], is_latest=bool(row["is_latest"]))

    async def get_retired_access(self, token_hash: str) -> RetiredRefresh | None:
        with _unavailable():
            row = await self._db.fetchrow(_RETIRED_SQL, token_hash, "access")
        return None if row is None else RetiredRefresh(row["session_id"], row["retired_at"])

    async def set_session_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        with _unavailable():
            status = await self._db.execute("UPDATE sessions SET auth_time = $2 WHERE id = $1", session_id, auth_time)
        return _count(status) > 0

    async def record_credential_change(self, user_id: str, *, keep_session_id: str | None) -> int:
        bump, drop_tokens, drop_sessions = _CREDENTIAL_CHANGE_SQL
        with _unavailable():
            async with self._db.acquire() as conn, conn.transaction():
                await conn.execute(bump, user_id)
                await conn.execute(drop_tokens, user_id)
                return _count(await conn.execute(drop_sessions, user_id, keep_session_id))

    async def delete_session(self, session_id: str) -> bool:
        with _unavailable():
            return _count(await self._db.execute("DELETE FROM sessions WHERE id = $1", session_id)) > 0

    async def delete_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        with _unavailable():
            status = await self._db.execute(
                "DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2::varchar",
                user_id,
                except_session_id,
            )
        return _count(status)

    async def list_user_sessions(self, user_id: str) -> list[Session]:
        with _unavailable():
            rows: Sequence[asyncpg.Record] = await self._db.fetch(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at DESC",  # noqa: S608
                user_id,
            )
        return [_session(row) for row in rows]

    async def delete_expired_sessions(self, *, now: datetime, limit: int) -> int:
        with _unavailable():
            return _count(await self._db.execute(_DELETE_EXPIRED_SQL, now, limit))

    async def update_user(self, user: User, *, email_key: str | None = None) -> None:
        with _unavailable():
            try:
                await self._db.execute(
                    "UPDATE users SET email = $2, email_key = COALESCE($3::varchar, email_key), name = $4, image = $5,"
                    " email_verified = $6, updated_at = $7 WHERE id = $1",
                    user.id,
                    user.email,
                    email_key,
                    user.name,
                    user.image,
                    user.email_verified,
                    user.updated_at,
                )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name in _EMAIL_CONSTRAINTS:
                    raise EmailInUse() from None
                raise

    async def delete_user(self, user_id: str) -> bool:
        # One statement, so one transaction: ON DELETE CASCADE takes the sessions (and through them
        # the retired refresh hashes), the linked accounts, verification tokens, MFA factors,
        # recovery codes and passkeys with the user.
        with _unavailable():
            return _count(await self._db.execute("DELETE FROM users WHERE id = $1", user_id)) > 0

    async def link_account(self, account: Account) -> None:
        with _unavailable():
            try:
                await self._db.execute(
                    "INSERT INTO accounts (user_id, provider, account_id, created_at) VALUES ($1, $2, $3, $4)",
                    account.user_id,
                    account.provider,
                    account.account_id,
                    account.created_at,
                )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == _ACCOUNTS_PKEY:
                    raise AccountInUse() from None
                raise

    async def unlink_account(self, user_id: str, provider: str, account_id: str) -> bool:
        with _unavailable():
            status = await self._db.execute(
                "DELETE FROM accounts WHERE user_id = $1 AND provider = $2 AND account_id = $3",
                user_id,
                provider,
                account_id,
            )
        return _count(status) > 0

    async def get_user_by_account(self, provider: str, account_id: str) -> User | None:
        with _unavailable():
            row = await self._db.fetchrow(
                "SELECT u.id, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at,"
                " u.credential_version FROM accounts a JOIN users u ON u.id = a.user_id"
                " WHERE a.provider = $1 AND a.account_id = $2",
                provider,
                account_id,
            )
        return None if row is None else _user(row)

    async def list_accounts(self, user_id: str) -> list[Account]:
        with _unavailable():
            rows: Sequence[asyncpg.Record] = await self._db.fetch(
                "SELECT user_id, provider, account_id, created_at FROM accounts WHERE user_id = $1 ORDER BY created_at",
                user_id,
            )
        return [_account(row) for row in rows]

    async def record_event(self, event: AuthEvent) -> None:
        with _unavailable():
            await self._db.execute(
                "INSERT INTO auth_events (id, type, user_id, session_id, ip, user_agent, detail, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8)",
                event.id,
                event.type,
                event.user_id,
                event.session_id,
                event.ip,
                event.user_agent,
                None if event.detail is None else json.dumps(event.detail),
                event.created_at,
            )

    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> list[AuthEvent]:
        with _unavailable():
            if user_id is None:
                rows: Sequence[asyncpg.Record] = await self._db.fetch(EVENTS_SQL, limit)
            else:
                rows = await self._db.fetch(USER_EVENTS_SQL, user_id, limit)
        return [_event(row) for row in rows]

    # -- verification tokens ---------------------------------------------------------------------

    async def create_verification(self, token: VerificationToken) -> None:
        with _unavailable():
            await self._db.execute(
                _CREATE_VERIFICATION_SQL,
                token.token_hash,
                token.purpose,
                token.expires_at,
                token.created_at,
                token.user_id,
                None if token.data is None else json.dumps(token.data),
                token.attempts,
            )

    async def get_verification(self, token_hash: str) -> VerificationToken | None:
        with _unavailable():
            row = await self._db.fetchrow(_VERIFICATION_SQL, token_hash)
        return None if row is None else _verification(row)

    async def consume_verification(self, token_hash: str, purpose: str) -> VerificationToken | None:
        with _unavailable():
            row = await self._db.fetchrow(_CONSUME_VERIFICATION_SQL, token_hash, purpose)
        return None if row is None else _verification(row)

    async def count_verification_attempt(self, token_hash: str) -> int:
        with _unavailable():
            attempts: int | None = await self._db.fetchval(
                "UPDATE verification_tokens SET attempts = attempts + 1 WHERE token_hash = $1 RETURNING attempts",
                token_hash,
            )
        return attempts or 0

    async def delete_verifications(self, user_id: str, purpose: str) -> int:
        with _unavailable():
            status = await self._db.execute(
                "DELETE FROM verification_tokens WHERE user_id = $1 AND purpose = $2", user_id, purpose
            )
        return _count(status)

    # -- MFA factors and recovery codes -----------------------------------------------------------

    async def save_mfa_factor(self, factor: MFAFactor) -> None:
        with _unavailable():
            await self._db.execute(
                _SAVE_FACTOR_SQL,
                factor.user_id,
                factor.kind,
                factor.confirmed,
                factor.created_at,
                factor.secret,
                factor.last_used_step,
            )

    async def list_mfa_factors(self, user_id: str) -> list[MFAFactor]:
        with _unavailable():
            rows: Sequence[asyncpg.Record] = await self._db.fetch(
                "SELECT user_id, kind, confirmed, created_at, secret, last_used_step FROM mfa_factors"
                " WHERE user_id = $1 ORDER BY created_at",
                user_id,
            )
        return [_factor(row) for row in rows]

    async def delete_mfa_factor(self, user_id: str, kind: str) -> bool:
        with _unavailable():
            status = await self._db.execute("DELETE FROM mfa_factors WHERE user_id = $1 AND kind = $2", user_id, kind)
        return _count(status) > 0

    async def confirm_mfa_factor(self, user_id: str, kind: str, *, secret: str | None, step: int) -> bool:
        with _unavailable():
            return _count(await self._db.execute(_CONFIRM_FACTOR_SQL, user_id, kind, secret, step)) > 0

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        with _unavailable():
            return _count(await self._db.execute(_ADVANCE_TOTP_SQL, user_id, step)) > 0

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], *, now: datetime) -> None:
        with _unavailable():
            async with self._db.acquire() as conn, conn.transaction():
                await conn.execute("DELETE FROM recovery_codes WHERE user_id = $1", user_id)
                await conn.execute(
                    "INSERT INTO recovery_codes (user_id, code_hash, created_at)"
                    " SELECT $1, code_hash, $3 FROM unnest($2::varchar[]) AS code_hash",
                    user_id,
                    list(dict.fromkeys(code_hashes)),
                    now,
                )

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        # Of concurrent deletes of one code, only the first finds the row.
        with _unavailable():
            status = await self._db.execute(
                "DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2", user_id, code_hash
            )
        return _count(status) > 0

    async def count_recovery_codes(self, user_id: str) -> int:
        with _unavailable():
            count: int = await self._db.fetchval("SELECT count(*) FROM recovery_codes WHERE user_id = $1", user_id)
        return count

    # -- passkeys ---------------------------------------------------------------------------------

    async def add_authenticator(self, authenticator: Authenticator) -> None:
        with _unavailable():
            try:
                await self._db.execute(
                    _ADD_AUTHENTICATOR_SQL,
                    authenticator.credential_id,
                    authenticator.user_id,
                    authenticator.public_key,
                    authenticator.sign_count,
                    authenticator.name,
                    authenticator.created_at,
                    json.dumps(list(authenticator.transports)),
                    authenticator.backed_up,
                    authenticator.last_used_at,
                )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == _AUTHENTICATORS_PKEY:
                    raise PasskeyInUse() from None
                raise

    async def get_authenticator(self, credential_id: str) -> Authenticator | None:
        with _unavailable():
            row = await self._db.fetchrow(_AUTHENTICATOR_SQL, credential_id)
        return None if row is None else _authenticator(row)

    async def list_authenticators(self, user_id: str) -> list[Authenticator]:
        with _unavailable():
            rows: Sequence[asyncpg.Record] = await self._db.fetch(_USER_AUTHENTICATORS_SQL, user_id)
        return [_authenticator(row) for row in rows]

    async def update_authenticator_use(self, credential_id: str, *, sign_count: int, now: datetime) -> bool:
        with _unavailable():
            return _count(await self._db.execute(_AUTHENTICATOR_USE_SQL, credential_id, sign_count, now)) > 0

    async def rename_authenticator(self, user_id: str, credential_id: str, name: str) -> bool:
        with _unavailable():
            status = await self._db.execute(
                "UPDATE authenticators SET name = $3 WHERE credential_id = $2 AND user_id = $1",
                user_id,
                credential_id,
                name,
            )
        return _count(status) > 0

    async def delete_authenticator(self, user_id: str, credential_id: str) -> bool:
        with _unavailable():
            status = await self._db.execute(
                "DELETE FROM authenticators WHERE credential_id = $2 AND user_id = $1", user_id, credential_id
            )
        return _count(status) > 0

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self._schema!r}, owns_pool={self._owns_pool})"
