"""4. 10k vs 1M stored sessions: session check and sign-in at each size, with the query plans."""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any

from bench.clients import check_protected, protected_requests, sample_ids
from bench.common import AUTHGATE_SCHEMA
from bench.cpu import wait_for_quiet
from bench.load import WrkResult, write_lua, wrk
from bench.probes import bench_route, count_rows, explain
from bench.scenarios.signin import signin_script
from bench.seeding import raw_token, seed_authgate_pg, token_hash, user_email
from bench.servers import SERVERS, running
from bench.settings import SIGNIN_USERS, TOKEN_SAMPLE, Settings, log

SQL_SESSION = "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = $1"
SQL_SESSIONS_BATCH = "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = ANY($1::text[])"
SQL_CREDENTIALS = "SELECT id, password_hash FROM users WHERE email_key = $1"


async def scale_point(s: Settings, rng: random.Random, users: int) -> dict[str, Any]:
    ag_pg = SERVERS["authgate_pg"]
    point_ids = sample_ids(TOKEN_SAMPLE, users, rng)
    script = write_lua(f"protected-scale-{users}", protected_requests(ag_pg, [raw_token(i) for i in point_ids]))
    sign = signin_script(f"signin-scale-{users}", sample_ids(SIGNIN_USERS, users, rng))
    async with running(ag_pg):
        await check_protected(ag_pg, [raw_token(i) for i in point_ids])
        await wrk(ag_pg.base + "/api/private", script, duration=s.warmup, connections=s.connections,
                  label=f"scale {users} warm-up")  # fmt: skip
        prot = WrkResult.median(await bench_route(ag_pg, script, s, f"scale {users}"))
        await wait_for_quiet(s.quiet_wait)
        sign_result = await wrk(
            ag_pg.base + "/api/auth/sign-in", sign, duration=s.signin_duration, connections=s.signin_connections,
            label=f"signin scale {users}", server=ag_pg,
        )  # fmt: skip
    hashes = [token_hash(raw_token(i)) for i in point_ids[:16]]
    plans = {
        "session": await explain(AUTHGATE_SCHEMA, SQL_SESSION, hashes[0]),
        "sessions_batch": await explain(AUTHGATE_SCHEMA, SQL_SESSIONS_BATCH, hashes),
        "credentials": await explain(AUTHGATE_SCHEMA, SQL_CREDENTIALS, user_email(point_ids[0])),
    }
    log(f"{users:,} users: protected {prot.rps:.0f} req/s p99 {prot.p99_ms:.2f} ms; sign-in {sign_result.rps:.1f}/s")
    return {
        "users": users,
        "sessions": await count_rows(AUTHGATE_SCHEMA, "sessions"),
        "protected": asdict(prot),
        "signin": asdict(sign_result),
        "plans": plans,
    }


async def scale(s: Settings, rng: random.Random, password_hash: str) -> dict[str, Any]:
    result: dict[str, Any] = {"small_users": s.base_users}
    result["small"] = await scale_point(s, rng, s.base_users)
    log(f"growing authgate's Postgres tables to {s.large_users:,} users / sessions")
    result["seed_seconds"] = await seed_authgate_pg(password_hash, s.base_users + 1, s.large_users)
    log(f"  took {result['seed_seconds']:.0f} s")
    result["large"] = await scale_point(s, rng, s.large_users)
    return result
