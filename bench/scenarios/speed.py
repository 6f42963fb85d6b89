"""Issue 14's two speed targets, each side by side in one run.

- The JWT strategy: per codec ((j) cryptography + cache of verified tokens, (k) cryptography
  alone, (l) joserfc per request, as before), the protected route against a plain `/hello` route
  in the same server, loaded the same way (wrk -c32, same cookies).
- The database path at one connection: the floor, authgate with batched session checks (b) and
  without (b0), wrk -c1, so batching's effect on a lone request's latency shows (p50). The -c32
  side (b vs the floor, req/s and p99) is in the session-check table.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from authgate import Auth, SessionOptions
from authgate._models import User
from authgate.stores import MemoryStore
from bench.clients import authgate_sign_in, check_cookies, cookie_requests, sample_ids
from bench.common import SECRET
from bench.load import write_lua
from bench.scenarios.session_check import interleaved
from bench.seeding import raw_token, user_email, user_id
from bench.servers import SERVERS, Contender, http_request
from bench.settings import HTTP_SIGNINS, TOKEN_SAMPLE, Settings, log

JWT_SERVERS = ("authgate_jwt", "authgate_jwt_lean", "authgate_jwt_joserfc")
C1_SERVERS = ("floor", "authgate_pg", "authgate_pg_nobatch")


def jwt_contenders() -> list[Contender]:
    out = []
    for key in JWT_SERVERS:
        server = SERVERS[key]
        out.append(Contender(f"{key}_hello", f"{server.label}: `/hello`", server, "/hello"))
        out.append(Contender(f"{key}_private", f"{server.label}: `/api/private`", server, "/api/private"))
    return out


async def mint_jwts(ids: list[int]) -> list[str]:
    """JWT session cookies made by authgate's own JWT strategy for seeded users (what its sign-in
    route would set), without paying argon2id for each."""
    issuer = Auth(store=MemoryStore(), secret=SECRET, sessions=SessionOptions(strategy="jwt"))
    now = datetime.now(UTC)
    tokens = []
    for i in ids:
        user = User(id=user_id(i), email=user_email(i), name=f"Bench User {i}", email_verified=True, image=None,
                    created_at=now, updated_at=now)  # fmt: skip
        started = await issuer.sessions.start(user, None)
        tokens.append(started.tokens.access_token)
    issuer.hasher.close()  # the cookies live for refresh_lifetime (30 days), past any run
    return tokens


async def jwt_speed(s: Settings, rng: random.Random) -> dict[str, Any]:
    """Run with the JWT_SERVERS up."""
    ids = sample_ids(TOKEN_SAMPLE, s.base_users, rng)
    tokens = [await authgate_sign_in(SERVERS["authgate_jwt"], i) for i in ids[:HTTP_SIGNINS]]
    tokens += await mint_jwts(ids[HTTP_SIGNINS:])
    cookies = [f"authgate_session={t}" for t in tokens]
    contenders = jwt_contenders()
    scripts: dict[str, Path] = {}
    for contender in contenders:
        if contender.path == "/api/private":
            await check_cookies(contender.server, contender.path, cookies)
        else:
            status, _, _ = await http_request(contender.server.port, "GET", "/hello")
            if status != 200:
                raise RuntimeError(f"{contender.key}: /hello answered {status}")
        scripts[contender.key] = write_lua(f"jwt-{contender.key}", cookie_requests(cookies, contender.path))
    results = await interleaved(contenders, scripts, s, connections=s.connections, tag="jwt")
    for key in JWT_SERVERS:
        hello, private = results[f"{key}_hello"]["median"]["rps"], results[f"{key}_private"]["median"]["rps"]
        log(f"{key}: protected / hello = {private / hello:.2f}x")
    return results


async def one_connection(s: Settings, rng: random.Random) -> dict[str, Any]:
    """Run with C1_SERVERS up (their sessions seeded): latency of a lone request."""
    ids = sample_ids(TOKEN_SAMPLE, s.base_users, rng)
    cookies = [f"authgate_session={raw_token(i)}" for i in ids]
    contenders = [Contender(f"{key}_c1", f"{SERVERS[key].label}, -c1", SERVERS[key]) for key in C1_SERVERS]
    scripts = {}
    for contender in contenders:
        await check_cookies(contender.server, contender.path, cookies)
        scripts[contender.key] = write_lua(f"c1-{contender.key}", cookie_requests(cookies, contender.path))
    return await interleaved(contenders, scripts, s, connections=1, tag="c1")
