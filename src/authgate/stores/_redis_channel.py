"""How `RedisStore`'s session cache copes with Redis: its health, and its invalidations.

`CacheHealth` records failures and recoveries in the circuit breaker, clears the in-process cache
on a failure and logs one warning when an outage starts and one when it ends. `Invalidations`
sends each invalidation at once, or queues it when Redis cannot take it; its background task
delivers the queue before the store reads Redis again, and applies the invalidations that other
instances publish on the channel to the in-process cache.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .._redis_bounds import CircuitBreaker, ConnectionSlots, RedisBusy
from ._local_cache import LocalSessionCache
from ._redis_format import INVALIDATE_LUA, glob_escape, invalidation_message

__all__ = ["REDIS_ERRORS", "CacheHealth", "Invalidations"]

logger = logging.getLogger("authgate.redis")

REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
_CLOSE_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, *REDIS_ERRORS)
_LISTEN_RETRY = 1.0  # seconds between attempts of the background task to subscribe again
_CLOSE_FLUSH = 2.0  # seconds close() spends delivering queued invalidations before it gives up (and logs)
_MAX_PENDING = 10_000  # queued invalidations past this become one flush of the whole cache


class CacheHealth:
    """Redis failures and recoveries, as the circuit breaker, the local cache and the log see them."""

    def __init__(self, key_prefix: str, breaker: CircuitBreaker, local: LocalSessionCache | None) -> None:
        self.key_prefix = key_prefix
        self.breaker = breaker
        self._local = local
        self.outage = False

    def busy(self) -> None:
        """The call found no free connection: that tells nothing about Redis."""
        self.breaker.release()

    def failed(self, error: BaseException) -> None:
        self.breaker.failure()
        if self._local is not None:
            self._local.clear()
        if not self.outage:
            self.outage = True
            logger.warning(
                "authgate: Redis session cache %r unavailable (%s: %s); session checks read the primary store",
                self.key_prefix, type(error).__name__, error,
            )  # fmt: skip

    def recovered(self) -> None:
        self.breaker.success()
        if self.outage:
            self.outage = False
            logger.warning("authgate: Redis session cache %r answers again", self.key_prefix)


class Invalidations:
    """Drops cache entries here, in Redis and (through the channel) on every instance."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: str,
        *,
        health: CacheHealth,
        slots: ConnectionSlots,
        local: LocalSessionCache | None,
        cache_ttl: float,
    ) -> None:
        self._redis = client
        self._keys = keys
        self.channel = f"{keys}invalidate"
        self._script = client.register_script(INVALIDATE_LUA)
        self._health = health
        self._slots = slots
        self._local = local
        self._cache_ttl = cache_ttl
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.listening = False  # subscribed to the channel: only then can the local cache be trusted
        self._sessions: set[str] = set()
        self._users: set[str] = set()
        self._expired: float | None = None
        self._everything = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._background(), name="authgate-redis-invalidations")

    async def stop(self) -> None:
        """End the background task, then deliver what is still queued."""
        task, self._task = self._task, None
        self._stopping = True
        # redis-py can swallow a cancellation that lands while it connects, so cancel until it ends.
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.1)
        self._stopping = False
        await self._flush_on_close()

    async def _flush_on_close(self) -> None:
        """Deliver queued invalidations before the process goes away (SIGTERM runs this through the
        lifespan); what cannot be delivered is named in an error log, and `cache_ttl` bounds it."""
        if not self.pending():
            return
        try:
            async with asyncio.timeout(_CLOSE_FLUSH):
                await self._deliver_pending()
        except _CLOSE_ERRORS as error:
            logger.error(
                "authgate: closing with undelivered session-cache invalidations (%d sessions, %d users%s; %s);"
                " other instances may accept those sessions for up to cache_ttl=%s s",
                len(self._sessions), len(self._users),
                ", everything" if self._everything else "", type(error).__name__, self._cache_ttl,
            )  # fmt: skip

    # -- sending -----------------------------------------------------------------------------

    async def send(
        self, *, sessions: Iterable[str] = (), users: Iterable[str] = (), expired_before: datetime | None = None
    ) -> None:
        """Drop the entries of these sessions, of these users' sessions, and of sessions whose
        refresh expiry is before `expired_before`. Never raises."""
        session_ids, user_ids = sorted(set(sessions)), sorted(set(users))
        before = expired_before.timestamp() if expired_before is not None else None
        if self._local is not None:
            self._local.drop(session_ids=session_ids, user_ids=user_ids, refresh_expired_before=before)
        if self._health.breaker.is_open:  # a known outage: queue at once rather than wait out a timeout
            self._queue(session_ids, user_ids, before)
            return
        try:
            async with self._slots.slot():
                await self._send(session_ids, user_ids, before)
        except RedisBusy:
            self._queue(session_ids, user_ids, before)  # delivered by the background task within ms
        except REDIS_ERRORS as error:
            self._health.failed(error)
            self._queue(session_ids, user_ids, before)
        else:
            self._health.recovered()
            if self._local is not None:
                # Again: a lookup here may have copied the Redis entry before the script deleted it.
                self._local.drop(session_ids=session_ids, user_ids=user_ids, refresh_expired_before=before)

    async def _send(
        self, sessions: list[str], users: list[str], before: float | None, *, everything: bool = False
    ) -> None:
        payload = invalidation_message(sessions, users, before, everything=everything)
        await self._script(keys=[], args=[self._keys, payload, secrets.token_hex(16)])

    # -- the queue ---------------------------------------------------------------------------

    def pending(self) -> bool:
        """Invalidations wait for delivery: until they are delivered, nothing may read Redis."""
        return bool(self._everything or self._sessions or self._users or self._expired is not None)

    def _queue(self, sessions: Iterable[str], users: Iterable[str], before: float | None) -> None:
        self._sessions.update(sessions)
        self._users.update(users)
        if before is not None:
            self._expired = max(before, self._expired or before)
        if len(self._sessions) + len(self._users) > _MAX_PENDING:
            self._everything = True
            self._sessions.clear()
            self._users.clear()

    async def _deliver_pending(self) -> None:
        """Send what could not be sent during an outage (raises on Redis errors: the caller retries)."""
        if self._everything:
            gen_key = (self._keys + "gen").encode()
            async for key in self._redis.scan_iter(match=glob_escape(self._keys) + "*", count=1000):
                if key != gen_key:
                    await self._redis.unlink(key)
            await self._send([], [], None, everything=True)
            self._everything = False
        sessions, users, before = sorted(self._sessions), sorted(self._users), self._expired
        self._sessions, self._users, self._expired = set(), set(), None
        try:
            if sessions or users or before is not None:
                await self._send(sessions, users, before)
        except BaseException:
            self._queue(sessions, users, before)
            raise
        self._health.recovered()

    # -- the channel -------------------------------------------------------------------------

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
            except REDIS_ERRORS as error:
                self._health.failed(error)
            except Exception:
                logger.exception("authgate: Redis session cache listener failed; restarting it")
                self._health.breaker.failure()
            await asyncio.sleep(_LISTEN_RETRY)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            if self._local is not None:
                self._local.clear()  # messages may have been missed before this subscription
            self.listening = True
            while not self._stopping:
                if self.pending():
                    await self._deliver_pending()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.25)
                if message is not None and message.get("type") == "message":
                    self._on_message(message["data"])
        finally:
            self.listening = False
            if self._local is not None:
                self._local.clear()
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            except REDIS_ERRORS:
                pass
