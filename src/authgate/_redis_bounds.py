"""Bounded use of Redis, shared by the session cache (`RedisStore`) and the rate limiter.

Three separate waits, each with its own answer:
  - a free connection: at most `max_connections` calls use Redis at once per process; a call that
    cannot get a slot within `pool_timeout` raises `RedisBusy`. That is this process being busy,
    not Redis being down, so it never opens the circuit breaker;
  - the network: connect and socket timeouts on every connection (redis-py raises);
  - an outage: after a failure the `CircuitBreaker` stays open for `reset_after` seconds and calls
    skip Redis at once; then one probe call at a time tries again. An outage costs one timeout per
    `reset_after`, not one per request.

The slot limit is a semaphore in front of a `BlockingConnectionPool` of the same size (plus any
connections held for pub/sub), so the pool itself never waits and no redis-py version's own
pool-exhaustion error (redis-py 8 raises `MaxConnectionsError`, older versions opened unbounded
connections) is ever seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ._errors import Configuration

__all__ = ["CircuitBreaker", "ConnectionSlots", "RedisBusy", "blocking_pool", "check_bounds"]


class RedisBusy(Exception):
    """Every connection slot stayed in use for `pool_timeout`: this process is saturated."""


class CircuitBreaker:
    """Closed (calls go to Redis) until a failure; open for `reset_after` seconds (calls skip Redis);
    then half-open: one caller at a time probes, and its success closes the breaker again. A probe
    that never reports (its request was cancelled) gives up its turn after `reset_after`."""

    def __init__(self, reset_after: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.reset_after = reset_after
        self._clock = clock
        self._open_until: float | None = None
        self._probe_until = 0.0

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        """May this call use Redis? A True in the half-open state makes the caller the probe: it
        should end with `success`, `failure` or `release`."""
        if self._open_until is None:
            return True
        now = self._clock()
        if now < self._open_until or now < self._probe_until:
            return False
        self._probe_until = now + self.reset_after
        return True

    def success(self) -> None:
        self._open_until = None
        self._probe_until = 0.0

    def failure(self) -> None:
        self._open_until = self._clock() + self.reset_after
        self._probe_until = 0.0

    def release(self) -> None:
        """The call ended without telling anything about Redis (for example `RedisBusy`)."""
        self._probe_until = 0.0


class ConnectionSlots:
    """At most `size` concurrent Redis calls; waiting longer than `timeout` raises `RedisBusy`."""

    def __init__(self, size: int, timeout: float) -> None:
        self.size = size
        self.timeout = timeout
        self._semaphore = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self.timeout)
        except TimeoutError:
            raise RedisBusy(f"no Redis connection free within {self.timeout} s") from None
        try:
            yield
        finally:
            self._semaphore.release()


def check_bounds(owner: str, **values: float) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise Configuration(f"{owner}: {name} must be a positive number")


def blocking_pool(url: str, *, max_connections: int, timeout: float, pool_timeout: float, retries: int) -> Any:
    """A redis-py `BlockingConnectionPool` with explicit size and every timeout set (any redis-py
    version authgate supports: 5.2 up to 8)."""
    from redis.asyncio import BlockingConnectionPool
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    return BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_timeout,  # the pool's own wait; the slots in front of it make it rare
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # Retried only when the connection broke (a stale pooled connection after a Redis restart),
        # never after a timeout: a retry on a stalled Redis would only double the wait.
        retry=Retry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
    )
