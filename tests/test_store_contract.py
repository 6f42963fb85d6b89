"""Every store adapter passes the same contract, plus adapter-specific failure behaviour."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import subprocess
import sys
import typing
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

import authgate.stores
from authgate._errors import Configuration, ServiceUnavailable
from authgate.stores import MemoryStore, PostgresStore, RedisStore, SQLiteStore, Store, User, base, store_from_url
from authgate.testing import StoreContract

from .conftest import fresh_pg_schema, fresh_redis_prefix

NOW = datetime(2031, 1, 1, tzinfo=UTC)


def _user(user_id: str = "u1", email: str = "ada@example.com") -> User:
    return User(id=user_id, email=email, name="", email_verified=False, image=None, created_at=NOW, updated_at=NOW)


class TestMemoryStore(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[Store]:
        store = MemoryStore()
        await store.open()
        yield store
        await store.close()


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        store = SQLiteStore(f"sqlite:///{tmp_path / 'authgate.db'}")
        await store.open()
        yield store
        await store.close()

    async def test_data_survives_close_and_reopen_of_a_file(self, tmp_path: Path) -> None:
        path = tmp_path / "reopen.db"
        first = SQLiteStore(path)
        await first.open()
        await first.create_user(_user(), email_key="ada@example.com", password_hash="h")
        await first.close()
        second = SQLiteStore(str(path))
        await second.open()
        try:
            assert await second.get_user("u1") == _user()
        finally:
            await second.close()

    async def test_file_uses_wal_journal(self, tmp_path: Path) -> None:
        store = SQLiteStore(tmp_path / "wal.db")
        await store.open()
        await store.close()
        with sqlite3.connect(tmp_path / "wal.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    async def test_memory_url_works_and_starts_empty(self) -> None:
        store = SQLiteStore("sqlite:///:memory:")
        await store.open()
        try:
            assert await store.get_user("u1") is None
            await store.create_user(_user(), email_key="ada@example.com", password_hash=None)
            assert await store.get_user("u1") == _user()
        finally:
            await store.close()

    async def test_unopenable_path_raises_service_unavailable(self, tmp_path: Path) -> None:
        store = SQLiteStore(tmp_path / "missing-dir" / "x.db")
        with pytest.raises(ServiceUnavailable):
            await store.open()

    async def test_database_locked_past_busy_timeout_raises_service_unavailable(self, tmp_path: Path) -> None:
        path = tmp_path / "locked.db"
        store = SQLiteStore(path, busy_timeout=0.1)
        await store.open()
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            with pytest.raises(ServiceUnavailable):
                await store.create_user(_user(), email_key="ada@example.com", password_hash=None)
            blocker.execute("ROLLBACK")
            await store.create_user(_user(), email_key="ada@example.com", password_hash=None)
        finally:
            blocker.close()
            await store.close()

    async def test_use_before_open_raises_service_unavailable(self, tmp_path: Path) -> None:
        with pytest.raises(ServiceUnavailable):
            await SQLiteStore(tmp_path / "x.db").get_user("u1")


class TestPostgresStore(StoreContract):
    @pytest.fixture
    async def store(self, pg_store: PostgresStore) -> AsyncIterator[Store]:
        yield pg_store

    async def test_unreachable_server_on_open_raises_service_unavailable(self) -> None:
        store = PostgresStore("postgresql://postgres@127.0.0.1:1/test", command_timeout=1.0)
        with pytest.raises(ServiceUnavailable):
            await store.open()

    async def test_use_after_close_raises_service_unavailable(self, pg_url: str, pg_schema: str) -> None:
        store = PostgresStore(pg_url, schema=pg_schema, min_size=1)
        await store.open()
        await store.close()
        await store.close()
        with pytest.raises(ServiceUnavailable):
            await store.get_user("u1")

    async def _blocked_get_user(
        self, store: PostgresStore, admin: asyncpg.Connection
    ) -> tuple[asyncio.Task[object], int]:
        """Start store.get_user() while `admin` holds an exclusive lock on users; return once it waits."""
        pid = await store.pool.fetchval("SELECT pg_backend_pid()")  # max_size=1: the pool's only connection
        await admin.execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        task: asyncio.Task[object] = asyncio.ensure_future(store.get_user("u1"))
        for _ in range(500):  # poll for a state, at most ~5 s
            if await admin.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("get_user never blocked on the lock")
        return task, pid

    async def test_connection_killed_mid_query_raises_service_unavailable_then_recovers(
        self, pg_url: str, pg_schema: str
    ) -> None:
        store = PostgresStore(pg_url, schema=pg_schema, min_size=1, max_size=1)
        await store.open()
        admin = await asyncpg.connect(pg_url, server_settings={"search_path": pg_schema})
        try:
            task, pid = await self._blocked_get_user(store, admin)
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            with pytest.raises(ServiceUnavailable):
                await task
            await admin.execute("ROLLBACK")
            # The dead connection is discarded; the next request gets a fresh one.
            assert await store.get_user("u1") is None
        finally:
            await admin.close()
            await store.close()

    async def test_query_waiting_past_command_timeout_raises_service_unavailable(
        self, pg_url: str, pg_schema: str
    ) -> None:
        store = PostgresStore(pg_url, schema=pg_schema, min_size=1, max_size=1, command_timeout=0.3)
        await store.open()
        admin = await asyncpg.connect(pg_url, server_settings={"search_path": pg_schema})
        try:
            task, _ = await self._blocked_get_user(store, admin)
            with pytest.raises(ServiceUnavailable):
                await task
            await admin.execute("ROLLBACK")
            assert await store.get_user("u1") is None
        finally:
            await admin.close()
            await store.close()

    async def test_existing_pool_is_used_and_left_open(self, pg_url: str, pg_schema: str) -> None:
        pool = await asyncpg.create_pool(pg_url, min_size=1, max_size=2, server_settings={"search_path": pg_schema})
        try:
            store = PostgresStore(pool=pool)
            await store.open()
            await store.create_user(_user(), email_key="ada@example.com", password_hash=None)
            await store.close()
            assert not pool.is_closing()
            assert await pool.fetchval("SELECT count(*) FROM users") == 1
        finally:
            await pool.close()

    def test_needs_exactly_one_of_url_and_pool(self) -> None:
        with pytest.raises(Configuration):
            PostgresStore()

    def test_rejects_a_schema_name_that_is_not_an_identifier(self) -> None:
        with pytest.raises(Configuration):
            PostgresStore("postgresql://x/y", schema='a"; DROP TABLE users; --')


class TestRedisStore(StoreContract):
    """The Redis session cache over each kind of primary; the contract passes unchanged through it."""

    @pytest.fixture(params=["memory", "postgres+local"])
    async def store(self, request: pytest.FixtureRequest, pg_url: str, redis_url: str) -> AsyncIterator[Store]:
        async with contextlib.AsyncExitStack() as stack:
            prefix = await stack.enter_async_context(fresh_redis_prefix(redis_url))
            if request.param == "memory":
                store = RedisStore(MemoryStore(), redis_url, key_prefix=prefix)
            else:
                schema = await stack.enter_async_context(fresh_pg_schema(pg_url))
                primary = PostgresStore(pg_url, schema=schema, min_size=1, max_size=10)
                store = RedisStore(primary, redis_url, key_prefix=prefix, local_cache=True)
            await store.open()
            stack.push_async_callback(store.close)
            yield store


def test_stores_exports_what_a_store_author_needs() -> None:
    """The public API for adapters: the protocol, the records it takes and returns, the stores.
    Changing it is a decision: update this list on purpose."""
    assert sorted(authgate.stores.__all__) == [
        "Account", "AuthEvent", "Authenticator", "MFAFactor", "MemoryStore", "PostgresStore", "RedisStore",
        "RetiredRefresh", "SQLiteStore", "Session", "Store", "StoredCredentials", "User", "VerificationToken",
        "store_from_url",
    ]  # fmt: skip
    for name in authgate.stores.__all__:
        assert getattr(authgate.stores, name) is not None


def test_every_type_in_the_store_protocol_is_public() -> None:
    """A store author never needs a private module: every name the Store signatures use is exported."""
    used = set()
    for name, member in vars(base.Store).items():
        if callable(member) and not name.startswith("_"):
            used |= set(re.findall(r"[A-Z][A-Za-z]+", str(typing.get_type_hints(member, vars(base)))))
    private = {name for name in used if hasattr(base, name) and name not in authgate.stores.__all__}
    assert private == set()


def test_store_from_url_picks_the_adapter_by_scheme(tmp_path: Path) -> None:
    assert isinstance(store_from_url("memory://"), MemoryStore)
    assert isinstance(store_from_url(f"sqlite:///{tmp_path}/a.db"), SQLiteStore)
    assert isinstance(store_from_url("postgresql://postgres@127.0.0.1/test"), PostgresStore)
    assert isinstance(store_from_url("postgres://postgres@127.0.0.1/test"), PostgresStore)
    with pytest.raises(Configuration):
        store_from_url("mysql://localhost/db")


def test_stores_package_imports_without_asyncpg() -> None:
    code = (
        "import sys; sys.modules['asyncpg'] = None\n"
        "import authgate.stores as s\n"
        "assert s.MemoryStore and s.SQLiteStore and s.store_from_url\n"
        "try:\n    s.PostgresStore\nexcept ImportError:\n    print('lazy')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lazy"
