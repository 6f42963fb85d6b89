"""Faults of a real Postgres: the server shut down mid-run, a hung server (SIGSTOP), and a table
locked by another connection.

All answer 503 `ServiceUnavailable` within the configured bound, write nothing half-way, and
recover in the same app object without a restart. Shut-down and hang run against a private cluster
started for the test (tests/private_services.py); the shared server is never stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import pytest

from authgate import Auth
from authgate._ratelimit import RateLimitOptions
from authgate.stores import PostgresStore

from .private_services import PrivateServer, private_postgres, shut_down_postgres, start_postgres
from .support import CLIENT, SECRET, client_for

PASSWORD = "correct horse battery"
OUTAGE_LIMIT = 15.0  # seconds Postgres may be down
pytestmark = pytest.mark.timeout(120)


async def _wait_for_postgres(pg_url: str, *, limit: float = 30.0) -> float:
    """Seconds until Postgres accepts connections again; fails the test after `limit` seconds."""
    started = time.monotonic()
    while True:
        try:
            conn = await asyncpg.connect(pg_url, timeout=2)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            if time.monotonic() - started > limit:
                pytest.fail(f"Postgres at {pg_url} did not accept connections within {limit} s: {error!r}")
            await asyncio.sleep(0.1)
            continue
        await conn.close()
        return time.monotonic() - started


@contextlib.asynccontextmanager
async def _auth(pg_url: str, schema: str, *, command_timeout: float = 5.0) -> AsyncIterator[Auth]:
    store = PostgresStore(pg_url, schema=schema, command_timeout=command_timeout, min_size=1, max_size=5)
    auth = Auth(store=store, secret=SECRET, rate_limits=RateLimitOptions(enabled=False))
    await auth.open()
    try:
        yield auth
    finally:
        with contextlib.suppress(Exception):
            await auth.close()
        auth.hasher.close()


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["kind"] == "ServiceUnavailable"
    for leak in ("Traceback", "asyncpg", "postgres", "SELECT", "INSERT"):
        assert leak not in response.text


async def test_postgres_stopped_mid_run_answers_503_then_recovers_without_restart() -> None:
    with private_postgres() as server:
        await _stopped_mid_run(server)


async def _stopped_mid_run(server: PrivateServer) -> None:
    pg_url = server.url
    async with _auth(pg_url, "outage") as auth, client_for(auth) as client:
        signed_up = await client.post("/api/auth/sign-up", json={"email": "ann@example.com", "password": PASSWORD},
                                      headers=CLIENT)  # fmt: skip
        assert signed_up.status_code == 200, signed_up.text
        cookie = {"Cookie": f"authgate_session={signed_up.cookies['authgate_session']}"}
        outage_started = time.monotonic()
        timings: dict[str, float] = {}
        try:
            shut_down_postgres(server)
            timings["stop"] = time.monotonic() - outage_started
            bob = {"email": "bob@example.com", "password": PASSWORD}
            ann = {"email": "ann@example.com", "password": PASSWORD}
            requests: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
                "sign-up": lambda: client.post("/api/auth/sign-up", json=bob, headers=CLIENT),
                "sign-in": lambda: client.post("/api/auth/sign-in", json=ann, headers=CLIENT),
                "session": lambda: client.get("/api/auth/session", headers=cookie),
                "RequireAuth": lambda: client.get("/api/private", headers={**CLIENT, **cookie}),
            }
            for name, request in requests.items():
                began = time.monotonic()
                _assert_unavailable(await request())
                timings[name] = time.monotonic() - began
        finally:
            start_postgres(server)
            timings["back"] = await _wait_for_postgres(pg_url)
            timings["outage"] = time.monotonic() - outage_started
        # The same app object, no restart: the pool reconnects on its own.
        began = time.monotonic()
        while (answer := await client.get("/api/auth/session", headers=cookie)).status_code != 200:
            _assert_unavailable(answer)
            assert time.monotonic() - began < 5, "the app did not recover within 5 s of Postgres coming back"
            await asyncio.sleep(0.1)
        timings["recovered"] = time.monotonic() - began
        print("\npostgres outage timings (s):", {k: round(v, 2) for k, v in timings.items()})
        assert timings["outage"] < OUTAGE_LIMIT
        assert all(timings[name] < 5 for name in requests)

        # Nothing half-written: bob does not exist (his sign-up succeeds now) and ann has one session.
        assert await auth.store.get_credentials("bob@example.com") is None
        assert len(await auth.store.list_user_sessions(signed_up.json()["user"]["id"])) == 1
        retried = await client.post("/api/auth/sign-up", json={"email": "bob@example.com", "password": PASSWORD},
                                    headers=CLIENT)  # fmt: skip
        assert retried.status_code == 200, retried.text
        assert (await client.get("/api/private", headers={**CLIENT, **cookie})).text == "hello ann@example.com"


async def test_locked_sessions_table_hits_the_command_timeout_not_a_hung_worker(pg_url: str, pg_schema: str) -> None:
    async with _auth(pg_url, pg_schema, command_timeout=1) as auth, client_for(auth) as client:
        signed_up = await client.post("/api/auth/sign-up", json={"email": "ann@example.com", "password": PASSWORD},
                                      headers=CLIENT)  # fmt: skip
        assert signed_up.status_code == 200, signed_up.text
        cookie = {"Cookie": f"authgate_session={signed_up.cookies['authgate_session']}"}
        locker = await asyncpg.connect(pg_url, server_settings={"search_path": pg_schema})
        try:
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
            began = time.monotonic()
            _assert_unavailable(await client.get("/api/auth/session", headers=cookie))
            session_elapsed = time.monotonic() - began
            # Several at once: each waits out its own timeout, none hangs the others.
            began = time.monotonic()
            answers = await asyncio.gather(
                *[client.get("/api/private", headers={**CLIENT, **cookie}) for _ in range(4)],
                client.get("/api/auth/providers"),  # touches no table: unaffected
            )
            parallel_elapsed = time.monotonic() - began
            for answer in answers[:-1]:
                _assert_unavailable(answer)
            assert answers[-1].status_code == 200
            await transaction.rollback()
        finally:
            await locker.close()
        print(f"\nlocked table: 503 after {session_elapsed:.2f} s, 4 in parallel after {parallel_elapsed:.2f} s")
        assert session_elapsed < 3
        assert parallel_elapsed < 3
        # Lock released: the same app serves again at once.
        began = time.monotonic()
        assert (await client.get("/api/auth/session", headers=cookie)).status_code == 200
        assert time.monotonic() - began < 1
