"""The JWT session strategy end to end: JWE cookie, re-issue, expiry, rotation, callbacks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from authgate import Auth, AuthSession, SessionOptions, User
from authgate._hooks import Callbacks
from authgate.stores import MemoryStore

from .support import CLIENT, SECRET, FakeClock, client_for

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"
OTHER_SECRET = "another-secret-" + "y" * 40


def jwt_auth(clock: FakeClock, **options: Any) -> Auth:
    return Auth(store=MemoryStore(), secret=options.pop("secret", SECRET), clock=clock,
                sessions=SessionOptions(strategy="jwt"), **options)  # fmt: skip


async def sign_up(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert response.status_code == 200, response.text
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 1 and cookies[0].startswith("authgate_session=eyJ")  # a JWE, no refresh cookie
    assert f"Max-Age={30 * 86400}" in cookies[0] and "HttpOnly" in cookies[0]
    return cookies[0].split(";")[0].split("=", 1)[1]


async def test_credentials_with_jwt_strategy_signs_in_with_a_jwe_cookie(clock: FakeClock) -> None:
    auth = jwt_auth(clock)
    async with client_for(auth) as client:
        token = await sign_up(client)
        session = await client.get("/api/auth/session")
        assert session.status_code == 200 and session.json()["user"]["email"] == EMAIL
        assert (await client.get("/api/private", headers=CLIENT)).text == f"hello {EMAIL}"
    found = await auth.store.get_credentials(EMAIL)
    assert found is not None
    assert await auth.store.list_user_sessions(found[0].id) == []  # nothing stored per session
    assert token.count(".") == 4


async def test_jwt_cookie_is_reissued_after_update_age(clock: FakeClock) -> None:
    auth = jwt_auth(clock)
    async with client_for(auth) as client:
        await sign_up(client)
        assert (await client.get("/api/auth/session")).headers.get_list("set-cookie") == []
        clock.advance(days=1, seconds=1)
        renewed = await client.get("/api/auth/session")
        assert renewed.status_code == 200
        assert renewed.headers["set-cookie"].startswith("authgate_session=eyJ")
        clock.advance(days=29, seconds=30)  # past the first cookie's expiry, inside the re-issued one's
        assert (await client.get("/api/auth/session")).status_code == 200


async def test_expired_or_tampered_jwt_is_401(clock: FakeClock) -> None:
    auth = jwt_auth(clock)
    async with client_for(auth) as client:
        token = await sign_up(client)
        client.cookies.clear()
        tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        for value in (tampered, token[:50], "eyJhbGciOiJub25lIn0....", ""):
            response = await client.get("/api/auth/session", headers={"Cookie": f"authgate_session={value}"})
            assert response.status_code == 401 and response.json()["kind"] == "Unauthenticated"
        clock.advance(days=30)
        expired = await client.get("/api/auth/session", headers={"Cookie": f"authgate_session={token}"})
        assert expired.status_code == 401


async def test_secret_rotation_keeps_sessions_until_the_old_secret_is_removed(clock: FakeClock) -> None:
    async with client_for(jwt_auth(clock, secret=SECRET)) as client:
        token = await sign_up(client)
    cookie = {"Cookie": f"authgate_session={token}"}
    async with client_for(jwt_auth(clock, secret=[OTHER_SECRET, SECRET])) as rotated:
        assert (await rotated.get("/api/auth/session", headers=cookie)).status_code == 200
    async with client_for(jwt_auth(clock, secret=[OTHER_SECRET])) as removed:
        assert (await removed.get("/api/auth/session", headers=cookie)).status_code == 401


async def test_jwt_and_session_callbacks_enrich_the_session(clock: FakeClock) -> None:
    async def add_roles(claims: dict[str, Any], user: User | None) -> dict[str, Any]:
        if user is not None:
            claims["roles"] = ["member"]
        return claims

    async def shape(body: dict[str, Any], current: AuthSession) -> dict[str, Any]:
        return {**body, "roles": (current.claims or {}).get("roles", [])}

    auth = jwt_auth(clock, callbacks=Callbacks(jwt=add_roles, session=shape))
    async with client_for(auth) as client:
        await sign_up(client)
        assert (await client.get("/api/auth/session")).json()["roles"] == ["member"]
        clock.advance(days=2)  # the re-issued token keeps the claims
        assert (await client.get("/api/auth/session")).json()["roles"] == ["member"]
        assert (await client.get("/api/auth/session")).json()["roles"] == ["member"]


async def test_jwt_sign_out_clears_the_cookie_and_refresh_is_refused(clock: FakeClock) -> None:
    auth = jwt_auth(clock)
    async with client_for(auth) as client:
        await sign_up(client)
        out = await client.post("/api/auth/sign-out", headers=CLIENT)
        assert "Max-Age=0" in out.headers.get_list("set-cookie")[0]
        assert (await client.get("/api/auth/session")).status_code == 401
        refresh = await client.post("/api/auth/refresh", headers=CLIENT)
        assert refresh.status_code == 401 and refresh.json()["kind"] == "InvalidRefreshToken"
        listing = await client.get("/api/auth/sessions", headers=CLIENT)
        assert listing.status_code in (400, 401)


async def test_no_store_means_jwt_and_no_password_routes(clock: FakeClock) -> None:
    auth = Auth(secret=SECRET, clock=clock)
    assert auth.sessions.name == "jwt"
    async with client_for(auth) as client:
        response = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert response.status_code == 404 and response.json()["kind"] == "NotFound"
        assert (await client.get("/api/auth/providers")).json() == {}
        assert (await client.get("/api/auth/session")).status_code == 401


async def test_credentials_with_database_strategy_is_allowed_and_default(clock: FakeClock) -> None:
    # The documented difference from goauth/Auth.js: credentials do not force the JWT strategy.
    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock)
    assert auth.sessions.name == "database"
    assert SessionOptions().update_age == timedelta(days=1)


async def test_jwt_reissue_keeps_the_auth_time_and_the_absolute_lifetime(clock: FakeClock) -> None:
    auth = jwt_auth(clock)
    async with client_for(auth) as client:
        await sign_up(client)
        for _ in range(89):  # a daily visit re-issues the cookie every day
            clock.advance(days=1, seconds=1)
            seen = await client.get("/api/auth/session")
            assert seen.status_code == 200
        # Re-issue never counted as a re-authentication: the step-up window is long gone.
        refused = await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)
        assert refused.status_code == 403 and refused.json()["kind"] == "ReauthenticationRequired"
        clock.advance(days=1, seconds=1)  # day 90 (+ 90 s): the absolute lifetime from sign-in is over
        assert (await client.get("/api/auth/session")).status_code == 401
        assert (await client.get("/api/private")).status_code == 401


async def test_jwt_callback_cannot_move_the_auth_time(clock: FakeClock) -> None:
    async def jwt(claims: dict[str, Any], user: User | None) -> dict[str, Any]:
        return {**claims, "auth_time": 4102444800, "session_start": 4102444800, "role": "admin"}

    auth = jwt_auth(clock, callbacks=Callbacks(jwt=jwt))
    async with client_for(auth) as client:
        await sign_up(client)
        clock.advance(minutes=11)
        refused = await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)
        assert refused.status_code == 403 and refused.json()["kind"] == "ReauthenticationRequired"


async def test_jwt_step_up_reissues_the_cookie_with_the_new_auth_time(clock: FakeClock) -> None:
    auth = jwt_auth(clock)
    async with client_for(auth) as client:
        await sign_up(client)
        clock.advance(minutes=11)
        again = await client.post("/api/auth/reauthenticate", json={"password": PASSWORD}, headers=CLIENT)
        assert again.status_code == 200 and again.headers["set-cookie"].startswith("authgate_session=eyJ")
        assert (await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)).status_code == 200


async def test_jwt_shorter_absolute_lifetime_applies_to_cookies_already_issued(clock: FakeClock) -> None:
    auth = jwt_auth(clock)
    async with client_for(auth) as client:
        await sign_up(client)
        for _ in range(31):
            clock.advance(days=1, seconds=1)
            assert (await client.get("/api/auth/session")).status_code == 200
        # The operator shortens the absolute lifetime: cookies issued before it was shortened end too.
        month = timedelta(days=30)
        stricter = SessionOptions(strategy="jwt", refresh_lifetime=month, absolute_lifetime=month)
        shortened = Auth(store=auth.store, secret=SECRET, clock=clock, sessions=stricter)
        async with client_for(shortened) as again:
            again.cookies.set("authgate_session", client.cookies["authgate_session"])
            assert (await again.get("/api/auth/session")).status_code == 401
