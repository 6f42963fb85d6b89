"""Fixtures: real Postgres (one fresh schema per test), SQLite files, the memory store, and an
`Auth` with an injected clock over each of them."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from authgate import Auth
from authgate.stores import MemoryStore, PostgresStore, SQLiteStore
from authgate.stores.base import Store

from .support import SECRET, FakeClock, client_for

PG_URL = os.environ.get("AUTHGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The Postgres server the tests use (AUTHGATE_TEST_DATABASE_URL overrides)."""
    return PG_URL


@contextlib.asynccontextmanager
async def fresh_pg_schema(pg_url: str) -> AsyncIterator[str]:
    """A fresh, empty Postgres schema, dropped afterwards: test runs never collide."""
    try:
        conn = await asyncpg.connect(pg_url, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(f"Postgres is not reachable at {pg_url}: {error!r} (the tests need a real server)")
    name = f"t_{secrets.token_hex(6)}"
    await conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")
        await conn.close()


@pytest.fixture
async def pg_schema(pg_url: str) -> AsyncIterator[str]:
    """A fresh, empty Postgres schema for one test."""
    async with fresh_pg_schema(pg_url) as name:
        yield name


STORE_KINDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=STORE_KINDS)
async def store(request: pytest.FixtureRequest, tmp_path: object, pg_url: str) -> AsyncIterator[Store]:
    """Each of the three stores, opened and empty."""
    async with contextlib.AsyncExitStack() as stack:
        kind = request.param
        if kind == "memory":
            made: Store = MemoryStore()
        elif kind == "sqlite":
            made = SQLiteStore(f"sqlite:///{tmp_path}/auth.db")
        else:
            made = PostgresStore(pg_url, schema=await stack.enter_async_context(fresh_pg_schema(pg_url)))
        await made.open()
        stack.push_async_callback(made.close)
        yield made


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def auth(store: Store, clock: FakeClock) -> AsyncIterator[Auth]:
    made = Auth(store=store, secret=SECRET, clock=clock)
    yield made
    made.hasher.close()


@pytest.fixture
async def client(auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(auth) as made:
        yield made


@pytest.fixture
async def pg_conn(pg_url: str, pg_schema: str) -> AsyncIterator[asyncpg.Connection]:
    """An asyncpg connection whose search_path is `pg_schema`, with no tables created yet
    (migration tests start from nothing)."""
    conn = await asyncpg.connect(pg_url, server_settings={"search_path": pg_schema})
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def pg_store(pg_url: str, pg_schema: str) -> AsyncIterator[PostgresStore]:
    """An opened PostgresStore with authgate's schema applied in `pg_schema`; closed afterwards."""
    made = PostgresStore(pg_url, schema=pg_schema, min_size=1, max_size=10)
    await made.open()
    try:
        yield made
    finally:
        await made.close()


REDIS_URL = os.environ.get("AUTHGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server the tests use (AUTHGATE_TEST_REDIS_URL overrides)."""
    return REDIS_URL


@contextlib.asynccontextmanager
async def fresh_redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A Redis key prefix of its own, whose keys are deleted afterwards; fails (never skips) when
    Redis is not there."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except (aioredis.RedisError, OSError) as error:
        await client.aclose()
        pytest.fail(f"Redis is not reachable at {redis_url}: {error!r} (the tests need a real server)")
    prefix = f"authgate-test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A fresh Redis key prefix for one test."""
    async with fresh_redis_prefix(redis_url) as prefix:
        yield prefix
