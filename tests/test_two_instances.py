"""Two real uvicorn processes on one Postgres and one Redis (the deployment the Redis session cache
is for): a session made on A works on B, refreshes on B, dies everywhere when A signs it out, and
rate limits count attempts made on either."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import fresh_redis_prefix

ROOT = Path(__file__).resolve().parent.parent
CLIENT = {"X-Authgate-Client": "true"}
BOUND = 1.0  # seconds: the revocation bound with the local cache on (local_ttl is 2 s, pub/sub ms)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _servers(env: dict[str, str], count: int) -> Iterator[list[tuple[str, subprocess.Popen[str]]]]:
    started: list[tuple[str, subprocess.Popen[str]]] = []
    try:
        for _ in range(count):
            port = _free_port()
            command = [sys.executable, "-m", "uvicorn", "tests.two_instance_app:create_app", "--factory",
                       "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
            process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
            started.append((f"http://127.0.0.1:{port}", process))
        yield started
    finally:
        for _, process in started:
            process.terminate()
        for _, process in started:
            try:
                process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


async def _wait_until_serving(base: str, process: subprocess.Popen[str]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=1) as client:
        for _ in range(200):
            if process.poll() is not None:
                err = process.stderr.read() if process.stderr else ""
                pytest.fail(f"uvicorn at {base} exited with {process.returncode}: {err}")
            with contextlib.suppress(httpx.TransportError):
                await client.get("/api/auth/session")
                return
            await asyncio.sleep(0.05)
    pytest.fail(f"uvicorn at {base} did not start within 10 s")


@pytest.fixture
async def two_instances(pg_url: str, pg_schema: str, redis_url: str) -> AsyncIterator[tuple[str, str]]:
    async with fresh_redis_prefix(redis_url) as cache_prefix, fresh_redis_prefix(redis_url) as limit_prefix:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "AUTHGATE_TWO_DATABASE_URL": pg_url,
            "AUTHGATE_TWO_SCHEMA": pg_schema,
            "AUTHGATE_TWO_REDIS_URL": redis_url,
            "AUTHGATE_TWO_CACHE_PREFIX": cache_prefix,
            "AUTHGATE_TWO_LIMIT_PREFIX": limit_prefix,
        }
        with _servers(env, 2) as servers:
            for base, process in servers:
                await _wait_until_serving(base, process)
            yield servers[0][0], servers[1][0]


def _cookies(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.cookies.items() if value}


def _cookie_header(cookies: dict[str, str], *names: str) -> dict[str, str]:
    return {**CLIENT, "Cookie": "; ".join(f"{n}={cookies[n]}" for n in names)}


async def test_session_made_on_a_works_on_b_refreshes_on_b_and_dies_on_b_when_a_signs_out(
    two_instances: tuple[str, str],
) -> None:
    a, b = two_instances
    async with httpx.AsyncClient(timeout=10) as http:
        credentials = {"email": "two@example.com", "password": "correct horse battery"}
        assert (await http.post(f"{a}/api/auth/sign-up", json=credentials, headers=CLIENT)).status_code == 200
        signed_in = await http.post(f"{a}/api/auth/sign-in", json=credentials, headers=CLIENT)
        assert signed_in.status_code == 200, signed_in.text
        first = _cookies(signed_in)
        access = _cookie_header(first, "authgate_session")

        on_b = await http.get(f"{b}/api/auth/session", headers=access)
        assert on_b.status_code == 200 and on_b.json()["user"]["email"] == "two@example.com"
        assert (await http.get(f"{b}/api/private", headers=access)).text == "hello two@example.com"

        refreshed = await http.post(f"{b}/api/auth/refresh", headers=_cookie_header(first, "authgate_refresh"))
        assert refreshed.status_code == 200, refreshed.text
        second = _cookies(refreshed)
        assert second["authgate_session"] != first["authgate_session"]
        new_access = _cookie_header(second, "authgate_session")
        assert (await http.get(f"{a}/api/auth/session", headers=new_access)).status_code == 200
        assert (await http.get(f"{b}/api/private", headers=new_access)).status_code == 200
        # The rotated-away access token is dead on both, A included (it had it cached locally).
        for base in (a, b):
            assert (await http.get(f"{base}/api/auth/session", headers=access)).status_code == 401

        signed_out = await http.post(f"{a}/api/auth/sign-out", headers=new_access)
        assert signed_out.status_code == 200
        start = time.monotonic()
        while (await http.get(f"{b}/api/auth/session", headers=new_access)).status_code != 401:
            assert time.monotonic() - start < BOUND, "B still accepts a session signed out on A"
            await asyncio.sleep(0.02)
        print(f"\n[revocation latency] two uvicorn processes, sign-out on A -> B rejects: "
              f"{(time.monotonic() - start) * 1000:.1f} ms")  # fmt: skip
        assert (await http.get(f"{b}/api/private", headers=new_access)).status_code == 401
        refresh_after = await http.post(f"{b}/api/auth/refresh", headers=_cookie_header(second, "authgate_refresh"))
        assert refresh_after.status_code == 401


async def test_sign_in_failures_on_either_instance_count_toward_one_account_limit(
    two_instances: tuple[str, str],
) -> None:
    a, b = two_instances
    async with httpx.AsyncClient(timeout=10) as http:
        account = {"email": "limited@example.com", "password": "correct horse battery"}
        assert (await http.post(f"{b}/api/auth/sign-up", json=account, headers=CLIENT)).status_code == 200
        wrong = {**account, "password": "wrong password!"}
        for base in (a, b, a):  # sign_in_per_account is 3/minute, counted in the shared Redis
            answer = await http.post(f"{base}/api/auth/sign-in", json=wrong, headers=CLIENT)
            assert answer.status_code == 401, answer.text
        for base in (b, a):
            limited = await http.post(f"{base}/api/auth/sign-in", json=account, headers=CLIENT)
            assert limited.status_code == 429, limited.text
            assert limited.json()["kind"] == "RateLimited"
            assert "retry-after" in limited.headers
