"""A sign-up that answers 503 leaves no user behind, or its answer says that the account exists.

The session insert fails for real: another connection holds an exclusive lock on the sessions
table and the store's command timeout (1 s) expires. The user row was already inserted by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from authgate import Auth
from authgate._ratelimit import RateLimitOptions
from authgate.stores import PostgresStore

from .support import CLIENT, SECRET, client_for

pytestmark = pytest.mark.timeout(60)
ANN = {"email": "ann@example.com", "password": "correct horse battery"}


@contextlib.asynccontextmanager
async def _sessions_locked(pg_url: str, schema: str) -> AsyncIterator[asyncpg.Connection]:
    locker = await asyncpg.connect(pg_url, server_settings={"search_path": schema})
    transaction = locker.transaction()
    await transaction.start()
    await locker.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
    try:
        yield locker
    finally:
        with contextlib.suppress(Exception):
            await transaction.rollback()
        await locker.close()


async def _wait_for_a_waiter(conn: asyncpg.Connection) -> None:
    """Until some statement waits for the lock on the sessions table (bounded)."""
    began = time.monotonic()
    waiters = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'sessions'::regclass"
    while not await conn.fetchval(waiters):
        assert time.monotonic() - began < 10, "nothing waited on the sessions lock"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def _auth(pg_url: str, schema: str) -> AsyncIterator[Auth]:
    store = PostgresStore(pg_url, schema=schema, command_timeout=1, min_size=1, max_size=4)
    auth = Auth(store=store, secret=SECRET, rate_limits=RateLimitOptions(enabled=False))
    await auth.open()
    try:
        yield auth
    finally:
        await auth.close()
        auth.hasher.close()


async def test_sign_up_whose_session_insert_fails_answers_503_and_leaves_no_user(pg_url: str, pg_schema: str) -> None:
    async with _auth(pg_url, pg_schema) as auth, client_for(auth) as client:
        async with _sessions_locked(pg_url, pg_schema) as locker:
            request = asyncio.ensure_future(client.post("/api/auth/sign-up", json=ANN, headers=CLIENT))
            # The session INSERT waits and times out after 1 s; the undo (DELETE of the user,
            # cascading into the locked table) then waits too: release the lock halfway through
            # that second wait, as a brief contention would.
            await _wait_for_a_waiter(locker)
            await asyncio.sleep(1.5)
        answer = await request
        assert answer.status_code == 503, answer.text
        assert answer.json()["kind"] == "ServiceUnavailable"
        assert await auth.store.get_credentials("ann@example.com") is None
        retried = await client.post("/api/auth/sign-up", json=ANN, headers=CLIENT)
        assert retried.status_code == 200, retried.text  # not 409: the failed attempt left nothing


async def test_sign_up_that_cannot_undo_says_the_account_was_created(pg_url: str, pg_schema: str) -> None:
    async with _auth(pg_url, pg_schema) as auth, client_for(auth) as client:
        async with _sessions_locked(pg_url, pg_schema):
            answer = await client.post("/api/auth/sign-up", json=ANN, headers=CLIENT)
        assert answer.status_code == 503, answer.text
        assert "account was created" in answer.json()["error"]
        assert await auth.store.get_credentials("ann@example.com") is not None  # what the answer said
        signed_in = await client.post("/api/auth/sign-in", json=ANN, headers=CLIENT)
        assert signed_in.status_code == 200, signed_in.text
