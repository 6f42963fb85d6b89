"""Regression tests for the defects an internal security review reproduced (each one a request a
reviewer sent and what came back)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest

from authgate import Auth, PasswordOptions, RateLimitOptions, SessionOptions
from authgate.providers import OIDC
from authgate.stores import MemoryStore

from . import oidc_fixture, smtp_fixture
from .oidc_fixture import OIDCServer, login
from .smtp_fixture import SMTPServer
from .support import CLIENT, ORIGIN, SECRET, FakeClock, client_for, session_count

oidc_server = oidc_fixture.oidc_server
smtp_server = smtp_fixture.smtp_server
PASSWORD = "correct horse battery"


async def test_provider_sign_in_still_asks_for_the_second_factor(store: object, oidc_server: OIDCServer) -> None:
    provider = OIDC(oidc_server.issuer, oidc_server.client_id, oidc_server.client_secret)
    auth = Auth(store=store, secret=SECRET, providers=[provider])  # type: ignore[arg-type]
    async with httpx.AsyncClient(timeout=10) as network, client_for(auth) as client:

        async def provider_round() -> httpx.Response:
            started = await client.get("/api/auth/signin/oidc?callbackUrl=%2Fhome")
            callback = urlsplit(await login(network, started.headers["location"], account="tess"))
            return await client.get(f"{callback.path}?{callback.query}")

        assert (await provider_round()).headers["location"] == "/home"
        secret = (await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)).json()["secret"]
        code = pyotp.TOTP(secret).now()
        assert (await client.post("/api/auth/mfa/totp/confirm", json={"code": code}, headers=CLIENT)).status_code == 200
        client.cookies.clear()
        answer = await provider_round()
        location = answer.headers["location"]
        assert location.startswith("/home#") and not any(
            c.startswith("authgate_session=") for c in answer.headers.get_list("set-cookie")
        )
        fragment = parse_qs(location.split("#", 1)[1])
        assert fragment["methods"] == ["totp,recovery_code"]
        assert (await client.get("/api/auth/session")).status_code == 401
        next_code = pyotp.TOTP(secret).at(time.time() + 30)  # the confirming code's step is used up
        verified = await client.post(
            "/api/auth/mfa/verify", json={"challenge": fragment["mfa_challenge"][0], "code": next_code}, headers=CLIENT
        )
        assert verified.status_code == 200, verified.text
        assert (await client.get("/api/auth/session")).status_code == 200


async def test_parallel_guesses_cannot_overshoot_the_account_limit(clock: FakeClock) -> None:
    limits = RateLimitOptions(sign_in_per_ip="1000/minute", sign_in_per_account="10/minute")
    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, rate_limits=limits)
    await auth.sign_up("ann@example.com", PASSWORD)
    async with client_for(auth) as client:
        wrong = {"email": "ann@example.com", "password": "guess guess"}
        answers = await asyncio.gather(
            *[client.post("/api/auth/sign-in", json=wrong, headers=CLIENT) for _ in range(60)]
        )
    statuses = [a.status_code for a in answers]
    assert statuses.count(401) <= 10 and statuses.count(429) >= 50


async def test_re_authentication_is_rate_limited(client: httpx.AsyncClient) -> None:
    await client.post("/api/auth/sign-up", json={"email": "ann@example.com", "password": PASSWORD}, headers=CLIENT)
    statuses = []
    for _ in range(12):
        response = await client.post(
            "/api/auth/change-password",
            json={"current_password": "guess guess", "new_password": "new password 1"},
            headers=CLIENT,
        )
        statuses.append(response.status_code)
    assert statuses[:9] == [401] * 9 and statuses[-1] == 429
    right = await client.post(
        "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": "new password 1"},
        headers=CLIENT,
    )  # fmt: skip
    assert right.status_code == 429


async def test_email_change_needs_the_password_and_tells_the_old_address(
    store: object, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    from authgate.mail import SMTPSender

    sender = SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.com")
    auth = Auth(store=store, secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN)  # type: ignore[arg-type]
    async with client_for(auth) as client:
        await client.post("/api/auth/sign-up", json={"email": "ann@example.com", "password": PASSWORD}, headers=CLIENT)
        await client.post(
            "/api/auth/sign-in", json={"email": "ann@example.com", "password": PASSWORD, "transport": "bearer"},
            headers=CLIENT,
        )  # fmt: skip
        clock.advance(minutes=11)  # a session stolen later than the reauth window after its sign-in
        stolen = await client.post("/api/auth/change-email", json={"email": "thief@example.net"}, headers=CLIENT)
        assert stolen.status_code == 403 and stolen.json()["kind"] == "ReauthenticationRequired"
        asked = await client.post(
            "/api/auth/change-email", json={"email": "ann@new.example", "password": PASSWORD}, headers=CLIENT
        )
        assert asked.status_code == 200
        await smtp_server.wait_for(1)
        link = next(
            line for line in smtp_server.messages[0].get_body(("plain",)).get_content().split() if "token=" in line
        )
        token = parse_qs(urlsplit(link).query)["token"][0]
        confirmed = await client.post("/api/auth/change-email/verify", json={"token": token}, headers=CLIENT)
        assert confirmed.status_code == 200
        await smtp_server.wait_for(2)
        notice = smtp_server.messages[1]
        assert notice["To"] == "ann@example.com" and "ann@new.example" in notice.get_body(("plain",)).get_content()
        assert await session_count(auth.store, "ann@new.example") == 1  # the other session ended
    await auth.close()


async def test_quiet_sign_up_cannot_sign_in_before_verifying(clock: FakeClock, smtp_server: SMTPServer) -> None:
    from authgate import AccountOptions
    from authgate.mail import SMTPSender

    sender = SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.com")
    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN,
                accounts=AccountOptions(sign_up_conflict="email"))  # fmt: skip
    async with client_for(auth) as client:
        body = {"email": "victim@example.com", "password": PASSWORD}
        assert (await client.post("/api/auth/sign-up", json=body, headers=CLIENT)).status_code == 200
        await auth.idle()  # the account is created after the (quiet) answer
        squatter = await client.post("/api/auth/sign-in", json=body, headers=CLIENT)
        assert squatter.status_code == 403 and squatter.json()["kind"] == "AccessDenied"
        assert squatter.headers.get_list("set-cookie") == []
    await auth.close()


def nested_jwe() -> str:
    header = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    return f"{header}.a.b.c.d"


async def test_deeply_nested_jwe_header_is_401_not_500(clock: FakeClock) -> None:
    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, sessions=SessionOptions(strategy="jwt"))
    async with client_for(auth) as client:
        for headers in ({"Cookie": f"authgate_session={nested_jwe()}"}, {"Authorization": f"Bearer {nested_jwe()}"}):
            assert (await client.get("/api/auth/session", headers=headers)).status_code == 401
            assert (await client.get("/api/private", headers={**headers, **CLIENT})).status_code == 401


async def test_nested_jwe_in_the_oauth_checks_cookie_redirects_to_the_error_page(
    oidc_server: OIDCServer, clock: FakeClock
) -> None:
    provider = OIDC(oidc_server.issuer, oidc_server.client_id, oidc_server.client_secret)
    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, providers=[provider])
    async with client_for(auth) as client:
        response = await client.get(
            "/api/auth/callback/oidc?code=x&state=y", headers={"Cookie": f"authgate_oauth={nested_jwe()}"}
        )
    assert response.status_code == 302 and response.headers["location"].endswith("error=InvalidCheck")


def client_data(challenge: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"challenge": challenge}).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("credential_id", ["\u0000abc", "\ud800", "a" * 2000, "not base64!"])
async def test_hostile_passkey_ids_are_refused_before_the_store(client: httpx.AsyncClient, credential_id: str) -> None:
    challenge = (await client.post("/api/auth/signin/passkey", headers=CLIENT)).json()["challenge"]
    body = {"credential": {"id": credential_id, "response": {"clientDataJSON": client_data(challenge)}}}
    raw = json.dumps(body).encode("utf-8", "surrogatepass")
    response = await client.post(
        "/api/auth/callback/passkey", content=raw, headers={**CLIENT, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_hostile_passkey_query_ids_are_404(client: httpx.AsyncClient) -> None:
    await client.post("/api/auth/sign-up", json={"email": "ann@example.com", "password": PASSWORD}, headers=CLIENT)
    for query in ("%00x", "%ED%A0%80", "a" * 1100):
        assert (await client.delete(f"/api/auth/passkeys?id={query}", headers=CLIENT)).status_code in (400, 404)
        patched = await client.patch(f"/api/auth/passkeys?id={query}", json={"name": "x"}, headers=CLIENT)
        assert patched.status_code in (400, 404)


async def test_breach_hook_guards_every_new_password(clock: FakeClock) -> None:
    async def breached(password: str) -> bool:
        return password == "password1234"

    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, passwords=PasswordOptions(is_breached=breached))
    async with client_for(auth) as client:
        await client.post("/api/auth/sign-up", json={"email": "ann@example.com", "password": PASSWORD}, headers=CLIENT)
        changed = await client.post(
            "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": "password1234"},
            headers=CLIENT,
        )  # fmt: skip
    assert changed.status_code == 400 and changed.json()["field"] == "password"
    found = await auth.store.get_credentials("ann@example.com")
    assert found is not None
    ok, _ = await auth.hasher.verify(found[1], PASSWORD)
    assert ok  # nothing was written
