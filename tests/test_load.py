"""Session checks under load while cleanup deletes 100,000 expired sessions, against real Postgres."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from authgate import Auth
from authgate._ratelimit import RateLimitOptions
from authgate.stores import PostgresStore

from .support import SECRET, client_for

EXPIRED = 100_000
CHECKS = 1_000
MAX_WAVES = 5
pytestmark = pytest.mark.timeout(90)

# Users and sessions whose refresh lifetime ended a day ago, written by the server in one statement each.
_USERS_SQL = """\
INSERT INTO users (id, email, email_key, created_at, updated_at)
SELECT 'load-' || g, 'load' || g || '@example.com', 'load' || g || '@example.com',
    now() - interval '60 days', now() - interval '60 days'
FROM generate_series(1, $1) AS g"""
_SESSIONS_SQL = """\
INSERT INTO sessions (id, user_id, token, refresh_token, expires_at, refresh_expires_at, created_at)
SELECT 'expired-' || g, 'load-' || g, md5('access' || g) || md5('a' || g), md5('refresh' || g) || md5('r' || g),
    now() - interval '31 days', now() - interval '1 day', now() - interval '31 days'
FROM generate_series(1, $1) AS g"""


async def test_thousand_session_checks_during_cleanup_of_100k_expired_sessions(pg_url: str, pg_schema: str) -> None:
    started = time.monotonic()
    store = PostgresStore(pg_url, schema=pg_schema, min_size=2, max_size=10)
    auth = Auth(store=store, secret=SECRET, rate_limits=RateLimitOptions(enabled=False))
    await auth.open()
    try:
        signed_up = await auth.sign_up("live@example.com", "correct horse battery")
        assert signed_up.tokens is not None
        cookie = {"Cookie": f"authgate_session={signed_up.tokens.access_token}"}
        async with store.pool.acquire() as conn:
            await conn.execute(_USERS_SQL, EXPIRED, timeout=60)
            await conn.execute(_SESSIONS_SQL, EXPIRED, timeout=60)
            await conn.execute("ANALYZE sessions")
            assert await conn.fetchval("SELECT count(*) FROM sessions") == EXPIRED + 1
        seeded = time.monotonic() - started

        async with client_for(auth) as client:
            cleanup_started = time.monotonic()
            cleanup = asyncio.create_task(auth.cleanup_expired_sessions())
            await asyncio.sleep(0)  # let the first batch start
            waves: list[list[httpx.Response | BaseException]] = []
            # 1,000 checks at once, again while cleanup still runs (a bounded number of times: under
            # a saturated pool, cleanup gets a connection for one batch per wave, FIFO).
            while len(waves) < MAX_WAVES and not cleanup.done():
                waves.append(
                    await asyncio.gather(
                        *[client.get("/api/auth/session", headers=cookie) for _ in range(CHECKS)],
                        return_exceptions=True,
                    )
                )
            assert waves, "cleanup finished before the session checks started"
            deleted = await cleanup
            cleanup_time = time.monotonic() - cleanup_started
        elapsed = time.monotonic() - started

        answers = [answer for wave in waves for answer in wave]
        failures = [a for a in answers if not isinstance(a, httpx.Response) or a.status_code != 200]
        assert failures == [], f"{len(failures)} of {len(answers)} checks failed, first: {failures[0]!r}"
        assert {a.json()["user"]["id"] for a in answers if isinstance(a, httpx.Response)} == {signed_up.user.id}
        assert deleted == EXPIRED
        async with store.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM sessions") == 1
            assert await conn.fetchval("SELECT count(*) FROM users") == EXPIRED + 1  # cleanup keeps users
        print(
            f"\nload: seeded {EXPIRED} expired sessions in {seeded:.1f} s; {len(answers)} session checks in "
            f"{len(waves)} waves of {CHECKS} during cleanup ({cleanup_time:.1f} s); whole test {elapsed:.1f} s"
        )
        assert elapsed < 60
    finally:
        await auth.close()
        auth.hasher.close()
