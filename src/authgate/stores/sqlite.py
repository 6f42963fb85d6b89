"""SQLite storage through aiosqlite: the embedded default.

One writer connection, guarded by an asyncio lock, so a multi-statement transaction is never
interleaved with another coroutine's statements; write transactions start with BEGIN IMMEDIATE so
other processes wait on busy_timeout instead of failing on a lock upgrade. A file database also gets
a read-only connection: in WAL mode reads see committed data and never wait for the writer.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import aiosqlite

from .._errors import AccountInUse, AuthError, EmailInUse, PasskeyInUse, ServiceUnavailable
from .._models import Account, Authenticator, AuthEvent, MFAFactor, RetiredRefresh, Session, User, VerificationToken
from ..schema._migration import VERSION_TABLE
from ..schema._sqlite import MIGRATIONS, VERSION_TABLE_SQL
from .base import StoredCredentials

__all__ = ["SQLiteStore", "apply_schema", "database_path", "schema_version"]

# Primary result codes that mean "the database is not usable right now", not "the query is wrong":
# BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
_UNAVAILABLE_CODES = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15, 26})
_MEMORY = ":memory:"
# Written out in full (no string building), so each statement reads as it runs.
_SESSION_BY_ACCESS_SQL = """\
SELECT s.id, s.user_id, s.expires_at, s.refresh_expires_at, s.created_at, s.last_used_at, s.ip, s.user_agent,
    s.auth_time, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at, u.credential_version
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token = ?"""
_SESSION_BY_REFRESH_SQL = _SESSION_BY_ACCESS_SQL.replace("s.token = ?", "s.refresh_token = ?")
_SESSION_BY_ID_SQL = _SESSION_BY_ACCESS_SQL.replace("s.token = ?", "s.id = ?")
_SESSION_SQL = """\
SELECT id, user_id, expires_at, refresh_expires_at, created_at, last_used_at, ip, user_agent, auth_time
FROM sessions WHERE id = ?"""
_USER_COLUMNS = "id, email, name, email_verified, image, created_at, updated_at, credential_version"
# BEGIN IMMEDIATE serialises writers, so the version check and the insert are one atomic step
# against a concurrent credential change (see the Postgres store for the row-lock version).
_CREATE_SESSION_SQL = """\
INSERT INTO sessions (id, user_id, token, refresh_token, expires_at, refresh_expires_at, created_at, last_used_at, ip,
    user_agent, auth_time)
SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM users WHERE id = ? AND (? IS NULL OR credential_version = ?)"""
_RETIRED_SQL = """\
SELECT r.session_id, r.retired_at, s.previous_refresh_hash = r.token_hash
FROM retired_refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = ? AND r.kind = ?"""
# rowid breaks created_at ties in insertion order, as the memory store's stable sort does.
_EVENTS_SQL = """\
SELECT id, type, created_at, user_id, session_id, ip, user_agent, detail
FROM auth_events ORDER BY created_at DESC, rowid LIMIT ?"""
_USER_EVENTS_SQL = """\
SELECT id, type, created_at, user_id, session_id, ip, user_agent, detail
FROM auth_events WHERE user_id = ? ORDER BY created_at DESC, rowid LIMIT ?"""
_CREATE_VERIFICATION_SQL = """\
INSERT INTO verification_tokens (token_hash, purpose, expires_at, created_at, user_id, data, attempts)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (token_hash) DO UPDATE SET purpose = excluded.purpose, expires_at = excluded.expires_at,
    created_at = excluded.created_at, user_id = excluded.user_id, data = excluded.data, attempts = excluded.attempts"""
_VERIFICATION_SQL = """\
SELECT token_hash, purpose, expires_at, created_at, user_id, data, attempts
FROM verification_tokens WHERE token_hash = ?"""
_CONSUME_VERIFICATION_SQL = """\
DELETE FROM verification_tokens WHERE token_hash = ? AND purpose = ?
RETURNING token_hash, purpose, expires_at, created_at, user_id, data, attempts"""
_SAVE_FACTOR_SQL = """\
INSERT INTO mfa_factors (user_id, kind, confirmed, created_at, secret, last_used_step) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (user_id, kind) DO UPDATE SET confirmed = excluded.confirmed, created_at = excluded.created_at,
    secret = excluded.secret, last_used_step = excluded.last_used_step"""
_ADD_AUTHENTICATOR_SQL = """\
INSERT INTO authenticators (credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up,
    last_used_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_AUTHENTICATOR_SQL = """\
SELECT credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up, last_used_at
FROM authenticators WHERE credential_id = ?"""
_USER_AUTHENTICATORS_SQL = """\
SELECT credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up, last_used_at
FROM authenticators WHERE user_id = ? ORDER BY created_at, rowid"""
# WebAuthn's rule in the WHERE clause, so the check and the write are one atomic step: unless both
# counts are zero, the new count must exceed the stored one (anything else suggests a clone).
_AUTHENTICATOR_USE_SQL = """\
UPDATE authenticators SET sign_count = :count, last_used_at = :now
WHERE credential_id = :id AND ((:count = 0 AND sign_count = 0) OR :count > sign_count)"""


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


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


@contextmanager
def _conflict(error: type[AuthError], *, on: Literal["email", "primary_key"]) -> Iterator[None]:
    """The unique constraint a write may hit becomes `error`: the user's email (`users.email_key`,
    or the exact-email constraint) or the table's primary key (a linked account, a passkey)."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        if "users.email" in str(exc) if on == "email" else exc.sqlite_errorcode == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
            raise error() from None
        raise


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        if exc.sqlite_errorcode is not None and exc.sqlite_errorcode & 0xFF in _UNAVAILABLE_CODES:
            raise ServiceUnavailable() from exc
        raise


def _session(row: Iterable[Any]) -> Session:
    sid, user_id, expires_at, refresh_expires_at, created_at, last_used_at, ip, user_agent, auth_time = row
    return Session(
        id=sid,
        user_id=user_id,
        expires_at=_req_dt(expires_at),
        refresh_expires_at=_req_dt(refresh_expires_at),
        created_at=_req_dt(created_at),
        last_used_at=_dt(last_used_at),
        ip=ip,
        user_agent=user_agent,
        auth_time=_dt(auth_time),
    )


def _user(row: Iterable[Any]) -> User:
    uid, email, name, email_verified, image, created_at, updated_at, credential_version = row
    return User(
        id=uid,
        email=email,
        name=name,
        email_verified=bool(email_verified),
        image=image,
        created_at=_req_dt(created_at),
        updated_at=_req_dt(updated_at),
        credential_version=int(credential_version),
    )


def _account(row: Iterable[Any]) -> Account:
    user_id, provider, account_id, created_at = row
    return Account(user_id=user_id, provider=provider, account_id=account_id, created_at=_req_dt(created_at))


def _event(row: Iterable[Any]) -> AuthEvent:
    eid, type_, created_at, user_id, session_id, ip, user_agent, detail = row
    return AuthEvent(
        id=eid,
        type=type_,
        created_at=_req_dt(created_at),
        user_id=user_id,
        session_id=session_id,
        ip=ip,
        user_agent=user_agent,
        detail=None if detail is None else json.loads(detail),
    )


def _verification(row: Iterable[Any]) -> VerificationToken:
    token_hash, purpose, expires_at, created_at, user_id, data, attempts = row
    return VerificationToken(
        token_hash=token_hash,
        purpose=purpose,
        expires_at=_req_dt(expires_at),
        created_at=_req_dt(created_at),
        user_id=user_id,
        data=None if data is None else json.loads(data),
        attempts=attempts,
    )


def _factor(row: Iterable[Any]) -> MFAFactor:
    user_id, kind, confirmed, created_at, secret, last_used_step = row
    return MFAFactor(
        user_id=user_id,
        kind=kind,
        confirmed=bool(confirmed),
        created_at=_req_dt(created_at),
        secret=secret,
        last_used_step=last_used_step,
    )


def _authenticator(row: Iterable[Any]) -> Authenticator:
    credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up, last_used_at = row
    return Authenticator(
        credential_id=credential_id,
        user_id=user_id,
        public_key=bytes(public_key),
        sign_count=sign_count,
        name=name,
        created_at=_req_dt(created_at),
        transports=tuple(json.loads(transports)),
        backed_up=bool(backed_up),
        last_used_at=_dt(last_used_at),
    )


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


class SQLiteStore:
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

    async def _execute(self, sql: str, params: tuple[Any, ...] | dict[str, Any]) -> int:
        """One write statement on the writer connection; the number of rows it changed."""
        async with self._write() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount

    async def _write_fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """One write statement with RETURNING, on the writer connection; its rows."""
        async with self._write() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self._reader is not None:
            with _unavailable():
                return list(await self._reader.execute_fetchall(sql, params))
        # :memory: has one connection; the lock keeps reads out of a half-done write transaction.
        async with self._write() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def _fetchone(self, sql: str, params: tuple[Any, ...]) -> Any | None:
        rows = await self._fetch(sql, params)
        return rows[0] if rows else None

    async def create_user(self, user: User, *, email_key: str, password_hash: str | None) -> None:
        with _conflict(EmailInUse, on="email"):
            await self._execute(
                "INSERT INTO users (id, email, email_key, name, password_hash, email_verified, image, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user.id,
                    user.email,
                    email_key,
                    user.name,
                    password_hash,
                    int(user.email_verified),
                    user.image,
                    _ts(user.created_at),
                    _ts(user.updated_at),
                ),
            )

    async def get_credentials(self, email_key: str) -> StoredCredentials | None:
        row = await self._fetchone(
            f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE email_key = ?",  # noqa: S608
            (email_key,),
        )
        return None if row is None else (_user(row[:8]), row[8])

    async def get_user(self, user_id: str) -> User | None:
        row = await self._fetchone(
            f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)  # noqa: S608
        )
        return None if row is None else _user(row)

    async def set_password_hash(self, user_id: str, password_hash: str | None, *, now: datetime) -> None:
        await self._execute(
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?", (password_hash, _ts(now), user_id)
        )

    async def create_session(
        self, session: Session, *, token_hash: str, refresh_hash: str, credential_version: int | None = None
    ) -> bool:
        changed = await self._execute(
            _CREATE_SESSION_SQL,
            (
                session.id,
                token_hash,
                refresh_hash,
                _ts(session.expires_at),
                _ts(session.refresh_expires_at),
                _ts(session.created_at),
                None if session.last_used_at is None else _ts(session.last_used_at),
                session.ip,
                session.user_agent,
                None if session.auth_time is None else _ts(session.auth_time),
                session.user_id,
                credential_version,
                credential_version,
            ),
        )
        return changed > 0

    async def _joined(self, sql: str, value: str) -> tuple[Session, User] | None:
        row = await self._fetchone(sql, (value,))
        if row is None:
            return None
        session = _session(row[:9])
        return session, _user((session.user_id, *row[9:]))

    async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        return await self._joined(_SESSION_BY_ACCESS_SQL, token_hash)

    async def get_session(self, session_id: str) -> tuple[Session, User] | None:
        return await self._joined(_SESSION_BY_ID_SQL, session_id)

    async def get_session_by_refresh(self, refresh_hash: str) -> tuple[Session, User] | None:
        return await self._joined(_SESSION_BY_REFRESH_SQL, refresh_hash)

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
        async with self._write(transaction=True) as conn:
            # BEGIN IMMEDIATE holds the write lock: the access token read here is the one replaced.
            old = await conn.execute_fetchall(
                "SELECT token FROM sessions WHERE id = ? AND refresh_token = ?", (session_id, old_refresh_hash)
            )
            cursor = await conn.execute(
                "UPDATE sessions SET token = ?, refresh_token = ?, expires_at = ?, refresh_expires_at = ?,"
                " last_used_at = ?, previous_refresh_hash = ? WHERE id = ? AND refresh_token = ?",
                (
                    token_hash,
                    refresh_hash,
                    _ts(expires_at),
                    _ts(refresh_expires_at),
                    _ts(now),
                    old_refresh_hash,
                    session_id,
                    old_refresh_hash,
                ),
            )
            if cursor.rowcount != 1:
                return None
            await conn.executemany(
                "INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at, kind) VALUES (?, ?, ?, ?)",
                [(old_refresh_hash, session_id, _ts(now), "refresh")]
                + [(row[0], session_id, _ts(now), "access") for row in old],
            )
            rows = await conn.execute_fetchall(_SESSION_SQL, (session_id,))
            return _session(next(iter(rows)))

    async def get_retired_refresh(self, refresh_hash: str) -> RetiredRefresh | None:
        row = await self._fetchone(_RETIRED_SQL, (refresh_hash, "refresh"))
        return None if row is None else RetiredRefresh(row[0], _req_dt(row[1]), is_latest=bool(row[2]))

    async def get_retired_access(self, token_hash: str) -> RetiredRefresh | None:
        row = await self._fetchone(_RETIRED_SQL, (token_hash, "access"))
        return None if row is None else RetiredRefresh(row[0], _req_dt(row[1]))

    async def set_session_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        return await self._execute("UPDATE sessions SET auth_time = ? WHERE id = ?", (_ts(auth_time), session_id)) > 0

    async def record_credential_change(self, user_id: str, *, keep_session_id: str | None) -> int:
        async with self._write(transaction=True) as conn:
            await conn.execute("UPDATE users SET credential_version = credential_version + 1 WHERE id = ?", (user_id,))
            await conn.execute("DELETE FROM verification_tokens WHERE user_id = ?", (user_id,))
            cursor = await conn.execute(
                "DELETE FROM sessions WHERE user_id = ? AND (? IS NULL OR id <> ?)",
                (user_id, keep_session_id, keep_session_id),
            )
            return cursor.rowcount

    async def delete_session(self, session_id: str) -> bool:
        return await self._execute("DELETE FROM sessions WHERE id = ?", (session_id,)) > 0

    async def delete_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        return await self._execute(
            "DELETE FROM sessions WHERE user_id = ? AND (? IS NULL OR id <> ?)",
            (user_id, except_session_id, except_session_id),
        )

    async def list_user_sessions(self, user_id: str) -> list[Session]:
        rows = await self._fetch(
            "SELECT id, user_id, expires_at, refresh_expires_at, created_at, last_used_at, ip, user_agent, auth_time"
            " FROM sessions WHERE user_id = ? ORDER BY created_at DESC, rowid",
            (user_id,),
        )
        return [_session(row) for row in rows]

    async def delete_expired_sessions(self, *, now: datetime, limit: int) -> int:
        return await self._execute(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE refresh_expires_at < ? LIMIT ?)",
            (_ts(now), limit),
        )

    async def update_user(self, user: User, *, email_key: str | None = None) -> None:
        with _conflict(EmailInUse, on="email"):
            await self._execute(
                "UPDATE users SET email = ?, email_key = COALESCE(?, email_key), name = ?, image = ?,"
                " email_verified = ?, updated_at = ? WHERE id = ?",
                (
                    user.email,
                    email_key,
                    user.name,
                    user.image,
                    int(user.email_verified),
                    _ts(user.updated_at),
                    user.id,
                ),
            )

    async def delete_user(self, user_id: str) -> bool:
        # One statement, so one implicit transaction: foreign_keys=ON (set on every connection)
        # cascades to sessions, their retired refresh hashes, the linked accounts, verification
        # tokens, MFA factors, recovery codes and passkeys.
        return await self._execute("DELETE FROM users WHERE id = ?", (user_id,)) > 0

    async def link_account(self, account: Account) -> None:
        with _conflict(AccountInUse, on="primary_key"):
            await self._execute(
                "INSERT INTO accounts (user_id, provider, account_id, created_at) VALUES (?, ?, ?, ?)",
                (account.user_id, account.provider, account.account_id, _ts(account.created_at)),
            )

    async def unlink_account(self, user_id: str, provider: str, account_id: str) -> bool:
        changed = await self._execute(
            "DELETE FROM accounts WHERE user_id = ? AND provider = ? AND account_id = ?",
            (user_id, provider, account_id),
        )
        return changed > 0

    async def get_user_by_account(self, provider: str, account_id: str) -> User | None:
        row = await self._fetchone(
            "SELECT u.id, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at, u.credential_version"
            " FROM accounts a JOIN users u ON u.id = a.user_id WHERE a.provider = ? AND a.account_id = ?",
            (provider, account_id),
        )
        return None if row is None else _user(row)

    async def list_accounts(self, user_id: str) -> list[Account]:
        rows = await self._fetch(
            "SELECT user_id, provider, account_id, created_at FROM accounts WHERE user_id = ?"
            " ORDER BY created_at, rowid",
            (user_id,),
        )
        return [_account(row) for row in rows]

    async def record_event(self, event: AuthEvent) -> None:
        await self._execute(
            "INSERT INTO auth_events (id, type, user_id, session_id, ip, user_agent, detail, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.id,
                event.type,
                event.user_id,
                event.session_id,
                event.ip,
                event.user_agent,
                None if event.detail is None else json.dumps(event.detail),
                _ts(event.created_at),
            ),
        )

    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> list[AuthEvent]:
        if user_id is None:
            rows = await self._fetch(_EVENTS_SQL, (limit,))
        else:
            rows = await self._fetch(_USER_EVENTS_SQL, (user_id, limit))
        return [_event(row) for row in rows]

    # -- verification tokens ---------------------------------------------------------------------
    # The single-use and counting methods are one statement each on the one writer connection, so
    # they are atomic both within this process (the lock) and across processes (SQLite's write lock).

    async def create_verification(self, token: VerificationToken) -> None:
        await self._execute(
            _CREATE_VERIFICATION_SQL,
            (
                token.token_hash,
                token.purpose,
                _ts(token.expires_at),
                _ts(token.created_at),
                token.user_id,
                None if token.data is None else json.dumps(token.data),
                token.attempts,
            ),
        )

    async def get_verification(self, token_hash: str) -> VerificationToken | None:
        row = await self._fetchone(_VERIFICATION_SQL, (token_hash,))
        return None if row is None else _verification(row)

    async def consume_verification(self, token_hash: str, purpose: str) -> VerificationToken | None:
        rows = await self._write_fetch(_CONSUME_VERIFICATION_SQL, (token_hash, purpose))
        return next((_verification(row) for row in rows), None)

    async def count_verification_attempt(self, token_hash: str) -> int:
        rows = await self._write_fetch(
            "UPDATE verification_tokens SET attempts = attempts + 1 WHERE token_hash = ? RETURNING attempts",
            (token_hash,),
        )
        return next((int(row[0]) for row in rows), 0)

    async def delete_verifications(self, user_id: str, purpose: str) -> int:
        return await self._execute(
            "DELETE FROM verification_tokens WHERE user_id = ? AND purpose = ?", (user_id, purpose)
        )

    # -- MFA factors and recovery codes -----------------------------------------------------------

    async def save_mfa_factor(self, factor: MFAFactor) -> None:
        await self._execute(
            _SAVE_FACTOR_SQL,
            (
                factor.user_id,
                factor.kind,
                int(factor.confirmed),
                _ts(factor.created_at),
                factor.secret,
                factor.last_used_step,
            ),
        )

    async def list_mfa_factors(self, user_id: str) -> list[MFAFactor]:
        rows = await self._fetch(
            "SELECT user_id, kind, confirmed, created_at, secret, last_used_step FROM mfa_factors WHERE user_id = ?"
            " ORDER BY created_at, rowid",
            (user_id,),
        )
        return [_factor(row) for row in rows]

    async def delete_mfa_factor(self, user_id: str, kind: str) -> bool:
        return await self._execute("DELETE FROM mfa_factors WHERE user_id = ? AND kind = ?", (user_id, kind)) > 0

    async def confirm_mfa_factor(self, user_id: str, kind: str, *, secret: str | None, step: int) -> bool:
        changed = await self._execute(
            "UPDATE mfa_factors SET confirmed = 1, last_used_step = ?"
            " WHERE user_id = ? AND kind = ? AND NOT confirmed AND secret IS ?",
            (step, user_id, kind, secret),
        )
        return changed > 0

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        changed = await self._execute(
            "UPDATE mfa_factors SET last_used_step = ? WHERE user_id = ? AND kind = 'totp' AND last_used_step < ?",
            (step, user_id, step),
        )
        return changed > 0

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], *, now: datetime) -> None:
        async with self._write(transaction=True) as conn:
            await conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
            await conn.executemany(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)",
                [(user_id, code_hash, _ts(now)) for code_hash in dict.fromkeys(code_hashes)],
            )

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        changed = await self._execute(
            "DELETE FROM recovery_codes WHERE user_id = ? AND code_hash = ?", (user_id, code_hash)
        )
        return changed > 0

    async def count_recovery_codes(self, user_id: str) -> int:
        row = await self._fetchone("SELECT count(*) FROM recovery_codes WHERE user_id = ?", (user_id,))
        return 0 if row is None else int(row[0])

    # -- passkeys ---------------------------------------------------------------------------------

    async def add_authenticator(self, authenticator: Authenticator) -> None:
        with _conflict(PasskeyInUse, on="primary_key"):
            await self._execute(
                _ADD_AUTHENTICATOR_SQL,
                (
                    authenticator.credential_id,
                    authenticator.user_id,
                    authenticator.public_key,
                    authenticator.sign_count,
                    authenticator.name,
                    _ts(authenticator.created_at),
                    json.dumps(list(authenticator.transports)),
                    int(authenticator.backed_up),
                    None if authenticator.last_used_at is None else _ts(authenticator.last_used_at),
                ),
            )

    async def get_authenticator(self, credential_id: str) -> Authenticator | None:
        row = await self._fetchone(_AUTHENTICATOR_SQL, (credential_id,))
        return None if row is None else _authenticator(row)

    async def list_authenticators(self, user_id: str) -> list[Authenticator]:
        rows = await self._fetch(_USER_AUTHENTICATORS_SQL, (user_id,))
        return [_authenticator(row) for row in rows]

    async def update_authenticator_use(self, credential_id: str, *, sign_count: int, now: datetime) -> bool:
        changed = await self._execute(
            _AUTHENTICATOR_USE_SQL, {"count": sign_count, "now": _ts(now), "id": credential_id}
        )
        return changed > 0

    async def rename_authenticator(self, user_id: str, credential_id: str, name: str) -> bool:
        changed = await self._execute(
            "UPDATE authenticators SET name = ? WHERE credential_id = ? AND user_id = ?",
            (name, credential_id, user_id),
        )
        return changed > 0

    async def delete_authenticator(self, user_id: str, credential_id: str) -> bool:
        changed = await self._execute(
            "DELETE FROM authenticators WHERE credential_id = ? AND user_id = ?", (credential_id, user_id)
        )
        return changed > 0

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"
