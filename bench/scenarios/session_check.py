"""1. Session check, side by side: every contender loaded on its session check, interleaved rounds."""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg

from bench.clients import (
    authgate_sign_in,
    better_auth_cookie,
    better_auth_data_cookie,
    better_auth_sign_in,
    better_auth_sign_up,
    check_cookies,
    cookie_requests,
    fau_login,
    fau_register,
    sample_ids,
)
from bench.common import ACCESS_LIFETIME_SECONDS, FAU_SCHEMA, SECRET
from bench.cpu import wait_for_quiet
from bench.load import WrkResult, write_lua, wrk
from bench.seeding import (
    better_auth_url,
    pg_connect,
    raw_token,
    seed_better_auth,
    seed_fastapi_users,
    user_email,
    user_id,
)
from bench.servers import CONTENDERS, SERVERS, Contender, contender_python
from bench.settings import BA_COOKIE, BA_DATA_COOKIE, EMAIL_DOMAIN, HTTP_SIGNINS, TOKEN_SAMPLE, Settings, log


def fau_jwts(ids: list[int]) -> list[str]:
    """fastapi-users JWTs for users `ids`, made by fastapi-users itself in its own environment."""
    program = (
        "import json, sys; from fastapi_users.jwt import generate_jwt; "
        "secret, lifetime, subs = json.loads(sys.stdin.read()); "
        "print(json.dumps([generate_jwt({'sub': s, 'aud': ['fastapi-users:auth']}, secret, lifetime) for s in subs]))"
    )
    request = json.dumps([SECRET, ACCESS_LIFETIME_SECONDS, [user_id(i) for i in ids]])
    out = subprocess.run(
        [contender_python("fastapi-users"), "-c", program], input=request, capture_output=True, text=True, timeout=60
    )
    if out.returncode != 0:
        raise SystemExit(f"fastapi-users JWTs: {out.stderr}")
    tokens: list[str] = json.loads(out.stdout)
    return tokens


async def make_cookies(s: Settings, rng: random.Random) -> tuple[list[int], dict[str, list[str]]]:
    """The sessions each contender is loaded with: a few through its own sign-in route, the rest
    seeded. Returns the sampled user ids and, per contender key, its Cookie headers."""
    floor, ag_pg, fau_db, fau_jwt = (SERVERS[k] for k in ("floor", "authgate_pg", "fau_db", "fau_jwt"))
    ba, ba_cc = SERVERS["better_auth"], SERVERS["better_auth_cc"]
    cookies: dict[str, list[str]] = {}
    ids = sample_ids(TOKEN_SAMPLE, s.base_users, rng)
    # authgate (every store): a few sessions through the real sign-in route, the rest seeded.
    for key in ("authgate_pg", "authgate_pg_nobatch", "authgate_sqlite", "authgate_redis_local", "authgate_redis"):
        server = SERVERS[key]
        http_tokens = [await authgate_sign_in(server, i) for i in ids[:HTTP_SIGNINS]]
        tokens = http_tokens + [raw_token(i) for i in ids[HTTP_SIGNINS:]]
        cookies[server.key] = [f"authgate_session={t}" for t in tokens]
    cookies["authgate_pg_session"] = cookies[ag_pg.key]
    cookies["authgate_redis_local_session"] = cookies["authgate_redis_local"]
    # the floor reads authgate's Postgres tables: the same sessions.
    cookies[floor.key] = [f"authgate_session={raw_token(i)}" for i in ids]
    # fastapi-users: users through its register route, bulk copies of their hash, its own logins.
    fau_ids = ids[:HTTP_SIGNINS]
    for i in fau_ids:
        await fau_register(fau_db, f"registered{i}@{EMAIL_DOMAIN}")
    conn = await pg_connect(FAU_SCHEMA)
    registered_hash = await conn.fetchval('SELECT hashed_password FROM "user" LIMIT 1')
    await conn.close()
    await seed_fastapi_users(s.base_users, registered_hash)
    db_tokens = [await fau_login(fau_db, "db", user_email(i)) for i in fau_ids]
    db_tokens += [raw_token(i) for i in ids[HTTP_SIGNINS:]]
    cookies[fau_db.key] = [f"fastapiusersauth={t}" for t in db_tokens]
    jwt_tokens = [await fau_login(fau_jwt, "jwt", user_email(i)) for i in fau_ids]
    jwt_tokens += fau_jwts(ids[HTTP_SIGNINS:])
    cookies[fau_jwt.key] = [f"fastapiusersauth={t}" for t in jwt_tokens]
    # Better Auth: users through its sign-up route, bulk copies of their scrypt hash, sessions
    # through its sign-in route and seeded (cookies signed with its secret, as it signs them).
    for i in fau_ids:
        await better_auth_sign_up(ba, f"registered{i}@{EMAIL_DOMAIN}")
    conn = await asyncpg.connect(better_auth_url())
    ba_hash = await conn.fetchval("SELECT password FROM account WHERE password IS NOT NULL LIMIT 1")
    await conn.close()
    await seed_better_auth(s.base_users, ba_hash)
    ba_tokens = [await better_auth_sign_in(ba, user_email(i)) for i in fau_ids]
    ba_tokens += [better_auth_cookie(raw_token(i)) for i in ids[HTTP_SIGNINS:]]
    cookies[ba.key] = [f"{BA_COOKIE}={t}" for t in ba_tokens]
    # cookie cache on: each client also holds the session_data cookie its first check was given.
    cookies[ba_cc.key] = [
        f"{BA_COOKIE}={t}; {BA_DATA_COOKIE}={await better_auth_data_cookie(ba_cc, t)}" for t in ba_tokens
    ]
    return ids, cookies


async def interleaved(
    contenders: list[Contender], scripts: dict[str, Path], s: Settings, *, connections: int, tag: str
) -> dict[str, Any]:
    """Warm every contender up, then `s.runs` interleaved rounds (a b c ..., a b c ...) so drift on
    the host hits every server alike. Returns, per contender, the median and the runs."""
    for contender in contenders:
        log(f"warm-up {s.warmup:.0f} s: {contender.label}")
        await wrk(
            contender.server.base + contender.path,
            scripts[contender.key],
            duration=s.warmup,
            connections=connections,
            label=f"warm-up {tag} {contender.key}",
        )
    runs: dict[str, list[WrkResult]] = {c.key: [] for c in contenders}
    for n in range(s.runs):
        for contender in contenders:
            await wait_for_quiet(s.quiet_wait)
            result = await wrk(
                contender.server.base + contender.path,
                scripts[contender.key],
                duration=s.duration,
                connections=connections,
                label=f"{tag} {contender.key} run {n + 1}",
                server=contender.server,
            )
            runs[contender.key].append(result)
            log(
                f"{tag} round {n + 1}/{s.runs} -c{connections} {contender.key:28s} {result.rps:8.0f} req/s"
                f"  p50 {result.p50_ms:6.2f} p99 {result.p99_ms:6.2f} ms  errors {result.errors}"
                f"  other {result.cpu['other'] if result.cpu else '-'}"
            )
    return {
        c.key: {
            "label": c.label,
            "path": c.path,
            "median": asdict(WrkResult.median(runs[c.key])),
            "runs": [asdict(r) for r in runs[c.key]],
        }
        for c in contenders
    }


async def session_check(s: Settings, rng: random.Random) -> tuple[dict[str, Any], dict[str, Path], list[int]]:
    """Run with every server of CONTENDERS up. Returns the results, the wrk scripts and the user ids."""
    ids, cookies = await make_cookies(s, rng)
    scripts: dict[str, Path] = {}
    for contender in CONTENDERS:
        await check_cookies(contender.server, contender.path, cookies[contender.key])
        scripts[contender.key] = write_lua(
            f"protected-{contender.key}", cookie_requests(cookies[contender.key], contender.path)
        )
    results = await interleaved(CONTENDERS, scripts, s, connections=s.connections, tag="protected")
    return results, scripts, ids
