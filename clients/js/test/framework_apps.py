"""FastAPI and Litestar apps for the JS client's tests (test/unit/frameworks.test.ts): the README's
integrations, with the real `install()` / plugin, a short access lifetime and plain-HTTP cookies.
Served by uvicorn as `framework_apps:fastapi_app` or `framework_apps:litestar_app`."""

import os
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI
from litestar import Litestar, get

from authgate import Auth, CookieOptions, RateLimitOptions, SessionOptions, User
from authgate.integrations.fastapi import install
from authgate.integrations.litestar import AuthGatePlugin, CurrentUser
from authgate.stores import SQLiteStore


def make_auth() -> Auth:
    return Auth(
        store=SQLiteStore(os.environ["AUTHGATE_TEST_DB"]),
        secret=os.environ["AUTHGATE_SECRET"],
        cookies=CookieOptions(secure=False),  # plain HTTP on loopback, as in the demo
        sessions=SessionOptions(access_lifetime=timedelta(seconds=int(os.environ.get("AUTHGATE_ACCESS_TTL", "900")))),
        rate_limits=RateLimitOptions(enabled=False),
    )


fastapi_auth = make_auth()
fastapi_app = FastAPI(lifespan=fastapi_auth.lifespan)
install(fastapi_app, fastapi_auth)
FastAPIUser = Annotated[User, Depends(fastapi_auth.current_user)]


@fastapi_app.get("/api/me")
async def fastapi_me(user: FastAPIUser) -> dict[str, str]:
    return {"email": user.email}


litestar_auth = make_auth()
plugin = AuthGatePlugin(litestar_auth)


@get("/api/me", guards=[plugin.guard])
async def litestar_me(current_user: CurrentUser) -> dict[str, str]:
    return {"email": current_user.email}


litestar_app = Litestar([litestar_me], plugins=[plugin])
