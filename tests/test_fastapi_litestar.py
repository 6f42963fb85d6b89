"""FastAPI and Litestar integrations: errors with `kind` at the top level (the JS client's
contract), typed dependencies, an optional user, security schemes in the app's OpenAPI."""

# No `from __future__ import annotations`: FastAPI and Litestar read these handlers' annotations at
# run time, and they name aliases local to the app factories.

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from litestar import Litestar, get, post

from authgate import Auth, SessionOptions, User
from authgate.integrations.fastapi import install
from authgate.integrations.litestar import AuthGatePlugin, CurrentUser, OptionalUser
from authgate.stores import MemoryStore

from .support import CLIENT, ORIGIN, SECRET, FakeClock

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"


def fastapi_app(auth: Auth) -> FastAPI:
    app = FastAPI(lifespan=auth.lifespan)
    install(app, auth)
    current_user = Annotated[User, Depends(auth.current_user)]
    optional_user = Annotated[User | None, Depends(auth.optional_user)]

    @app.get("/api/me")
    async def me(user: current_user) -> dict[str, str]:
        return {"email": user.email}

    @app.post("/api/notes")
    async def notes(user: current_user) -> dict[str, str]:
        return {"saved_for": user.email}

    @app.get("/api/hello")
    async def hello(user: optional_user) -> dict[str, str | None]:
        return {"email": user.email if user else None}

    return app


def litestar_app(auth: Auth) -> Litestar:
    plugin = AuthGatePlugin(auth)

    @get("/api/me", guards=[plugin.guard], security=plugin.security)
    async def me(current_user: CurrentUser) -> dict[str, str]:
        return {"email": current_user.email}

    @post("/api/notes", guards=[plugin.guard], security=plugin.security, status_code=200)
    async def notes(current_user: CurrentUser) -> dict[str, str]:
        return {"saved_for": current_user.email}

    @get("/api/hello")
    async def hello(optional_user: OptionalUser) -> dict[str, str | None]:
        return {"email": optional_user.email if optional_user else None}

    @get("/api/unguarded-me")  # the dependency alone protects a handler too
    async def unguarded(current_user: CurrentUser) -> dict[str, str]:
        return {"email": current_user.email}

    return Litestar([me, notes, hello, unguarded], plugins=[plugin])


APPS = {"fastapi": fastapi_app, "litestar": litestar_app}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(APPS))
async def framework(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[tuple[str, Auth, Any]]:
    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock)
    yield request.param, auth, APPS[request.param](auth)
    auth.hasher.close()


async def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)


async def test_errors_carry_kind_at_the_top_level(framework: tuple[str, Auth, Any]) -> None:
    _, _, app = framework
    async with await _client(app) as client:
        anonymous = await client.get("/api/me", headers=CLIENT)
        assert anonymous.status_code == 401
        assert anonymous.json()["kind"] == "Unauthenticated" and "detail" not in anonymous.json()
        assert anonymous.headers["cache-control"] == "no-store"
        signed_up = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert signed_up.status_code == 200
        no_header = await client.post("/api/notes")
        assert no_header.status_code == 403 and no_header.json()["kind"] == "MissingCSRF"
        cross_site = await client.post("/api/notes", headers={**CLIENT, "Origin": "https://evil.example"})
        assert cross_site.status_code == 403 and cross_site.json()["kind"] == "ForbiddenOrigin"
        ok = await client.post("/api/notes", headers=CLIENT)
        assert ok.status_code == 200 and ok.json() == {"saved_for": EMAIL}
        me = await client.get("/api/me", headers=CLIENT)
        assert me.status_code == 200 and me.json() == {"email": EMAIL}


async def test_expired_access_token_answers_session_expired_then_refresh_works(
    framework: tuple[str, Auth, Any], clock: FakeClock
) -> None:
    _, _, app = framework
    async with await _client(app) as client:
        await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        clock.advance(minutes=16)
        expired = await client.get("/api/me", headers=CLIENT)
        assert expired.status_code == 401 and expired.json()["kind"] == "SessionExpired"
        # What the JS client does on SessionExpired: refresh, then retry.
        refreshed = await client.post("/api/auth/refresh", headers=CLIENT)
        assert refreshed.status_code == 200
        again = await client.get("/api/me", headers=CLIENT)
        assert again.status_code == 200 and again.json() == {"email": EMAIL}


async def test_optional_user_is_none_when_signed_out(framework: tuple[str, Auth, Any]) -> None:
    _, _, app = framework
    async with await _client(app) as client:
        anonymous = await client.get("/api/hello", headers=CLIENT)
        assert anonymous.status_code == 200 and anonymous.json() == {"email": None}
        unknown = await client.get("/api/hello", headers={**CLIENT, "Authorization": "Bearer " + "A" * 43})
        assert unknown.status_code == 200 and unknown.json() == {"email": None}
        await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        signed_in = await client.get("/api/hello", headers=CLIENT)
        assert signed_in.json() == {"email": EMAIL}


async def test_bearer_token_authenticates(framework: tuple[str, Auth, Any]) -> None:
    _, _, app = framework
    async with await _client(app) as client:
        body = {"email": EMAIL, "password": PASSWORD, "transport": "bearer"}
        tokens = (await client.post("/api/auth/sign-up", json=body, headers=CLIENT)).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (await client.post("/api/notes", headers=bearer)).json() == {"saved_for": EMAIL}


async def test_openapi_lists_cookie_and_bearer_schemes(framework: tuple[str, Auth, Any]) -> None:
    name, _, app = framework
    async with await _client(app) as client:
        path = "/openapi.json" if name == "fastapi" else "/schema/openapi.json"
        document = (await client.get(path)).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["authgateCookie"] == {
        **schemes["authgateCookie"],
        "type": "apiKey",
        "in": "cookie",
        "name": "authgate_session",
    }
    assert schemes["authgateBearer"]["type"] == "http" and schemes["authgateBearer"]["scheme"] == "bearer"
    security = document["paths"]["/api/me"]["get"]["security"]
    assert {"authgateCookie": []} in security and {"authgateBearer": []} in security


async def test_litestar_plugin_runs_the_auth_lifespan(tmp_path: object) -> None:
    from authgate.stores import SQLiteStore

    auth = Auth(store=SQLiteStore(f"sqlite:///{tmp_path}/app.db"), secret=SECRET)
    app = litestar_app(auth)
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        assert auth.ctx.is_open  # the plugin's lifespan opened the store
        answer = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert answer.status_code == 200
    assert not auth.ctx.is_open
    auth.hasher.close()


async def test_fastapi_without_install_still_refuses(clock: FakeClock) -> None:
    """Without install() FastAPI nests the body under `detail`; the status is the same."""
    auth = Auth(store=MemoryStore(), secret=SECRET, sessions=SessionOptions(), clock=clock)
    app = FastAPI()

    @app.get("/api/me")
    async def me(user: Annotated[User, Depends(auth.current_user)]) -> dict[str, str]:
        return {"email": user.email}

    async with await _client(app) as client:
        answer = await client.get("/api/me", headers=CLIENT)
    assert answer.status_code == 401 and answer.json()["detail"]["kind"] == "Unauthenticated"
    auth.hasher.close()


async def test_optional_user_with_an_expired_token_answers_session_expired(
    framework: tuple[str, Auth, Any], clock: FakeClock
) -> None:
    """So the JS client refreshes instead of showing a signed-in user a signed-out page."""
    _, _, app = framework
    async with await _client(app) as client:
        await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        clock.advance(minutes=16)
        expired = await client.get("/api/hello", headers=CLIENT)
        assert expired.status_code == 401 and expired.json()["kind"] == "SessionExpired"
