"""Sign-in links by email (the Auth.js email provider), delivered to a real SMTP server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp
import pytest

from authgate import Auth, MagicLinkOptions
from authgate._ratelimit import RateLimitOptions
from authgate._tokens import hash_token
from authgate.mail import SMTPSender
from authgate.stores.base import Store

from . import smtp_fixture
from .smtp_fixture import SMTPServer, free_port
from .support import CLIENT, ORIGIN, SECRET, FakeClock, client_for, session_count, user_count

smtp_server = smtp_fixture.smtp_server
EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN}
NO_LIMITS = RateLimitOptions(enabled=False)


def make_auth(store: Store, clock: FakeClock, port: int, **options: object) -> Auth:
    sender = SMTPSender("127.0.0.1", port, sender="authgate <auth@example.com>")
    magic = MagicLinkOptions(**options)  # type: ignore[arg-type]
    return Auth(store=store, secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN,
                magic_links=magic, rate_limits=NO_LIMITS)  # fmt: skip


@pytest.fixture
async def auth(store: Store, clock: FakeClock, smtp_server: SMTPServer) -> AsyncIterator[Auth]:
    made = make_auth(store, clock, smtp_server.port)
    yield made
    await made.magic_links.drain()
    await made.close()


@pytest.fixture
async def client(auth: Auth) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(auth) as made:
        yield made


def link_in(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    found = re.search(r"https?://\S+", str(part.get_content()))
    assert found
    return found.group(0)


def sign_in_links(smtp: SMTPServer) -> list[str]:
    return [link_in(m) for m in smtp.messages if m["Subject"] == "Your sign-in link"]


async def sign_up(client: httpx.AsyncClient, email: str = EMAIL) -> None:
    response = await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD}, headers=CLIENT)
    assert response.status_code == 200
    assert (await client.post("/api/auth/sign-out", headers=CLIENT)).status_code == 200
    client.cookies.clear()


async def ask(client: httpx.AsyncClient, auth: Auth, email: str = EMAIL, **extra: str) -> httpx.Response:
    response = await client.post("/api/auth/signin/email", json={"email": email, **extra}, headers=CLIENT)
    await auth.magic_links.drain()
    return response


async def emailed_link(client: httpx.AsyncClient, auth: Auth, smtp: SMTPServer, email: str = EMAIL) -> str:
    total = len(smtp.messages)
    assert (await ask(client, auth, email, callbackUrl=f"{ORIGIN}/welcome")).json() == {"success": True}
    await smtp.wait_for(total + 1)
    return sign_in_links(smtp)[-1]


async def confirm(client: httpx.AsyncClient, link: str, **override: str) -> httpx.Response:
    """What the confirmation page's button does: POST the form with the CSRF token."""
    page = await client.get(link)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    return await client.post("/api/auth/callback/email", content=urlencode({**fields, **override}), headers=FORM)


async def test_link_signs_in_after_the_confirmation_post_and_not_on_get(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(client)
    link = await emailed_link(client, auth, smtp_server)
    assert link.startswith(f"{ORIGIN}/api/auth/callback/email?")
    for _ in range(2):  # a mail scanner's GETs spend nothing and sign nobody in
        page = await client.get(link)
        assert page.status_code == 200 and "authgate_session" not in page.cookies
        assert (
            page.headers["referrer-policy"] == "same-origin"
            and "frame-ancestors 'none'" in page.headers["content-security-policy"]
        )
    assert await session_count(auth.store, EMAIL) == 0
    signed_in = await confirm(client, link)
    assert signed_in.status_code == 302 and signed_in.headers["location"] == f"{ORIGIN}/welcome"
    assert "authgate_session" in signed_in.cookies
    assert (await client.get("/api/auth/session")).json()["user"]["email"] == EMAIL
    found = await auth.store.get_credentials(EMAIL)
    assert found is not None and found[0].email_verified  # the link proved the mailbox


async def test_token_is_stored_hashed_bound_to_purpose_address_and_user(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer, clock: FakeClock
) -> None:
    await sign_up(client)
    raw = parse_qs(urlsplit(await emailed_link(client, auth, smtp_server)).query)["token"][0]
    stored = await auth.store.get_verification(hash_token(raw))
    found = await auth.store.get_credentials(EMAIL)
    assert stored is not None and found is not None
    assert stored.purpose == "magic_link" and stored.user_id == found[0].id
    assert stored.data is not None and stored.data["email"] == EMAIL
    assert stored.expires_at == clock() + timedelta(minutes=10)
    assert await auth.store.get_verification(raw) is None  # only the hash is a key


async def test_link_is_single_use(client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer) -> None:
    await sign_up(client)
    link = await emailed_link(client, auth, smtp_server)
    assert (await confirm(client, link)).status_code == 302
    client.cookies.clear()
    page = await client.get(link)
    assert page.status_code == 302 and page.headers["location"].endswith("/api/auth/error?error=Verification")
    query = parse_qs(urlsplit(link).query)
    again = await client.post(
        "/api/auth/callback/email", json={"token": query["token"][0], "email": EMAIL}, headers=CLIENT
    )
    assert again.status_code == 400 and again.json()["kind"] == "Verification"
    assert "authgate_session" not in again.cookies


async def test_expired_link_is_refused(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer, clock: FakeClock
) -> None:
    await sign_up(client)
    link = await emailed_link(client, auth, smtp_server)
    page = await client.get(link)
    clock.advance(minutes=10, seconds=1)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    late = await client.post("/api/auth/callback/email", content=urlencode(fields), headers=FORM)
    assert late.status_code == 302 and "error=Verification" in late.headers["location"]
    assert await session_count(auth.store, EMAIL) == 0


async def test_token_of_another_purpose_or_for_another_address_is_refused(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(client)
    await sign_up(client, "bob@example.com")
    found = await auth.store.get_credentials(EMAIL)
    assert found is not None
    other_purpose = await auth.accounts.tokens.issue(
        "verify_email", user_id=found[0].id, lifetime=timedelta(minutes=5), data={"email": EMAIL}
    )
    wrong = await client.post("/api/auth/callback/email", json={"token": other_purpose, "email": EMAIL}, headers=CLIENT)
    assert wrong.status_code == 400 and wrong.json()["kind"] == "Verification"
    link = await emailed_link(client, auth, smtp_server)
    raw = parse_qs(urlsplit(link).query)["token"][0]
    as_bob = await client.post(
        "/api/auth/callback/email", json={"token": raw, "email": "bob@example.com"}, headers=CLIENT
    )
    assert as_bob.status_code == 400 and as_bob.json()["kind"] == "Verification"
    assert await session_count(auth.store, "bob@example.com") == 0
    # Refused before spending: the owner's link still works.
    assert (await confirm(client, link)).status_code == 302
    assert await session_count(auth.store, EMAIL) == 1


async def test_missing_csrf_proof_is_403_and_writes_nothing(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(client)
    asked = await client.post("/api/auth/signin/email", content=urlencode({"email": EMAIL}), headers=FORM)
    assert asked.status_code == 403 and asked.json()["kind"] == "MissingCSRF"
    no_header = await client.post("/api/auth/signin/email", json={"email": EMAIL})
    assert no_header.status_code == 403
    await auth.magic_links.drain()
    assert sign_in_links(smtp_server) == []
    link = await emailed_link(client, auth, smtp_server)
    page = await client.get(link)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page.text))
    del fields["csrfToken"]
    refused = await client.post("/api/auth/callback/email", content=urlencode(fields), headers=FORM)
    assert refused.status_code == 403 and refused.json()["kind"] == "MissingCSRF"
    evil = await client.post(
        "/api/auth/callback/email", content=urlencode(fields), headers={**FORM, "Origin": "https://evil.example"}
    )
    assert evil.status_code == 403
    assert await session_count(auth.store, EMAIL) == 0
    assert (await confirm(client, link)).status_code == 302  # the link was not spent


async def test_same_answer_for_unknown_address_and_nothing_sent_or_created(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(client)
    known = await ask(client, auth, EMAIL)
    unknown = await ask(client, auth, "nobody@example.com")
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())
    await smtp_server.wait_for(1)
    assert len(sign_in_links(smtp_server)) == 1
    assert await user_count(auth.store, "nobody@example.com") == 0


async def test_answer_does_not_depend_on_mail_outage(store: Store, clock: FakeClock) -> None:
    auth = make_auth(store, clock, free_port())  # nobody listens there
    async with client_for(auth) as client:
        await sign_up(client)
        known = await ask(client, auth, EMAIL)
        unknown = await ask(client, auth, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200 and known.content == unknown.content
    await auth.close()


async def test_create_users_option_creates_a_verified_user(
    store: Store, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    auth = make_auth(store, clock, smtp_server.port, create_users=True)
    async with client_for(auth) as client:
        link = await emailed_link(client, auth, smtp_server, "new@example.com")
        assert await user_count(auth.store, "new@example.com") == 0  # not before the link is used
        assert (await confirm(client, link)).status_code == 302
        session = (await client.get("/api/auth/session")).json()
    assert session["user"]["email"] == "new@example.com" and session["user"]["email_verified"] is True
    await auth.close()


async def test_user_with_totp_gets_the_mfa_challenge(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer, clock: FakeClock
) -> None:
    await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    found = await auth.store.get_credentials(EMAIL)
    assert found is not None
    # A verified account (an unverified one is recovered by the link, its factors removed).
    await auth.store.update_user(replace(found[0], email_verified=True))
    secret = (await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)).json()["secret"]
    code = pyotp.TOTP(secret).at(clock())
    assert (await client.post("/api/auth/mfa/totp/confirm", json={"code": code}, headers=CLIENT)).status_code == 200
    client.cookies.clear()
    query = parse_qs(urlsplit(await emailed_link(client, auth, smtp_server)).query)
    answer = await client.post(
        "/api/auth/callback/email", json={"token": query["token"][0], "email": EMAIL}, headers=CLIENT
    )
    assert answer.status_code == 200 and answer.json()["mfa_required"] is True
    assert "authgate_session" not in answer.cookies
    clock.advance(seconds=30)
    verified = await client.post(
        "/api/auth/mfa/verify",
        json={"challenge": answer.json()["challenge"], "code": pyotp.TOTP(secret).at(clock())},
        headers=CLIENT,
    )
    assert verified.status_code == 200 and "authgate_session" in verified.cookies


async def test_authjs_form_request_answers_the_verify_request_url(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(client)
    token = (await client.get("/api/auth/csrf")).json()["csrfToken"]
    body = urlencode({"email": EMAIL, "csrfToken": token, "callbackUrl": f"{ORIGIN}/in", "json": "true"})
    answer = await client.post("/api/auth/signin/email", content=body, headers=FORM)
    await auth.magic_links.drain()
    assert answer.status_code == 200
    assert answer.json() == {"url": f"{ORIGIN}/api/auth/verify-request?provider=email&type=email"}
    await smtp_server.wait_for(1)
    link = sign_in_links(smtp_server)[0]
    signed_in = await confirm(client, link)
    assert signed_in.headers["location"] == f"{ORIGIN}/in"


async def test_rate_limited_per_ip_then_per_address(store: Store, clock: FakeClock, smtp_server: SMTPServer) -> None:
    sender = SMTPSender("127.0.0.1", smtp_server.port, sender="auth@example.com")
    limits = RateLimitOptions(magic_link_per_ip="4/hour", magic_link_per_email="2/hour")
    auth = Auth(store=store, secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN,
                magic_links=MagicLinkOptions(), rate_limits=limits)  # fmt: skip
    async with client_for(auth) as client:
        statuses = [(await ask(client, auth, "same@example.com")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]  # the address's limit
        assert (await ask(client, auth, "other@example.com")).status_code == 200
        assert (await ask(client, auth, "third@example.com")).status_code == 429  # the IP's limit
    await auth.close()


async def test_providers_list_email_and_configuration_is_checked(store: Store, clock: FakeClock) -> None:
    with pytest.raises(Exception, match="email_sender"):
        Auth(store=store, secret=SECRET, magic_links=MagicLinkOptions())
    async with client_for(make_auth(store, clock, free_port())) as client:
        listed = (await client.get("/api/auth/providers")).json()
    assert listed["email"] == {
        "id": "email", "name": "Email", "type": "email",
        "signinUrl": f"{ORIGIN}/api/auth/signin/email", "callbackUrl": f"{ORIGIN}/api/auth/callback/email",
    }  # fmt: skip


async def test_a_credential_event_ends_a_pending_link(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer
) -> None:
    await sign_up(client)
    link = await emailed_link(client, auth, smtp_server)
    signed_in = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert signed_in.status_code == 200
    changed = await client.post(
        "/api/auth/change-password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=CLIENT,
    )
    assert changed.status_code == 200, changed.text
    client.cookies.clear()
    page = await client.get(link)
    assert page.status_code == 302 and "error=Verification" in page.headers["location"]


async def test_a_sign_in_link_to_a_squatted_address_recovers_the_account(
    client: httpx.AsyncClient, auth: Auth, smtp_server: SMTPServer
) -> None:
    # Someone registered the owner's address with a password of their own and never verified it.
    async with client_for(auth) as squatter:
        body = {"email": EMAIL, "password": "the squatters password"}
        assert (await squatter.post("/api/auth/sign-up", json=body, headers=CLIENT)).status_code == 200
        link = await emailed_link(client, auth, smtp_server)
        signed_in = await confirm(client, link)
        assert signed_in.status_code == 302 and "authgate_session" in signed_in.cookies
        # The mailbox owner has the account; the squatter's session and password are gone.
        assert (await squatter.get("/api/auth/session")).status_code == 401
        refused = await squatter.post("/api/auth/sign-in", json=body, headers=CLIENT)
        assert refused.status_code == 401
    found = await auth.store.get_credentials(EMAIL)
    assert found is not None and found[0].email_verified and found[1] is None
    assert await session_count(auth.store, EMAIL) == 1
