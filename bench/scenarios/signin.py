"""2. Sign-in throughput against raw argon2id, and 3. `/session` p99 idle vs during a sign-in flood."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.clients import sample_ids
from bench.common import PASSWORD
from bench.cpu import wait_for_quiet
from bench.load import write_lua, wrk
from bench.probes import raw_argon2_rate
from bench.seeding import raw_token, user_email
from bench.servers import SERVERS, running
from bench.settings import SIGNIN_USERS, Settings, log


def signin_script(name: str, id_list: list[int]) -> Path:
    request = ("POST", "/api/auth/sign-in", {"Content-Type": "application/json", "X-Authgate-Client": "true"})
    return write_lua(name, [(*request, json.dumps({"email": user_email(i), "password": PASSWORD})) for i in id_list])


async def _raw_rate(password_hash: str, s: Settings, when: str) -> tuple[float, float]:
    log(f"raw argon2id verify rate{when}, 2 threads, {s.signin_duration:.0f} s")
    await wait_for_quiet(s.quiet_wait)
    rate, cpu = await asyncio.to_thread(raw_argon2_rate, password_hash, s.signin_duration)
    log(f"  {rate:.1f} verifies/s, {cpu:.1f} CPU ms each")
    return rate, cpu


async def _flood(s: Settings, ids: list[int], signin_lua: Path) -> dict[str, Any]:
    ag_pg = SERVERS["authgate_pg"]
    url_signin, url_session = ag_pg.base + "/api/auth/sign-in", ag_pg.base + "/api/auth/session"
    session_requests = [("GET", "/api/auth/session", {"Cookie": f"authgate_session={raw_token(i)}"}, None) for i in ids]
    session_lua = write_lua("session", session_requests)
    paced_lua = write_lua("session-paced", session_requests, delay_ms=s.paced_delay_ms)
    await wrk(url_session, session_lua, duration=s.warmup, connections=s.connections, label="session warm-up")
    flood: dict[str, Any] = {}
    for mode, script, conns in (("saturating", session_lua, s.connections), ("paced", paced_lua, s.paced_connections)):
        await wait_for_quiet(s.quiet_wait)
        idle = await wrk(
            url_session, script, duration=s.duration, connections=conns, label=f"session idle {mode}", server=ag_pg
        )
        await wait_for_quiet(s.quiet_wait)
        flood_task = asyncio.create_task(
            wrk(url_signin, signin_lua, duration=s.duration + 2, connections=s.signin_connections,
                label=f"signin flood ({mode})")
        )  # fmt: skip
        await asyncio.sleep(1.0)
        during = await wrk(
            url_session, script, duration=s.duration, connections=conns, label=f"session during flood {mode}",
            server=ag_pg,
        )  # fmt: skip
        flood_signin = await flood_task
        flood[mode] = {
            "connections": conns,
            "idle": asdict(idle),
            "during": asdict(during),
            "flood_signin": asdict(flood_signin),
            "p99_ratio": during.p99_ms / idle.p99_ms,
        }
        log(
            f"/session {mode}: idle p99 {idle.p99_ms:.2f} ms ({idle.rps:.0f}/s), during flood "
            f"p99 {during.p99_ms:.2f} ms ({during.rps:.0f}/s); sign-ins {flood_signin.rps:.1f}/s"
        )
    return flood


async def signin_and_flood(
    s: Settings, rng: random.Random, password_hash: str, ids: list[int]
) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """(sign-in results, flood results, the sign-in wrk script). The raw rate is measured before and
    after the sign-in runs (nothing else of ours running) and averaged: the machine may be shared,
    and its speed drift then hits both sides of the ratio alike."""
    raw_before, raw_cpu_before = await _raw_rate(password_hash, s, "")
    signin_lua = signin_script("signin", sample_ids(SIGNIN_USERS, s.base_users, rng))
    ag_pg = SERVERS["authgate_pg"]
    async with running(ag_pg):
        url_signin = ag_pg.base + "/api/auth/sign-in"
        await wrk(url_signin, signin_lua, duration=s.warmup, connections=s.signin_connections, label="signin warm-up")
        await wait_for_quiet(s.quiet_wait)
        signin = await wrk(
            url_signin, signin_lua, duration=s.signin_duration, connections=s.signin_connections, label="signin",
            server=ag_pg,
        )  # fmt: skip
        log(f"sign-in: {signin.rps:.1f}/s p99 {signin.p99_ms:.0f} ms errors {signin.errors}")
        flood = await _flood(s, ids, signin_lua)
    raw_after, raw_cpu_after = await _raw_rate(password_hash, s, " again")
    raw_rate = (raw_before + raw_after) / 2
    result = {
        "raw_argon2_per_s": raw_rate,
        "raw_argon2_before_after": [raw_before, raw_after],
        "raw_argon2_cpu_ms": (raw_cpu_before + raw_cpu_after) / 2,
        "authgate": asdict(signin),
        "ratio": signin.rps / raw_rate,
    }
    return result, flood, signin_lua
