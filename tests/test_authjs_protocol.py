"""The Auth.js client's form protocol (csrfToken forms, `json=true`, `X-Auth-Return-Redirect`) and
`AuthJSOptions` (/session signed out, /_log), at the HTTP level. The unmodified clients themselves
run in Chromium in clients/js/test/e2e/authjs.test.ts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp
import pytest

from authgate import AccountOptions, Auth, AuthJSOptions
from authgate.providers import GitHub
from authgate.stores.memory import MemoryStore

from .support import CLIENT, ORIGIN, SECRET, FakeClock, client_for, session_count

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN}
V5 = {**FORM, "X-Auth-Return-Redirect": "1"}
CALLBACK = f"{ORIGIN}/dashboard"


async def csrf(client: httpx.AsyncClient) -> str:
    return str((await client.get("/api/auth/csrf")).json()["csrfToken"])


async def signed_up(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert response.status_code == 200
    client.cookies.delete("authgate_session")
    client.cookies.delete("authgate_refresh")


def form(**fields: str) -> str:
    return urlencode(fields)


async def test_credentials_form_needs_the_csrf_token_and_writes_nothing_without_it(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    await signed_up(client)
    await csrf(client)
    for body in (
        form(email=EMAIL, password=PASSWORD, json="true"),
        form(email=EMAIL, password=PASSWORD, csrfToken="forged"),
    ):
        refused = await client.post("/api/auth/callback/credentials", content=body, headers=FORM)
        assert refused.status_code == 403 and refused.json()["kind"] == "MissingCSRF"
        assert "set-cookie" not in refused.headers
    assert await session_count(auth.store, EMAIL) == 1  # only the sign-up's


async def test_credentials_form_from_another_origin_is_refused_even_with_the_token(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    await signed_up(client)
    token = await csrf(client)
    refused = await client.post(
        "/api/auth/callback/credentials",
        content=form(email=EMAIL, password=PASSWORD, csrfToken=token, json="true"),
        headers={**FORM, "Origin": "https://evil.example"},
    )
    assert refused.status_code == 403 and refused.json()["kind"] == "ForbiddenOrigin"
    assert await session_count(auth.store, EMAIL) == 1


async def test_credentials_form_json_true_answers_url_and_sets_cookies(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    token = await csrf(client)
    body = form(email=EMAIL, password=PASSWORD, csrfToken=token, callbackUrl=CALLBACK, json="true")
    ok = await client.post("/api/auth/callback/credentials", content=body, headers=FORM)
    assert ok.status_code == 200 and ok.json() == {"url": CALLBACK}
    assert "authgate_session" in ok.cookies and "authgate_refresh" in ok.cookies
    session = (await client.get("/api/auth/session")).json()
    assert session["user"]["email"] == EMAIL and session["expires"] == session["session"]["expires_at"]


async def test_credentials_form_wrong_password_error_url_in_each_clients_way(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    token = await csrf(client)
    wrong = {"email": EMAIL, "password": "wrong password", "csrfToken": token, "callbackUrl": CALLBACK}
    v4 = await client.post("/api/auth/callback/credentials", content=form(**wrong, json="true"), headers=FORM)
    assert v4.status_code == 401
    assert parse_qs(urlsplit(v4.json()["url"]).query) == {"error": ["CredentialsSignin"], "provider": ["credentials"]}
    assert v4.json()["url"].startswith(f"{ORIGIN}/api/auth/error?")
    v5 = await client.post("/api/auth/callback/credentials", content=form(**wrong), headers=V5)
    assert v5.status_code == 200 and parse_qs(urlsplit(v5.json()["url"]).query)["error"] == ["CredentialsSignin"]
    plain = await client.post("/api/auth/callback/credentials", content=form(**wrong), headers=FORM)
    assert plain.status_code == 302 and "error=CredentialsSignin" in plain.headers["location"]
    for response in (v4, v5, plain):
        assert "authgate_session" not in response.cookies


async def test_credentials_form_without_json_redirects_like_an_html_form(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    token = await csrf(client)
    body = form(email=EMAIL, password=PASSWORD, csrfToken=token, callbackUrl="//evil.example/steal")
    ok = await client.post("/api/auth/callback/credentials", content=body, headers=FORM)
    assert ok.status_code == 302 and ok.headers["location"] == f"{ORIGIN}/"  # open redirect refused
    assert "authgate_session" in ok.cookies


async def test_credentials_form_with_totp_returns_the_challenge_in_the_fragment(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    secret = (await client.post("/api/auth/mfa/totp/enroll", headers=CLIENT)).json()["secret"]
    confirmed = await client.post(
        "/api/auth/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).at(clock())}, headers=CLIENT
    )
    assert confirmed.status_code == 200
    client.cookies.clear()
    token = await csrf(client)
    body = form(email=EMAIL, password=PASSWORD, csrfToken=token, callbackUrl=CALLBACK)
    answer = await client.post("/api/auth/callback/credentials", content=body, headers=V5)
    assert answer.status_code == 200 and "authgate_session" not in answer.cookies
    url = urlsplit(answer.json()["url"])
    assert url._replace(fragment="").geturl() == CALLBACK
    fragment = parse_qs(url.fragment)
    assert "totp" in fragment["methods"][0].split(",")
    clock.advance(seconds=30)
    verified = await client.post(
        "/api/auth/mfa/verify",
        json={"challenge": fragment["mfa_challenge"][0], "code": pyotp.TOTP(secret).at(clock())},
        headers=CLIENT,
    )
    assert verified.status_code == 200 and "authgate_session" in verified.cookies


@pytest.fixture
async def github_client(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, providers=[GitHub(client_id="id", client_secret="s")])
    async with client_for(auth) as made:
        yield made


async def test_provider_signin_answers_url_for_json_true_and_the_v5_header(github_client: httpx.AsyncClient) -> None:
    token = await csrf(github_client)
    for headers, extra in ((FORM, {"json": "true"}), (V5, {})):
        body = form(csrfToken=token, callbackUrl=CALLBACK, **extra)
        answer = await github_client.post("/api/auth/signin/github", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        url = urlsplit(answer.json()["url"])
        assert url.netloc == "github.com" and "state" in parse_qs(url.query)
        assert any(name.endswith("authgate_oauth") or "oauth" in name for name in answer.cookies)
    plain = await github_client.post("/api/auth/signin/github", content=form(csrfToken=token), headers=FORM)
    assert plain.status_code == 302 and plain.headers["location"].startswith("https://github.com/")
    missing = await github_client.post("/api/auth/signin/github", content=form(json="true"), headers=FORM)
    assert missing.status_code == 403 and missing.json()["kind"] == "MissingCSRF"


async def test_form_signout_answers_url_when_asked(client: httpx.AsyncClient, auth: Auth) -> None:
    await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    token = await csrf(client)
    answer = await client.post("/api/auth/signout", content=form(csrfToken=token, callbackUrl=CALLBACK), headers=V5)
    assert answer.status_code == 200 and answer.json() == {"url": CALLBACK}
    assert all("Max-Age=0" in c for c in answer.headers.get_list("set-cookie") if c.startswith("authgate_session"))
    assert await session_count(auth.store, EMAIL) == 0


async def test_signed_out_session_and_log_without_the_option_keep_authgates_contract(client: httpx.AsyncClient) -> None:
    session = await client.get("/api/auth/session")
    assert session.status_code == 401 and session.json()["kind"] == "Unauthenticated"
    assert (await client.post("/api/auth/_log", content="code=X", headers=FORM)).status_code == 404


@pytest.mark.parametrize(("version", "body"), [(4, {}), (5, None)])
async def test_authjs_option_signed_out_session_and_log(clock: FakeClock, version: int, body: object) -> None:
    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, authjs=AuthJSOptions(version=version))  # type: ignore[arg-type]
    async with client_for(auth) as client:
        session = await client.get("/api/auth/session")
        assert session.status_code == 200 and session.json() == body
        forged = await client.get("/api/auth/session", headers={"Cookie": f"authgate_session={'x' * 43}"})
        assert forged.status_code == 200 and forged.json() == body
        log = await client.post("/api/auth/_log", content="code=CLIENT_FETCH_ERROR&level=error", headers=FORM)
        assert log.status_code == 200
        too_big = await client.post("/api/auth/_log", content=b"x" * 70_000, headers=FORM)
        assert too_big.status_code == 413
        await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
        signed_in = (await client.get("/api/auth/session")).json()
        assert signed_in["user"]["email"] == EMAIL and signed_in["expires"]


async def test_credentials_form_unverified_address_when_required_is_access_denied_url(clock: FakeClock) -> None:
    auth = Auth(store=MemoryStore(), secret=SECRET, clock=clock, accounts=AccountOptions(require_verified_email=True))
    async with client_for(auth) as client:
        await signed_up(client)
        token = await csrf(client)
        body = form(email=EMAIL, password=PASSWORD, csrfToken=token, callbackUrl=CALLBACK, json="true")
        answer = await client.post("/api/auth/callback/credentials", content=body, headers=FORM)
    assert answer.status_code == 403 and "authgate_session" not in answer.cookies
    assert parse_qs(urlsplit(answer.json()["url"]).query)["error"] == ["AccessDenied"]
