"""`RedisStore`: a session cache in Redis (and optionally in process) in front of any `Store`.

It is a decorator: the engine sees an ordinary `Store` and never knows that a cache exists. Only
the session check (`get_session_by_token`) is served from the cache; every other read goes to the
primary store, so sensitive operations (session list, credentials, MFA, passkeys) always read the
database. Rate-limit counters live in Redis through `RateLimitOptions(storage_url="redis://...")`.

The keys and scripts it uses in Redis are described in `_redis_format`; outages and invalidations
are handled in `_redis_channel`; the methods it passes through uncached are in `_uncached`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Unpack

from .._optional import extra_error

try:
    import redis.asyncio as aioredis
except ModuleNotFoundError as error:
    raise extra_error(error, "redis") from None

from .._errors import Configuration
from .._models import Session, User
from .._redis_bounds import CircuitBreaker, ConnectionSlots, RedisBusy, blocking_pool, check_bounds
from ._local_cache import Found, LocalSessionCache
from ._redis_channel import REDIS_ERRORS, CacheHealth, Invalidations
from ._redis_format import FILL_LUA, decode_entry, encode_entry
from ._uncached import Uncached
from .base import RefreshRotation, Store

__all__ = ["RedisStore"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RedisStore(Uncached):
    """Any `Store` with its session checks cached in Redis, and optionally in process.

    `get_session_by_token` reads the local cache (if `local_cache`), then Redis, then `primary`,
    filling both on a miss; a Redis entry lives at most `cache_ttl`, never past the session's access expiry.
    Every write that can end or change a session or its user (`rotate_refresh`,
    `delete_session`, `delete_user_sessions`, `delete_expired_sessions`, `set_password_hash`,
    `update_user`, `delete_user`) first writes the primary, then deletes the affected Redis keys
    and publishes the invalidation to every instance before it returns. All other methods go
    straight to `primary`, uncached. Values hold public session and user fields only.

    Revocation bound (after sign-out, password change, refresh rotation, revoke). The primary
    store is written first: the revocation is durable before anything touches the cache, and the
    revoking call returns only after that write.
      - while the revoking instance reaches Redis: without the local cache, no instance accepts
        the session once the revoking call returned; with `local_cache=True`, none accepts it
        longer than `local_ttl` seconds (2 s by default; pub/sub normally takes milliseconds);
      - whatever happens to Redis or to the revoking instance (Redis slow, stalled, refusing
        connections, at its connection cap; the instance killed right after answering): no
        instance accepts the session longer than `cache_ttl` seconds (30 s by default). Every
        cache entry, in Redis and in process, carries a deadline `cache_ttl` after the lookup
        that filled it began, and no reader serves it past that deadline.
    When Redis fails or is slower than `redis_timeout`, nothing is raised: session checks read the
    primary, the local cache is cleared and bypassed until Redis answers and the invalidation
    channel is subscribed again, and invalidations that could not be delivered are queued and
    delivered by a background task before this instance reads Redis again. The circuit breaker
    then skips Redis for `circuit_reset` seconds, so an outage costs one timeout, not one per
    request. At most `max_connections` calls use Redis at once; a call that waits longer than
    `pool_timeout` for one reads the primary (a busy process is not a Redis outage). A warning is
    logged once per outage. `close()` delivers queued invalidations first (for up to 2 s) and
    logs an error naming what it could not deliver; `cache_ttl` still bounds those.

    `open()` opens the primary and starts the background task; `close()` closes both. Redis is
    used standalone (no Cluster: the scripts build key names).
    """

    def __init__(
        self,
        # The store that holds the data (PostgresStore, SQLiteStore, ...); every write goes there first.
        primary: Store,
        # "redis://host:port/db" (or "rediss://"); standalone Redis, not Cluster.
        redis_url: str,
        *,
        # Namespace of every key and of the invalidation channel: one per application sharing a Redis.
        key_prefix: str = "authgate",
        # Also cache session checks in process, for at most local_ttl seconds.
        local_cache: bool = False,
        # Seconds a session check may be answered from the in-process cache (the revocation bound).
        local_ttl: float = 2.0,
        # Size of the in-process cache (least recently used evicted).
        local_max_entries: int = 10_000,
        # Seconds for connecting to Redis and each reply; never retried.
        redis_timeout: float = 0.5,
        # The longest any cache entry (Redis or in process) is served after the lookup that filled it:
        # the revocation bound when Redis or the revoking instance fails.
        cache_ttl: float = 30.0,
        # Redis calls at once per process (pool size; one more connection for the invalidation channel).
        max_connections: int = 50,
        # Seconds waiting for one of those connections; past it the check reads the primary store (a
        # busy process is not an outage).
        pool_timeout: float = 1.0,
        # After a Redis failure, Redis is skipped for this many seconds, then one call probes it: an
        # outage costs one redis_timeout, not one per request.
        circuit_reset: float = 1.0,
        # Current time for cache expiry; tests inject their own.
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not key_prefix or any(c.isspace() for c in key_prefix):
            raise Configuration("RedisStore key_prefix must be a non-empty string without spaces")
        check_bounds("RedisStore", local_ttl=local_ttl, local_max_entries=local_max_entries,
                     redis_timeout=redis_timeout, cache_ttl=cache_ttl, max_connections=max_connections,
                     pool_timeout=pool_timeout, circuit_reset=circuit_reset)  # fmt: skip
        if not isinstance(max_connections, int):
            raise Configuration("RedisStore max_connections must be an integer")
        self.primary = primary
        self.key_prefix = key_prefix
        self.local_ttl = local_ttl
        self.redis_timeout = redis_timeout
        self.cache_ttl = cache_ttl
        self._keys = f"{key_prefix}:sc:"
        self._clock = clock or _utcnow
        self._local = (
            LocalSessionCache(ttl=local_ttl, max_entries=local_max_entries, wall_clock=self._clock)
            if local_cache
            else None
        )
        # One try per call: a retry would only double the wait on a dead Redis. One connection more
        # than the slots: the invalidation channel holds one for as long as it is subscribed.
        self._pool = blocking_pool(
            redis_url, max_connections=max_connections + 1, timeout=redis_timeout, pool_timeout=pool_timeout, retries=0
        )
        self._redis = aioredis.Redis(connection_pool=self._pool)
        self._slots = ConnectionSlots(max_connections, pool_timeout)
        self._health = CacheHealth(key_prefix, CircuitBreaker(circuit_reset), self._local)
        self._invalidations = Invalidations(
            self._redis, self._keys, health=self._health, slots=self._slots, local=self._local, cache_ttl=cache_ttl
        )
        self.channel = self._invalidations.channel
        self._fill_script = self._redis.register_script(FILL_LUA)

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        await self.primary.open()
        self._invalidations.start()

    async def close(self) -> None:
        await self._invalidations.stop()
        await self._redis.aclose()
        await self._pool.disconnect()
        await self.primary.close()

    # -- health --------------------------------------------------------------------------------

    def _redis_usable(self) -> bool:
        """True when this call may use Redis (see `CircuitBreaker.allow`: a half-open breaker makes
        the caller its probe, so every True must end in `failed`, `recovered` or `busy`)."""
        return not self._invalidations.pending() and self._health.breaker.allow()

    def _local_cache(self) -> LocalSessionCache | None:
        """The local cache while it can be trusted: Redis healthy and the channel subscribed."""
        return self._local if self._invalidations.listening and not self._health.outage else None

    # -- the cached lookup -----------------------------------------------------------------------

    async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        local = self._local_cache()
        generation = local.generation if local is not None else 0
        if local is not None and (hit := local.get(token_hash)) is not None:
            return hit
        started = time.time()  # an entry filled from this lookup is served until started + cache_ttl
        seen: str | None = None  # the Redis generation, when Redis answered
        if self._redis_usable():
            try:
                async with self._slots.slot(), self._redis.pipeline(transaction=False) as pipe:
                    pipe.get(self._keys + "t:" + token_hash)
                    pipe.get(self._keys + "gen")
                    raw, gen = await pipe.execute()
            except RedisBusy:
                self._health.busy()
            except REDIS_ERRORS as error:
                self._health.failed(error)
            else:
                self._health.recovered()
                cached = decode_entry(raw) if raw is not None else None
                if cached is not None:
                    if local is not None:
                        local.put(token_hash, cached[0], generation=generation, max_age=cached[1])
                    return cached[0]
                seen = gen.decode() if gen is not None else ""
        found = await self.primary.get_session_by_token(token_hash)
        if found is not None:
            if seen is not None:
                await self._fill(token_hash, found, seen, started)
            if local is not None:
                local.put(token_hash, found, generation=generation, max_age=started + self.cache_ttl - time.time())
        return found

    async def _generation(self) -> str | None:
        if not self._redis_usable():
            return None
        try:
            async with self._slots.slot():
                gen = await self._redis.get(self._keys + "gen")
        except RedisBusy:
            self._health.busy()
            return None
        except REDIS_ERRORS as error:
            self._health.failed(error)
            return None
        self._health.recovered()
        return gen.decode() if isinstance(gen, bytes) else ""

    async def _fill(self, token_hash: str, found: Found, generation: str, started: float) -> None:
        session, user = found
        deadline_ms = int((started + self.cache_ttl) * 1000)
        ttl_ms = min(
            int((session.expires_at - self._clock()).total_seconds() * 1000), deadline_ms - int(time.time() * 1000)
        )
        if ttl_ms <= 0:
            return
        args: list[str | int] = [self._keys, generation, token_hash, session.id, user.id,
                encode_entry(found, deadline_ms), ttl_ms, repr(session.refresh_expires_at.timestamp())]  # fmt: skip
        try:
            async with self._slots.slot():
                await self._fill_script(keys=[], args=args)
        except RedisBusy:
            pass  # a busy process skips the fill; the next lookup fills
        except REDIS_ERRORS as error:
            self._health.failed(error)

    # -- writes that end or change sessions: primary first, then invalidate ----------------------

    async def create_session(
        self, session: Session, *, token_hash: str, refresh_hash: str, credential_version: int | None = None
    ) -> bool:
        started = time.time()
        generation = await self._generation()
        created = await self.primary.create_session(
            session, token_hash=token_hash, refresh_hash=refresh_hash, credential_version=credential_version
        )
        if generation is None or not created:
            return created
        # Write-through: the first check on any instance is then a hit. The user row is read after
        # the insert; the generation read before it discards the fill if anything was revoked since.
        user = await self.primary.get_user(session.user_id)
        if user is not None:
            await self._fill(token_hash, (session, user), generation, started)
        return True

    async def rotate_refresh(self, session_id: str, **rotation: Unpack[RefreshRotation]) -> Session | None:
        try:
            return await self.primary.rotate_refresh(session_id, **rotation)
        finally:
            await self._invalidations.send(sessions=[session_id])

    async def delete_session(self, session_id: str) -> bool:
        try:
            return await self.primary.delete_session(session_id)
        finally:
            await self._invalidations.send(sessions=[session_id])

    async def delete_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        try:
            return await self.primary.delete_user_sessions(user_id, except_session_id=except_session_id)
        finally:
            await self._invalidations.send(users=[user_id])

    async def record_credential_change(self, user_id: str, *, keep_session_id: str | None) -> int:
        try:
            return await self.primary.record_credential_change(user_id, keep_session_id=keep_session_id)
        finally:
            await self._invalidations.send(users=[user_id])

    async def set_session_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        try:
            return await self.primary.set_session_auth_time(session_id, auth_time)
        finally:
            await self._invalidations.send(sessions=[session_id])

    async def delete_expired_sessions(self, *, now: datetime, limit: int) -> int:
        deleted = -1  # unknown until the primary answers: invalidate if it raised
        try:
            deleted = await self.primary.delete_expired_sessions(now=now, limit=limit)
            return deleted
        finally:
            if deleted:
                await self._invalidations.send(expired_before=now)

    async def set_password_hash(self, user_id: str, password_hash: str | None, *, now: datetime) -> None:
        try:
            await self.primary.set_password_hash(user_id, password_hash, now=now)
        finally:
            await self._invalidations.send(users=[user_id])

    async def update_user(self, user: User, *, email_key: str | None = None) -> None:
        try:
            await self.primary.update_user(user, email_key=email_key)
        finally:
            await self._invalidations.send(users=[user.id])

    async def delete_user(self, user_id: str) -> bool:
        try:
            return await self.primary.delete_user(user_id)
        finally:
            await self._invalidations.send(users=[user_id])
