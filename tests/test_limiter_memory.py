"""The in-memory rate limiter's memory is bounded: forgot-password counts per IP before it makes a
counter per address, and past `memory_max_keys` counters the least recently used is forgotten.

Measured with a flood of distinct addresses from distinct IPs (through a trusted proxy), bounded in
time; the stated bound is `memory_max_keys` counters and, here, 10 MB of RSS growth for a cap of
5 000 keys (a counter costs well under 1 KB).
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from authgate import Auth
from authgate._ratelimit import RateLimitOptions
from authgate.stores import MemoryStore

from .support import CLIENT, SECRET, client_for

pytestmark = pytest.mark.timeout(90)
CAP = 5_000
RSS_BOUND_MB = 10.0
FLOOD_SECONDS = 20.0  # at most; the flood stops at three times the cap


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("path", ["/api/auth/forgot-password", "/api/auth/verify-email/send"])
async def test_one_ip_cannot_make_a_counter_per_address(path: str) -> None:
    # Both routes take an address from anyone (verify-email/send when signed out) and answer the
    # same for every address; each counts the client IP (10/minute) before looking at the address.
    auth = Auth(store=MemoryStore(), secret=SECRET, rate_limits=RateLimitOptions())
    try:
        async with client_for(auth) as client:
            answers = [
                (await client.post(path, json={"email": f"u{i}@example.com"}, headers=CLIENT)) for i in range(50)
            ]
        assert [a.status_code for a in answers].count(200) == 10, [a.status_code for a in answers]
        assert {a.status_code for a in answers[10:]} == {429}
        assert auth.limiter is not None
        assert auth.limiter.memory_keys() <= 11  # one per-IP counter and at most ten per-address ones
    finally:
        auth.hasher.close()


def test_flood_of_distinct_addresses_and_ips_keeps_limiter_memory_bounded() -> None:
    # RSS is the whole process's: measured in a process of its own, so threads and caches left by
    # other tests in this one cannot count against the limiter.
    done = subprocess.run(
        [sys.executable, "-m", "tests.test_limiter_memory"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    sent, seconds, peak, grown = result["sent"], result["seconds"], result["peak"], result["grown"]
    print(f"\nflood: {sent} distinct addresses from {sent} IPs in {seconds:.1f} s; "
          f"counters peak {peak} (cap {CAP}); RSS +{grown:.1f} MB (bound {RSS_BOUND_MB} MB)")  # fmt: skip
    assert result["sent"] > 2 * CAP, "the flood did not reach twice the cap; the machine is too slow for this check"
    assert result["peak"] <= CAP
    assert result["grown"] < RSS_BOUND_MB


async def _flood() -> dict[str, float]:
    options = RateLimitOptions(memory_max_keys=CAP)
    auth = Auth(store=MemoryStore(), secret=SECRET, rate_limits=options, trusted_proxies=("127.0.0.1",))
    assert auth.limiter is not None
    try:
        async with client_for(auth) as client:
            client._transport.client = ("127.0.0.1", 123)  # type: ignore[attr-defined]  # the trusted proxy

            async def one(i: int) -> int:
                headers = {**CLIENT, "X-Forwarded-For": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"}
                answer = await client.post("/api/auth/forgot-password", json={"email": f"f{i}@example.com"},
                                           headers=headers)  # fmt: skip
                return answer.status_code

            await asyncio.gather(*[one(i) for i in range(500)])  # warm up allocator and code paths
            await auth.idle()
            gc.collect()
            before = _rss_mb()
            sent, began, peak = 500, time.monotonic(), 0
            while time.monotonic() - began < FLOOD_SECONDS and sent < 3 * CAP + 500:
                statuses = await asyncio.gather(*[one(sent + i) for i in range(500)])
                assert set(statuses) == {200}
                sent += 500
                peak = max(peak, auth.limiter.memory_keys())
            await auth.idle()
            gc.collect()
            return {"sent": sent, "seconds": time.monotonic() - began, "peak": peak, "grown": _rss_mb() - before}
    finally:
        auth.hasher.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_flood())))
