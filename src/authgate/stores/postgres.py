"""PostgreSQL storage on an asyncpg pool.

The statements and the store logic are shared with SQLite (`_queries.py`, `_sql.py`); this module
runs them on a pool. Every hot path is one round trip: the session check is one prepared statement
joining users (concurrent checks share one, see `_batch.py`), and a refresh rotation is one
statement (a CTE that swaps the hashes and records the retired ones).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Unpack

from .._optional import extra_error

try:
    import asyncpg
except ModuleNotFoundError as error:
    raise extra_error(error, "postgres") from None

from .._errors import Configuration, ServiceUnavailable
from .._models import Session, User
from . import _queries as q
from ._batch import Coalescer
from ._postgres_setup import (
    UNAVAILABLE_ON_OPEN,
    Connection,
    Pool,
    apply_schema,
    check_schema_name,
    connect,
    describe_location,
    open_errors,
    require_current_schema,
    schema_version,
    unavailable,
)
from ._queries import Query
from ._sql import Conflict, Row, SQLStore
from .base import RefreshRotation

__all__ = ["PostgresStore", "apply_schema", "connect", "describe_location", "schema_version"]

# The unique constraints behind each conflict a write may hit (users_email_key is the exact-email
# constraint of AuthInGo's users table).
_CONSTRAINTS: dict[Conflict, frozenset[str]] = {
    "email": frozenset({"uq_users_email_key", "users_email_key"}),
    "primary_key": frozenset({"accounts_pkey", "authenticators_pkey"}),
}


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


def _count(status: str) -> int:
    """Rows affected, from a command tag such as 'DELETE 3'."""
    return int(status.rsplit(" ", 1)[-1])


async def _reset_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # authgate sets no session state (no SET, LISTEN, advisory locks outside transactions or
    # prepared statements by name), so asyncpg's default reset query is a wasted round trip per
    # request. Only a connection that came back mid-transaction (a cancelled request) needs work;
    # is_in_transaction() is local state, so the common path stays free.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class _Transaction:
    """Statements on one pooled connection inside its transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(self, query: Query, /, **params: Any) -> int:
        statement = query.postgres
        return _count(await self._conn.execute(statement.text, *statement.args(params)))

    async def executemany(self, query: Query, rows: Iterable[Mapping[str, Any]], /) -> None:
        statement = query.postgres
        await self._conn.executemany(statement.text, [statement.args(row) for row in rows])


class PostgresStore(SQLStore):
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
        if schema is not None:
            check_schema_name(schema)
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
            with open_errors(self._url), unavailable(UNAVAILABLE_ON_OPEN):
                if self._owns_pool:
                    self._pool = await self._create_pool()
                try:
                    assert self._pool is not None  # noqa: S101 - set above or by the caller
                    if self._apply_schema:
                        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                            await apply_schema(conn)
                    else:
                        await require_current_schema(self._pool, self._url)
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
            # check_schema_name() allowed only an identifier, so quoting it is enough.
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

    # -- how a statement runs ---------------------------------------------------------------------

    async def _execute(self, query: Query, /, **params: Any) -> int:
        statement = query.postgres
        with unavailable():
            return _count(await self._db.execute(statement.text, *statement.args(params)))

    async def _fetch(self, query: Query, /, **params: Any) -> list[Row]:
        statement = query.postgres
        with unavailable():
            return list(await self._db.fetch(statement.text, *statement.args(params)))

    async def _fetchrow(self, query: Query, /, **params: Any) -> Row | None:
        statement = query.postgres
        with unavailable():
            return await self._db.fetchrow(statement.text, *statement.args(params))

    async def _write_fetchrow(self, query: Query, /, **params: Any) -> Row | None:
        return await self._fetchrow(query, **params)  # any pooled connection writes

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Transaction]:
        with unavailable():
            async with self._db.acquire() as conn, conn.transaction():
                yield _Transaction(conn)

    _unique_violation = asyncpg.UniqueViolationError

    @staticmethod
    def _violates(error: Exception, on: Conflict) -> bool:
        return isinstance(error, asyncpg.UniqueViolationError) and error.constraint_name in _CONSTRAINTS[on]

    @staticmethod
    def _time(value: datetime) -> datetime:
        return value  # asyncpg reads timestamptz as an aware datetime

    # -- what Postgres does its own way -----------------------------------------------------------

    async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        """Concurrent calls in one event-loop turn share one query; each gets its own row."""
        return await self._session_checks.get(token_hash)

    async def _sessions_by_tokens(self, token_hashes: list[str]) -> dict[str, tuple[Session, User]]:
        statement = q.SESSIONS_BY_TOKENS
        with unavailable():
            rows = await self._db.fetch(statement.text, token_hashes)
        return {row[0]: self._joined(row[1:]) for row in rows}

    async def rotate_refresh(self, session_id: str, **rotation: Unpack[RefreshRotation]) -> Session | None:
        statement = q.ROTATE_POSTGRES
        with unavailable():
            row = await self._db.fetchrow(statement.text, *statement.args({"session_id": session_id, **rotation}))
        return None if row is None else self._session(row)

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self._schema!r}, owns_pool={self._owns_pool})"
