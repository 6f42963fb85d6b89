"""The account lifecycle and email one-time codes, with mail delivered to a real SMTP server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from authgate import Auth
from authgate._config import AccountOptions, MFAOptions
from authgate._ratelimit import RateLimitOptions
from authgate.mail import SMTPSender

from . import smtp_fixture
from .smtp_fixture import SMTPServer
from .support import CLIENT, ORIGIN, SECRET, FakeClock, client_for, session_count

smtp_server = smtp_fixture.smtp_server
EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "battery staple horse"


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def token_in(message: EmailMessage) -> str:
    url = re.search(r"https?://\S+", body_text(message))
    assert url, body_text(message)
    return parse_qs(urlsplit(url.group(0)).query)["token"][0]


@pytest.fixture
async def mail_auth(store: object, clock: FakeClock, smtp_server: SMTPServer) -> AsyncIterator[Auth]:
    sender = SMTPSender(smtp_server.host, smtp_server.port, sender="authgate <auth@example.com>")
    made = Auth(store=store, secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN)  # type: ignore[arg-type]
    yield made
    await made.close()


@pytest.fixture
async def mail_client(mail_auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(mail_auth) as made:
        yield made


async def sign_up(client: httpx.AsyncClient, email: str = EMAIL) -> dict[str, object]:
    response = await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD}, headers=CLIENT)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_email_verification_link_verifies_once(
    mail_client: httpx.AsyncClient, mail_auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(mail_client)
    assert (await mail_client.post("/api/auth/verify-email/send", headers=CLIENT)).json() == {"sent": True}
    await smtp_server.wait_for(1)
    message = smtp_server.messages[0]
    assert message["To"] == EMAIL
    token = token_in(message)
    landed = await mail_client.get(f"/api/auth/verify-email?token={token}")
    assert landed.status_code == 302 and landed.headers["location"].endswith("/?email_verified=1")
    assert (await mail_client.get("/api/auth/session")).json()["user"]["email_verified"] is True
    again = await mail_client.get(f"/api/auth/verify-email?token={token}")
    assert again.headers["location"].endswith("/?error=Verification")


async def test_verification_link_expires(
    mail_client: httpx.AsyncClient, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    await sign_up(mail_client)
    await mail_client.post("/api/auth/verify-email/send", headers=CLIENT)
    await smtp_server.wait_for(1)
    clock.advance(hours=24, seconds=1)
    response = await mail_client.post(
        "/api/auth/verify-email", json={"token": token_in(smtp_server.messages[0])}, headers=CLIENT
    )
    assert response.status_code == 400 and response.json()["kind"] == "Verification"


async def test_verification_resend_is_limited(mail_client: httpx.AsyncClient, smtp_server: SMTPServer) -> None:
    await sign_up(mail_client)
    answers = [(await mail_client.post("/api/auth/verify-email/send", headers=CLIENT)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["retry-after"]) > 0
    await smtp_server.wait_for(3)
    await asyncio.sleep(0.2)
    assert len(smtp_server.messages) == 3


async def test_forgot_password_answers_200_for_any_address(
    mail_client: httpx.AsyncClient, smtp_server: SMTPServer
) -> None:
    await sign_up(mail_client)
    known = await mail_client.post("/api/auth/forgot-password", json={"email": EMAIL}, headers=CLIENT)
    unknown = await mail_client.post("/api/auth/forgot-password", json={"email": "nobody@example.com"}, headers=CLIENT)
    invalid = await mail_client.post("/api/auth/forgot-password", json={"email": "not an email"}, headers=CLIENT)
    assert known.status_code == unknown.status_code == invalid.status_code == 200
    assert known.content == unknown.content == invalid.content
    await smtp_server.wait_for(1)
    await asyncio.sleep(0.2)
    assert [m["To"] for m in smtp_server.messages] == [EMAIL]


async def test_reset_password_revokes_sessions_and_is_single_use(
    mail_client: httpx.AsyncClient, mail_auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(mail_client)
    await mail_client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert await session_count(mail_auth.store, EMAIL) == 2
    await mail_client.post("/api/auth/forgot-password", json={"email": EMAIL}, headers=CLIENT)
    await smtp_server.wait_for(1)
    token = token_in(smtp_server.messages[0])
    reset = await mail_client.post(
        "/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD}, headers=CLIENT
    )
    assert reset.status_code == 200
    assert await session_count(mail_auth.store, EMAIL) == 0
    reused = await mail_client.post(
        "/api/auth/reset-password", json={"token": token, "password": "another password"}, headers=CLIENT
    )
    assert reused.status_code == 400 and reused.json()["kind"] == "Verification"
    old = await mail_client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert old.status_code == 401
    new = await mail_client.post("/api/auth/sign-in", json={"email": EMAIL, "password": NEW_PASSWORD}, headers=CLIENT)
    assert new.status_code == 200


async def test_reset_link_dies_when_the_password_changes_another_way(
    mail_client: httpx.AsyncClient, smtp_server: SMTPServer
) -> None:
    await sign_up(mail_client)
    await mail_client.post("/api/auth/forgot-password", json={"email": EMAIL}, headers=CLIENT)
    await smtp_server.wait_for(1)
    token = token_in(smtp_server.messages[0])
    changed = await mail_client.post(
        "/api/auth/change-password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=CLIENT,
    )
    assert changed.status_code == 200
    late = await mail_client.post(
        "/api/auth/reset-password", json={"token": token, "password": "attacker password"}, headers=CLIENT
    )
    assert late.status_code == 400 and late.json()["kind"] == "Verification"


async def test_reset_link_expires_after_30_minutes(
    mail_client: httpx.AsyncClient, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    await sign_up(mail_client)
    await mail_client.post("/api/auth/forgot-password", json={"email": EMAIL}, headers=CLIENT)
    await smtp_server.wait_for(1)
    clock.advance(minutes=30, seconds=1)
    response = await mail_client.post(
        "/api/auth/reset-password",
        json={"token": token_in(smtp_server.messages[0]), "password": NEW_PASSWORD},
        headers=CLIENT,
    )
    assert response.status_code == 400


async def test_reset_token_of_another_purpose_is_refused(
    mail_client: httpx.AsyncClient, smtp_server: SMTPServer
) -> None:
    await sign_up(mail_client)
    await mail_client.post("/api/auth/verify-email/send", headers=CLIENT)
    await smtp_server.wait_for(1)
    verify_token = token_in(smtp_server.messages[0])
    response = await mail_client.post(
        "/api/auth/reset-password", json={"token": verify_token, "password": NEW_PASSWORD}, headers=CLIENT
    )
    assert response.status_code == 400 and response.json()["kind"] == "Verification"


async def test_change_password_needs_current_and_revokes_other_sessions(
    mail_client: httpx.AsyncClient, mail_auth: Auth
) -> None:
    await sign_up(mail_client)
    await mail_client.post(
        "/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD, "transport": "bearer"}, headers=CLIENT
    )
    wrong = await mail_client.post(
        "/api/auth/change-password", json={"current_password": "wrong one!", "new_password": NEW_PASSWORD},
        headers=CLIENT,
    )  # fmt: skip
    assert wrong.status_code == 401 and await session_count(mail_auth.store, EMAIL) == 2
    ok = await mail_client.post(
        "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=CLIENT,
    )  # fmt: skip
    assert ok.status_code == 200
    assert await session_count(mail_auth.store, EMAIL) == 1
    assert (await mail_client.get("/api/auth/session")).status_code == 200  # this one stays


async def test_change_email_takes_effect_only_after_verification(
    mail_client: httpx.AsyncClient, mail_auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(mail_client)
    requested = await mail_client.post(
        "/api/auth/change-email", json={"email": "ann@new.example", "password": PASSWORD}, headers=CLIENT
    )
    assert requested.json() == {"verification_sent": True}
    assert (await mail_client.get("/api/auth/session")).json()["user"]["email"] == EMAIL
    await smtp_server.wait_for(1)
    assert smtp_server.messages[0]["To"] == "ann@new.example"
    confirmed = await mail_client.post(
        "/api/auth/change-email/verify", json={"token": token_in(smtp_server.messages[0])}, headers=CLIENT
    )
    assert confirmed.json()["user"]["email"] == "ann@new.example"
    assert await mail_auth.store.get_credentials(EMAIL) is None
    taken = await sign_up(mail_client, "bob@example.com")
    assert taken
    refused = await mail_client.post(
        "/api/auth/change-email", json={"email": "ANN@new.example", "password": PASSWORD}, headers=CLIENT
    )
    assert refused.status_code == 409


async def test_delete_account_needs_password_and_removes_everything(
    mail_client: httpx.AsyncClient, mail_auth: Auth
) -> None:
    body = await sign_up(mail_client)
    user_id = str(body["user"]["id"])  # type: ignore[index]
    refused = await mail_client.post("/api/auth/delete-account", json={"password": "not it at all"}, headers=CLIENT)
    assert refused.status_code == 401 and await mail_auth.store.get_user(user_id) is not None
    no_header = await mail_client.post("/api/auth/delete-account", json={"password": PASSWORD})
    assert no_header.status_code == 403 and await mail_auth.store.get_user(user_id) is not None
    deleted = await mail_client.post("/api/auth/delete-account", json={"password": PASSWORD}, headers=CLIENT)
    assert deleted.json() == {"deleted": True}
    assert await mail_auth.store.get_user(user_id) is None
    assert await mail_auth.store.list_user_sessions(user_id) == []
    assert (await mail_client.get("/api/auth/session")).status_code == 401


async def enable_email_mfa(client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer) -> None:
    await sign_up(client)
    await client.post("/api/auth/verify-email/send", headers=CLIENT)
    await smtp_server.wait_for(1)
    await client.post("/api/auth/verify-email", json={"token": token_in(smtp_server.messages[0])}, headers=CLIENT)
    assert (await client.post("/api/auth/mfa/email/enable", headers=CLIENT)).json() == {"enabled": True}
    await smtp_server.wait_for(2)  # a credential event: the verified address is told
    assert smtp_server.messages[1]["Subject"] == "A second sign-in factor was turned on"
    client.cookies.clear()


def code_in(message: EmailMessage) -> str:
    found = re.search(r"\b(\d{6})\b", body_text(message))
    assert found
    assert found.group(1) not in str(message["Subject"])
    return found.group(1)


async def test_email_otp_sign_in(mail_client: httpx.AsyncClient, mail_auth: Auth, smtp_server: SMTPServer) -> None:
    await enable_email_mfa(mail_client, mail_auth, smtp_server)
    first = await mail_client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    challenge = first.json()
    assert challenge["mfa_required"] is True and challenge["methods"] == ["email"]
    await smtp_server.wait_for(3)
    code = code_in(smtp_server.messages[2])
    verified = await mail_client.post(
        "/api/auth/mfa/verify", json={"challenge": challenge["challenge"], "code": code}, headers=CLIENT
    )
    assert verified.status_code == 200 and verified.json()["user"]["email"] == EMAIL
    again = await mail_client.post(
        "/api/auth/mfa/verify", json={"challenge": challenge["challenge"], "code": code}, headers=CLIENT
    )
    assert again.status_code == 400  # single use


async def test_email_otp_is_bound_to_its_challenge(
    mail_client: httpx.AsyncClient, mail_auth: Auth, smtp_server: SMTPServer
) -> None:
    await enable_email_mfa(mail_client, mail_auth, smtp_server)
    first = (
        await mail_client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    ).json()
    second = (
        await mail_client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    ).json()
    await smtp_server.wait_for(4)
    first_code = code_in(smtp_server.messages[2])
    second_code = code_in(smtp_server.messages[3])
    if first_code != second_code:
        crossed = await mail_client.post(
            "/api/auth/mfa/verify", json={"challenge": second["challenge"], "code": first_code}, headers=CLIENT
        )
        assert crossed.status_code == 400
    ok = await mail_client.post(
        "/api/auth/mfa/verify", json={"challenge": first["challenge"], "code": first_code}, headers=CLIENT
    )
    assert ok.status_code == 200


async def test_mfa_required_policy_sends_codes_to_users_without_a_factor(
    store: object, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    sender = SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.com")
    auth = Auth(
        store=store, secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN, mfa=MFAOptions(required=True)
    )  # type: ignore[arg-type]
    async with client_for(auth) as client:
        await sign_up(client)
        client.cookies.clear()
        answer = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert answer.json()["methods"] == ["email"]
        await smtp_server.wait_for(1)
        assert code_in(smtp_server.messages[0])
    await auth.close()


async def test_quiet_sign_up_answers_the_same_and_mails_the_owner(
    store: object, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    sender = SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.com")
    quiet = AccountOptions(sign_up_conflict="email")
    auth = Auth(store=store, secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN, accounts=quiet)  # type: ignore[arg-type]
    async with client_for(auth) as client:
        first = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        second = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert first.status_code == second.status_code == 200
        assert first.content == second.content == b'{"success":true,"verification_required":true}'
        assert first.headers.get_list("set-cookie") == second.headers.get_list("set-cookie") == []
        await smtp_server.wait_for(2)
        subjects = sorted(str(m["Subject"]) for m in smtp_server.messages)
        assert len(subjects) == 2 and subjects[0] != subjects[1]
    await auth.close()


async def test_sign_in_limits_per_ip_and_account(store: object, clock: FakeClock) -> None:
    limits = RateLimitOptions(sign_in_per_ip="100/minute", sign_in_per_account="3/minute")
    auth = Auth(store=store, secret=SECRET, clock=clock, rate_limits=limits)  # type: ignore[arg-type]
    async with client_for(auth) as client:
        await sign_up(client)
        client.cookies.clear()
        wrong = {"email": EMAIL, "password": "wrong password"}
        statuses = [(await client.post("/api/auth/sign-in", json=wrong, headers=CLIENT)).status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        right = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
        other = await client.post(
            "/api/auth/sign-in", json={"email": "other@example.com", "password": "whatever pw"}, headers=CLIENT
        )
        assert other.status_code == 401  # another account is not locked
    await auth.close()


async def test_engine_calls_get_the_same_limits(store: object, clock: FakeClock) -> None:
    from authgate import RateLimited

    auth = Auth(store=store, secret=SECRET, clock=clock, rate_limits=RateLimitOptions(sign_in_per_account="2/minute"))  # type: ignore[arg-type]
    await auth.sign_up(EMAIL, PASSWORD)
    for _ in range(2):
        with pytest.raises(Exception, match="Invalid email or password"):
            await auth.sign_in(EMAIL, "wrong password")
    with pytest.raises(RateLimited):
        await auth.sign_in(EMAIL, PASSWORD)
    await auth.close()


async def test_forgot_password_is_limited_per_email(store: object, clock: FakeClock, smtp_server: SMTPServer) -> None:
    sender = SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.com")
    auth = Auth(store=store, secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN)  # type: ignore[arg-type]
    async with client_for(auth) as client:
        answers = [
            (
                await client.post("/api/auth/forgot-password", json={"email": "x@example.com"}, headers=CLIENT)
            ).status_code
            for _ in range(4)
        ]
    assert answers == [200, 200, 200, 429]
    await auth.close()


async def test_reset_link_ignores_a_forged_host_header(mail_client: httpx.AsyncClient, smtp_server: SMTPServer) -> None:
    await sign_up(mail_client)
    await mail_client.post(
        "/api/auth/forgot-password", json={"email": EMAIL}, headers={**CLIENT, "Host": "evil.example"}
    )
    await smtp_server.wait_for(1)
    link = re.search(r"https?://\S+", body_text(smtp_server.messages[0]))
    assert link is not None and link.group(0).startswith(f"{ORIGIN}/reset-password?token=")
    assert "evil" not in body_text(smtp_server.messages[0])


def test_email_sender_without_a_configured_address_is_refused_at_start_up(smtp_server: SMTPServer) -> None:
    from authgate import Configuration
    from authgate.stores import MemoryStore

    sender = SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.com")
    with pytest.raises(Configuration, match="base_url"):
        Auth(store=MemoryStore(), secret=SECRET, email_sender=sender)


async def test_opening_the_email_change_link_changes_nothing_until_the_page_is_confirmed(
    mail_client: httpx.AsyncClient, mail_auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(mail_client)
    asked = await mail_client.post("/api/auth/change-email", json={"email": "ann@new.example", "password": PASSWORD},
                                   headers=CLIENT)  # fmt: skip
    assert asked.status_code == 200
    await smtp_server.wait_for(1)
    token = token_in(smtp_server.messages[0])
    link = f"/api/auth/change-email/verify?token={token}"
    async with client_for(mail_auth) as scanner:  # a mail scanner opens every link, twice
        for _ in range(2):
            page = await scanner.get(link)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "ann@new.example" in page.text and 'id="confirm"' in page.text
        assert await mail_auth.store.get_credentials("ann@new.example") is None  # nothing changed
        # A form without the CSRF token from the page is refused; nothing changes either.
        forged = await scanner.post("/api/auth/change-email/verify", data={"token": token})
        assert forged.status_code == 403 and await mail_auth.store.get_credentials("ann@new.example") is None
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
        confirmed = await scanner.post("/api/auth/change-email/verify", data=fields, headers={"Origin": ORIGIN})
    assert confirmed.status_code == 302 and confirmed.headers["location"].endswith("/?email_changed=1")
    assert await mail_auth.store.get_credentials("ann@new.example") is not None
    dead = await mail_client.get(link)
    assert dead.status_code == 302 and dead.headers["location"].endswith("/?error=Verification")
