"""`RedisStore`: a session cache in Redis (and optionally in process) in front of any `Store`.

It is a decorator: the engine sees an ordinary `Store` and never knows that a cache exists. Only
the session check (`get_session_by_token`) is served from the cache; every other read goes to the
primary store, so sensitive operations (session list, credentials, MFA, passkeys) always read the
database. Rate-limit counters live in Redis through `RateLimitOptions(storage_url="redis://...")`.

Redis keys, all under `<key_prefix>:sc:`:
  t:<token hash>  compact JSON of the session and its user (public fields) and the entry's
                  deadline: at most `cache_ttl` after the lookup that filled it began, never past
                  the session's access expiry; a reader refuses an entry past its deadline
  s:<session id>  the token hash cached for that session (so a revocation finds the entry)
  u:<user id>     set of the user's cached session ids (password change, user update)
  exp             sorted set: session id -> refresh expiry (so cleanup finds its entries)
  gen             a random value replaced on every invalidation: a cache fill that read the
                  primary before an invalidation sees another value and is dropped, so a lookup
                  racing a revocation can never write the revoked session back
and the channel `<key_prefix>:sc:invalidate` carries every invalidation to every instance.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Unpack

from .._optional import extra_error

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ModuleNotFoundError as error:
    raise extra_error(error, "redis") from None

from .._errors import Configuration
from .._models import Account, Authenticator, AuthEvent, MFAFactor, RetiredRefresh, Session, User, VerificationToken
from .._redis_bounds import CircuitBreaker, ConnectionSlots, RedisBusy, blocking_pool, check_bounds
from ._local_cache import Found, LocalSessionCache
from .base import RefreshRotation, Store, StoredCredentials

__all__ = ["RedisStore"]

logger = logging.getLogger("authgate.redis")

_REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
_CLOSE_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, *_REDIS_ERRORS)
_LISTEN_RETRY = 1.0  # seconds between attempts of the background task to subscribe again
_CLOSE_FLUSH = 2.0  # seconds close() spends delivering queued invalidations before it gives up (and logs)
_MAX_PENDING = 10_000  # queued invalidations past this become one flush of the whole cache
_FORMAT = 2

# ARGV: key prefix, generation read before the primary lookup, token hash, session id, user id,
# payload, TTL in ms, refresh expiry (POSIX seconds).
_FILL_LUA = """
local p = ARGV[1]
if (redis.call('GET', p .. 'gen') or '') ~= ARGV[2] then return 0 end
local ttl = tonumber(ARGV[7])
local old = redis.call('GET', p .. 's:' .. ARGV[4])
if old and old ~= ARGV[3] then redis.call('DEL', p .. 't:' .. old) end
redis.call('SET', p .. 't:' .. ARGV[3], ARGV[6], 'PX', ttl)
redis.call('SET', p .. 's:' .. ARGV[4], ARGV[3], 'PX', ttl)
local ukey = p .. 'u:' .. ARGV[5]
redis.call('SADD', ukey, ARGV[4])
if redis.call('PTTL', ukey) < ttl then redis.call('PEXPIRE', ukey, ttl) end
redis.call('ZADD', p .. 'exp', ARGV[8], ARGV[4])
return 1
"""

# ARGV: key prefix, the invalidation message (JSON, also published), a new generation value.
_INVALIDATE_LUA = """
local p = ARGV[1]
local msg = cjson.decode(ARGV[2])
local function drop(sid)
  local h = redis.call('GET', p .. 's:' .. sid)
  if h then redis.call('DEL', p .. 't:' .. h) end
  redis.call('DEL', p .. 's:' .. sid)
  redis.call('ZREM', p .. 'exp', sid)
end
for _, sid in ipairs(msg.s or {}) do drop(sid) end
for _, uid in ipairs(msg.u or {}) do
  for _, sid in ipairs(redis.call('SMEMBERS', p .. 'u:' .. uid)) do drop(sid) end
  redis.call('DEL', p .. 'u:' .. uid)
end
if type(msg.x) == 'string' then
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', p .. 'exp', '-inf', '(' .. msg.x)) do drop(sid) end
end
redis.call('SET', p .. 'gen', ARGV[3])
redis.call('PUBLISH', p .. 'invalidate', ARGV[2])
return 1
"""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError("timestamp")
    return datetime.fromisoformat(value)


def _encode(found: Found, deadline_ms: int) -> str:
    s, u = found
    return json.dumps(
        {
            "v": _FORMAT,
            "d": deadline_ms,
            "s": [s.id, s.user_id, _iso(s.expires_at), _iso(s.refresh_expires_at), _iso(s.created_at),
                  _iso(s.last_used_at), s.ip, s.user_agent, _iso(s.auth_time)],
            "u": [u.id, u.email, u.name, u.email_verified, u.image, _iso(u.created_at), _iso(u.updated_at),
                  u.credential_version],
        },
        separators=(",", ":"),
    )  # fmt: skip


def _decode(raw: bytes) -> tuple[Found, float] | None:
    """The cached pair and the seconds it may still be served, or None for anything unreadable
    (another format version, corruption) or past its deadline: a miss."""
    try:
        data = json.loads(raw)
        if data["v"] != _FORMAT:
            return None
        remaining = (int(data["d"]) - time.time() * 1000) / 1000
        if remaining <= 0:
            return None
        sid, user_id, expires, refresh_expires, created, last_used, ip, user_agent, auth_time = data["s"]
        uid, email, name, verified, image, user_created, user_updated, credential_version = data["u"]
        session = Session(
            id=sid, user_id=user_id, expires_at=_time(expires), refresh_expires_at=_time(refresh_expires),
            created_at=_time(created), last_used_at=_time(last_used) if last_used is not None else None,
            ip=ip, user_agent=user_agent, auth_time=_time(auth_time) if auth_time is not None else None,
        )  # fmt: skip
        user = User(
            id=uid, email=email, name=name, email_verified=bool(verified), image=image,
            created_at=_time(user_created), updated_at=_time(user_updated), credential_version=int(credential_version),
        )  # fmt: skip
    except (ValueError, TypeError, KeyError):
        return None
    return (session, user), remaining


class RedisStore:
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
        self.channel = f"{self._keys}invalidate"
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
        self._breaker = CircuitBreaker(circuit_reset)
        self._fill_script = self._redis.register_script(_FILL_LUA)
        self._invalidate_script = self._redis.register_script(_INVALIDATE_LUA)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._listening = False
        self._outage = False
        self._pending_sessions: set[str] = set()
        self._pending_users: set[str] = set()
        self._pending_expired: float | None = None
        self._pending_everything = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        await self.primary.open()
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._background(), name="authgate-redis-invalidations")

    async def close(self) -> None:
        task, self._task = self._task, None
        self._stopping = True
        # redis-py can swallow a cancellation that lands while it connects, so cancel until it ends.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        self._stopping = False
        await self._flush_on_close()
        await self._redis.aclose()
        await self._pool.disconnect()
        await self.primary.close()

    async def _flush_on_close(self) -> None:
        """Deliver queued invalidations before the process goes away (SIGTERM runs this through the
        lifespan); what cannot be delivered is named in an error log, and `cache_ttl` bounds it."""
        if not self._has_pending():
            return
        try:
            async with asyncio.timeout(_CLOSE_FLUSH):
                await self._deliver_pending()
        except _CLOSE_ERRORS as error:
            logger.error(
                "authgate: closing with undelivered session-cache invalidations (%d sessions, %d users%s; %s);"
                " other instances may accept those sessions for up to cache_ttl=%s s",
                len(self._pending_sessions), len(self._pending_users),
                ", everything" if self._pending_everything else "", type(error).__name__, self.cache_ttl,
            )  # fmt: skip

    # -- health --------------------------------------------------------------------------------

    def _redis_usable(self) -> bool:
        """True when this call may use Redis (see `CircuitBreaker.allow`: a half-open breaker makes
        the caller its probe, so every True must end in `_failed`, `_recovered` or `_busy`)."""
        return not self._has_pending() and self._breaker.allow()

    def _busy(self) -> None:
        self._breaker.release()

    def _local_cache(self) -> LocalSessionCache | None:
        """The local cache while it can be trusted: Redis healthy and the channel subscribed."""
        return self._local if self._listening and not self._outage else None

    def _failed(self, error: BaseException) -> None:
        self._breaker.failure()
        if self._local is not None:
            self._local.clear()
        if not self._outage:
            self._outage = True
            logger.warning(
                "authgate: Redis session cache %r unavailable (%s: %s); session checks read the primary store",
                self.key_prefix, type(error).__name__, error,
            )  # fmt: skip

    def _recovered(self) -> None:
        self._breaker.success()
        if self._outage:
            self._outage = False
            logger.warning("authgate: Redis session cache %r answers again", self.key_prefix)

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
                self._busy()
            except _REDIS_ERRORS as error:
                self._failed(error)
            else:
                self._recovered()
                cached = _decode(raw) if raw is not None else None
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
            self._busy()
            return None
        except _REDIS_ERRORS as error:
            self._failed(error)
            return None
        self._recovered()
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
                _encode(found, deadline_ms), ttl_ms, repr(session.refresh_expires_at.timestamp())]  # fmt: skip
        try:
            async with self._slots.slot():
                await self._fill_script(keys=[], args=args)
        except RedisBusy:
            pass  # a busy process skips the fill; the next lookup fills
        except _REDIS_ERRORS as error:
            self._failed(error)

    # -- invalidation ----------------------------------------------------------------------------

    async def _invalidate(
        self, *, sessions: Iterable[str] = (), users: Iterable[str] = (), expired_before: datetime | None = None
    ) -> None:
        """Drop cache entries here, in Redis and (through the channel) on every instance. Never raises."""
        session_ids, user_ids = sorted(set(sessions)), sorted(set(users))
        before = expired_before.timestamp() if expired_before is not None else None
        if self._local is not None:
            self._local.drop(session_ids=session_ids, user_ids=user_ids, refresh_expired_before=before)
        if self._breaker.is_open:  # a known outage: queue at once rather than wait out a timeout
            self._queue(session_ids, user_ids, before)
            return
        try:
            async with self._slots.slot():
                await self._send_invalidation(session_ids, user_ids, before)
        except RedisBusy:
            self._queue(session_ids, user_ids, before)  # delivered by the background task within ms
        except _REDIS_ERRORS as error:
            self._failed(error)
            self._queue(session_ids, user_ids, before)
        else:
            self._recovered()
            if self._local is not None:
                # Again: a lookup here may have copied the Redis entry before the script deleted it.
                self._local.drop(session_ids=session_ids, user_ids=user_ids, refresh_expired_before=before)

    async def _send_invalidation(
        self, sessions: list[str], users: list[str], before: float | None, *, everything: bool = False
    ) -> None:
        message: dict[str, Any] = {"s": sessions, "u": users}
        if before is not None:
            message["x"] = repr(before)
        if everything:
            message["all"] = True
        payload = json.dumps(message, separators=(",", ":"))
        await self._invalidate_script(keys=[], args=[self._keys, payload, secrets.token_hex(16)])

    def _has_pending(self) -> bool:
        return bool(
            self._pending_everything or self._pending_sessions or self._pending_users
            or self._pending_expired is not None
        )  # fmt: skip

    def _queue(self, sessions: Iterable[str], users: Iterable[str], before: float | None) -> None:
        self._pending_sessions.update(sessions)
        self._pending_users.update(users)
        if before is not None:
            self._pending_expired = max(before, self._pending_expired or before)
        if len(self._pending_sessions) + len(self._pending_users) > _MAX_PENDING:
            self._pending_everything = True
            self._pending_sessions.clear()
            self._pending_users.clear()

    async def _deliver_pending(self) -> None:
        """Send what could not be sent during an outage (raises on Redis errors: the caller retries)."""
        if self._pending_everything:
            gen_key = (self._keys + "gen").encode()
            async for key in self._redis.scan_iter(match=_glob_escape(self._keys) + "*", count=1000):
                if key != gen_key:
                    await self._redis.unlink(key)
            await self._send_invalidation([], [], None, everything=True)
            self._pending_everything = False
        sessions, users, before = sorted(self._pending_sessions), sorted(self._pending_users), self._pending_expired
        self._pending_sessions, self._pending_users, self._pending_expired = set(), set(), None
        try:
            if sessions or users or before is not None:
                await self._send_invalidation(sessions, users, before)
        except BaseException:
            self._queue(sessions, users, before)
            raise
        self._recovered()

    def _on_message(self, data: Any) -> None:
        if self._local is None:
            return
        try:
            message = json.loads(data)
            if message.get("all"):
                self._local.clear()
                return
            before = float(message["x"]) if "x" in message else None
            self._local.drop(session_ids=message.get("s", []), user_ids=message.get("u", []),
                             refresh_expired_before=before)  # fmt: skip
        except (ValueError, TypeError, KeyError, AttributeError):
            # Not ours or garbled: forgetting everything is always safe.
            self._local.clear()

    async def _background(self) -> None:
        """Subscribe to the invalidation channel and deliver queued invalidations; reconnect on failure."""
        while not self._stopping:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except _REDIS_ERRORS as error:
                self._failed(error)
            except Exception:
                logger.exception("authgate: Redis session cache listener failed; restarting it")
                self._breaker.failure()
            await asyncio.sleep(_LISTEN_RETRY)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            if self._local is not None:
                self._local.clear()  # messages may have been missed before this subscription
            self._listening = True
            while not self._stopping:
                if self._has_pending():
                    await self._deliver_pending()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.25)
                if message is not None and message.get("type") == "message":
                    self._on_message(message["data"])
        finally:
            self._listening = False
            if self._local is not None:
                self._local.clear()
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            except _REDIS_ERRORS:
                pass

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
            await self._invalidate(sessions=[session_id])

    async def delete_session(self, session_id: str) -> bool:
        try:
            return await self.primary.delete_session(session_id)
        finally:
            await self._invalidate(sessions=[session_id])

    async def delete_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        try:
            return await self.primary.delete_user_sessions(user_id, except_session_id=except_session_id)
        finally:
            await self._invalidate(users=[user_id])

    async def record_credential_change(self, user_id: str, *, keep_session_id: str | None) -> int:
        try:
            return await self.primary.record_credential_change(user_id, keep_session_id=keep_session_id)
        finally:
            await self._invalidate(users=[user_id])

    async def set_session_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        try:
            return await self.primary.set_session_auth_time(session_id, auth_time)
        finally:
            await self._invalidate(sessions=[session_id])

    async def delete_expired_sessions(self, *, now: datetime, limit: int) -> int:
        deleted = -1  # unknown until the primary answers: invalidate if it raised
        try:
            deleted = await self.primary.delete_expired_sessions(now=now, limit=limit)
            return deleted
        finally:
            if deleted:
                await self._invalidate(expired_before=now)

    async def set_password_hash(self, user_id: str, password_hash: str | None, *, now: datetime) -> None:
        try:
            await self.primary.set_password_hash(user_id, password_hash, now=now)
        finally:
            await self._invalidate(users=[user_id])

    async def update_user(self, user: User, *, email_key: str | None = None) -> None:
        try:
            await self.primary.update_user(user, email_key=email_key)
        finally:
            await self._invalidate(users=[user.id])

    async def delete_user(self, user_id: str) -> bool:
        try:
            return await self.primary.delete_user(user_id)
        finally:
            await self._invalidate(users=[user_id])

    # -- everything else: straight to the primary, uncached -------------------------------------

    async def create_user(self, user: User, *, email_key: str, password_hash: str | None) -> None:
        await self.primary.create_user(user, email_key=email_key, password_hash=password_hash)

    async def get_credentials(self, email_key: str) -> StoredCredentials | None:
        return await self.primary.get_credentials(email_key)

    async def get_user(self, user_id: str) -> User | None:
        return await self.primary.get_user(user_id)

    async def get_session(self, session_id: str) -> tuple[Session, User] | None:
        return await self.primary.get_session(session_id)

    async def get_session_by_refresh(self, refresh_hash: str) -> tuple[Session, User] | None:
        return await self.primary.get_session_by_refresh(refresh_hash)

    async def get_retired_refresh(self, refresh_hash: str) -> RetiredRefresh | None:
        return await self.primary.get_retired_refresh(refresh_hash)

    async def get_retired_access(self, token_hash: str) -> RetiredRefresh | None:
        return await self.primary.get_retired_access(token_hash)

    async def list_user_sessions(self, user_id: str) -> list[Session]:
        return await self.primary.list_user_sessions(user_id)

    async def link_account(self, account: Account) -> None:
        await self.primary.link_account(account)

    async def unlink_account(self, user_id: str, provider: str, account_id: str) -> bool:
        return await self.primary.unlink_account(user_id, provider, account_id)

    async def get_user_by_account(self, provider: str, account_id: str) -> User | None:
        return await self.primary.get_user_by_account(provider, account_id)

    async def list_accounts(self, user_id: str) -> list[Account]:
        return await self.primary.list_accounts(user_id)

    async def record_event(self, event: AuthEvent) -> None:
        await self.primary.record_event(event)

    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> list[AuthEvent]:
        return await self.primary.list_events(user_id=user_id, limit=limit)

    async def create_verification(self, token: VerificationToken) -> None:
        await self.primary.create_verification(token)

    async def get_verification(self, token_hash: str) -> VerificationToken | None:
        return await self.primary.get_verification(token_hash)

    async def consume_verification(self, token_hash: str, purpose: str) -> VerificationToken | None:
        return await self.primary.consume_verification(token_hash, purpose)

    async def count_verification_attempt(self, token_hash: str) -> int:
        return await self.primary.count_verification_attempt(token_hash)

    async def delete_verifications(self, user_id: str, purpose: str) -> int:
        return await self.primary.delete_verifications(user_id, purpose)

    async def save_mfa_factor(self, factor: MFAFactor) -> None:
        await self.primary.save_mfa_factor(factor)

    async def list_mfa_factors(self, user_id: str) -> list[MFAFactor]:
        return await self.primary.list_mfa_factors(user_id)

    async def delete_mfa_factor(self, user_id: str, kind: str) -> bool:
        return await self.primary.delete_mfa_factor(user_id, kind)

    async def confirm_mfa_factor(self, user_id: str, kind: str, *, secret: str | None, step: int) -> bool:
        return await self.primary.confirm_mfa_factor(user_id, kind, secret=secret, step=step)

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        return await self.primary.advance_totp_step(user_id, step)

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], *, now: datetime) -> None:
        await self.primary.replace_recovery_codes(user_id, code_hashes, now=now)

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        return await self.primary.use_recovery_code(user_id, code_hash)

    async def count_recovery_codes(self, user_id: str) -> int:
        return await self.primary.count_recovery_codes(user_id)

    async def add_authenticator(self, authenticator: Authenticator) -> None:
        await self.primary.add_authenticator(authenticator)

    async def get_authenticator(self, credential_id: str) -> Authenticator | None:
        return await self.primary.get_authenticator(credential_id)

    async def list_authenticators(self, user_id: str) -> list[Authenticator]:
        return await self.primary.list_authenticators(user_id)

    async def update_authenticator_use(self, credential_id: str, *, sign_count: int, now: datetime) -> bool:
        return await self.primary.update_authenticator_use(credential_id, sign_count=sign_count, now=now)

    async def rename_authenticator(self, user_id: str, credential_id: str, name: str) -> bool:
        return await self.primary.rename_authenticator(user_id, credential_id, name)

    async def delete_authenticator(self, user_id: str, credential_id: str) -> bool:
        return await self.primary.delete_authenticator(user_id, credential_id)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
