"""Hostile and malformed input on the auth routes: 403/413/415/400 before anything is written."""

from __future__ import annotations

import json

import httpx
import pytest

from authgate import Auth

from .support import CLIENT, ORIGIN, session_count, user_count

EMAIL = "ann@example.com"
GOOD = {"email": EMAIL, "password": "correct horse battery"}
WRITE_ROUTES = ["/api/auth/sign-up", "/api/auth/sign-in", "/api/auth/refresh", "/api/auth/sign-out"]


@pytest.mark.parametrize("path", WRITE_ROUTES)
async def test_write_route_without_client_header_is_refused_before_store(
    client: httpx.AsyncClient, auth: Auth, path: str
) -> None:
    response = await client.post(path, json=GOOD)
    assert response.status_code == 403
    assert response.json()["kind"] == "MissingCSRF"
    assert await user_count(auth.store, EMAIL) == 0


async def test_header_must_say_true(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.post("/api/auth/sign-up", json=GOOD, headers={"X-Authgate-Client": "1"})
    assert response.json()["kind"] == "MissingCSRF"
    assert await user_count(auth.store, EMAIL) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver"},  # same host, other scheme
        {"Origin": "https://testserver:8443"},  # same host, other port
        {"Origin": "https://testserver.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
async def test_cross_site_sign_up_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, auth: Auth, headers: dict[str, str]
) -> None:
    response = await client.post("/api/auth/sign-up", json=GOOD, headers={**CLIENT, **headers})
    assert response.status_code == 403
    assert response.json()["kind"] == "ForbiddenOrigin"
    assert await user_count(auth.store, EMAIL) == 0


async def test_own_origin_and_same_site_fetch_are_accepted(client: httpx.AsyncClient) -> None:
    headers = {**CLIENT, "Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}
    response = await client.post("/api/auth/sign-up", json=GOOD, headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", json.dumps(GOOD)),
        ("application/x-www-form-urlencoded", "email=ann%40example.com&password=correct+horse+battery"),
        ("multipart/form-data; boundary=x", "--x\r\n\r\n--x--"),
        ("application/json-patch+json", json.dumps(GOOD)),
        (None, json.dumps(GOOD)),
    ],
)
async def test_non_json_media_types_get_415(
    client: httpx.AsyncClient, auth: Auth, content_type: str | None, body: str
) -> None:
    headers = dict(CLIENT)
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post("/api/auth/sign-up", content=body, headers=headers)
    assert response.status_code == 415
    assert response.json()["kind"] == "UnsupportedMediaType"
    assert await user_count(auth.store, EMAIL) == 0


async def test_json_with_charset_is_accepted(client: httpx.AsyncClient) -> None:
    headers = {**CLIENT, "Content-Type": "application/json; charset=utf-8"}
    response = await client.post("/api/auth/sign-up", content=json.dumps(GOOD), headers=headers)
    assert response.status_code == 200


async def test_body_over_64_kib_gets_413(client: httpx.AsyncClient, auth: Auth) -> None:
    body = json.dumps({**GOOD, "name": "n" * 70_000})
    response = await client.post(
        "/api/auth/sign-up", content=body, headers={**CLIENT, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["kind"] == "PayloadTooLarge"
    assert await user_count(auth.store, EMAIL) == 0


async def test_streamed_body_without_length_is_cut_at_64_kib(client: httpx.AsyncClient, auth: Auth) -> None:
    sent = 0

    async def chunks():  # type: ignore[no-untyped-def]
        nonlocal sent
        yield b'{"email": "ann@example.com", "password": "correct horse battery", "name": "'
        for _ in range(1000):  # would be 1 MB; the server must stop long before
            sent += 1
            yield b"n" * 1024
        yield b'"}'

    response = await client.post(
        "/api/auth/sign-up", content=chunks(), headers={**CLIENT, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert await user_count(auth.store, EMAIL) == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"email": "ann@example.com", "email": "bob@example.com", "password": "correct horse battery"}', "email"),
        ('{"email": "ann@example.com", "password": NaN}', None),
        ('{"email": "ann@example.com", "password": Infinity}', None),
        ('["ann@example.com", "correct horse battery"]', None),
        ('"just a string"', None),
        ("{" * 5000 + "}" * 5000, None),
        ('{"email": "ann@example.com", "password": "correct horse battery", "x": ' + "[" * 100 + "]" * 100 + "}", None),
        ('{"email": "ann@example.com", "password": ', None),
        ('{"email": 5, "password": "correct horse battery"}', "email"),
        ('{"email": "ann@example.com", "password": ["correct horse battery"]}', "password"),
        ('{"email": "ann@example.com", "password": null}', "password"),
        ('{"email": "ann@example.com", "password": true}', "password"),
        ('{"email": "ann@example.com", "password": "correct horse\\u0000battery"}', "password"),
        ('{"email": "ann@example.com\\u0000", "password": "correct horse battery"}', "email"),
        ('{"email": "ann@example.com", "password": "correct horse \\ud800 battery"}', "password"),
        ('{"email": "ann@example.com", "password": "correct horse battery", "name": "\\udfff"}', "name"),
        ('{"email": "not-an-email", "password": "correct horse battery"}', "email"),
        ('{"email": "ann@example.com", "password": "short"}', "password"),
        ('{"email": "ann@example.com", "password": "' + "p" * 257 + '"}', "password"),
        ('{"email": "ann@example.com", "password": "' + "p" * 10_240 + '"}', "password"),
        ('{"email": "ann@example.com", "password": "correct horse battery", "transport": "smoke"}', "transport"),
    ],
)
async def test_malformed_sign_up_gets_400_naming_the_field(
    client: httpx.AsyncClient, auth: Auth, raw: str, field: str | None
) -> None:
    response = await client.post(
        "/api/auth/sign-up",
        content=raw.encode("utf-8", "surrogatepass"),
        headers={**CLIENT, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["kind"] == "InvalidRequest"
    if field:
        assert body["field"] == field
        assert body["error"].startswith(field)
    assert await user_count(auth.store, EMAIL) == 0


async def test_invalid_utf8_body_gets_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/sign-in", content=b'{"email": "\xff\xfe"}', headers={**CLIENT, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_sign_in_with_overlong_password_is_a_clear_400(client: httpx.AsyncClient, auth: Auth) -> None:
    await client.post("/api/auth/sign-up", json=GOOD, headers=CLIENT)
    before = await session_count(auth.store, EMAIL)
    response = await client.post("/api/auth/sign-in", json={"email": EMAIL, "password": "p" * 257}, headers=CLIENT)
    assert response.status_code == 400
    assert response.json()["field"] == "password"
    assert await session_count(auth.store, EMAIL) == before


@pytest.mark.parametrize("path", ["/api/auth/session", "/api/auth/sign-in", "/api/auth/nope", "/api/auth/sessions"])
async def test_every_auth_response_is_no_store_json(client: httpx.AsyncClient, path: str) -> None:
    for method in ("GET", "POST"):
        response = await client.request(method, path, headers=CLIENT)
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"
        assert "kind" in response.json() or response.status_code == 200


async def test_unknown_route_and_method_give_404_and_405(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/auth/unknown")).json()["kind"] == "NotFound"
    response = await client.delete("/api/auth/sign-in", headers=CLIENT)
    assert response.status_code == 405
    assert response.json()["kind"] == "MethodNotAllowed"
