"""The Auth.js routes that need no external provider: /csrf, /providers, /signin, /signout form,
/callback/credentials, /error."""

from __future__ import annotations

import httpx

from authgate import Auth

from .support import CLIENT, ORIGIN, session_count

EMAIL = "ann@example.com"
PASSWORD = "correct horse battery"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def signed_up(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/sign-up", json={"email": EMAIL, "password": PASSWORD}, headers=CLIENT)
    assert response.status_code == 200


async def test_csrf_token_is_stable_while_its_cookie_lives(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/auth/csrf")
    token = first.json()["csrfToken"]
    assert "authgate_csrf=" in first.headers["set-cookie"] and "HttpOnly" in first.headers["set-cookie"]
    again = await client.get("/api/auth/csrf")
    assert again.json()["csrfToken"] == token and "set-cookie" not in again.headers


async def test_form_signout_with_csrf_token_revokes_and_redirects(client: httpx.AsyncClient, auth: Auth) -> None:
    await signed_up(client)
    token = (await client.get("/api/auth/csrf")).json()["csrfToken"]
    response = await client.post(
        "/api/auth/signout", content=f"csrfToken={token}&callbackUrl=%2Fgoodbye", headers={**FORM, "Origin": ORIGIN}
    )
    assert response.status_code == 302 and response.headers["location"] == "/goodbye"
    assert await session_count(auth.store, EMAIL) == 0


async def test_form_signout_without_or_with_wrong_token_is_refused(client: httpx.AsyncClient, auth: Auth) -> None:
    await signed_up(client)
    await client.get("/api/auth/csrf")
    for body in ("callbackUrl=%2F", "csrfToken=forged&callbackUrl=%2F", "csrfToken="):
        response = await client.post("/api/auth/signout", content=body, headers=FORM)
        assert response.status_code == 403 and response.json()["kind"] == "MissingCSRF"
    assert await session_count(auth.store, EMAIL) == 1


async def test_form_signout_from_another_origin_is_refused_even_with_token(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    await signed_up(client)
    token = (await client.get("/api/auth/csrf")).json()["csrfToken"]
    response = await client.post(
        "/api/auth/signout", content=f"csrfToken={token}", headers={**FORM, "Origin": "https://evil.example"}
    )
    assert response.status_code == 403 and response.json()["kind"] == "ForbiddenOrigin"
    assert await session_count(auth.store, EMAIL) == 1


async def test_form_signout_open_redirect_falls_back_to_site_root(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    token = (await client.get("/api/auth/csrf")).json()["csrfToken"]
    response = await client.post(
        "/api/auth/signout", content=f"csrfToken={token}&callbackUrl=%2F%2Fevil.com", headers=FORM
    )
    assert response.headers["location"] == f"{ORIGIN}/"


async def test_script_signout_with_header_answers_json(client: httpx.AsyncClient, auth: Auth) -> None:
    await signed_up(client)
    response = await client.post("/api/auth/signout", json={}, headers=CLIENT)
    assert response.json() == {"success": True}
    assert await session_count(auth.store, EMAIL) == 0


async def test_callback_credentials_is_sign_in(client: httpx.AsyncClient) -> None:
    await signed_up(client)
    body = {"email": EMAIL, "password": PASSWORD}
    ok = await client.post("/api/auth/callback/credentials", json=body, headers=CLIENT)
    assert ok.status_code == 200 and ok.json()["user"]["email"] == EMAIL
    refused = await client.post("/api/auth/callback/credentials", json=body)
    assert refused.status_code == 403
    wrong = await client.post("/api/auth/callback/credentials", json={**body, "password": "nope nope"}, headers=CLIENT)
    assert wrong.json()["kind"] == "CredentialsSignin"


async def test_providers_lists_credentials(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/api/auth/providers")).json()
    assert listed["credentials"]["callbackUrl"] == f"{ORIGIN}/api/auth/callback/credentials"
    assert (await client.get("/api/auth/signin")).json() == listed


async def test_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/auth/signin/nope")).status_code == 404
    assert (await client.get("/api/auth/callback/nope?code=x&state=y")).status_code == 404
    assert (await client.get("/api/auth/signin/a/b")).status_code == 404


async def test_error_page_only_echoes_known_kinds(client: httpx.AsyncClient) -> None:
    known = await client.get("/api/auth/error?error=OAuthAccountNotLinked")
    assert known.json()["kind"] == "OAuthAccountNotLinked"
    unknown = await client.get("/api/auth/error?error=<script>alert(1)</script>")
    assert unknown.json()["kind"] == "OAuthCallbackError" and "script" not in unknown.text


async def test_repeated_query_keys_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/auth/error?error=AccessDenied&error=InvalidCheck")
    assert response.status_code == 400 and response.json()["field"] == "error"
