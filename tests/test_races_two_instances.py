"""Races across two uvicorn instances (one Postgres schema, one Redis), through the public HTTP API
only, so they hold whatever the engine does inside. Bounded trials; zero losses allowed.

- sign-out on A racing a refresh on B: once sign-out answered success, no token of that session,
  current or the one the refresh handed out, works anywhere (after the 1 s cache bound);
- two parallel TOTP disables with one code: exactly one succeeds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import httpx
import pyotp
import pytest

from .conftest import fresh_redis_prefix
from .test_two_instances import CLIENT, ROOT, _cookie_header, _cookies, _servers, _wait_until_serving

TRIALS = 50
BOUND = 1.0  # the revocation bound with the local cache while Redis is healthy
pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def instances(pg_url: str, pg_schema: str, redis_url: str) -> AsyncIterator[tuple[str, str]]:
    async with fresh_redis_prefix(redis_url) as cache_prefix:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "AUTHGATE_TWO_DATABASE_URL": pg_url,
            "AUTHGATE_TWO_SCHEMA": pg_schema,
            "AUTHGATE_TWO_REDIS_URL": redis_url,
            "AUTHGATE_TWO_CACHE_PREFIX": cache_prefix,
            "AUTHGATE_TWO_LIMIT_PREFIX": "unused",
            "AUTHGATE_TWO_LIMITS": "off",  # 50 sign-ins from one address are the test, not an attack
        }
        with _servers(env, 2) as servers:
            for base, process in servers:
                await _wait_until_serving(base, process)
            yield servers[0][0], servers[1][0]


async def _dead_everywhere(http: httpx.AsyncClient, bases: tuple[str, str], access: dict[str, str]) -> bool:
    began = time.monotonic()
    while time.monotonic() - began < BOUND + 0.5:
        answers = [(await http.get(f"{base}/api/auth/session", headers=access)).status_code for base in bases]
        if set(answers) == {401}:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_sign_out_on_a_racing_refresh_on_b_never_leaves_the_session_alive(instances: tuple[str, str]) -> None:
    a, b = instances
    account = {"email": "race@example.com", "password": "correct horse battery"}
    losses: list[str] = []
    async with httpx.AsyncClient(timeout=15) as http:
        assert (await http.post(f"{a}/api/auth/sign-up", json=account, headers=CLIENT)).status_code == 200
        for trial in range(TRIALS):
            signed_in = await http.post(f"{a}/api/auth/sign-in", json=account, headers=CLIENT)
            assert signed_in.status_code == 200, signed_in.text
            first = _cookies(signed_in)
            # Sign-out sends what a browser sends: the access cookie only (the refresh cookie's path
            # is <base>/refresh). A refresh that wins retires that access token, so sign-out must
            # still find the session behind it.
            refreshed, signed_out = await asyncio.gather(
                http.post(f"{b}/api/auth/refresh", headers=_cookie_header(first, "authgate_refresh")),
                http.post(f"{a}/api/auth/sign-out", headers=_cookie_header(first, "authgate_session")),
            )
            assert signed_out.status_code == 200 and signed_out.json() == {"success": True}, signed_out.text
            tokens = [first]
            if refreshed.status_code == 200 and _cookies(refreshed).get("authgate_session"):
                tokens.append(_cookies(refreshed))
            for cookies in tokens:
                if not await _dead_everywhere(http, (a, b), _cookie_header(cookies, "authgate_session")):
                    losses.append(f"trial {trial}: an access token still works after sign-out")
                again = await http.post(f"{b}/api/auth/refresh", headers=_cookie_header(cookies, "authgate_refresh"))
                if again.status_code == 200:
                    losses.append(f"trial {trial}: a refresh token still works after sign-out")
    print(f"\nsign-out vs refresh: {TRIALS} trials, {len(losses)} losses")
    assert not losses, losses[:5]


async def test_parallel_totp_disables_with_one_code_succeed_once(instances: tuple[str, str]) -> None:
    a, b = instances
    doubles = 0
    async with httpx.AsyncClient(timeout=15) as http:
        for trial in range(TRIALS // 5):  # each trial enrols a fresh user: 10 trials
            account = {"email": f"factor{trial}@example.com", "password": "correct horse battery"}
            signed_up = await http.post(f"{a}/api/auth/sign-up", json=account, headers=CLIENT)
            assert signed_up.status_code == 200, signed_up.text
            session = _cookie_header(_cookies(signed_up), "authgate_session")
            enrolled = await http.post(f"{a}/api/auth/mfa/totp/enroll", headers=session)
            assert enrolled.status_code == 200, enrolled.text
            totp = pyotp.TOTP(enrolled.json()["secret"])
            confirmed = await http.post(f"{a}/api/auth/mfa/totp/confirm", json={"code": totp.now()}, headers=session)
            assert confirmed.status_code == 200, confirmed.text
            await asyncio.sleep(max(0.0, 30 - time.time() % 30 + 0.1) if time.time() % 30 > 28 else 0)
            code = totp.at(time.time() + 30)  # the next step: never spent by the confirm above
            answers = await asyncio.gather(*[
                http.post(f"{base}/api/auth/mfa/totp/disable", json={"code": code}, headers=session) for base in (a, b)
            ])  # fmt: skip
            succeeded = [x for x in answers if x.status_code == 200 and x.json().get("disabled") is True]
            if len(succeeded) != 1:
                doubles += 1
    print(f"\nparallel TOTP disable: {TRIALS // 5} trials, {doubles} with other than one success")
    assert doubles == 0
