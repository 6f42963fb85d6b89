"""DESIGN section 9, identity and cross-site rules: provider identities (pre-account hijacking),
passkeys (UV, userHandle), RequireAuth on every scope type, bearer headers that do not
authenticate, and secret rotation. Each finding of the review as its hostile sequence."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest

from authgate import Auth, MFAOptions, PasskeyOptions, RequireAuth
from authgate.mail import SMTPSender
from authgate.providers import OIDC
from authgate.stores.base import Store

from . import oidc_fixture, smtp_fixture
from .oidc_fixture import OIDCServer, login
from .smtp_fixture import SMTPServer
from .soft_authenticator import SoftAuthenticator
from .support import CLIENT, ORIGIN, SECRET, FakeClock, client_for, session_count

oidc_server = oidc_fixture.oidc_server
smtp_server = smtp_fixture.smtp_server

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
OLD_SECRET = "old-secret-" + "o" * 40
NEW_SECRET = "new-secret-" + "n" * 40


def sender_for(smtp_server: SMTPServer) -> SMTPSender:
    return SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.com")


def link_token(message: Any) -> str:
    text = message.get_body(("plain",)).get_content()
    link = next(word for word in text.split() if "token=" in word)
    return parse_qs(urlsplit(link).query)["token"][0]


# -- identity from providers ---------------------------------------------------------------------


def two_providers(store: Store, server: OIDCServer, clock: FakeClock, smtp_server: SMTPServer) -> Auth:
    """One OpenID provider under two ids: `sloppy` (not trusted for linking) and `corp` (trusted)."""
    sloppy = OIDC(server.issuer, server.client_id, server.client_secret, id="sloppy", name="Sloppy")
    corp = OIDC(server.issuer, server.client_id, server.client_secret, id="corp", name="Corp", trusted_for_linking=True)
    return Auth(store=store, secret=SECRET, clock=clock, providers=[sloppy, corp], email_sender=sender_for(smtp_server),
                base_url=ORIGIN)  # fmt: skip


async def provider_sign_in(client: httpx.AsyncClient, provider_id: str, account: str) -> httpx.Response:
    started = await client.get(f"/api/auth/signin/{provider_id}?callbackUrl=%2Fhome")
    assert started.status_code == 302, started.text
    async with httpx.AsyncClient(timeout=10) as network:  # a browser of its own at the provider
        callback = await login(network, started.headers["location"], account=account)
    parts = urlsplit(callback)
    return await client.get(f"{parts.path}?{parts.query}")


def error_of(response: httpx.Response) -> str | None:
    return parse_qs(urlsplit(response.headers.get("location", "")).query).get("error", [None])[0]


async def reset_password(auth: Auth, client: httpx.AsyncClient, smtp_server: SMTPServer, email: str) -> None:
    seen = len(smtp_server.messages)
    assert (await client.post("/api/auth/forgot-password", json={"email": email}, headers=CLIENT)).status_code == 200
    await auth.idle()
    messages = await smtp_server.wait_for(seen + 1)
    token = link_token(messages[seen])
    done = await client.post("/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD},
                             headers=CLIENT)  # fmt: skip
    assert done.status_code == 200, done.text


async def test_untrusted_provider_claiming_a_verified_address_cannot_pre_hijack(
    store: Store, oidc_server: OIDCServer, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    victim = "victim@example.com"  # the provider's claim for this account: email_verified true
    auth = two_providers(store, oidc_server, clock, smtp_server)
    async with client_for(auth) as attacker, client_for(auth) as owner:
        made = await provider_sign_in(attacker, "sloppy", victim)
        assert made.status_code == 302 and error_of(made) is None
        created = (await store.get_credentials(victim))[0]  # type: ignore[index]
        assert created.email_verified is False  # an untrusted provider vouches for nothing
        # The victim's sign-in through the trusted provider is NOT merged into that account.
        refused = await provider_sign_in(owner, "corp", victim)
        assert error_of(refused) == "OAuthAccountNotLinked"
        assert [a.provider for a in await store.list_accounts(created.id)] == ["sloppy"]
        assert (await owner.get("/api/auth/session")).status_code == 401
        # The mailbox owner reclaims the address: the squatter's identity and session are gone.
        await reset_password(auth, owner, smtp_server, victim)
        reclaimed = (await store.get_credentials(victim))[0]  # type: ignore[index]
        assert reclaimed.email_verified is True and await store.list_accounts(created.id) == []
        assert (await attacker.get("/api/auth/session")).status_code == 401
        again = await provider_sign_in(attacker, "sloppy", victim)
        assert error_of(again) == "OAuthAccountNotLinked"
        # Now the owner's trusted sign-in links into the owner's account.
        linked = await provider_sign_in(owner, "corp", victim)
        assert error_of(linked) is None and (await owner.get("/api/auth/session")).json()["user"]["id"] == created.id


async def test_unverified_provider_identity_is_removed_when_the_mailbox_owner_resets(
    store: Store, oidc_server: OIDCServer, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    victim = "unverified@victim.example"  # the provider says: not verified
    auth = two_providers(store, oidc_server, clock, smtp_server)
    async with client_for(auth) as attacker, client_for(auth) as owner:
        assert error_of(await provider_sign_in(attacker, "sloppy", victim)) is None
        taken = await owner.post("/api/auth/sign-up", json={"email": victim, "password": PASSWORD}, headers=CLIENT)
        assert taken.status_code == 409
        await reset_password(auth, owner, smtp_server, victim)
        user = (await store.get_credentials(victim))[0]  # type: ignore[index]
        assert await store.list_accounts(user.id) == []
        assert (await attacker.get("/api/auth/session")).status_code == 401
        assert error_of(await provider_sign_in(attacker, "sloppy", victim)) == "OAuthAccountNotLinked"
        signed_in = await owner.post("/api/auth/sign-in", json={"email": victim, "password": NEW_PASSWORD},
                                     headers=CLIENT)  # fmt: skip
        assert signed_in.status_code == 200 and signed_in.json()["user"]["id"] == user.id


# -- passkeys ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def with_passkey(auth: Auth, email: str = "pk@example.com") -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    async with client_for(auth) as client:
        await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD}, headers=CLIENT)
        options = (await client.post("/api/auth/passkey/register/options", headers=CLIENT)).json()
        device = SoftAuthenticator()
        credential = device.create(options, origin=ORIGIN)
        added = await client.post("/api/auth/passkey/register/verify", json={"credential": credential}, headers=CLIENT)
        assert added.status_code == 200, added.text
        client.cookies.clear()
        yield client, device


async def passkey_sign_in(client: httpx.AsyncClient, device: SoftAuthenticator, **forge: Any) -> httpx.Response:
    options = (await client.post("/api/auth/signin/passkey", headers=CLIENT)).json()
    credential = device.get(options, origin=ORIGIN, **forge)
    return await client.post("/api/auth/callback/passkey", json={"credential": credential}, headers=CLIENT)


async def test_a_passkey_without_user_verification_gets_no_session(auth: Auth, store: Store) -> None:
    async with with_passkey(auth) as (client, device):
        answer = await passkey_sign_in(client, device, user_verified=False)
        assert answer.status_code == 400 and answer.json()["kind"] == "Verification"
        assert answer.headers.get_list("set-cookie") == []
        assert await session_count(store, "pk@example.com") == 1  # the sign-up's only


async def test_a_presence_only_passkey_is_one_factor_when_allowed(
    store: Store, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    auth = Auth(store=store, secret=SECRET, clock=clock, email_sender=sender_for(smtp_server), base_url=ORIGIN,
                passkeys=PasskeyOptions(allow_presence_only=True), mfa=MFAOptions(required=True))  # fmt: skip
    async with with_passkey(auth) as (client, device):
        answer = await passkey_sign_in(client, device, user_verified=False)
        assert answer.status_code == 200 and answer.json()["mfa_required"] is True
        assert answer.headers.get_list("set-cookie") == []
        assert await session_count(store, "pk@example.com") == 1  # the sign-up's only
        verified = await passkey_sign_in(client, device)  # UV: two factors in one, no challenge
        assert verified.status_code == 200 and "mfa_required" not in verified.json()
    await auth.idle()


@pytest.mark.parametrize("handle", [None, "c29tZW9uZS1lbHNl"])
async def test_the_assertion_user_handle_must_name_the_owner(auth: Auth, store: Store, handle: str | None) -> None:
    async with with_passkey(auth) as (client, device):
        answer = await passkey_sign_in(client, device, user_handle=handle)
        assert answer.status_code == 400 and answer.json()["kind"] == "Verification"
        assert await session_count(store, "pk@example.com") == 1  # the sign-up's only


async def test_an_intruders_passkey_stops_working_when_the_owner_resets(
    store: Store, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    auth = Auth(store=store, secret=SECRET, clock=clock, email_sender=sender_for(smtp_server), base_url=ORIGIN)
    async with with_passkey(auth) as (intruder, device), client_for(auth) as owner:
        user = (await store.get_credentials("pk@example.com"))[0]  # type: ignore[index]
        await store.update_user(replace(user, email_verified=True))  # an established, verified account
        await reset_password(auth, owner, smtp_server, "pk@example.com")
        answer = await passkey_sign_in(intruder, device)
        assert answer.status_code == 400 and answer.json()["kind"] == "Verification"
        user = (await store.get_credentials("pk@example.com"))[0]  # type: ignore[index]
        assert await store.list_authenticators(user.id) == []


# -- RequireAuth on every scope type, and bearer headers -------------------------------------------


async def run_websocket(auth: Auth, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    accepted: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        accepted.append(True)
        await send({"type": "websocket.accept"})

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [(b"host", b"testserver"), *headers], "scheme": "wss"}
    await RequireAuth(app, auth)(scope, receive, send)
    return sent


async def test_require_auth_fails_closed_on_websockets(client: httpx.AsyncClient, auth: Auth) -> None:
    assert (await run_websocket(auth, [(b"origin", ORIGIN.encode())]))[0] == {
        "type": "websocket.close", "code": 1008, "reason": "Unauthenticated"
    }  # fmt: skip
    await client.post("/api/auth/sign-up", json={"email": "ws@example.com", "password": PASSWORD}, headers=CLIENT)
    cookie = f"authgate_session={client.cookies['authgate_session']}".encode()
    cross = await run_websocket(auth, [(b"cookie", cookie), (b"origin", b"https://evil.example")])
    assert cross[0]["type"] == "websocket.close" and cross[0]["reason"] == "ForbiddenOrigin"
    no_origin = await run_websocket(auth, [(b"cookie", cookie)])
    assert no_origin[0]["type"] == "websocket.close"
    same = await run_websocket(auth, [(b"cookie", cookie), (b"origin", ORIGIN.encode())])
    assert same == [{"type": "websocket.accept"}]


async def test_require_auth_refuses_unknown_scope_types(auth: Auth) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the protected app ran")

    with pytest.raises(RuntimeError):
        await RequireAuth(app, auth)({"type": "webtransport", "headers": []}, None, None)


async def test_a_bearer_header_that_does_not_authenticate_relaxes_nothing(
    client: httpx.AsyncClient, auth: Auth, store: Store
) -> None:
    await client.post("/api/auth/sign-up", json={"email": "b@example.com", "password": PASSWORD}, headers=CLIENT)
    refresh_before = client.cookies.get("authgate_refresh", path="/api/auth/refresh")
    junk = {"Authorization": "Bearer junk", "Origin": "https://evil.example"}
    refreshed = await client.post("/api/auth/refresh", headers=junk)
    assert refreshed.status_code == 403 and refreshed.json()["kind"] == "MissingCSRF"
    out = await client.post("/api/auth/sign-out", headers=junk)
    assert out.status_code == 403 and await session_count(store, "b@example.com") == 1
    assert client.cookies.get("authgate_refresh", path="/api/auth/refresh") == refresh_before
    written = await client.post("/api/private", headers={"Authorization": "Bearer junk"})
    assert written.status_code == 401
    signed_up = await client.post("/api/auth/sign-up", json={"email": "c@example.com", "password": PASSWORD},
                                  headers={"Authorization": "Bearer junk"})  # fmt: skip
    assert signed_up.status_code == 403 and await session_count(store, "c@example.com") == 0


async def test_a_bearer_token_that_authenticates_needs_no_header(client: httpx.AsyncClient) -> None:
    body = {"email": "d@example.com", "password": PASSWORD, "transport": "bearer"}
    tokens = (await client.post("/api/auth/sign-up", json=body, headers=CLIENT)).json()
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.post("/api/private", headers=bearer)).status_code == 200
    assert (await client.post("/api/auth/sign-out", headers=bearer)).status_code == 200
    assert (await client.post("/api/private", headers=bearer)).status_code == 401


# -- secrets rotate --------------------------------------------------------------------------------


async def test_rotating_the_secret_keeps_recovery_codes_trusted_devices_and_csrf_tokens(
    store: Store, clock: FakeClock
) -> None:
    old = Auth(store=store, secret=OLD_SECRET, clock=clock)
    email = "rot@example.com"
    async with client_for(old) as client:
        await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD}, headers=CLIENT)
        secret = (await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)).json()["secret"]
        codes = (await client.post("/api/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).at(clock())},
                                   headers=CLIENT)).json()["recovery_codes"]  # fmt: skip
        client.cookies.clear()
        challenge = (await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD},
                                       headers=CLIENT)).json()  # fmt: skip
        clock.advance(seconds=30)
        answer = {"challenge": challenge["challenge"], "code": pyotp.TOTP(secret).at(clock()), "trust_device": True}
        trusted = await client.post("/api/auth/mfa/verify", json=answer, headers=CLIENT)
        device_cookie = trusted.cookies.get("authgate_trusted_device")
        assert (await client.get("/api/auth/csrf")).status_code == 200
        csrf_cookie = client.cookies.get("authgate_csrf")
    rotated = Auth(store=store, secret=[NEW_SECRET, OLD_SECRET], clock=clock)
    async with client_for(rotated) as client:
        challenge = (await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD},
                                       headers=CLIENT)).json()  # fmt: skip
        used = await client.post("/api/auth/mfa/verify", json={"challenge": challenge["challenge"], "code": codes[0]},
                                 headers=CLIENT)  # fmt: skip
        assert used.status_code == 200, used.text  # a recovery code made under the old secret
        client.cookies.clear()
        client.cookies.set("authgate_trusted_device", device_cookie or "", path="/api/auth")
        again = await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD}, headers=CLIENT)
        assert again.status_code == 200 and "mfa_required" not in again.json()  # still a trusted device
        client.cookies.set("authgate_csrf", csrf_cookie or "", path="/")
        token = (await client.get("/api/auth/csrf")).json()["csrfToken"]
        out = await client.post("/api/auth/signout", data={"csrfToken": token, "callbackUrl": "/"})
        assert out.status_code == 302  # the CSRF cookie signed with the old secret still verifies


async def test_a_totp_secret_no_configured_secret_opens_is_a_clear_400(store: Store, clock: FakeClock) -> None:
    old = Auth(store=store, secret=OLD_SECRET, clock=clock)
    email = "lost@example.com"
    async with client_for(old) as client:
        await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD}, headers=CLIENT)
        secret = (await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)).json()["secret"]
        await client.post("/api/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).at(clock())}, headers=CLIENT)
    restarted = Auth(store=store, secret=NEW_SECRET, clock=clock)  # a new random secret on restart
    async with client_for(restarted) as client:
        challenge = (await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD},
                                       headers=CLIENT)).json()  # fmt: skip
        clock.advance(seconds=30)
        answer = await client.post("/api/auth/mfa/verify", json={"challenge": challenge["challenge"],
                                   "code": pyotp.TOTP(secret).at(clock())}, headers=CLIENT)  # fmt: skip
        assert answer.status_code == 400 and answer.json()["kind"] == "Verification"
        assert "recovery code" in answer.json()["error"]
        assert await session_count(store, email) == 1  # only the sign-up's


async def test_untrusted_provider_users_start_unverified_even_with_a_verified_claim(
    store: Store, oidc_server: OIDCServer, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    auth = two_providers(store, oidc_server, clock, smtp_server)
    async with client_for(auth) as client:
        assert error_of(await provider_sign_in(client, "corp", "trusted@example.com")) is None
        assert error_of(await provider_sign_in(client, "sloppy", "sloppy@example.com")) is None
    trusted = (await store.get_credentials("trusted@example.com"))[0]  # type: ignore[index]
    sloppy = (await store.get_credentials("sloppy@example.com"))[0]  # type: ignore[index]
    assert trusted.email_verified is True and sloppy.email_verified is False
    assert replace(trusted, email_verified=False) != trusted


async def test_linking_a_provider_needs_step_up(
    store: Store, oidc_server: OIDCServer, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    auth = two_providers(store, oidc_server, clock, smtp_server)
    async with client_for(auth) as client:
        await client.post("/api/auth/sign-up", json={"email": "link@example.com", "password": PASSWORD}, headers=CLIENT)
        clock.advance(minutes=11)  # a session stolen after the reauth window
        refused = await client.post("/api/auth/signin/corp", json={"link": True}, headers=CLIENT)
        assert refused.status_code == 403 and refused.json()["kind"] == "ReauthenticationRequired"
        assert refused.headers.get_list("set-cookie") == []  # no checks cookie: no flow started
        started = await client.post("/api/auth/signin/corp", json={"link": True, "password": PASSWORD}, headers=CLIENT)
        assert started.status_code == 302


async def test_an_emailed_code_issued_before_a_secret_rotation_still_works(
    store: Store, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    email = "otp@example.com"
    old = Auth(store=store, secret=OLD_SECRET, clock=clock, email_sender=sender_for(smtp_server), base_url=ORIGIN,
               mfa=MFAOptions(required=True))  # fmt: skip
    async with client_for(old) as client:
        await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD}, headers=CLIENT)
        client.cookies.clear()
        challenge = (await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD},
                                       headers=CLIENT)).json()  # fmt: skip
        (message,) = await smtp_server.wait_for(1)
        code = next(word for word in message.get_body(("plain",)).get_content().split() if word.isdigit())
    rotated = Auth(store=store, secret=[NEW_SECRET, OLD_SECRET], clock=clock, email_sender=sender_for(smtp_server),
                   base_url=ORIGIN, mfa=MFAOptions(required=True))  # fmt: skip
    async with client_for(rotated) as client:
        verified = await client.post("/api/auth/mfa/verify", json={"challenge": challenge["challenge"], "code": code},
                                     headers=CLIENT)  # fmt: skip
        assert verified.status_code == 200, verified.text
