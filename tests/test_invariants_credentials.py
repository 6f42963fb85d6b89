"""DESIGN section 9, credential events and step-up: each finding of the independent review as the
hostile sequence it was, against memory, SQLite and Postgres, checking the answer and what is
stored afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest

from authgate import Auth, CredentialsSignin, RateLimitOptions
from authgate.mail import SMTPSender
from authgate.stores.base import Store

from . import smtp_fixture
from .smtp_fixture import SMTPServer
from .support import CLIENT, ORIGIN, SECRET, FakeClock, client_for, session_count

smtp_server = smtp_fixture.smtp_server

EMAIL = "owner@example.com"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def auth(store: Store, clock: FakeClock, smtp_server: SMTPServer) -> AsyncIterator[Auth]:
    sender = SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.com")
    made = Auth(store=store, secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN)
    yield made
    await made.idle()
    made.hasher.close()


def link_token(smtp_server: SMTPServer, index: int) -> str:
    text = smtp_server.messages[index].get_body(("plain",)).get_content()
    link = next(word for word in text.split() if "token=" in word)
    return parse_qs(urlsplit(link).query)["token"][0]


@contextlib.asynccontextmanager
async def signed_up(auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(auth) as client:
        body = {"email": EMAIL, "password": PASSWORD}
        response = await client.post("/api/auth/sign-up", json=body, headers=CLIENT)
        assert response.status_code == 200, response.text
        yield client


@contextlib.asynccontextmanager
async def second_browser(auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(auth) as client:
        body = {"email": EMAIL, "password": PASSWORD}
        response = await client.post("/api/auth/sign-in", json=body, headers=CLIENT)
        assert response.status_code == 200, response.text
        yield client


@pytest.mark.parametrize("owner_action", ["change_password", "sign_out_everywhere", "reset_password"])
async def test_a_pending_email_change_dies_with_the_owners_credential_event(
    auth: Auth, smtp_server: SMTPServer, owner_action: str
) -> None:
    # The intruder knows the password and asks to move the account to their own address.
    async with signed_up(auth) as owner, second_browser(auth) as intruder:
        asked = await intruder.post(
            "/api/auth/change-email", json={"email": "intruder@evil.example", "password": PASSWORD}, headers=CLIENT
        )
        assert asked.status_code == 200
        await smtp_server.wait_for(1)
        intruder_token = link_token(smtp_server, 0)
        if owner_action == "change_password":
            done = await owner.post(
                "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                headers=CLIENT,
            )  # fmt: skip
        elif owner_action == "sign_out_everywhere":
            done = await owner.delete("/api/auth/sessions?all=others", headers=CLIENT)
        else:
            await owner.post("/api/auth/forgot-password", json={"email": EMAIL}, headers=CLIENT)
            await auth.idle()
            await smtp_server.wait_for(2)
            done = await owner.post(
                "/api/auth/reset-password", json={"token": link_token(smtp_server, 1), "password": NEW_PASSWORD},
                headers=CLIENT,
            )  # fmt: skip
        assert done.status_code == 200, done.text
        # The intruder opens the old link: nothing happens, the account keeps its address.
        opened = await intruder.post("/api/auth/change-email/verify", json={"token": intruder_token}, headers=CLIENT)
        assert opened.status_code == 400 and opened.json()["kind"] == "Verification"
        assert await auth.store.get_credentials("intruder@evil.example") is None
        assert await auth.store.get_credentials(EMAIL) is not None
        assert (await intruder.get("/api/auth/session")).status_code == 401


async def test_credential_event_ends_every_pending_token_and_other_session(auth: Auth, store: Store) -> None:
    async with signed_up(auth) as owner, second_browser(auth):
        user = (await store.get_credentials(EMAIL))[0]  # type: ignore[index]
        for purpose in ("reset_password", "change_email", "verify_email", "mfa_challenge", "passkey_register"):
            await auth.accounts.tokens.issue(purpose, user_id=user.id, lifetime=auth.config.sessions.reauth_window)
        assert await session_count(store, EMAIL) == 2
        done = await owner.post(
            "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=CLIENT,
        )  # fmt: skip
        assert done.status_code == 200
        assert await session_count(store, EMAIL) == 1  # only the session that made the change
        for purpose in ("reset_password", "change_email", "verify_email", "mfa_challenge", "passkey_register"):
            assert await store.delete_verifications(user.id, purpose) == 0, purpose
        assert (await store.get_user(user.id)).credential_version == user.credential_version + 1  # type: ignore[union-attr]


async def test_a_sign_in_checked_against_the_old_password_cannot_outlive_the_change(auth: Auth, store: Store) -> None:
    async with signed_up(auth) as owner:
        # The credential check happened (this User is what it read), then the password changed.
        checked_before = (await store.get_credentials(EMAIL))[0]  # type: ignore[index]
        done = await owner.post(
            "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=CLIENT,
        )  # fmt: skip
        assert done.status_code == 200
        with pytest.raises(CredentialsSignin):
            await auth.start_session(checked_before, None, method="credentials")
        assert await session_count(store, EMAIL) == 1  # nothing was written


async def test_sign_in_racing_a_password_change_never_leaves_a_live_session(auth: Auth, store: Store) -> None:
    leaked = 0
    async with signed_up(auth) as owner:
        password = PASSWORD
        for trial in range(8):  # bounded: each trial costs three password hashes
            new = f"{NEW_PASSWORD} {trial}"
            thief = client_for(auth)
            signed_in, changed = await asyncio.gather(
                thief.post("/api/auth/sign-in", json={"email": EMAIL, "password": password}, headers=CLIENT),
                owner.post(
                    "/api/auth/change-password", json={"current_password": password, "new_password": new},
                    headers=CLIENT,
                ),
            )  # fmt: skip
            assert changed.status_code == 200, changed.text
            password = new
            if signed_in.status_code == 200 and (await thief.get("/api/auth/session")).status_code == 200:
                leaked += 1
            await thief.aclose()
    assert leaked == 0
    assert await session_count(store, EMAIL) == 1


async def test_trusted_devices_end_with_a_credential_event(auth: Auth, clock: FakeClock) -> None:
    async with signed_up(auth) as owner:
        enrollment = (await owner.post("/api/auth/mfa/totp/enroll", headers=CLIENT)).json()
        totp = pyotp.TOTP(enrollment["secret"])
        confirm = await owner.post("/api/auth/mfa/totp/confirm", json={"code": totp.at(clock())}, headers=CLIENT)
        assert confirm.status_code == 200
        device = client_for(auth)
        first = (await device.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT))
        clock.advance(seconds=30)
        verified = await device.post(
            "/api/auth/mfa/verify", json={"challenge": first.json()["challenge"], "code": totp.at(clock()),
                                          "trust_device": True}, headers=CLIENT,
        )  # fmt: skip
        assert verified.status_code == 200
        device.cookies.delete("authgate_session")
        trusted = await device.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert "mfa_required" not in trusted.json()  # the device is trusted
        clock.advance(seconds=30)
        changed = await owner.post(
            "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=CLIENT,
        )  # fmt: skip
        assert changed.status_code == 200
        device.cookies.delete("authgate_session")
        again = await device.post("/api/auth/sign-in", json={"email": EMAIL, "password": NEW_PASSWORD}, headers=CLIENT)
        assert again.json().get("mfa_required") is True  # the trusted-device cookie died with the change
        await device.aclose()


async def test_credential_events_tell_the_verified_address(auth: Auth, store: Store, smtp_server: SMTPServer) -> None:
    async with signed_up(auth) as owner:
        user = (await store.get_credentials(EMAIL))[0]  # type: ignore[index]
        await store.update_user(replace(user, email_verified=True))
        done = await owner.post(
            "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=CLIENT,
        )  # fmt: skip
        assert done.status_code == 200
        (notice,) = await smtp_server.wait_for(1)
        assert notice["To"] == EMAIL and notice["Subject"] == "Your password was changed"


# -- step-up ---------------------------------------------------------------------------------------


STEP_UP_ROUTES = [
    ("POST", "/api/auth/passkey/register/options", None),
    ("POST", "/api/auth/mfa/totp/enroll", None),
    ("POST", "/api/auth/mfa/email/enable", None),
    ("POST", "/api/auth/change-email", {"email": "thief@evil.example"}),
    ("POST", "/api/auth/delete-account", None),
    ("POST", "/api/auth/mfa/recovery-codes", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), STEP_UP_ROUTES)
async def test_a_stolen_session_alone_adds_or_removes_nothing(
    auth: Auth, store: Store, clock: FakeClock, method: str, path: str, body: dict[str, str] | None
) -> None:
    async with signed_up(auth) as thief:
        user = (await store.get_credentials(EMAIL))[0]  # type: ignore[index]
        await store.update_user(replace(user, email_verified=True))
        clock.advance(minutes=11)  # the cookie is valid, the sign-in behind it is not recent
        refused = await thief.request(method, path, json=body, headers=CLIENT)
        assert refused.status_code in (400, 403), refused.text
        assert refused.json()["kind"] in ("ReauthenticationRequired", "Verification")
        assert await store.get_user(user.id) is not None
        assert await store.list_mfa_factors(user.id) == []
        assert await store.list_authenticators(user.id) == []
        assert await store.delete_verifications(user.id, "passkey_register") == 0
        assert await store.delete_verifications(user.id, "change_email") == 0


async def test_refresh_keeps_the_auth_time(auth: Auth, clock: FakeClock) -> None:
    async with signed_up(auth) as client:
        clock.advance(minutes=14)
        assert (await client.post("/api/auth/refresh", headers=CLIENT)).status_code == 200
        refused = await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)
        assert refused.status_code == 403 and refused.json()["kind"] == "ReauthenticationRequired"


async def test_step_up_with_the_password_then_inside_the_window(auth: Auth, clock: FakeClock) -> None:
    async with signed_up(auth) as client:
        clock.advance(minutes=11)
        wrong = await client.post("/api/auth/reauthenticate", json={"password": "not the password"}, headers=CLIENT)
        assert wrong.status_code == 401 and wrong.json()["kind"] == "CredentialsSignin"
        inline = await client.post("/api/auth/mfa/totp/enroll", json={"password": PASSWORD}, headers=CLIENT)
        assert inline.status_code == 200  # the proof came with the request
        clock.advance(minutes=11)
        assert (await client.post("/api/auth/refresh", headers=CLIENT)).status_code == 200  # keeps the auth time
        assert (await client.post("/api/auth/passkey/register/options", headers=CLIENT)).status_code == 403
        again = await client.post("/api/auth/reauthenticate", json={"password": PASSWORD}, headers=CLIENT)
        assert again.status_code == 200 and again.json()["reauthenticated"] is True
        clock.advance(minutes=5)
        options = await client.post("/api/auth/passkey/register/options", headers=CLIENT)
        assert options.status_code == 200  # inside the window of the re-authentication


async def test_strangers_cannot_lock_the_owner_out_of_reauthentication(auth: Auth) -> None:
    async with signed_up(auth) as owner, client_for(auth) as stranger:
        for _ in range(12):  # the per-account sign-in limit is 10 a minute
            await stranger.post("/api/auth/sign-in", json={"email": EMAIL, "password": "guess guess"}, headers=CLIENT)
        locked = await stranger.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert locked.status_code == 429
        changed = await owner.post(
            "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=CLIENT,
        )  # fmt: skip
        assert changed.status_code == 200


# -- factors -------------------------------------------------------------------------------------


async def test_parallel_totp_confirmations_hand_out_one_set_of_recovery_codes(
    auth: Auth, store: Store, clock: FakeClock
) -> None:
    async with signed_up(auth) as client:
        secret = (await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)).json()["secret"]
        code = pyotp.TOTP(secret).at(clock())
        answers = await asyncio.gather(
            *[client.post("/api/auth/mfa/totp/confirm", json={"code": code}, headers=CLIENT) for _ in range(5)]
        )
        granted = [a for a in answers if a.status_code == 200]
        assert len(granted) == 1, [a.text for a in answers]
        user = (await store.get_credentials(EMAIL))[0]  # type: ignore[index]
        assert await store.count_recovery_codes(user.id) == 10


async def test_email_mfa_needs_a_sender(store: Store, clock: FakeClock) -> None:
    auth = Auth(store=store, secret=SECRET, clock=clock)
    async with signed_up(auth) as client:
        user = (await store.get_credentials(EMAIL))[0]  # type: ignore[index]
        await store.update_user(replace(user, email_verified=True))
        refused = await client.post("/api/auth/mfa/email/enable", headers=CLIENT)
        assert refused.status_code == 400 and refused.json()["kind"] == "InvalidRequest"
        assert await store.list_mfa_factors(user.id) == []


async def test_email_factor_without_a_sender_fails_closed_not_500(store: Store, clock: FakeClock) -> None:
    from authgate.stores import MFAFactor

    auth = Auth(store=store, secret=SECRET, clock=clock)
    async with signed_up(auth) as client:
        user = (await store.get_credentials(EMAIL))[0]  # type: ignore[index]
        await store.save_mfa_factor(MFAFactor(user.id, "email", True, clock()))  # enabled while a sender existed
        client.cookies.clear()
        answer = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert answer.status_code == 503 and answer.json()["kind"] == "ServiceUnavailable"
        assert answer.headers.get_list("set-cookie") == []
        assert await session_count(store, EMAIL) == 1  # only the sign-up's


# -- refresh and sign-out ------------------------------------------------------------------------


async def test_a_refresh_token_from_two_rotations_back_is_reuse_even_inside_the_grace(
    auth: Auth, store: Store, clock: FakeClock
) -> None:
    async with signed_up(auth) as client:
        first = client.cookies.get("authgate_refresh", path="/api/auth/refresh")
        assert (await client.post("/api/auth/refresh", headers=CLIENT)).status_code == 200
        assert (await client.post("/api/auth/refresh", headers=CLIENT)).status_code == 200
        clock.advance(seconds=1)
        async with client_for(auth) as thief:
            thief.cookies.set("authgate_refresh", first or "", path="/api/auth/refresh")
            replayed = await thief.post("/api/auth/refresh", headers=CLIENT)
        assert replayed.status_code == 401 and replayed.json()["kind"] == "RefreshTokenReuse"
        assert await session_count(store, EMAIL) == 0


async def test_sign_out_with_a_just_retired_refresh_token_ends_the_session(auth: Auth, store: Store) -> None:
    async with signed_up(auth) as client:
        retired = client.cookies.get("authgate_refresh", path="/api/auth/refresh")
        assert (await client.post("/api/auth/refresh", headers=CLIENT)).status_code == 200  # another tab rotated
        async with client_for(auth) as tab:
            tab.cookies.set("authgate_refresh", retired or "", path="/api/auth/refresh")
            out = await tab.post("/api/auth/refresh/sign-out", headers=CLIENT)
        assert out.status_code == 200
        assert await session_count(store, EMAIL) == 0
        assert (await client.get("/api/auth/session")).status_code == 401


async def test_sign_out_with_an_access_token_a_refresh_just_replaced_ends_the_session(auth: Auth, store: Store) -> None:
    async with signed_up(auth) as client:
        stale_access = client.cookies.get("authgate_session")
        assert (await client.post("/api/auth/refresh", headers=CLIENT)).status_code == 200  # another tab rotated
        async with client_for(auth) as tab:  # what a browser sends to /sign-out: the access cookie only
            tab.cookies.set("authgate_session", stale_access or "")
            out = await tab.post("/api/auth/sign-out", headers=CLIENT)
            assert out.status_code == 200
            assert (await tab.get("/api/auth/session")).status_code == 401  # a retired token signs nobody in
        assert await session_count(store, EMAIL) == 0
        assert (await client.get("/api/auth/session")).status_code == 401


async def test_sign_out_racing_a_refresh_never_leaves_the_session_alive(store: Store, clock: FakeClock) -> None:
    auth = Auth(store=store, secret=SECRET, clock=clock, rate_limits=RateLimitOptions(enabled=False))
    survived = 0
    for trial in range(20):
        email = f"race{trial}@example.com"
        async with client_for(auth) as client:
            body = {"email": email, "password": PASSWORD}
            assert (await client.post("/api/auth/sign-up", json=body, headers=CLIENT)).status_code == 200
            out, _ = await asyncio.gather(
                client.post("/api/auth/sign-out", headers=CLIENT), client.post("/api/auth/refresh", headers=CLIENT)
            )
            assert out.status_code == 200
            survived += await session_count(store, email)
    assert survived == 0
