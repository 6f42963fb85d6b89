"""Quiet means quiet (DESIGN section 9): with `sign_up_conflict="email"` no route tells by status,
body or timing whether an address has an account, during a mail outage too; and an unverified
address can always be reclaimed by its mailbox owner.

The timing tests are classifiers, not eyeballs: the best latency threshold learnt on half of the
probes (registered vs new, in random order) must classify the other half no better than chance
plus noise (<= 60% over 300-400 held-out probes; the standard error of a coin at 400 is 2.5%)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import argon2
import httpx
import pytest

from authgate import AccountOptions, Auth, RateLimitOptions, User
from authgate.mail import SMTPSender
from authgate.stores.base import Store

from . import smtp_fixture
from .smtp_fixture import SMTPServer, free_port
from .support import CLIENT, ORIGIN, SECRET, FakeClock, client_for

smtp_server = smtp_fixture.smtp_server

PASSWORD = "correct horse battery"
QUIET = AccountOptions(sign_up_conflict="email")
NO_LIMITS = RateLimitOptions(enabled=False)  # limits apply to both kinds of address alike


def quiet_auth(store: Store, clock: FakeClock, sender: SMTPSender, **options: object) -> Auth:
    return Auth(store=store, secret=SECRET, clock=clock, email_sender=sender, base_url=ORIGIN,  # type: ignore[arg-type]
                accounts=options.pop("accounts", QUIET), rate_limits=NO_LIMITS, **options)  # fmt: skip


def link_token(message: object) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    link = next(word for word in text.split() if "token=" in word)
    return parse_qs(urlsplit(link).query)["token"][0]


async def registered(store: Store, clock: FakeClock, count: int) -> list[str]:
    """Accounts written straight to the store (one shared hash), so setting up costs no hashing."""
    from authgate._passwords import PasswordHasher

    hasher = PasswordHasher("argon2id")
    password_hash = await hasher.hash(PASSWORD)
    hasher.close()
    emails = []
    for _ in range(count):
        email = f"user-{uuid.uuid4().hex[:12]}@example.com"
        user = User(str(uuid.uuid4()), email, "", True, None, clock(), clock())
        await store.create_user(user, email_key=email, password_hash=password_hash)
        emails.append(email)
    return emails


def held_out_accuracy(samples: list[tuple[float, bool]]) -> float:
    """Learn the best threshold (and direction) on the first half; score it on the second."""
    train, test = samples[: len(samples) // 2], samples[len(samples) // 2 :]
    best = (0.0, 0.0, True)
    for threshold, _ in train:
        for above_means_registered in (True, False):
            hits = sum((t > threshold) == (above_means_registered == r) for t, r in train)
            if hits > best[0]:
                best = (hits, threshold, above_means_registered)
    _, threshold, direction = best
    return sum((t > threshold) == (direction == r) for t, r in test) / len(test)


async def classify(
    auth: Auth, probes: int, emails: list[str], send: Callable[[str, bool], Awaitable[httpx.Response]]
) -> tuple[float, set[tuple[int, str]]]:
    """Time `probes` requests for registered and new addresses in random order; return the held-out
    accuracy and every distinct (status, body) seen."""
    rng = random.Random(20261201)
    kinds = [i % 2 == 0 for i in range(probes)]
    rng.shuffle(kinds)
    samples: list[tuple[float, bool]] = []
    answers: set[tuple[int, str]] = set()
    for is_registered in kinds:
        email = emails.pop() if is_registered else f"new-{uuid.uuid4().hex[:12]}@example.com"
        started = time.perf_counter()
        response = await send(email, is_registered)
        samples.append((time.perf_counter() - started, is_registered))
        answers.add((response.status_code, response.text))
        await auth.idle()  # a single request, measured alone
    accuracy = held_out_accuracy(samples)
    print(f"held-out accuracy over {len(samples) - len(samples) // 2} probes: {accuracy:.1%}")
    return accuracy, answers


@pytest.fixture
async def sender(smtp_server: SMTPServer) -> SMTPSender:
    return SMTPSender(smtp_server.host, smtp_server.port, sender="auth@example.com")


@pytest.fixture
async def outage_sender() -> SMTPSender:
    """An SMTP server that is not there: every send fails."""
    return SMTPSender("127.0.0.1", free_port(), sender="auth@example.com", timeout=1)


@pytest.fixture
async def quiet(store: Store, clock: FakeClock, sender: SMTPSender) -> AsyncIterator[Auth]:
    made = quiet_auth(store, clock, sender)
    yield made
    await made.idle()
    made.hasher.close()


async def test_forgot_password_timing_does_not_tell_registered_addresses(
    quiet: Auth, store: Store, clock: FakeClock
) -> None:
    emails = await registered(store, clock, 400)
    async with client_for(quiet) as client:

        async def send(email: str, _: bool) -> httpx.Response:
            return await client.post("/api/auth/forgot-password", json={"email": email}, headers=CLIENT)

        accuracy, answers = await classify(quiet, 800, emails, send)
    assert answers == {(200, '{"success":true}')}
    assert accuracy <= 0.60, f"a single request tells registered from new {accuracy:.0%} of the time"


async def test_quiet_sign_up_timing_does_not_tell_registered_addresses(
    quiet: Auth, store: Store, clock: FakeClock
) -> None:
    # The hash costs the same for both kinds of address; a cheap one keeps 600 probes fast.
    quiet.hasher._argon2 = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    emails = await registered(store, clock, 300)
    async with client_for(quiet) as client:

        async def send(email: str, _: bool) -> httpx.Response:
            return await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD}, headers=CLIENT)

        accuracy, answers = await classify(quiet, 600, emails, send)
    assert answers == {(200, '{"success":true,"verification_required":true}')}
    assert accuracy <= 0.60, f"a single request tells registered from new {accuracy:.0%} of the time"


async def test_quiet_change_email_timing_does_not_tell_registered_addresses(
    quiet: Auth, store: Store, clock: FakeClock
) -> None:
    emails = await registered(store, clock, 400)
    owner = (await registered(store, clock, 1))[0]
    async with client_for(quiet) as client:
        signed_in = await client.post("/api/auth/sign-in", json={"email": owner, "password": PASSWORD}, headers=CLIENT)
        assert signed_in.status_code == 200

        async def send(email: str, _: bool) -> httpx.Response:
            return await client.post("/api/auth/change-email", json={"email": email}, headers=CLIENT)

        accuracy, answers = await classify(quiet, 800, emails, send)
    assert answers == {(200, '{"verification_sent":true}')}
    assert accuracy <= 0.60, f"a single request tells registered from new {accuracy:.0%} of the time"


async def test_a_mail_outage_changes_no_quiet_answer(store: Store, clock: FakeClock, outage_sender: SMTPSender) -> None:
    auth = quiet_auth(store, clock, outage_sender)
    (taken,) = await registered(store, clock, 1)
    async with client_for(auth) as client:
        answers = set()
        for email in (taken, "brand-new@example.com"):
            signed_up = await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD},
                                          headers=CLIENT)  # fmt: skip
            forgot = await client.post("/api/auth/forgot-password", json={"email": email}, headers=CLIENT)
            resend = await client.post("/api/auth/verify-email/send", json={"email": email}, headers=CLIENT)
            answers.add((signed_up.status_code, signed_up.text, forgot.status_code, forgot.text, resend.text))
        assert len(answers) == 1 and next(iter(answers))[0] == 200
        await auth.idle()
    auth.hasher.close()


async def test_quiet_change_email_to_a_taken_address_sends_no_link(
    quiet: Auth, store: Store, clock: FakeClock, smtp_server: SMTPServer
) -> None:
    owner, taken = await registered(store, clock, 2)
    async with client_for(quiet) as client:
        await client.post("/api/auth/sign-in", json={"email": owner, "password": PASSWORD}, headers=CLIENT)
        answer = await client.post("/api/auth/change-email", json={"email": taken}, headers=CLIENT)
        assert answer.status_code == 200 and answer.json() == {"verification_sent": True}
        await quiet.idle()
    assert smtp_server.messages == []


# -- an unverified address can always be reclaimed ------------------------------------------------


async def test_a_squatted_address_is_reclaimed_by_its_mailbox_owner(
    quiet: Auth, store: Store, smtp_server: SMTPServer
) -> None:
    victim = "victim@example.com"
    async with client_for(quiet) as squatter, client_for(quiet) as owner:
        body = {"email": victim, "password": "the squatters password"}
        assert (await squatter.post("/api/auth/sign-up", json=body, headers=CLIENT)).status_code == 200
        await quiet.idle()
        await smtp_server.wait_for(1)  # the verification link goes to the victim's mailbox, unused
        # The victim signs up too: the same answer, and a mail that lets them claim the address.
        mine = {"email": victim, "password": PASSWORD}
        assert (await owner.post("/api/auth/sign-up", json=mine, headers=CLIENT)).status_code == 200
        await quiet.idle()
        claim = (await smtp_server.wait_for(2))[1]
        assert claim["Subject"] == "Finish setting up your account"
        reset = await owner.post("/api/auth/reset-password", json={"token": link_token(claim), "password": PASSWORD},
                                 headers=CLIENT)  # fmt: skip
        assert reset.status_code == 200
        signed_in = await owner.post("/api/auth/sign-in", json=mine, headers=CLIENT)
        assert signed_in.status_code == 200 and signed_in.json()["user"]["email_verified"] is True
        refused = await squatter.post("/api/auth/sign-in", json=body, headers=CLIENT)
        assert refused.status_code == 401


async def test_an_expired_verification_link_can_be_replaced(
    store: Store, clock: FakeClock, sender: SMTPSender, smtp_server: SMTPServer
) -> None:
    auth = quiet_auth(store, clock, sender, accounts=AccountOptions(require_verified_email=True))
    email = "late@example.com"
    async with client_for(auth) as client:
        await client.post("/api/auth/sign-up", json={"email": email, "password": PASSWORD}, headers=CLIENT)
        assert (await client.post("/api/auth/verify-email/send", headers=CLIENT)).status_code == 200
        await smtp_server.wait_for(1)
        clock.advance(hours=25)  # the first link expired before its owner came back
        expired = await client.post("/api/auth/verify-email", json={"token": link_token(smtp_server.messages[0])},
                                    headers=CLIENT)  # fmt: skip
        assert expired.status_code == 400
        client.cookies.clear()
        refused = await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD}, headers=CLIENT)
        assert refused.status_code == 403 and refused.json()["kind"] == "AccessDenied"
        await auth.idle()
        fresh = (await smtp_server.wait_for(2))[1]  # the refused sign-in mailed a new link
        verified = await client.post("/api/auth/verify-email", json={"token": link_token(fresh)}, headers=CLIENT)
        assert verified.status_code == 200
        ok = await client.post("/api/auth/sign-in", json={"email": email, "password": PASSWORD}, headers=CLIENT)
        assert ok.status_code == 200
    auth.hasher.close()


async def test_verification_can_be_resent_without_a_session(
    store: Store, clock: FakeClock, sender: SMTPSender, smtp_server: SMTPServer
) -> None:
    auth = quiet_auth(store, clock, sender, accounts=AccountOptions(require_verified_email=True))
    async with client_for(auth) as client:
        await client.post("/api/auth/sign-up", json={"email": "x@example.com", "password": PASSWORD}, headers=CLIENT)
        client.cookies.clear()
        for email in ("x@example.com", "nobody@example.com"):
            answer = await client.post("/api/auth/verify-email/send", json={"email": email}, headers=CLIENT)
            assert answer.status_code == 200 and answer.json() == {"sent": True}
        await auth.idle()
        (message,) = await smtp_server.wait_for(1)
        assert message["To"] == "x@example.com" and message["Subject"] == "Verify your email address"
    auth.hasher.close()
