"""Sessions, cookies and refresh rotation over HTTP, on every store, with an injected clock."""

from __future__ import annotations

import asyncio
import os
from http.cookies import SimpleCookie

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from authgate import Auth, RequireAuth
from authgate._tokens import hash_token

from .support import CLIENT, ORIGIN, FakeClock, session_count

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """Every Set-Cookie of a response as {name: {value, attributes...}}."""
    parsed: dict[str, dict[str, str]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            parsed[name] = {"value": morsel.value, **{k.lower(): str(v) for k, v in morsel.items() if v}}
            parsed[name]["raw"] = header
    return parsed


async def sign_up(client: httpx.AsyncClient) -> httpx.Response:
    response = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert response.status_code == 200, response.text
    return response


async def refresh_with(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    client.cookies.clear()
    return await client.post("/api/auth/refresh", headers={**CLIENT, "Cookie": f"authgate_refresh={refresh_token}"})


async def test_sign_up_sets_both_cookies_with_design_attributes(client: httpx.AsyncClient) -> None:
    cookies = set_cookies(await sign_up(client))
    session, refresh = cookies["authgate_session"], cookies["authgate_refresh"]
    assert session["path"] == "/" and session["samesite"] == "Lax" and session["max-age"] == "900"
    assert refresh["path"] == "/api/auth/refresh" and refresh["samesite"] == "Strict"
    assert refresh["max-age"] == str(30 * 86400)
    for cookie in (session, refresh):
        assert "HttpOnly" in cookie["raw"] and "Secure" in cookie["raw"]
        assert len(cookie["value"]) == 43  # 256 bits, urlsafe base64


async def test_sign_up_answers_user_and_session_without_secrets(client: httpx.AsyncClient) -> None:
    response = await sign_up(client)
    body = response.json()
    assert set(body["user"]) == {"id", "email", "name", "email_verified", "image", "created_at", "updated_at"}
    assert set(body["session"]) == {"id", "user_id", "expires_at", "refresh_expires_at", "created_at"}
    text = response.text
    assert "argon2" not in text and PASSWORD not in text
    for cookie in set_cookies(response).values():
        assert cookie["value"] not in text


async def test_store_holds_only_token_hashes(client: httpx.AsyncClient, auth: Auth) -> None:
    cookies = set_cookies(await sign_up(client))
    access, refresh = cookies["authgate_session"]["value"], cookies["authgate_refresh"]["value"]
    assert await auth.store.get_session_by_token(access) is None
    assert await auth.store.get_session_by_refresh(refresh) is None
    assert await auth.store.get_session_by_token(hash_token(access)) is not None
    assert await auth.store.get_session_by_token(hash_token(refresh)) is None  # a refresh token is no access token


async def test_sqlite_file_never_contains_a_raw_token(tmp_path: object, clock: FakeClock) -> None:
    from authgate.stores import SQLiteStore

    from .support import SECRET, client_for

    path = f"{tmp_path}/dump.db"
    auth = Auth(store=SQLiteStore(f"sqlite:///{path}"), secret=SECRET, clock=clock)
    async with client_for(auth) as client:
        cookies = set_cookies(await sign_up(client))
        await client.post("/api/auth/refresh", headers=CLIENT)
    await auth.close()
    raw = b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
    for cookie in cookies.values():
        assert cookie["value"].encode() not in raw
    assert PASSWORD.encode() not in raw


async def test_session_route_needs_no_client_header(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    response = await client.get("/api/auth/session")
    assert response.status_code == 200
    assert response.json()["user"]["email"] == EMAIL


async def test_protected_route_writes_need_header_then_session(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/private", headers=CLIENT)).json()["kind"] == "Unauthenticated"
    await sign_up(client)
    refused = await client.post("/api/private")
    assert refused.status_code == 403 and refused.json()["kind"] == "MissingCSRF"
    assert (await client.post("/api/private", headers={**CLIENT, "Origin": "https://evil.example"})).status_code == 403
    allowed = await client.post("/api/private", headers=CLIENT)
    assert allowed.status_code == 200 and allowed.text == f"hello {EMAIL}"


async def test_protected_page_load_passes_with_the_cookie_alone(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/private")).json()["kind"] == "Unauthenticated"
    await sign_up(client)
    # A browser navigating to the page (even from another site: SameSite=Lax sends the cookie on
    # top-level GETs only) sends no custom header; reading changes nothing, so it passes.
    navigated = await client.get("/api/private", headers={"Sec-Fetch-Site": "cross-site"})
    assert navigated.status_code == 200 and navigated.text == f"hello {EMAIL}"
    assert (await client.head("/api/private")).status_code == 200


@pytest.mark.parametrize(
    "cookie_value",
    ["", "x" * 10_240, "tökén-" * 8, "abc\x00def" * 4, "a" * 15, "' OR 1=1 --" * 3, "%00%00%00%00%00%00%00%00"],
)
async def test_malformed_session_cookie_is_401_never_500(client: httpx.AsyncClient, cookie_value: str) -> None:
    header = f"authgate_session={cookie_value}".encode()
    response = await client.get("/api/auth/session", headers=[(b"cookie", header)])
    assert response.status_code == 401
    assert response.json()["kind"] == "Unauthenticated"
    protected = await client.get("/api/private", headers=[(b"cookie", header), (b"x-authgate-client", b"true")])
    assert protected.status_code == 401


async def test_expired_access_token_is_session_expired(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await sign_up(client)
    clock.advance(minutes=15)
    response = await client.get("/api/auth/session")
    assert response.status_code == 401 and response.json()["kind"] == "SessionExpired"
    assert (await client.get("/api/private", headers=CLIENT)).json()["kind"] == "SessionExpired"


async def test_each_sign_in_issues_new_tokens(client: httpx.AsyncClient, auth: Auth) -> None:
    first = set_cookies(await sign_up(client))["authgate_session"]["value"]
    signed_in = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    second = set_cookies(signed_in)["authgate_session"]["value"]
    assert first != second
    assert await session_count(auth.store, EMAIL) == 2


async def test_sign_out_revokes_server_side_and_clears_cookies(client: httpx.AsyncClient, auth: Auth) -> None:
    access = set_cookies(await sign_up(client))["authgate_session"]["value"]
    response = await client.post("/api/auth/sign-out", headers=CLIENT)
    assert response.json() == {"success": True}
    cleared = set_cookies(response)
    assert cleared["authgate_session"]["max-age"] == "0" and cleared["authgate_refresh"]["max-age"] == "0"
    assert await session_count(auth.store, EMAIL) == 0
    replay = await client.get("/api/auth/session", headers={"Cookie": f"authgate_session={access}"})
    assert replay.status_code == 401 and replay.json()["kind"] == "Unauthenticated"


async def test_refresh_rotates_both_tokens(client: httpx.AsyncClient, clock: FakeClock) -> None:
    first = set_cookies(await sign_up(client))
    clock.advance(minutes=16)
    response = await refresh_with(client, first["authgate_refresh"]["value"])
    assert response.status_code == 200
    second = set_cookies(response)
    assert second["authgate_session"]["value"] != first["authgate_session"]["value"]
    assert second["authgate_refresh"]["value"] != first["authgate_refresh"]["value"]
    session = await client.get(
        "/api/auth/session", headers={"Cookie": f"authgate_session={second['authgate_session']['value']}"}
    )
    assert session.status_code == 200
    old = await client.get(
        "/api/auth/session", headers={"Cookie": f"authgate_session={first['authgate_session']['value']}"}
    )
    assert old.status_code == 401


async def test_previous_refresh_token_inside_grace_gets_200_without_cookies(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    refresh = set_cookies(await sign_up(client))["authgate_refresh"]["value"]
    assert (await refresh_with(client, refresh)).status_code == 200
    clock.advance(seconds=5)
    racing = await refresh_with(client, refresh)
    assert racing.status_code == 200
    assert racing.json()["user"]["email"] == EMAIL
    assert racing.headers.get_list("set-cookie") == []


async def test_refresh_reuse_after_grace_revokes_session(
    client: httpx.AsyncClient, auth: Auth, clock: FakeClock
) -> None:
    refresh = set_cookies(await sign_up(client))["authgate_refresh"]["value"]
    rotated = set_cookies(await refresh_with(client, refresh))
    clock.advance(seconds=11)
    reuse = await refresh_with(client, refresh)
    assert reuse.status_code == 401 and reuse.json()["kind"] == "RefreshTokenReuse"
    assert await session_count(auth.store, EMAIL) == 0
    # The thief's copy and the owner's new tokens are both dead now.
    assert (await refresh_with(client, rotated["authgate_refresh"]["value"])).status_code == 401
    owner = await client.get(
        "/api/auth/session", headers={"Cookie": f"authgate_session={rotated['authgate_session']['value']}"}
    )
    assert owner.status_code == 401


async def test_older_refresh_token_two_rotations_back_is_reuse(
    client: httpx.AsyncClient, auth: Auth, clock: FakeClock
) -> None:
    first = set_cookies(await sign_up(client))["authgate_refresh"]["value"]
    second = set_cookies(await refresh_with(client, first))["authgate_refresh"]["value"]
    clock.advance(seconds=30)
    assert (await refresh_with(client, second)).status_code == 200
    clock.advance(seconds=30)
    assert (await refresh_with(client, first)).json()["kind"] == "RefreshTokenReuse"
    assert await session_count(auth.store, EMAIL) == 0


async def test_parallel_refreshes_rotate_exactly_once(client: httpx.AsyncClient, auth: Auth) -> None:
    refresh = set_cookies(await sign_up(client))["authgate_refresh"]["value"]
    client.cookies.clear()
    responses = await asyncio.gather(
        *[
            client.post("/api/auth/refresh", headers={**CLIENT, "Cookie": f"authgate_refresh={refresh}"})
            for _ in range(20)
        ]
    )
    assert [r.status_code for r in responses] == [200] * 20
    rotations = [r for r in responses if r.headers.get_list("set-cookie")]
    assert len(rotations) == 1
    assert await session_count(auth.store, EMAIL) == 1
    new_access = set_cookies(rotations[0])["authgate_session"]["value"]
    assert (
        await client.get("/api/auth/session", headers={"Cookie": f"authgate_session={new_access}"})
    ).status_code == 200


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient, auth: Auth) -> None:
    access = set_cookies(await sign_up(client))["authgate_session"]["value"]
    response = await refresh_with(client, access)
    assert response.status_code == 401 and response.json()["kind"] == "InvalidRefreshToken"
    assert await session_count(auth.store, EMAIL) == 1


async def test_refresh_without_cookie_or_header(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/auth/refresh", headers=CLIENT)).json()["kind"] == "InvalidRefreshToken"
    refresh = set_cookies(await sign_up(client))["authgate_refresh"]["value"]
    client.cookies.clear()
    no_header = await client.post("/api/auth/refresh", headers={"Cookie": f"authgate_refresh={refresh}"})
    assert no_header.json()["kind"] == "MissingCSRF"
    assert (await refresh_with(client, refresh)).status_code == 200  # the refused call used nothing up


async def test_refresh_lifetime_slides_but_absolute_lifetime_caps(
    client: httpx.AsyncClient, auth: Auth, clock: FakeClock
) -> None:
    refresh = set_cookies(await sign_up(client))["authgate_refresh"]["value"]
    for _ in range(3):  # 3 x 29 days: each refresh inside the 30-day idle window keeps it alive
        clock.advance(days=29)
        response = await refresh_with(client, refresh)
        assert response.status_code == 200, response.text
        refresh = set_cookies(response)["authgate_refresh"]["value"]
    capped = response.json()["session"]["refresh_expires_at"]
    assert capped.startswith("2026-04-01")  # created 2026-01-01 + 90 days, not 87 + 30 days
    clock.advance(days=4)
    dead = await refresh_with(client, refresh)
    assert dead.status_code == 401 and dead.json()["kind"] == "InvalidRefreshToken"


async def test_idle_session_past_refresh_lifetime_cannot_refresh(client: httpx.AsyncClient, clock: FakeClock) -> None:
    refresh = set_cookies(await sign_up(client))["authgate_refresh"]["value"]
    clock.advance(days=30, seconds=1)
    response = await refresh_with(client, refresh)
    assert response.status_code == 401 and response.json()["kind"] == "InvalidRefreshToken"
    assert set_cookies(response)["authgate_refresh"]["max-age"] == "0"


async def test_cleanup_deletes_only_sessions_past_refresh_lifetime(
    client: httpx.AsyncClient, auth: Auth, clock: FakeClock
) -> None:
    await sign_up(client)
    clock.advance(days=20)
    await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    clock.advance(days=11)  # first session's refresh lifetime is over, the second's access token only
    assert await auth.cleanup_expired_sessions() == 1
    assert await session_count(auth.store, EMAIL) == 1


async def test_bearer_transport_returns_tokens_and_sets_no_cookie(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD, "transport": "bearer"}, headers=CLIENT
    )
    body = response.json()
    assert response.headers.get_list("set-cookie") == []
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["session_id"] == body["session"]["id"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get("/api/private", headers=bearer)).text == f"hello {EMAIL}"  # no CSRF header needed
    rotated = await client.post("/api/auth/token", json={"refresh_token": body["refresh_token"]})
    assert rotated.status_code == 200 and rotated.json()["access_token"] != body["access_token"]
    racing = await client.post("/api/auth/token", json={"refresh_token": body["refresh_token"]})
    assert racing.status_code == 409 and racing.json()["kind"] == "RefreshInProgress"


async def test_bearer_token_reuse_after_grace_revokes(client: httpx.AsyncClient, clock: FakeClock) -> None:
    body = (
        await client.post(
            "/api/auth/sign-up",
            json={"email": EMAIL, "password": PASSWORD, "transport": "bearer"},
            headers=CLIENT,
        )
    ).json()
    new = (await client.post("/api/auth/token", json={"refresh_token": body["refresh_token"]})).json()
    clock.advance(seconds=60)
    reuse = await client.post("/api/auth/token", json={"refresh_token": body["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json()["kind"] == "RefreshTokenReuse"
    gone = await client.get("/api/private", headers={"Authorization": f"Bearer {new['access_token']}"})
    assert gone.status_code == 401


async def test_session_list_and_revoke(client: httpx.AsyncClient, auth: Auth) -> None:
    await sign_up(client)
    other = await client.post(
        "/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD, "transport": "bearer"}, headers=CLIENT
    )
    listed = (await client.get("/api/auth/sessions", headers=CLIENT)).json()["sessions"]
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    other_id = other.json()["session_id"]
    assert (await client.delete(f"/api/auth/sessions?id={other_id}", headers=CLIENT)).json() == {"revoked": 1}
    assert await session_count(auth.store, EMAIL) == 1
    assert (await client.delete("/api/auth/sessions?id=someone-elses", headers=CLIENT)).json() == {"revoked": 0}
    assert (await client.delete("/api/auth/sessions", headers={"Cookie": "x=y"})).status_code == 403


async def test_revoke_all_other_sessions(client: httpx.AsyncClient, auth: Auth) -> None:
    await sign_up(client)
    for _ in range(3):
        await client.post(
            "/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD, "transport": "bearer"}, headers=CLIENT
        )
    assert (await client.delete("/api/auth/sessions?all=others", headers=CLIENT)).json() == {"revoked": 3}
    assert (await client.get("/api/auth/session")).status_code == 200


async def test_cannot_revoke_another_users_session(client: httpx.AsyncClient, auth: Auth) -> None:
    bob = await client.post(
        "/api/auth/sign-up",
        json={"email": "bob@example.com", "password": PASSWORD, "transport": "bearer"},
        headers=CLIENT,
    )
    await sign_up(client)
    response = await client.delete(f"/api/auth/sessions?id={bob.json()['session_id']}", headers=CLIENT)
    assert response.json() == {"revoked": 0}
    assert await session_count(auth.store, "bob@example.com") == 1


async def test_server_rendered_page_redirects_a_signed_out_browser_to_sign_in(auth: Auth) -> None:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<p>hello {request.state.user.email}</p>")

    app = Starlette(routes=[Mount("/api/auth", app=auth.asgi_app),
                            Route("/dashboard", RequireAuth(page, auth, sign_in_url="/login"))])  # fmt: skip
    html = {"Accept": "text/html,application/xhtml+xml"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as client:
        away = await client.get("/dashboard?tab=2", headers=html)
        assert away.status_code == 302 and away.headers["location"] == "/login?callbackUrl=%2Fdashboard%3Ftab%3D2"
        api = await client.get("/dashboard", headers={"Accept": "application/json"})
        assert api.status_code == 401 and api.json()["kind"] == "Unauthenticated"  # API calls keep the JSON
        posted = await client.post("/dashboard", headers={**html, **CLIENT})
        assert posted.status_code in (401, 405)  # never a redirect for a write
        await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        shown = await client.get("/dashboard", headers=html)
        assert shown.status_code == 200 and shown.text == f"<p>hello {EMAIL}</p>"
    with pytest.raises(ValueError):
        RequireAuth(page, auth, sign_in_url="https://evil.example/login")
