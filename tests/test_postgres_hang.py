"""A hung Postgres (every server process SIGSTOPped, so connections stay open and nothing answers).

Every request answers 503 `ServiceUnavailable` within the store's configured bound
(`acquire_timeout + command_timeout`) plus one second, for a 20 s and a 75 s hang (longer than
asyncpg's 60 s default connect timeout, which used to hold requests for a minute), including
requests that queue for the pool; after SIGCONT the same app serves again without a restart.
Runs against a private cluster (tests/private_services.py), never the shared server.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from authgate import Auth
from authgate._ratelimit import RateLimitOptions
from authgate.stores import PostgresStore

from .private_services import private_postgres, resume_postgres, stop_postgres
from .support import CLIENT, SECRET, client_for

PASSWORD = "correct horse battery"
ACQUIRE_TIMEOUT = 2.0  # the documented defaults
COMMAND_TIMEOUT = 5.0
BOUND = ACQUIRE_TIMEOUT + COMMAND_TIMEOUT  # what docs/configuration.md promises per store call
SLACK = 1.0


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["kind"] == "ServiceUnavailable"
    assert "asyncpg" not in response.text and "Traceback" not in response.text


@pytest.mark.timeout(200)
@pytest.mark.parametrize("hang_seconds", [20, 75])
async def test_hung_postgres_answers_every_request_503_within_the_bound_then_recovers(hang_seconds: int) -> None:
    with private_postgres() as server:
        store = PostgresStore(server.url, min_size=1, max_size=5)  # defaults: 5 s connect, 2 s acquire, 5 s command
        auth = Auth(store=store, secret=SECRET, rate_limits=RateLimitOptions(enabled=False))
        await auth.open()
        try:
            async with client_for(auth) as client:
                ann = {"email": "ann@example.com", "password": PASSWORD}
                signed_up = await client.post("/api/auth/sign-up", json=ann, headers=CLIENT)
                assert signed_up.status_code == 200, signed_up.text
                cookie = {"Cookie": f"authgate_session={signed_up.cookies['authgate_session']}"}
                bob = {"email": "bob@example.com", "password": PASSWORD}

                async def timed(method: str, path: str, **kwargs: object) -> tuple[str, float, httpx.Response]:
                    began = time.monotonic()
                    answer = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
                    return path, time.monotonic() - began, answer

                def round_of_requests() -> list[asyncio.Future[tuple[str, float, httpx.Response]]]:
                    # More session checks than pool connections: some wait for the pool itself.
                    return [
                        asyncio.ensure_future(timed("POST", "/api/auth/sign-up", json=bob, headers=CLIENT)),
                        asyncio.ensure_future(timed("POST", "/api/auth/sign-in", json=ann, headers=CLIENT)),
                        asyncio.ensure_future(timed("GET", "/api/private", headers={**CLIENT, **cookie})),
                        *[asyncio.ensure_future(timed("GET", "/api/auth/session", headers=cookie)) for _ in range(8)],
                    ]

                pids = stop_postgres(server)
                hung_at = time.monotonic()
                slowest = 0.0
                answered = 0
                try:
                    # Keep asking for the whole hang; bounded by hang_seconds.
                    while time.monotonic() - hung_at < hang_seconds - BOUND - SLACK:
                        for path, elapsed, answer in await asyncio.gather(*round_of_requests()):
                            _assert_unavailable(answer)
                            assert elapsed <= BOUND + SLACK, f"{path} took {elapsed:.2f} s on a hung Postgres"
                            slowest = max(slowest, elapsed)
                            answered += 1
                    await asyncio.sleep(max(0.0, hang_seconds - (time.monotonic() - hung_at)))
                finally:
                    resume_postgres(pids)
                resumed = time.monotonic()
                while (answer := await client.get("/api/auth/session", headers=cookie)).status_code != 200:
                    _assert_unavailable(answer)
                    assert time.monotonic() - resumed < BOUND + SLACK, "no recovery after SIGCONT"
                    await asyncio.sleep(0.1)
                recovered = time.monotonic() - resumed
                print(f"\nhang {hang_seconds} s: {answered} requests, all 503, slowest {slowest:.2f} s "
                      f"(bound {BOUND + SLACK:.0f} s); served again {recovered:.2f} s after SIGCONT")  # fmt: skip
                # Nothing half-written during the hang: bob's sign-up never happened.
                assert await auth.store.get_credentials("bob@example.com") is None
                assert (await client.get("/api/private", headers={**CLIENT, **cookie})).text == "hello ann@example.com"
        finally:
            await auth.close()
            auth.hasher.close()
