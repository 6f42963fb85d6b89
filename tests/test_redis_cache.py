"""RedisStore as a session cache: the stated revocation bound across instances, the hit path, the
access-expiry bound, fill races and Redis outages. Real Postgres and Redis throughout; "instances"
are RedisStore objects with their own connections over the same database schema and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from authgate.stores import MemoryStore, PostgresStore, RedisStore, Session, User
from authgate.testing import hash_token

DOWN_REDIS_URL = "redis://127.0.0.1:1/0"
BOUND = 1.0  # seconds: the revocation bound these tests hold the local cache to (local_ttl is below it)
LOCAL_TTL = 0.8


class CountingPostgresStore(PostgresStore):
    """A real PostgresStore that counts session lookups, to tell cache hits from store reads."""

    lookups = 0

    async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        self.lookups += 1
        return await super().get_session_by_token(token_hash)


class CountingMemoryStore(MemoryStore):
    lookups = 0

    async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        self.lookups += 1
        return await super().get_session_by_token(token_hash)


def _user() -> User:
    now = datetime.now(UTC)
    return User(id=secrets.token_hex(8), email=f"{secrets.token_hex(4)}@example.com", name="Ada",
                email_verified=True, image=None, created_at=now, updated_at=now)  # fmt: skip


def _session(user: User, *, access: timedelta = timedelta(minutes=15), now: datetime | None = None) -> Session:
    now = now or datetime.now(UTC)
    return Session(id=secrets.token_hex(8), user_id=user.id, expires_at=now + access,
                   refresh_expires_at=now + timedelta(days=30), created_at=now, last_used_at=now)  # fmt: skip


async def _sign_in(store: RedisStore | MemoryStore, user: User | None = None) -> tuple[User, Session, str, str]:
    """A user (created when not given) with a new session; returns the token and refresh hashes."""
    if user is None:
        user = _user()
        await store.create_user(user, email_key=user.email, password_hash="$argon2id$secret-hash")
    session = _session(user)
    token_hash, refresh_hash = hash_token(secrets.token_urlsafe(32)), hash_token(secrets.token_urlsafe(32))
    await store.create_session(session, token_hash=token_hash, refresh_hash=refresh_hash)
    return user, session, token_hash, refresh_hash


async def _until(condition: Callable[[], bool], what: str, limit: float = 5.0) -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _subscribed(*stores: RedisStore) -> None:
    # The local cache is used only once the invalidation channel is subscribed.
    await _until(lambda: all(s._invalidations.listening for s in stores), "the invalidation channel subscription")


async def _rejected_within(store: RedisStore, token_hash: str, what: str, limit: float = BOUND) -> float:
    """Poll every 20 ms until `store` no longer accepts the token; the seconds it took (< limit)."""
    start = time.monotonic()
    while await store.get_session_by_token(token_hash) is not None:
        elapsed = time.monotonic() - start
        assert elapsed < limit, f"{what}: still accepted after {elapsed:.3f} s"
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - start
    print(f"\n[revocation latency] {what}: {elapsed * 1000:.1f} ms")
    return elapsed


@pytest.fixture
async def instances(
    pg_url: str, pg_schema: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[Callable[..., Any]]:
    """Build RedisStores ("instances") over one Postgres schema and one Redis namespace; all closed after."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(*, local_cache: bool, url: str = redis_url, **options: Any) -> RedisStore:
            primary = CountingPostgresStore(pg_url, schema=pg_schema, min_size=1, max_size=4)
            store = RedisStore(primary, url, key_prefix=redis_prefix, local_cache=local_cache, **options)
            await store.open()
            stack.push_async_callback(store.close)
            return store

        yield make


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _lookups(store: RedisStore) -> int:
    primary = store.primary
    assert isinstance(primary, CountingPostgresStore | CountingMemoryStore)
    return primary.lookups


# -- the revocation bound -------------------------------------------------------------------------


async def test_revocation_on_one_instance_is_rejected_by_the_other_at_once_without_local_cache(
    instances: Callable[..., Any],
) -> None:
    a, b = await instances(local_cache=False), await instances(local_cache=False)
    _, session, token_hash, _ = await _sign_in(a)
    assert await b.get_session_by_token(token_hash) is not None
    assert await b.get_session_by_token(token_hash) is not None  # now from Redis
    start = time.monotonic()
    assert await a.delete_session(session.id) is True
    assert await b.get_session_by_token(token_hash) is None  # the very next check, no waiting
    print(
        f"\n[revocation latency] no local cache, sign-out on A -> B rejects: {(time.monotonic() - start) * 1000:.1f} ms"
    )


async def test_revocation_with_local_cache_is_rejected_by_the_other_within_the_bound(
    instances: Callable[..., Any],
) -> None:
    a = await instances(local_cache=True, local_ttl=LOCAL_TTL)
    b = await instances(local_cache=True, local_ttl=LOCAL_TTL)
    await _subscribed(a, b)
    _, session, token_hash, _ = await _sign_in(a)
    assert await b.get_session_by_token(token_hash) is not None
    before = _lookups(b)
    assert await b.get_session_by_token(token_hash) is not None
    assert _lookups(b) == before  # a cache hit, so B really holds a local copy that must be dropped
    assert await a.delete_session(session.id) is True
    await _rejected_within(b, token_hash, "local cache, sign-out on A -> B rejects")
    assert await a.get_session_by_token(token_hash) is None


async def test_password_change_on_one_instance_ends_every_session_on_the_other_within_the_bound(
    instances: Callable[..., Any],
) -> None:
    a = await instances(local_cache=True, local_ttl=LOCAL_TTL)
    b = await instances(local_cache=True, local_ttl=LOCAL_TTL)
    await _subscribed(a, b)
    user, _, first, _ = await _sign_in(a)
    _, _, second, _ = await _sign_in(a, user)
    for token_hash in (first, second):
        assert await b.get_session_by_token(token_hash) is not None
    await a.set_password_hash(user.id, "$argon2id$new-hash", now=datetime.now(UTC))
    assert await a.delete_user_sessions(user.id) == 2
    for token_hash in (first, second):
        await _rejected_within(b, token_hash, "local cache, password change on A -> B rejects")


async def test_refresh_rotation_on_one_instance_kills_the_old_access_token_on_the_other(
    instances: Callable[..., Any],
) -> None:
    a = await instances(local_cache=True, local_ttl=LOCAL_TTL)
    b = await instances(local_cache=True, local_ttl=LOCAL_TTL)
    await _subscribed(a, b)
    user, session, old_token, old_refresh = await _sign_in(a)
    assert await b.get_session_by_token(old_token) is not None
    now = datetime.now(UTC)
    new_token, new_refresh = hash_token(secrets.token_urlsafe(32)), hash_token(secrets.token_urlsafe(32))
    rotated = await a.rotate_refresh(
        session.id, old_refresh_hash=old_refresh, token_hash=new_token, refresh_hash=new_refresh,
        expires_at=now + timedelta(minutes=15), refresh_expires_at=now + timedelta(days=30), now=now,
    )  # fmt: skip
    assert rotated is not None
    await _rejected_within(b, old_token, "local cache, refresh rotation on A -> old access token on B")
    assert await b.get_session_by_token(new_token) == (rotated, user)


async def test_revocation_without_local_cache_is_immediate_for_user_updates_and_deletion_too(
    instances: Callable[..., Any],
) -> None:
    a, b = await instances(local_cache=False), await instances(local_cache=False)
    user, _, token_hash, _ = await _sign_in(a)
    assert await b.get_session_by_token(token_hash) is not None
    renamed = replace(user, name="Ada Lovelace", updated_at=datetime.now(UTC))
    await a.update_user(renamed)
    found = await b.get_session_by_token(token_hash)
    assert found is not None and found[1] == renamed
    assert await a.delete_user(user.id) is True
    assert await b.get_session_by_token(token_hash) is None


async def test_cleanup_of_refresh_expired_sessions_drops_their_cache_entries_whatever_the_clock(
    instances: Callable[..., Any],
) -> None:
    a, b = await instances(local_cache=False), await instances(local_cache=False)
    _, session, token_hash, _ = await _sign_in(a)
    assert await b.get_session_by_token(token_hash) is not None
    later = session.refresh_expires_at + timedelta(seconds=1)  # the engine's clock may run ahead of Redis'
    assert await a.delete_expired_sessions(now=later, limit=100) == 1
    assert await b.get_session_by_token(token_hash) is None


async def test_a_lookup_racing_a_revocation_cannot_write_the_revoked_session_back(
    redis_url: str, redis_prefix: str
) -> None:
    """B reads the store, A revokes, then B's cache fill arrives: it must be refused."""
    read, release = asyncio.Event(), asyncio.Event()

    class SlowMemoryStore(MemoryStore):
        async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
            found = await super().get_session_by_token(token_hash)
            read.set()
            await release.wait()
            return found

    primary = SlowMemoryStore()
    a = RedisStore(primary, redis_url, key_prefix=redis_prefix)
    b = RedisStore(primary, redis_url, key_prefix=redis_prefix)
    await a.open()
    await b.open()
    try:
        _, session, token_hash, _ = await _sign_in(primary)
        lookup = asyncio.create_task(b.get_session_by_token(token_hash))
        await read.wait()
        assert await a.delete_session(session.id) is True
        release.set()
        assert await lookup is not None  # it read before the revocation: that answer is fair
        read.clear()
        assert await b.get_session_by_token(token_hash) is None  # but nothing stale was cached
    finally:
        release.set()
        await a.close()
        await b.close()


# -- the hit path and the expiry bound ----------------------------------------------------------


async def test_second_lookup_is_served_from_redis_without_touching_the_store(instances: Callable[..., Any]) -> None:
    a, b = await instances(local_cache=False), await instances(local_cache=False)
    user, session, token_hash, _ = await _sign_in(a)
    assert await b.get_session_by_token(token_hash) == (session, user)
    # create_session wrote through, so even B's first lookup did not read the store.
    assert _lookups(b) == 0
    assert await b.get_session_by_token(token_hash) == (session, user)
    assert _lookups(b) == 0


async def test_lookup_fills_redis_on_a_miss_and_then_hits(
    redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> None:
    primary = CountingMemoryStore()
    store = RedisStore(primary, redis_url, key_prefix=redis_prefix)
    await store.open()
    try:
        user, session, token_hash, _ = await _sign_in(primary)  # written behind the cache's back
        assert await store.get_session_by_token(token_hash) == (session, user)
        assert primary.lookups == 1
        assert await redis_client.exists(f"{redis_prefix}:sc:t:{token_hash}") == 1
        assert await store.get_session_by_token(token_hash) == (session, user)
        assert primary.lookups == 1
        assert await store.get_session_by_token(hash_token("unknown")) is None
    finally:
        await store.close()


async def test_local_cache_hit_needs_neither_redis_nor_the_store(
    redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> None:
    primary = CountingMemoryStore()
    store = RedisStore(primary, redis_url, key_prefix=redis_prefix, local_cache=True)
    await store.open()
    try:
        await _subscribed(store)
        user, session, token_hash, _ = await _sign_in(primary)
        assert await store.get_session_by_token(token_hash) == (session, user)
        await redis_client.delete(f"{redis_prefix}:sc:t:{token_hash}")  # so only the local copy is left
        assert await store.get_session_by_token(token_hash) == (session, user)
        assert primary.lookups == 1
    finally:
        await store.close()


async def test_cached_entries_never_outlive_the_access_expiry(
    redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> None:
    wall = [datetime.now(UTC)]
    primary = CountingMemoryStore()
    store = RedisStore(
        primary, redis_url, key_prefix=redis_prefix, local_cache=True, local_ttl=60, clock=lambda: wall[0]
    )
    await store.open()
    try:
        await _subscribed(store)
        user = _user()
        await primary.create_user(user, email_key=user.email, password_hash=None)
        session = _session(user, access=timedelta(seconds=1.5), now=wall[0])
        token_hash = hash_token("short-lived")
        await primary.create_session(session, token_hash=token_hash, refresh_hash=hash_token("r"))
        assert await store.get_session_by_token(token_hash) == (session, user)
        ttl = await redis_client.pttl(f"{redis_prefix}:sc:t:{token_hash}")
        assert 0 < ttl <= 1500
        assert await redis_client.pttl(f"{redis_prefix}:sc:s:{session.id}") <= 1500
        assert await store.get_session_by_token(token_hash) is not None
        assert primary.lookups == 1
        # Past the access expiry the local copy is gone although local_ttl (60 s) is not over.
        wall[0] = session.expires_at
        await redis_client.delete(f"{redis_prefix}:sc:t:{token_hash}")  # Redis' own clock expires it for real
        assert await store.get_session_by_token(token_hash) is not None
        assert primary.lookups == 2
        # An expired session is still returned (the engine answers SessionExpired) but never cached.
        assert await redis_client.exists(f"{redis_prefix}:sc:t:{token_hash}") == 0
        assert await store.get_session_by_token(token_hash) is not None
        assert primary.lookups == 3
    finally:
        await store.close()


async def test_cached_values_hold_public_fields_only(
    redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> None:
    store = RedisStore(MemoryStore(), redis_url, key_prefix=redis_prefix)
    await store.open()
    try:
        _, _, token_hash, refresh_hash = await _sign_in(store)
        value = await redis_client.get(f"{redis_prefix}:sc:t:{token_hash}")
        assert isinstance(value, bytes) and b'"Ada"' in value
        assert b"argon2" not in value and refresh_hash.encode() not in value
    finally:
        await store.close()


# -- Redis down ---------------------------------------------------------------------------------


async def test_unreachable_redis_falls_back_to_the_store_and_revocations_still_work(
    instances: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="authgate.redis")
    a = await instances(local_cache=True, url=DOWN_REDIS_URL)
    b = await instances(local_cache=True, url=DOWN_REDIS_URL)
    user, session, token_hash, _ = await _sign_in(a)
    for _ in range(3):
        assert await b.get_session_by_token(token_hash) == (session, user)
    assert await a.delete_session(session.id) is True
    assert await b.get_session_by_token(token_hash) is None
    assert await a.get_session_by_token(token_hash) is None
    warnings = [r for r in caplog.records if r.name == "authgate.redis" and "unavailable" in r.getMessage()]
    assert len(warnings) == 2  # once per instance for the whole outage


class _Proxy:
    """A TCP relay to Redis that a test can cut, so one instance loses Redis while others keep it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.links):
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_invalidation_missed_during_an_outage_is_delivered_when_redis_is_back(
    instances: Callable[..., Any], redis_url: str
) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    proxy = _Proxy(port)
    await proxy.start()
    a = await instances(local_cache=True, url=f"redis://127.0.0.1:{proxy.port}/0")
    b = await instances(local_cache=False)
    try:
        await _subscribed(a)
        _, session, token_hash, _ = await _sign_in(a)
        assert await b.get_session_by_token(token_hash) is not None  # cached in Redis
        await proxy.cut()
        assert await a.delete_session(session.id) is True  # Redis unreachable for A: queued
        assert await a.get_session_by_token(token_hash) is None  # A itself reads the store meanwhile
        await proxy.start()  # same port again
        # Not the stated bound (that needs the revoking instance to reach Redis): A's background task
        # retries once a second.
        await _rejected_within(b, token_hash, "invalidation queued during an outage, delivered on recovery", 5.0)
    finally:
        with contextlib.suppress(Exception):
            await proxy.cut()


def test_stores_package_imports_without_redis() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import authgate.stores as s\n"
        "assert s.MemoryStore and s.store_from_url('memory://')\n"
        "try:\n    s.RedisStore\nexcept ImportError:\n    print('lazy')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "lazy"
