"""Rate limits on top of the `limits` library, plus the two helpers that decide whom to count:
`client_ip` (which address sent the request) and `ip_key` (which bucket that address falls in).

Every limit uses the moving-window strategy: in Redis one Lua script checks and records a hit, so
concurrent requests from any number of processes cannot overshoot, and a refused attempt is not
recorded, so a blocked client cannot extend its own lockout forever.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from ._errors import Configuration, RateLimited, ServiceUnavailable
from ._redis_bounds import CircuitBreaker, ConnectionSlots, RedisBusy, blocking_pool, check_bounds

__all__ = ["LIMIT_NAMES", "RateLimitOptions", "RateLimiter"]

logger = logging.getLogger("authgate.ratelimit")

_MEMORY_SCHEMES = frozenset({"memory", "async+memory"})
_REDIS_SCHEMES = frozenset({"redis", "rediss", "async+redis", "async+rediss"})


@dataclass(frozen=True)
class RateLimitOptions:
    """Which limits apply and where the counters live.

    Limits use the `limits` notation ("10/minute", several joined with ";"). `storage_url` is
    "memory://" (one process) or "redis://host:port/db" (shared by every process). `redis_down`
    says what happens when that Redis is unreachable: "closed" answers 503, "open" lets requests
    through unlimited (and logs a warning). Which address a request counts against is
    `Auth(trusted_proxies=...)`: it is the client IP of everything, not only of the limits.

    Bounds (seconds unless said): with Redis, `redis_timeout` limits connecting and each reply,
    at most `redis_max_connections` checks use Redis at once and a check that waits longer than
    `redis_pool_timeout` for a connection answers 503 (a busy process, never treated as a Redis
    outage, never let through); after a Redis failure the circuit breaker applies `redis_down` at
    once for `redis_circuit_reset` seconds, then one check probes Redis again. In memory, at most
    `memory_max_keys` counters are kept; past that the least recently used is forgotten (routes
    that take an address count per IP first, so one client cannot evict others' counters).
    """

    # False: no limits at all (not for production).
    enabled: bool = True
    # Where the counters live: "memory://" (one process) or "redis://host:port/db" (every process).
    storage_url: str = "memory://"
    # Sign-in attempts per client IP.
    sign_in_per_ip: str = "30/minute"
    # Every password attempt on one account (sign-in and re-authentication), reserved before the
    # hash so parallel guesses cannot overshoot; NIST SP 800-63B asks for at most 100 failures.
    sign_in_per_account: str = "10/minute;100/day"
    # Re-authentication of a signed-in user (step-up, change password), counted per user in its own
    # bucket: strangers failing sign-ins cannot lock the owner out of it, and only someone holding
    # the user's session can spend it.
    reauth_per_user: str = "10/minute;100/day"
    # Sign-ups per client IP.
    sign_up_per_ip: str = "10/hour"
    # One-time codes (TOTP, email, recovery) checked per user.
    otp_per_user: str = "10/10minutes"
    # Password reset emails per address.
    forgot_password_per_email: str = "3/hour"  # noqa: S105 (a limit, not a password)
    # Counted before the per-address limit: without it one client could make a counter per address.
    forgot_password_per_ip: str = "10/minute"  # noqa: S105 (a limit, not a password)
    # Verification emails per user.
    email_verification_per_user: str = "3/hour"
    # Signed-out resend (`{email}`): counted per IP before anything looks at the address.
    email_verification_per_ip: str = "10/minute"
    # Sign-in links by email: per client IP first (one sender spraying addresses), then per
    # address (one mailbox flooded from many IPs).
    magic_link_per_ip: str = "20/hour"
    # Sign-in links per address, counted after magic_link_per_ip.
    magic_link_per_email: str = "3/10minutes;10/day"
    # Redis unreachable: "closed" answers 503, "open" lets requests through unlimited (and logs a warning).
    redis_down: Literal["closed", "open"] = "closed"
    # Namespace of every Redis key, so that apps (or test runs) sharing one Redis never collide.
    key_prefix: str = "authgate"
    # Seconds for connecting to the limiter's Redis and each reply (one reconnect only for a broken
    # connection, never after a timeout).
    redis_timeout: float = 0.5
    # Limiter Redis calls at once per process.
    redis_max_connections: int = 50
    # Seconds waiting for one of those connections; past it the request answers 503 (never let
    # through, never counted as an outage).
    redis_pool_timeout: float = 1.0
    # After a limiter Redis failure, `redis_down` applies at once for this many seconds, then one
    # check probes Redis again.
    redis_circuit_reset: float = 1.0
    # Counters kept by the in-memory limiter (about 1 KB each); past it the least recently used is
    # forgotten.
    memory_max_keys: int = 100_000


#: The limits `RateLimiter.hit` knows; each is a field of `RateLimitOptions`.
LIMIT_NAMES = (
    "sign_in_per_ip",
    "sign_in_per_account",
    "reauth_per_user",
    "sign_up_per_ip",
    "otp_per_user",
    "forgot_password_per_email",
    "forgot_password_per_ip",
    "email_verification_per_user",
    "email_verification_per_ip",
    "magic_link_per_ip",
    "magic_link_per_email",
)


class RateLimiter:
    """Counts attempts per (limit, key) and raises `RateLimited` when a limit is used up."""

    def __init__(self, options: RateLimitOptions | None = None) -> None:
        self.options = options = options or RateLimitOptions()
        if options.redis_down not in ("closed", "open"):
            raise Configuration("rate limits: redis_down must be 'closed' or 'open'")
        if not options.key_prefix or ":" in options.key_prefix:
            raise Configuration("rate limits: key_prefix must be non-empty and contain no ':'")
        check_bounds("rate limits", redis_timeout=options.redis_timeout,
                     redis_max_connections=options.redis_max_connections,
                     redis_pool_timeout=options.redis_pool_timeout, redis_circuit_reset=options.redis_circuit_reset,
                     memory_max_keys=options.memory_max_keys)  # fmt: skip
        if not isinstance(options.memory_max_keys, int) or not isinstance(options.redis_max_connections, int):
            raise Configuration("rate limits: memory_max_keys and redis_max_connections must be integers")
        self._limits = {name: _parse_limit(name, getattr(options, name)) for name in LIMIT_NAMES}
        self._warned = False
        self._pool: Any = None
        self._breaker = CircuitBreaker(options.redis_circuit_reset)
        self._slots = ConnectionSlots(options.redis_max_connections, options.redis_pool_timeout)
        self._recent: OrderedDict[str, None] = OrderedDict()  # memory storage: identifiers, least recent first
        self._storage: MemoryStorage | RedisStorage | None = None
        if options.enabled:
            self._storage = self._open_storage(options.storage_url)
            self._strategy = MovingWindowRateLimiter(self._storage)

    async def hit(self, limit_name: str, key: str) -> None:
        """Consume one attempt of `limit_name` for `key`; raise `RateLimited` if none is left."""
        await self._apply(limit_name, key, "hit")

    async def test(self, limit_name: str, key: str) -> None:
        """Raise `RateLimited` if `limit_name` is used up for `key`, without consuming anything."""
        await self._apply(limit_name, key, "test")

    async def reset(self, limit_name: str, key: str) -> None:
        """Forget every attempt counted for `key` under `limit_name`."""
        await self._apply(limit_name, key, "clear")

    async def _apply(self, limit_name: str, key: str, operation: Literal["hit", "test", "clear"]) -> None:
        items = self._items(limit_name)  # unknown names fail even when limits are off
        if self._storage is None:
            return
        identifier = self._identifier(limit_name, key)
        if isinstance(self._storage, MemoryStorage):
            if operation == "hit":
                await self._remember(identifier)
            await self._run(operation, items, identifier)
            return
        if not self._breaker.allow():  # a known outage: no wait at all
            self._redis_down(None)
            return
        try:
            async with self._slots.slot(), self._storage_errors():
                await self._run(operation, items, identifier)
        except RedisBusy:
            self._breaker.release()
            raise ServiceUnavailable("Rate limiting is busy; try again") from None

    async def _run(self, operation: str, items: list[RateLimitItem], identifier: str) -> None:
        for item in items:
            if operation == "clear":
                await self._strategy.clear(item, identifier)
            elif not await getattr(self._strategy, operation)(item, identifier):
                raise RateLimited(retry_after=await self._retry_after(items, identifier))

    async def _remember(self, identifier: str) -> None:
        """Keep at most `memory_max_keys` counters in memory: forget the least recently hit."""
        self._recent[identifier] = None
        self._recent.move_to_end(identifier)
        while len(self._recent) > self.options.memory_max_keys:
            oldest, _ = self._recent.popitem(last=False)
            limit_name = oldest.split(":", 1)[0]
            for item in self._limits.get(limit_name, ()):
                await self._strategy.clear(item, oldest)

    def memory_keys(self) -> int:
        """How many counters the in-memory storage tracks (0 with Redis)."""
        return len(self._recent)

    async def close(self) -> None:
        """Release the Redis connections or the memory store's expiry task."""
        if isinstance(self._storage, MemoryStorage) and self._storage.timer is not None:
            self._storage.timer.cancel()
            with contextlib.suppress(BaseException):
                await self._storage.timer
        if self._pool is not None:
            await self._pool.disconnect()
            self._pool = None

    def _items(self, limit_name: str) -> list[RateLimitItem]:
        try:
            return self._limits[limit_name]
        except KeyError:
            raise Configuration(f"unknown rate limit {limit_name!r}") from None

    def _identifier(self, limit_name: str, key: str) -> str:
        # Hashed: a key is attacker-chosen (an email, a header), so it must not choose the size of
        # a Redis key, and Redis should not hold readable addresses.
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"{limit_name}:{digest}"

    async def _retry_after(self, items: list[RateLimitItem], identifier: str) -> int:
        # Several limits may be used up at once (10/minute and 100/day): wait for the last one.
        now = time.time()
        wait = 1.0
        for item in items:
            stats = await self._strategy.get_window_stats(item, identifier)
            if stats.remaining <= 0:
                wait = max(wait, stats.reset_time - now)
        return max(1, math.ceil(wait))

    @contextlib.asynccontextmanager
    async def _storage_errors(self) -> AsyncIterator[None]:
        try:
            yield
        except (StorageError, OSError) as error:
            self._breaker.failure()
            self._redis_down(error)
            return
        except RateLimited:
            self._redis_up()
            raise
        self._redis_up()

    def _redis_up(self) -> None:
        self._breaker.success()
        if self._warned:
            self._warned = False
            logger.warning("Rate limit storage is reachable again; rate limits apply")

    def _redis_down(self, error: BaseException | None) -> None:
        if self.options.redis_down == "closed":
            raise ServiceUnavailable("Rate limit storage is unavailable; try again") from error
        if not self._warned:
            self._warned = True
            logger.warning("Rate limit storage is unavailable; requests are NOT rate limited (redis_down='open')")

    def _open_storage(self, url: str) -> MemoryStorage | RedisStorage:
        scheme, sep, rest = url.partition("://")
        scheme = scheme.lower()
        if sep and scheme in _MEMORY_SCHEMES:
            storage = MemoryStorage()
            storage.events = _ForgivingEvents()
            return storage
        if not sep or scheme not in _REDIS_SCHEMES:
            raise Configuration("rate limits: storage_url must be memory:// or redis://host:port/db")
        try:
            import redis  # noqa: F401 - only to tell a missing extra from a wrong URL
        except ImportError:
            raise Configuration("rate limits: a redis:// storage_url needs `pip install authgate[redis]`") from None
        redis_url = f"{scheme.removeprefix('async+')}://{rest}"
        # One reconnect attempt (a pooled connection may be stale after a Redis restart), no backoff.
        options = self.options
        self._pool = blocking_pool(
            redis_url, max_connections=options.redis_max_connections, timeout=options.redis_timeout,
            pool_timeout=options.redis_pool_timeout, retries=1,
        )  # fmt: skip
        return RedisStorage(
            f"async+{redis_url}",
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix=self.options.key_prefix,
            connection_pool=self._pool,
        )


class _ForgivingEvents(dict[str, Any]):
    """limits' MemoryStorage keeps moving-window entries in a dict that its expiry task reads by
    key after an await; a key evicted meanwhile (`memory_max_keys`) would raise KeyError there and
    end the expiry task. A missing key reads as no entries instead (nothing is inserted)."""

    def __missing__(self, key: str) -> list[Any]:
        return []


def _parse_limit(name: str, value: object) -> list[RateLimitItem]:
    if not isinstance(value, str):
        raise Configuration(f"rate limits: {name} must be a string like '10/minute'")
    try:
        items = parse_many(value)
    except ValueError:
        raise Configuration(f"rate limits: {name}={value!r} is not a valid limit like '10/minute'") from None
    # Shortest window first: a refusal by the per-minute limit then costs nothing from the daily one.
    return sorted(items, key=lambda item: item.get_expiry())
