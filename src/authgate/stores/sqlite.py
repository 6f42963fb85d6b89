"""SQLite storage through aiosqlite: the embedded default.

The statements and the store logic are shared with Postgres (`_queries.py`, `_sql.py`); this
module runs them, with timestamps as fixed-width ISO-8601 UTC text (so text order is time order).

One writer connection, guarded by an asyncio lock, so a multi-statement transaction is never
interleaved with another coroutine's statements; write transactions start with BEGIN IMMEDIATE so
other processes wait on busy_timeout instead of failing on a lock upgrade. A file database also gets
a read-only connection: in WAL mode reads see committed data and never wait for the writer.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, Unpack

import aiosqlite

from .._errors import ServiceUnavailable
from .._models import Session
from ..schema._migration import VERSION_TABLE
from ..schema._sqlite import MIGRATIONS, VERSION_TABLE_SQL
from . import _queries as q
from ._queries import Query, Statement
from ._sql import Conflict, Row, SQLStore
from .base import RefreshRotation

__all__ = ["SQLiteStore", "apply_schema", "database_path", "schema_version"]

# Primary result codes that mean "the database is not usable right now", not "the query is wrong":
# BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
_UNAVAILABLE_CODES = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15, 26})
_MEMORY = ":memory:"


def _path_from(url_or_path: str | os.PathLike[str]) -> str:
    """'sqlite:///app.db' -> 'app.db', 'sqlite:////abs/app.db' -> '/abs/app.db', paths unchanged."""
    value = os.fspath(url_or_path)
    if value.startswith("sqlite://"):
        value = value.removeprefix("sqlite://")
        value = value.removeprefix("/")  # the third slash separates the empty host from the path
    return value or _MEMORY


def database_path(url_or_path: str | os.PathLike[str]) -> str:
    """The file a `sqlite:///...` URL names (":memory:" for none)."""
    return _path_from(url_or_path)


def _parent_dir_missing(path: str) -> bool:
    """One stat at open time; not worth a thread hop."""
    return path != _MEMORY and not os.path.isdir(os.path.dirname(os.path.abspath(path)))


def _ts(value: datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so text order is time order."""
    if value.tzinfo is None:
        raise ValueError("authgate stores timezone-aware datetimes only")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _args(statement: Statement, params: Mapping[str, Any]) -> list[Any]:
    """The values in placeholder order, each timestamp as the schema's text."""
    return [_ts(value) if isinstance(value, datetime) else value for value in statement.args(params)]


async def _rows(conn: aiosqlite.Connection, statement: Statement, params: Mapping[str, Any]) -> list[Any]:
    return list(await conn.execute_fetchall(statement.text, _args(statement, params)))


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        if exc.sqlite_errorcode is not None and exc.sqlite_errorcode & 0xFF in _UNAVAILABLE_CODES:
            raise ServiceUnavailable() from exc
        raise


async def schema_version(path: str) -> int | None:
    """The highest applied migration of a database file, or None when it has no authgate schema
    (or does not exist). Opens the file read-only, so it never creates one."""
    if path == _MEMORY or not os.path.exists(path):  # noqa: ASYNC240 - one stat, not worth a thread hop
        return None
    async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = "SELECT name FROM sqlite_master WHERE type='table' AND name=?"
        found = await conn.execute_fetchall(tables, (VERSION_TABLE,))
        if not found:
            return None
        rows = list(await conn.execute_fetchall("SELECT max(version) FROM authgate_schema_version"))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None


async def apply_schema(path: str) -> list[int]:
    """Bring a database file to the current schema (creating it) and return the versions applied now."""
    async with aiosqlite.connect(path, isolation_level=None) as conn:
        return await _apply_schema(conn)


async def _apply_schema(conn: aiosqlite.Connection) -> list[int]:
    """Apply missing migrations in one IMMEDIATE transaction: a second process opening the same
    file waits for the first and then finds nothing to do."""
    applied: list[int] = []
    await conn.execute("BEGIN IMMEDIATE")
    try:
        await conn.execute(VERSION_TABLE_SQL)
        done = {row[0] for row in await conn.execute_fetchall("SELECT version FROM authgate_schema_version")}
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO authgate_schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, _ts(datetime.now(UTC))),
            )
            applied.append(migration.version)
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
    return applied


class _Transaction:
    """Statements on the writer connection inside its BEGIN IMMEDIATE transaction."""

    __slots__ = ("_conn",)

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, query: Query, /, **params: Any) -> int:
        statement = query.sqlite
        cursor = await self._conn.execute(statement.text, _args(statement, params))
        return int(cursor.rowcount)

    async def executemany(self, query: Query, rows: Iterable[Mapping[str, Any]], /) -> None:
        statement = query.sqlite
        await self._conn.executemany(statement.text, [_args(statement, row) for row in rows])


class SQLiteStore(SQLStore):
    """Users and sessions in a SQLite file (or `:memory:`, which lives as long as the store is open).

    Accepts "sqlite:///relative.db", "sqlite:////absolute.db", "sqlite:///:memory:" or a plain path.
    `open()` creates or migrates the tables.
    """

    def __init__(
        self,
        # "sqlite:///relative.db", "sqlite:////absolute.db", "sqlite:///:memory:" or a plain path.
        url_or_path: str | os.PathLike[str],
        *,
        # Seconds a statement waits for another connection's write lock before failing (503).
        busy_timeout: float = 5.0,
    ) -> None:
        self._path = _path_from(url_or_path)
        self._busy_timeout = busy_timeout
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def _connect(self, *, read_only: bool) -> aiosqlite.Connection:
        if _parent_dir_missing(self._path):
            # SQLite would fail with CANTOPEN too, but a failed aiosqlite.connect() leaves its worker
            # thread to report back to the event loop later, possibly after that loop has closed.
            raise ServiceUnavailable("Authentication storage directory does not exist")
        conn = await aiosqlite.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            await conn.execute("PRAGMA foreign_keys = ON")
            if read_only:
                await conn.execute("PRAGMA query_only = ON")
            elif self._path != _MEMORY:
                await self._enable_wal(conn)
                await conn.execute("PRAGMA synchronous = NORMAL")  # durable across app crashes in WAL mode
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _enable_wal(self, conn: aiosqlite.Connection) -> None:
        # Switching a new file to WAL needs a lock SQLite does not wait for (it answers "database is
        # locked" at once while another connection is creating the schema), so wait here, within
        # the same busy timeout every other statement gets.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                await conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)

    async def open(self) -> None:
        async with self._lock:
            if self._writer is not None:
                return
            with _unavailable():
                writer = await self._connect(read_only=False)
                try:
                    await _apply_schema(writer)
                    reader = None if self._path == _MEMORY else await self._connect(read_only=True)
                except BaseException:
                    await writer.close()
                    raise
            self._writer, self._reader = writer, reader

    async def close(self) -> None:
        async with self._lock:
            for conn in (self._reader, self._writer):
                if conn is not None:
                    await conn.close()
            self._writer = self._reader = None

    @asynccontextmanager
    async def _write(self, *, transaction: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            conn = self._writer
            if conn is None:
                raise ServiceUnavailable("Authentication storage is not open")
            with _unavailable():
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")  # left open by a cancelled request
                if not transaction:
                    yield conn
                    return
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    await conn.execute("ROLLBACK")
                    raise
                await conn.execute("COMMIT")

    async def _execute(self, query: Query, /, **params: Any) -> int:
        """One write statement on the writer connection; the number of rows it changed."""
        statement = query.sqlite
        async with self._write() as conn:
            cursor = await conn.execute(statement.text, _args(statement, params))
            return int(cursor.rowcount)

    async def _write_fetchrow(self, query: Query, /, **params: Any) -> Row | None:
        """One write statement with RETURNING, on the writer connection; its row."""
        statement = query.sqlite
        async with self._write() as conn:
            rows = await conn.execute_fetchall(statement.text, _args(statement, params))
        return next(iter(rows), None)

    async def _fetch(self, query: Query, /, **params: Any) -> list[Row]:
        statement = query.sqlite
        if self._reader is not None:
            with _unavailable():
                return list(await self._reader.execute_fetchall(statement.text, _args(statement, params)))
        # :memory: has one connection; the lock keeps reads out of a half-done write transaction.
        async with self._write() as conn:
            return list(await conn.execute_fetchall(statement.text, _args(statement, params)))

    async def _fetchrow(self, query: Query, /, **params: Any) -> Row | None:
        rows = await self._fetch(query, **params)
        return rows[0] if rows else None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[_Transaction]:
        async with self._write(transaction=True) as conn:
            yield _Transaction(conn)

    _unique_violation = sqlite3.IntegrityError

    @staticmethod
    def _violates(error: Exception, on: Conflict) -> bool:
        if on == "email":
            return "users.email" in str(error)  # `users.email_key`, or the exact-email constraint
        return isinstance(error, sqlite3.Error) and error.sqlite_errorcode == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY

    @staticmethod
    def _time(value: str) -> datetime:
        return datetime.fromisoformat(value)

    async def rotate_refresh(self, session_id: str, **rotation: Unpack[RefreshRotation]) -> Session | None:
        params = {"session_id": session_id, **rotation}
        retired = {"session_id": session_id, "retired_at": rotation["now"]}
        async with self._write(transaction=True) as conn:
            # BEGIN IMMEDIATE holds the write lock: the access token read here is the one replaced.
            old = await _rows(conn, q.ROTATION_OLD_TOKEN_SQLITE, params)
            if not old:
                return None  # another request rotated first, or the session is gone
            rotated = await _rows(conn, q.ROTATE_SQLITE, params)
            refresh = {**retired, "token_hash": rotation["old_refresh_hash"], "kind": "refresh"}
            await _rows(conn, q.RETIRE_SQLITE, refresh)
            await _rows(conn, q.RETIRE_SQLITE, {**retired, "token_hash": old[0][0], "kind": "access"})
            return self._session(rotated[0])

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"
