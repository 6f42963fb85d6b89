"""Bounded Redis use: a saturated connection pool is not an outage, and an outage costs one
timeout (circuit breaker), for both the session cache and the rate limiter.

Saturation runs on the shared Redis with a fresh key prefix (nothing is reconfigured); the stall
uses a PRIVATE redis-server that the test SIGSTOPs and always resumes.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis.asyncio as aioredis

from authgate import Auth
from authgate._errors import RateLimited, ServiceUnavailable
from authgate._ratelimit import RateLimiter, RateLimitOptions
from authgate._redis_bounds import CircuitBreaker
from authgate.stores import MemoryStore, RedisStore

from .private_services import private_redis
from .support import CLIENT, SECRET, client_for

pytestmark = pytest.mark.timeout(60)


async def test_300_concurrent_attempts_against_10_per_minute_let_exactly_10_through_even_fail_open() -> None:
    # redis_down="open" used to let 210 of 300 through: pool exhaustion was taken for an outage.
    # A private Redis, so that every connection it ever accepted is this limiter's.
    with private_redis() as server:
        admin = aioredis.Redis.from_url(server.url, socket_timeout=5)
        before = int((await admin.info("stats"))["total_connections_received"])
        limiter = RateLimiter(RateLimitOptions(storage_url=server.url, sign_in_per_account="10/minute",
                                               redis_down="open", redis_max_connections=5,
                                               redis_pool_timeout=5))  # fmt: skip

        async def attempt() -> str:
            try:
                await limiter.hit("sign_in_per_account", "victim@example.com")
            except RateLimited:
                return "limited"
            except ServiceUnavailable:
                return "unavailable"
            return "allowed"

        outcomes = await asyncio.gather(*[attempt() for _ in range(300)])
        await limiter.close()
        accepted = int((await admin.info("stats"))["total_connections_received"]) - before
        await admin.aclose()
    counts = {kind: outcomes.count(kind) for kind in ("allowed", "limited", "unavailable")}
    print(f"\n300 concurrent attempts, 10/minute, 5 connections: {counts}; connections opened: {accepted}")
    assert counts == {"allowed": 10, "limited": 290, "unavailable": 0}
    assert accepted <= 5


async def test_session_checks_beyond_the_pool_size_are_not_an_outage_and_revocation_stays_immediate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with private_redis() as server:
        admin = aioredis.Redis.from_url(server.url, socket_timeout=5)
        before = int((await admin.info("stats"))["total_connections_received"])
        await _saturate_two_stores(server.url, caplog)
        accepted = int((await admin.info("stats"))["total_connections_received"]) - before
        await admin.aclose()
    print(f"\n200 concurrent checks on B, 2 stores of 4 connections: Redis accepted {accepted} connections")
    assert accepted <= 2 * (4 + 1)  # each store: its slots plus the invalidation channel


async def _saturate_two_stores(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    primary = MemoryStore()
    one = RedisStore(primary, redis_url, key_prefix="sat", local_cache=True, max_connections=4)
    two = RedisStore(primary, redis_url, key_prefix="sat", local_cache=True, max_connections=4)
    auth_one = Auth(store=one, secret=SECRET, rate_limits=RateLimitOptions(enabled=False))
    auth_two = Auth(store=two, secret=SECRET, rate_limits=RateLimitOptions(enabled=False))
    await auth_one.open()
    await auth_two.open()
    try:
        async with client_for(auth_one) as a, client_for(auth_two) as b:
            ann = {"email": "ann@example.com", "password": "correct horse battery"}
            signed_up = await a.post("/api/auth/sign-up", json=ann, headers=CLIENT)
            cookie = {"Cookie": f"authgate_session={signed_up.cookies['authgate_session']}"}
            with caplog.at_level(logging.WARNING, logger="authgate.redis"):
                answers = await asyncio.gather(*[b.get("/api/auth/session", headers=cookie) for _ in range(200)])
                assert {answer.status_code for answer in answers} == {200}
                assert not [r for r in caplog.records if "unavailable" in r.getMessage()], "taken for an outage"
                assert (await a.post("/api/auth/sign-out", headers={**CLIENT, **cookie})).status_code == 200
                # Pub/sub drops B's local copy within milliseconds; poll briefly.
                began = time.monotonic()
                while (await b.get("/api/auth/session", headers=cookie)).status_code != 401:
                    assert time.monotonic() - began < 1.0, "B accepted a signed-out session"
                    await asyncio.sleep(0.01)
    finally:
        await auth_one.close()
        await auth_two.close()
        auth_one.hasher.close()
        auth_two.hasher.close()


async def test_stalled_redis_costs_one_timeout_not_one_per_request() -> None:
    with private_redis() as server:
        limiter = RateLimiter(RateLimitOptions(storage_url=server.url, redis_timeout=0.5, redis_circuit_reset=5))
        store = RedisStore(MemoryStore(), server.url, key_prefix="bounds", redis_timeout=0.5, circuit_reset=5)
        await store.open()
        try:
            await limiter.hit("sign_in_per_ip", "192.0.2.1")  # connected while healthy
            assert await store.get_session_by_token("0" * 64) is None
            server.stop()
            try:
                timings: list[float] = []
                for _ in range(20):
                    began = time.monotonic()
                    with pytest.raises(ServiceUnavailable):
                        await limiter.hit("sign_in_per_ip", "192.0.2.1")
                    timings.append(time.monotonic() - began)
                cache: list[float] = []
                for _ in range(20):
                    began = time.monotonic()
                    assert await store.get_session_by_token("0" * 64) is None  # read from the primary
                    cache.append(time.monotonic() - began)
            finally:
                server.resume()
            print(f"\nstalled Redis, limiter: first {timings[0]:.2f} s, then max {max(timings[1:]):.3f} s; "
                  f"cache: first {cache[0]:.2f} s, then max {max(cache[1:]):.3f} s")  # fmt: skip
            assert timings[0] <= 0.5 + 0.3 and max(timings[1:]) < 0.05
            assert cache[0] <= 0.5 + 0.3 and max(cache[1:]) < 0.05
        finally:
            await limiter.close()
            await store.close()


def test_circuit_breaker_skips_redis_while_open_and_lets_one_probe_through_at_a_time() -> None:
    now = [100.0]
    breaker = CircuitBreaker(1.0, clock=lambda: now[0])
    assert breaker.allow() and breaker.allow()  # closed: everyone
    breaker.failure()
    assert not breaker.allow()  # open: nobody, at no cost
    now[0] += 1.0
    assert breaker.allow()  # half-open: the first caller probes...
    assert not breaker.allow()  # ...alone
    now[0] += 1.0  # the probe's request was cancelled and never reported: its turn lapses
    assert breaker.allow()
    breaker.release()  # ended busy: says nothing about Redis, the next caller may probe
    assert breaker.allow()
    breaker.success()
    assert breaker.allow() and breaker.allow() and not breaker.is_open
