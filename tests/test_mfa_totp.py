"""TOTP enrolment and the two-step sign-in, with real pyotp codes at injected times."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pyotp
import pytest

from authgate import Auth

from .support import CLIENT, FakeClock, session_count

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"


async def enrol(client: httpx.AsyncClient, clock: FakeClock) -> tuple[str, list[str]]:
    signed_up = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert signed_up.status_code == 200
    enrollment = (await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)).json()
    secret = enrollment["secret"]
    assert enrollment["otpauth_uri"].startswith("otpauth://totp/") and "secret=" in enrollment["otpauth_uri"]
    assert enrollment["qr_svg"].startswith("data:image/svg+xml")
    code = pyotp.TOTP(secret).at(clock())
    confirmed = await client.post("/api/auth/mfa/totp/confirm", json={"code": code}, headers=CLIENT)
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


async def password_step(client: httpx.AsyncClient) -> dict[str, object]:
    client.cookies.clear()
    response = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == []  # no session before the second factor
    body = response.json()
    assert body["mfa_required"] is True and body["expires_in"] == 600
    return body


async def test_totp_sign_in_takes_two_steps(client: httpx.AsyncClient, auth: Auth, clock: FakeClock) -> None:
    secret, _ = await enrol(client, clock)
    before = await session_count(auth.store, EMAIL)
    challenge = await password_step(client)
    assert challenge["methods"] == ["totp", "recovery_code"]
    assert await session_count(auth.store, EMAIL) == before
    clock.advance(seconds=60)
    code = pyotp.TOTP(secret).at(clock())
    verified = await client.post(
        "/api/auth/mfa/verify", json={"challenge": challenge["challenge"], "code": code}, headers=CLIENT
    )
    assert verified.status_code == 200, verified.text
    assert "authgate_session=" in verified.headers["set-cookie"]
    assert (await client.get("/api/auth/session")).status_code == 200


async def test_same_totp_code_is_refused_twice_in_its_window(client: httpx.AsyncClient, clock: FakeClock) -> None:
    secret, _ = await enrol(client, clock)
    clock.advance(seconds=90)
    code = pyotp.TOTP(secret).at(clock())
    first = await password_step(client)
    ok = await client.post("/api/auth/mfa/verify", json={"challenge": first["challenge"], "code": code}, headers=CLIENT)
    assert ok.status_code == 200
    second = await password_step(client)
    replay = await client.post(
        "/api/auth/mfa/verify", json={"challenge": second["challenge"], "code": code}, headers=CLIENT
    )
    assert replay.status_code == 400 and replay.json()["kind"] == "Verification"


@pytest.mark.parametrize(("offset", "accepted"), [(-30, True), (30, True), (-60, False), (60, False)])
async def test_totp_allows_one_step_of_drift(
    client: httpx.AsyncClient, clock: FakeClock, offset: int, accepted: bool
) -> None:
    secret, _ = await enrol(client, clock)
    clock.advance(seconds=300)
    code = pyotp.TOTP(secret).at(clock() + timedelta(seconds=offset))
    challenge = await password_step(client)
    response = await client.post(
        "/api/auth/mfa/verify", json={"challenge": challenge["challenge"], "code": code}, headers=CLIENT
    )
    assert (response.status_code == 200) is accepted


async def test_wrong_codes_kill_the_challenge_after_five(
    client: httpx.AsyncClient, auth: Auth, clock: FakeClock
) -> None:
    secret, _ = await enrol(client, clock)
    clock.advance(seconds=120)
    challenge = (await password_step(client))["challenge"]
    right = pyotp.TOTP(secret).at(clock())
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(5):
        response = await client.post(
            "/api/auth/mfa/verify", json={"challenge": challenge, "code": wrong}, headers=CLIENT
        )
        assert response.json()["kind"] == "Verification"
    dead = await client.post("/api/auth/mfa/verify", json={"challenge": challenge, "code": right}, headers=CLIENT)
    assert dead.status_code == 400
    assert await session_count(auth.store, EMAIL) == 1  # only the sign-up session


@pytest.mark.parametrize("code", ["１２３４５６", "12345", "1234567", " ", "12345a", "0x1234"])
async def test_malformed_codes_are_wrong_not_errors(client: httpx.AsyncClient, clock: FakeClock, code: str) -> None:
    await enrol(client, clock)
    challenge = (await password_step(client))["challenge"]
    response = await client.post("/api/auth/mfa/verify", json={"challenge": challenge, "code": code}, headers=CLIENT)
    assert response.status_code == 400 and response.json()["kind"] in ("Verification", "InvalidRequest")


async def test_code_with_leading_zero_is_compared_as_a_string(client: httpx.AsyncClient, clock: FakeClock) -> None:
    secret, _ = await enrol(client, clock)
    totp = pyotp.TOTP(secret)
    for _ in range(2000):  # find a moment whose code starts with 0 (about one in ten)
        clock.advance(seconds=30)
        if totp.at(clock()).startswith("0"):
            break
    code = totp.at(clock())
    assert code.startswith("0")
    challenge = (await password_step(client))["challenge"]
    stripped = await client.post(
        "/api/auth/mfa/verify", json={"challenge": challenge, "code": str(int(code))}, headers=CLIENT
    )
    assert stripped.status_code == 400
    ok = await client.post("/api/auth/mfa/verify", json={"challenge": challenge, "code": code}, headers=CLIENT)
    assert ok.status_code == 200


async def test_challenge_expires_after_ten_minutes(client: httpx.AsyncClient, clock: FakeClock) -> None:
    secret, _ = await enrol(client, clock)
    challenge = (await password_step(client))["challenge"]
    clock.advance(minutes=10, seconds=1)
    code = pyotp.TOTP(secret).at(clock())
    response = await client.post("/api/auth/mfa/verify", json={"challenge": challenge, "code": code}, headers=CLIENT)
    assert response.status_code == 400 and response.json()["kind"] == "Verification"


async def test_recovery_code_works_once(client: httpx.AsyncClient, clock: FakeClock) -> None:
    _, codes = await enrol(client, clock)
    challenge = (await password_step(client))["challenge"]
    ok = await client.post(
        "/api/auth/mfa/verify", json={"challenge": challenge, "code": codes[0].upper()}, headers=CLIENT
    )
    assert ok.status_code == 200
    assert (await client.get("/api/auth/mfa", headers=CLIENT)).json()["recovery_codes_left"] == 9
    again = (await password_step(client))["challenge"]
    reused = await client.post("/api/auth/mfa/verify", json={"challenge": again, "code": codes[0]}, headers=CLIENT)
    assert reused.status_code == 400


async def test_trusted_device_skips_second_step_for_that_user_only(client: httpx.AsyncClient, clock: FakeClock) -> None:
    secret, _ = await enrol(client, clock)
    clock.advance(seconds=60)
    challenge = (await password_step(client))["challenge"]
    code = pyotp.TOTP(secret).at(clock())
    trusted = await client.post(
        "/api/auth/mfa/verify", json={"challenge": challenge, "code": code, "trust_device": True}, headers=CLIENT
    )
    cookie = next(c for c in trusted.headers.get_list("set-cookie") if c.startswith("authgate_trusted_device="))
    assert "Max-Age=7776000" in cookie and "HttpOnly" in cookie and "Path=/api/auth" in cookie
    device = cookie.split(";")[0].split("=", 1)[1]
    client.cookies.clear()
    direct = await client.post(
        "/api/auth/sign-in",
        json={"email": EMAIL, "password": PASSWORD},
        headers={**CLIENT, "Cookie": f"authgate_trusted_device={device}"},
    )
    assert direct.status_code == 200 and "user" in direct.json()
    # The cookie is bound to Ann: Bob's account still asks for his second factor.
    bob = {"email": "bob@example.com", "password": PASSWORD}
    await client.post("/api/auth/sign-up", json=bob, headers=CLIENT)
    await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)
    client.cookies.clear()
    tampered = device[:-2] + ("aa" if not device.endswith("aa") else "bb")
    for presented in (device, tampered):
        response = await client.post(
            "/api/auth/sign-in", json=bob, headers={**CLIENT, "Cookie": f"authgate_trusted_device={presented}"}
        )
        assert response.status_code == 200  # Bob's TOTP is unconfirmed, so he signs in directly...
    clock.advance(days=91)
    client.cookies.clear()
    expired = await client.post(
        "/api/auth/sign-in",
        json={"email": EMAIL, "password": PASSWORD},
        headers={**CLIENT, "Cookie": f"authgate_trusted_device={device}"},
    )
    assert expired.json().get("mfa_required") is True


async def test_totp_secret_is_encrypted_at_rest(client: httpx.AsyncClient, auth: Auth, clock: FakeClock) -> None:
    secret, _ = await enrol(client, clock)
    found = await auth.store.get_credentials(EMAIL)
    assert found is not None
    factors = await auth.store.list_mfa_factors(found[0].id)
    assert factors[0].secret is not None and secret not in factors[0].secret
    assert factors[0].secret.startswith("v1.")


async def test_disabling_totp_needs_a_current_code(client: httpx.AsyncClient, clock: FakeClock) -> None:
    secret, _ = await enrol(client, clock)
    refused = await client.post("/api/auth/mfa/totp/disable", json={"code": "000000"}, headers=CLIENT)
    assert refused.status_code == 400
    clock.advance(seconds=60)
    ok = await client.post("/api/auth/mfa/totp/disable", json={"code": pyotp.TOTP(secret).at(clock())}, headers=CLIENT)
    assert ok.json() == {"disabled": True}
    client.cookies.clear()
    signed_in = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert "user" in signed_in.json()


async def test_attacker_lockout_does_not_lock_out_a_trusted_device(client: httpx.AsyncClient, clock: FakeClock) -> None:
    secret, _ = await enrol(client, clock)
    clock.advance(seconds=60)
    challenge = (await password_step(client))["challenge"]
    trusted = await client.post(
        "/api/auth/mfa/verify",
        json={"challenge": challenge, "code": pyotp.TOTP(secret).at(clock()), "trust_device": True},
        headers=CLIENT,
    )
    device = next(c for c in trusted.headers.get_list("set-cookie") if c.startswith("authgate_trusted_device="))
    device_cookie = device.split(";")[0]
    client.cookies.clear()
    wrong = {"email": EMAIL, "password": "attacker guess"}
    statuses = [(await client.post("/api/auth/sign-in", json=wrong, headers=CLIENT)).status_code for _ in range(11)]
    assert statuses[-1] == 429  # the attacker is locked out of the account...
    attacker_right = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert attacker_right.status_code == 429  # ...even with the right password, from an unknown device
    owner = await client.post(
        "/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers={**CLIENT, "Cookie": device_cookie}
    )
    assert owner.status_code == 200 and "user" in owner.json()  # the owner's trusted device still works
