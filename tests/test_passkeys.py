"""Passkeys on the server: registration and sign-in verified by py_webauthn, and every forgery
a reviewer would try (challenge replay and expiry, origin, RP ID, sign counter)."""

from __future__ import annotations

import asyncio

import httpx

from authgate import Auth

from .soft_authenticator import SoftAuthenticator
from .support import CLIENT, ORIGIN, FakeClock, session_count

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"


async def registered(client: httpx.AsyncClient) -> SoftAuthenticator:
    await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    options = (await client.post("/api/auth/passkey/register/options", headers=CLIENT)).json()
    assert options["rp"]["id"] == "testserver"
    assert options["authenticatorSelection"]["userVerification"] == "required"  # UV: a passkey is two factors
    device = SoftAuthenticator()
    verified = await client.post(
        "/api/auth/passkey/register/verify",
        json={"credential": device.create(options, origin=ORIGIN), "name": "Laptop"},
        headers=CLIENT,
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["passkey"]["name"] == "Laptop"
    client.cookies.clear()
    return device


async def passkey_sign_in(client: httpx.AsyncClient, device: SoftAuthenticator, **forge: object) -> httpx.Response:
    options = (await client.post("/api/auth/signin/passkey", headers=CLIENT)).json()
    credential = device.get(options, origin=str(forge.pop("origin", ORIGIN)), **forge)  # type: ignore[arg-type]
    return await client.post("/api/auth/callback/passkey", json={"credential": credential}, headers=CLIENT)


async def test_register_and_sign_in_with_a_passkey(client: httpx.AsyncClient, auth: Auth) -> None:
    device = await registered(client)
    response = await passkey_sign_in(client, device)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == EMAIL
    assert (await client.get("/api/auth/session")).status_code == 200
    listed = (await client.get("/api/auth/passkeys", headers=CLIENT)).json()["passkeys"]
    assert len(listed) == 1 and listed[0]["last_used_at"] is not None


async def test_sign_in_challenge_is_single_use(client: httpx.AsyncClient, auth: Auth) -> None:
    device = await registered(client)
    options = (await client.post("/api/auth/signin/passkey", headers=CLIENT)).json()
    credential = device.get(options, origin=ORIGIN)
    first = await client.post("/api/auth/callback/passkey", json={"credential": credential}, headers=CLIENT)
    assert first.status_code == 200
    replay = await client.post("/api/auth/callback/passkey", json={"credential": credential}, headers=CLIENT)
    assert replay.status_code == 400 and replay.json()["kind"] == "Verification"


async def test_sign_in_challenge_expires(client: httpx.AsyncClient, clock: FakeClock) -> None:
    device = await registered(client)
    options = (await client.post("/api/auth/signin/passkey", headers=CLIENT)).json()
    clock.advance(minutes=5, seconds=1)
    credential = device.get(options, origin=ORIGIN)
    late = await client.post("/api/auth/callback/passkey", json={"credential": credential}, headers=CLIENT)
    assert late.status_code == 400 and late.json()["kind"] == "Verification"


async def test_wrong_origin_or_rp_id_is_refused(client: httpx.AsyncClient, auth: Auth) -> None:
    device = await registered(client)
    phished = await passkey_sign_in(client, device, origin="https://evil.example")
    assert phished.status_code == 400 and phished.json()["kind"] == "Verification"
    other_rp = await passkey_sign_in(client, device, rp_id="evil.example")
    assert other_rp.status_code == 400
    assert (await client.get("/api/auth/session")).status_code == 401


async def test_sign_counter_regression_is_refused(client: httpx.AsyncClient) -> None:
    device = await registered(client)
    assert (await passkey_sign_in(client, device, sign_count=10)).status_code == 200
    client.cookies.clear()
    cloned = await passkey_sign_in(client, device, sign_count=7)
    assert cloned.status_code == 400 and cloned.json()["kind"] == "Verification"
    assert (await passkey_sign_in(client, device, sign_count=10)).status_code == 400
    assert (await passkey_sign_in(client, device, sign_count=11)).status_code == 200


async def test_registration_challenge_belongs_to_its_user(client: httpx.AsyncClient, auth: Auth) -> None:
    await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    ann_options = (await client.post("/api/auth/passkey/register/options", headers=CLIENT)).json()
    client.cookies.clear()
    await client.post("/api/auth/sign-up", json={"email": "bob@example.com", "password": PASSWORD}, headers=CLIENT)
    stolen = SoftAuthenticator().create(ann_options, origin=ORIGIN)
    response = await client.post("/api/auth/passkey/register/verify", json={"credential": stolen}, headers=CLIENT)
    assert response.status_code == 400
    found = await auth.store.get_credentials(EMAIL)
    assert found is not None and await auth.store.list_authenticators(found[0].id) == []


async def test_same_credential_cannot_register_twice(client: httpx.AsyncClient) -> None:
    device = await registered(client)
    await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    options = (await client.post("/api/auth/passkey/register/options", headers=CLIENT)).json()
    assert options["excludeCredentials"][0]["id"]
    again = await client.post(
        "/api/auth/passkey/register/verify", json={"credential": device.create(options, origin=ORIGIN)}, headers=CLIENT
    )
    assert again.status_code == 409 and again.json()["kind"] == "PasskeyInUse"


async def test_malformed_passkey_bodies_are_400_not_500(client: httpx.AsyncClient) -> None:
    await registered(client)
    bodies: list[object] = [
        {},
        {"credential": "text"},
        {"credential": {}},
        {"credential": {"id": "x", "response": {"clientDataJSON": "!!!"}}},
        {"credential": {"id": "x", "response": {"clientDataJSON": "e30"}}},
        {"credential": {"id": 5, "response": {"clientDataJSON": "eyJjaGFsbGVuZ2UiOiJhYWFhYWFhYWFhYWFhYWFhIn0"}}},
    ]
    for body in bodies:
        response = await client.post("/api/auth/callback/passkey", json=body, headers=CLIENT)
        assert response.status_code == 400, (body, response.text)


async def test_rename_and_delete_only_your_own_passkey(client: httpx.AsyncClient, auth: Auth) -> None:
    device = await registered(client)
    credential_id = device.get({"rpId": "testserver", "challenge": "x" * 22}, origin=ORIGIN)["id"]
    await client.post("/api/auth/sign-up", json={"email": "bob@example.com", "password": PASSWORD}, headers=CLIENT)
    renamed = await client.patch(f"/api/auth/passkeys?id={credential_id}", json={"name": "mine"}, headers=CLIENT)
    deleted = await client.delete(f"/api/auth/passkeys?id={credential_id}", headers=CLIENT)
    assert renamed.status_code == deleted.status_code == 404
    stored = await auth.store.get_authenticator(credential_id)
    assert stored is not None and stored.name == "Laptop"


async def test_passkey_sign_in_bypasses_a_password_lockout(client: httpx.AsyncClient, auth: Auth) -> None:
    device = await registered(client)
    wrong = {"email": EMAIL, "password": "wrong password"}
    statuses = [(await client.post("/api/auth/sign-in", json=wrong, headers=CLIENT)).status_code for _ in range(11)]
    assert statuses[-1] == 429
    assert (await passkey_sign_in(client, device)).status_code == 200
    assert await session_count(auth.store, EMAIL) >= 1


async def test_two_assertions_with_the_same_counter_at_once_sign_in_once(client: httpx.AsyncClient) -> None:
    # A cloned authenticator racing the original: both assertions verify against the same stored
    # count, so only the store's atomic compare-and-set can refuse the second.
    device = await registered(client)
    options = [(await client.post("/api/auth/signin/passkey", headers=CLIENT)).json() for _ in range(2)]
    credentials = [device.get(o, origin=ORIGIN, sign_count=5) for o in options]
    answers = await asyncio.gather(
        *[client.post("/api/auth/callback/passkey", json={"credential": c}, headers=CLIENT) for c in credentials]
    )
    assert sorted(a.status_code for a in answers) == [200, 400]
