"""authgate's benchmark servers: the auth routes plus a RequireAuth route.

BENCH_STORE picks the store: `postgres` (default; (b)), `sqlite` ((e)), `redis_local` ((f):
`RedisStore(PostgresStore(...), redis_url, local_cache=True)`, authgate's session cache with its
in-process layer) or `redis` ((g): the same without the in-process layer, every check one Redis
round trip). BENCH_PG_BATCH=0 turns off PostgresStore's batching of concurrent session checks
((b0): one query per check, as before). BENCH_STRATEGY=jwt uses the JWT session strategy ((j)-(l)),
with BENCH_JWT picking its codec: `cache` (authgate's: the codec on `cryptography` with its cache of
verified tokens), `lean` (the same codec, cache off) or `joserfc` (joserfc decrypts every request,
as before). Every server also has `/hello`, a plain Starlette route, for the same-app ratio.
Everything else is authgate's defaults
(argon2id t=2 m=19 MiB p=1, hash pool = one thread per core, Postgres pool 2..10 connections),
except two things a load test from one address needs: sessions outlive the run, and the sign-in
rate limits stay on (each sign-in still pays for its checks) with thresholds no flood reaches.
"""

from __future__ import annotations

import inspect
import os
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from authgate import Auth, CookieOptions, RequireAuth, SessionOptions
from authgate.stores import PostgresStore, RedisStore, SQLiteStore
from bench.common import (
    ACCESS_LIFETIME_SECONDS,
    AUTHGATE_SCHEMA,
    DATABASE_URL,
    REDIS_KEY_PREFIX,
    REDIS_URL,
    SECRET,
    SQLITE_PATH,
)


def make_store() -> PostgresStore | SQLiteStore | RedisStore:
    kind = os.environ.get("BENCH_STORE", "postgres")
    if kind == "sqlite":
        return SQLiteStore(f"sqlite:///{SQLITE_PATH}")
    postgres = PostgresStore(DATABASE_URL, schema=AUTHGATE_SCHEMA)
    if kind in ("redis", "redis_local"):
        return RedisStore(postgres, REDIS_URL, key_prefix=REDIS_KEY_PREFIX, local_cache=kind == "redis_local")
    if kind != "postgres":
        raise SystemExit(f"unknown BENCH_STORE {kind!r}")
    return postgres


def tune_store(store: PostgresStore | SQLiteStore | RedisStore) -> None:
    if os.environ.get("BENCH_PG_BATCH") == "0" and isinstance(store, PostgresStore):
        # The store's single-row lookup, called directly: one query per check.
        store.get_session_by_token = store._session_by_token  # type: ignore[method-assign]


def tune_jwt(made: Auth) -> None:
    kind = os.environ.get("BENCH_JWT", "cache")
    codec = getattr(made.sessions, "codec", None)
    if codec is None or kind == "cache":
        return
    codec.cache.max_entries = 0
    if kind == "joserfc":
        from bench.jwe_joserfc import joserfc_verify

        codec._verify = joserfc_verify(SECRET)  # type: ignore[method-assign]
    elif kind != "lean":
        raise SystemExit(f"unknown BENCH_JWT {kind!r}")


def bench_rate_limits() -> dict[str, Any]:
    if "rate_limits" not in inspect.signature(Auth).parameters:
        return {}
    try:
        from authgate import RateLimitOptions  # type: ignore[attr-defined]
    except ImportError:
        from authgate._ratelimit import RateLimitOptions
    high = "1000000/minute"
    return {"rate_limits": RateLimitOptions(sign_in_per_ip=high, sign_in_per_account=high, sign_up_per_ip=high)}


store = make_store()
tune_store(store)
strategy = os.environ.get("BENCH_STRATEGY", "database")
auth = Auth(
    store=store,
    secret=SECRET,
    cookies=CookieOptions(secure=False),
    sessions=SessionOptions(
        access_lifetime=timedelta(seconds=ACCESS_LIFETIME_SECONDS),
        strategy="jwt" if strategy == "jwt" else "database",
    ),
    **bench_rate_limits(),
)
tune_jwt(auth)


async def private(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.state.user.email}")


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


app = Starlette(
    routes=[
        Mount("/api/auth", app=auth.asgi_app),
        Route("/api/private", RequireAuth(private, auth)),
        Route("/hello", hello),
    ],
    lifespan=auth.lifespan,
)
