"""Rate limits against the memory store and a real Redis, and the client address helpers."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from authgate import Auth, Configuration, ServiceUnavailable
from authgate._client_ip import client_ip, ip_key
from authgate._errors import RateLimited
from authgate._ratelimit import LIMIT_NAMES, RateLimiter, RateLimitOptions
from authgate.stores import MemoryStore

from .support import CLIENT, SECRET, client_for

PASSWORD = "correct horse battery staple"

REDIS_URL = os.environ.get("AUTHGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DOWN_REDIS_URL = "redis://127.0.0.1:1/0"

MakeLimiter = Callable[..., RateLimiter]


async def _connect_redis() -> aioredis.Redis:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except (aioredis.RedisError, OSError) as error:
        await client.aclose()
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error!r} (the tests need a real server)")
    return client


async def _delete_namespace(client: aioredis.Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    """A client of the test Redis; the test fails (never skips) when Redis is not there."""
    client = await _connect_redis()
    yield client
    await client.aclose()


@pytest.fixture
async def key_prefix(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    """A key namespace of its own for one test, deleted afterwards: runs never collide."""
    prefix = f"authgate-test-{secrets.token_hex(6)}"
    yield prefix
    await _delete_namespace(redis_client, prefix)


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    """Build limiters over the memory store or Redis (one fresh key prefix per test); all closed after."""
    made: list[RateLimiter] = []
    client = await _connect_redis() if request.param == "redis" else None
    prefix = f"authgate-test-{secrets.token_hex(6)}"
    storage_url = REDIS_URL if client is not None else "memory://"
    base = RateLimitOptions(storage_url=storage_url, key_prefix=prefix)

    def make(**changes: object) -> RateLimiter:
        limiter = RateLimiter(dataclasses.replace(base, **changes))  # type: ignore[arg-type]
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.close()
    if client is not None:
        await _delete_namespace(client, prefix)
        await client.aclose()


async def _count_passes(limiter: RateLimiter, limit: str, key: str, times: int) -> int:
    results = await asyncio.gather(*(limiter.hit(limit, key) for _ in range(times)), return_exceptions=True)
    assert all(r is None or isinstance(r, RateLimited) for r in results), results
    return sum(r is None for r in results)


async def test_limit_reached_raises_rate_limited_with_retry_after(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(sign_in_per_ip="3/minute")
    for _ in range(3):
        await limiter.hit("sign_in_per_ip", "203.0.113.7")

    with pytest.raises(RateLimited) as raised:
        await limiter.hit("sign_in_per_ip", "203.0.113.7")

    assert raised.value.status_code == 429
    assert 1 <= raised.value.retry_after <= 60


async def test_test_refuses_without_consuming(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(sign_up_per_ip="2/hour")
    for _ in range(10):
        await limiter.test("sign_up_per_ip", "203.0.113.7")

    await limiter.hit("sign_up_per_ip", "203.0.113.7")
    await limiter.hit("sign_up_per_ip", "203.0.113.7")

    with pytest.raises(RateLimited) as raised:
        await limiter.test("sign_up_per_ip", "203.0.113.7")
    assert 3500 <= raised.value.retry_after <= 3600


async def test_keys_and_limits_are_counted_separately(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(sign_in_per_ip="1/minute", sign_up_per_ip="1/minute")
    await limiter.hit("sign_in_per_ip", "203.0.113.7")

    await limiter.hit("sign_in_per_ip", "203.0.113.8")
    await limiter.hit("sign_up_per_ip", "203.0.113.7")
    with pytest.raises(RateLimited):
        await limiter.hit("sign_in_per_ip", "203.0.113.7")


async def test_retry_after_waits_for_the_longest_exhausted_window(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(sign_in_per_account="2/minute;2/day")
    await limiter.hit("sign_in_per_account", "user-1")
    await limiter.hit("sign_in_per_account", "user-1")

    with pytest.raises(RateLimited) as raised:
        await limiter.hit("sign_in_per_account", "user-1")

    assert 86_000 <= raised.value.retry_after <= 86_400


async def test_default_account_limit_allows_ten_a_minute(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()

    assert await _count_passes(limiter, "sign_in_per_account", "user-1", 15) == 10


async def test_reset_forgets_the_attempts(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(forgot_password_per_email="1/hour")
    await limiter.hit("forgot_password_per_email", "ada@example.test")
    with pytest.raises(RateLimited):
        await limiter.hit("forgot_password_per_email", "ada@example.test")

    await limiter.reset("forgot_password_per_email", "ada@example.test")

    await limiter.hit("forgot_password_per_email", "ada@example.test")


async def test_concurrent_hits_never_overshoot(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(otp_per_user="10/minute")

    assert await _count_passes(limiter, "otp_per_user", "user-1", 50) == 10


async def test_concurrent_hits_from_two_processes_sharing_redis_are_atomic(key_prefix: str) -> None:
    options = RateLimitOptions(storage_url=REDIS_URL, key_prefix=key_prefix, sign_in_per_ip="10/minute")
    # Two limiters with separate connection pools stand for two app processes.
    first, second = RateLimiter(options), RateLimiter(options)
    try:
        passes = await asyncio.gather(
            _count_passes(first, "sign_in_per_ip", "198.51.100.1", 25),
            _count_passes(second, "sign_in_per_ip", "198.51.100.1", 25),
        )
    finally:
        await first.close()
        await second.close()

    assert sum(passes) == 10


async def test_redis_keys_are_namespaced_hashed_and_bounded(key_prefix: str, redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(RateLimitOptions(storage_url=REDIS_URL, key_prefix=key_prefix))
    hostile_key = "ada@example.test" + "x" * 100_000 + "\udc80\x00"
    try:
        await limiter.hit("forgot_password_per_email", hostile_key)
        await limiter.hit("sign_in_per_account", "ada@example.test")
    finally:
        await limiter.close()

    keys = [key.decode() async for key in redis_client.scan_iter(match=f"{key_prefix}:*")]
    assert len(keys) == 3  # one per window: forgot password, and sign-in per minute and per day
    for key in keys:
        assert key.startswith(f"{key_prefix}:")
        assert len(key) < 150
        assert "ada@example.test" not in key
    assert any(":LIMITER/forgot_password_per_email:" in key for key in keys)


async def test_redis_unreachable_fails_closed_with_service_unavailable() -> None:
    limiter = RateLimiter(RateLimitOptions(storage_url=DOWN_REDIS_URL, redis_down="closed"))
    try:
        with pytest.raises(ServiceUnavailable) as raised:
            await limiter.hit("sign_in_per_ip", "203.0.113.7")
        assert raised.value.status_code == 503
        with pytest.raises(ServiceUnavailable):
            await limiter.test("sign_in_per_ip", "203.0.113.7")
        with pytest.raises(ServiceUnavailable):
            await limiter.reset("sign_in_per_ip", "203.0.113.7")
    finally:
        await limiter.close()


async def test_redis_unreachable_fails_open_when_asked_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(RateLimitOptions(storage_url=DOWN_REDIS_URL, redis_down="open", sign_in_per_ip="1/hour"))
    try:
        with caplog.at_level(logging.WARNING, logger="authgate.ratelimit"):
            for _ in range(5):
                await limiter.hit("sign_in_per_ip", "203.0.113.7")
                await limiter.test("sign_in_per_ip", "203.0.113.7")
    finally:
        await limiter.close()

    warnings = [r for r in caplog.records if r.name == "authgate.ratelimit"]
    assert len(warnings) == 1
    assert "NOT rate limited" in warnings[0].getMessage()


async def test_disabled_limiter_never_limits() -> None:
    limiter = RateLimiter(RateLimitOptions(enabled=False, sign_in_per_ip="1/hour", storage_url=DOWN_REDIS_URL))

    for _ in range(5):
        await limiter.hit("sign_in_per_ip", "203.0.113.7")
    await limiter.close()


async def test_unknown_limit_name_is_a_configuration_error() -> None:
    limiter = RateLimiter()
    try:
        with pytest.raises(Configuration):
            await limiter.hit("sign_in", "203.0.113.7")
    finally:
        await limiter.close()


@pytest.mark.parametrize(
    "changes",
    [
        {"sign_in_per_ip": "lots"},
        {"sign_in_per_ip": ""},
        {"storage_url": "memcached://127.0.0.1:11211"},
        {"storage_url": "127.0.0.1:6379"},
        {"redis_down": "maybe"},
        {"key_prefix": ""},
    ],
)
def test_bad_options_are_configuration_errors(changes: dict[str, object]) -> None:
    with pytest.raises(Configuration):
        RateLimiter(dataclasses.replace(RateLimitOptions(), **changes))  # type: ignore[arg-type]


def test_every_limit_name_is_an_option() -> None:
    names = {field.name for field in dataclasses.fields(RateLimitOptions)}
    assert set(LIMIT_NAMES) <= names
    assert RateLimitOptions().sign_in_per_account == "10/minute;100/day"


# client_ip


@pytest.mark.parametrize("proxies", [("10.0.0.0/33",), ("not-an-ip",), ("10.0.0.1", "")])
def test_bad_trusted_proxies_are_configuration_errors(proxies: tuple[str, ...]) -> None:
    with pytest.raises(Configuration, match="trusted_proxies"):
        Auth(secret=SECRET, trusted_proxies=proxies)


async def test_trusted_proxies_name_the_client_even_with_rate_limits_off() -> None:
    """The client IP is not a rate-limit setting: with limits off, a session behind the proxy
    still records the client, never the proxy (and an untrusted peer's header is ignored)."""
    auth = Auth(store=MemoryStore(), secret=SECRET, trusted_proxies=("10.0.0.1",),
                rate_limits=RateLimitOptions(enabled=False))  # fmt: skip
    assert auth.limiter is None
    try:
        async with client_for(auth) as client:
            for peer, expected in (("10.0.0.1", "203.0.113.9"), ("198.51.100.4", "198.51.100.4")):
                client._transport.client = (peer, 123)  # type: ignore[attr-defined]
                email = f"proxy-{peer}@example.com"
                answer = await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD},
                                           headers={**CLIENT, "X-Forwarded-For": "203.0.113.9"})  # fmt: skip
                assert answer.status_code == 200
                found = await auth.store.get_credentials(email)
                assert found is not None
                sessions = await auth.list_sessions(found[0].id)
                assert [s.ip for s in sessions] == [expected]
    finally:
        auth.hasher.close()


def _scope(peer: str | None, *forwarded: str) -> dict[str, object]:
    return {
        "type": "http",
        "client": (peer, 51234) if peer is not None else None,
        "headers": [(b"host", b"app.example.test"), *((b"x-forwarded-for", v.encode()) for v in forwarded)],
    }


def test_client_ip_is_the_socket_peer_without_trusted_proxies() -> None:
    assert client_ip(_scope("203.0.113.7", "198.51.100.1"), ()) == "203.0.113.7"


def test_client_ip_ignores_forwarded_for_from_an_untrusted_peer() -> None:
    assert client_ip(_scope("203.0.113.7", "198.51.100.1"), ["10.0.0.1"]) == "203.0.113.7"


def test_client_ip_is_the_right_most_untrusted_hop_behind_trusted_proxies() -> None:
    scope = _scope("10.0.0.1", "198.51.100.1, 203.0.113.9, 10.0.0.2")

    assert client_ip(scope, ["10.0.0.1", "10.0.0.2"]) == "203.0.113.9"


def test_client_ip_ignores_spoofed_left_most_entries() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1, 2.2.2.2"; the proxy appended the real address.
    scope = _scope("10.0.0.1", "1.1.1.1, 2.2.2.2, 203.0.113.9")

    assert client_ip(scope, ["10.0.0.1"]) == "203.0.113.9"


def test_client_ip_reads_several_forwarded_for_headers_in_order() -> None:
    scope = _scope("10.0.0.1", "1.1.1.1", "203.0.113.9")

    assert client_ip(scope, ["10.0.0.1"]) == "203.0.113.9"


def test_client_ip_trusts_proxies_by_cidr() -> None:
    scope = _scope("10.1.2.3", "203.0.113.9, 10.9.8.7, 172.16.0.5")

    assert client_ip(scope, ["10.0.0.0/8", "172.16.0.0/12"]) == "203.0.113.9"
    assert client_ip(_scope("fd00::5", "2001:db8::1, fd00::9"), ["fd00::/8"]) == "2001:db8::1"


def test_client_ip_stops_at_a_malformed_entry() -> None:
    scope = _scope("10.0.0.1", "203.0.113.9, not-an-ip, 10.0.0.2")

    assert client_ip(scope, ["10.0.0.0/8"]) == "10.0.0.2"
    assert client_ip(_scope("10.0.0.1", "garbage"), ["10.0.0.0/8"]) == "10.0.0.1"


def test_client_ip_is_the_peer_when_trusted_proxy_sent_no_forwarded_for() -> None:
    assert client_ip(_scope("10.0.0.1"), ["10.0.0.0/8"]) == "10.0.0.1"


def test_client_ip_is_the_left_most_entry_when_every_hop_is_trusted() -> None:
    assert client_ip(_scope("10.0.0.1", "10.0.0.3, 10.0.0.2"), ["10.0.0.0/8"]) == "10.0.0.3"


def test_client_ip_treats_an_ipv4_mapped_peer_as_ipv4() -> None:
    assert client_ip(_scope("::ffff:10.0.0.1", "203.0.113.9"), ["10.0.0.0/8"]) == "203.0.113.9"


def test_client_ip_without_a_client_is_none() -> None:
    assert client_ip(_scope(None, "203.0.113.9"), ["10.0.0.0/8"]) is None
    assert client_ip({"type": "http", "headers": []}, ()) is None


@given(header=st.text(max_size=200), peer=st.sampled_from(["10.0.0.1", "203.0.113.7", "::1", "testclient"]))
def test_client_ip_never_raises_and_never_invents_an_address(header: str, peer: str) -> None:
    scope = {"client": (peer, 1), "headers": [(b"x-forwarded-for", header.encode("utf-8", "surrogatepass"))]}

    result = client_ip(scope, ["10.0.0.0/8", "::1"])

    assert result == peer or result in {
        e.strip() for e in header.encode("utf-8", "surrogatepass").decode("latin-1").split(",")
    }


# ip_key


def test_ip_key_keeps_ipv4_as_is() -> None:
    assert ip_key("203.0.113.7") == "203.0.113.7"


def test_ip_key_puts_addresses_in_one_ipv6_64_together() -> None:
    first = ip_key("2001:db8:1:2::1")
    second = ip_key("2001:db8:1:2:ffff:ffff:ffff:ffff")

    assert first == second == "2001:db8:1:2::/64"


def test_ip_key_separates_different_ipv6_64s() -> None:
    assert ip_key("2001:db8:1:2::1") != ip_key("2001:db8:1:3::1")


def test_ip_key_maps_ipv4_mapped_ipv6_to_ipv4() -> None:
    assert ip_key("::ffff:203.0.113.7") == "203.0.113.7"


def test_ip_key_drops_the_ipv6_zone() -> None:
    assert ip_key("fe80::1%eth0") == ip_key("fe80::2%eth1") == "fe80::/64"


@pytest.mark.parametrize(
    "value", [None, "", "unknown", "testclient", "999.1.1.1", "1.2.3.4/24", "01.2.3.4", "x" * 10_000]
)
def test_ip_key_of_garbage_is_unknown(value: str | None) -> None:
    assert ip_key(value) == "unknown"


@given(st.text(max_size=60))
def test_ip_key_never_raises(value: str) -> None:
    assert isinstance(ip_key(value), str)
