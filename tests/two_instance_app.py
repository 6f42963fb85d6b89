"""The app each of the two uvicorn processes in `test_two_instances.py` serves:
`uvicorn tests.two_instance_app:create_app --factory`. Everything shared comes from the
environment: one Postgres schema, one Redis, one secret."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from authgate import Auth, CookieOptions, RateLimitOptions, RequireAuth
from authgate.stores import PostgresStore, RedisStore

SECRET = "two-instance-test-secret-" + "y" * 40


def create_app() -> Starlette:
    env = os.environ
    redis_url = env["AUTHGATE_TWO_REDIS_URL"]
    store = RedisStore(
        PostgresStore(env["AUTHGATE_TWO_DATABASE_URL"], schema=env["AUTHGATE_TWO_SCHEMA"]),
        redis_url,
        key_prefix=env["AUTHGATE_TWO_CACHE_PREFIX"],
        local_cache=True,
        cache_ttl=float(env.get("AUTHGATE_TWO_CACHE_TTL", "30")),
    )
    auth = Auth(
        store=store,
        secret=SECRET,
        cookies=CookieOptions(secure=False),
        rate_limits=RateLimitOptions(
            enabled=env.get("AUTHGATE_TWO_LIMITS", "on") == "on",
            storage_url=env.get("AUTHGATE_TWO_LIMIT_URL", redis_url),
            key_prefix=env["AUTHGATE_TWO_LIMIT_PREFIX"],
            sign_in_per_account="3/minute",
        ),
    )

    async def private(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.state.user.email}")

    return Starlette(
        routes=[
            Mount("/api/auth", app=auth.asgi_app),
            Route("/api/private", RequireAuth(private, auth), methods=["GET"]),
        ],
        lifespan=auth.lifespan,
    )
