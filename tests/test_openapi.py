"""The published OpenAPI document: valid OpenAPI 3.1, served without auth, and in step with the
routes the app dispatches (a route added without documentation fails here)."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema_rs
import schemathesis

from authgate import Auth, CookieOptions
from authgate.openapi import ERROR_KINDS, openapi_document
from authgate.stores import MemoryStore

from .support import CLIENT, SECRET, client_for, dispatched_routes, not_dispatched, undocumented

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _document(**options: Any) -> dict[str, Any]:
    return openapi_document(Auth(store=MemoryStore(), secret=SECRET, **options).config)


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in METHODS}


def _schemas(node: Any) -> list[dict[str, Any]]:
    """Every JSON Schema in the document (components, parameters, bodies, responses)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                found.append(value)
            elif key == "schemas" and isinstance(value, dict):
                found.extend(value.values())
            found.extend(_schemas(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_schemas(item))
    return found


def test_document_is_valid_openapi_3_1() -> None:
    document = _document()
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    schemas = _schemas(document)
    assert len(schemas) > 50
    for schema in schemas:
        jsonschema_rs.meta.validate(schema)  # each embedded schema is valid JSON Schema 2020-12


def test_every_dispatched_route_is_documented() -> None:
    auth = Auth(store=MemoryStore(), secret=SECRET)
    assert undocumented(dispatched_routes(auth.asgi_app), _documented(_document())) == set()


def test_every_documented_operation_is_dispatched() -> None:
    """Concrete paths such as /callback/credentials are special cases of the prefixed routes."""
    app = Auth(store=MemoryStore(), secret=SECRET).asgi_app
    assert not_dispatched(app, _documented(_document())) == set()


def test_document_follows_the_configuration() -> None:
    document = openapi_document(
        Auth(
            store=MemoryStore(),
            secret=SECRET,
            base_path="/auth",
            cookies=CookieOptions(session_name="sid", refresh_name="rid"),
        ).config
    )
    assert document["servers"] == [{"url": "/auth"}]
    schemes = document["components"]["securitySchemes"]
    assert (schemes["sessionCookie"]["name"], schemes["refreshCookie"]["name"]) == ("sid", "rid")
    assert "/auth/refresh" in schemes["refreshCookie"]["description"]


def test_request_bodies_bound_every_string() -> None:
    """Every string field of a JSON request body has a maxLength or an enum, except the Auth.js form
    fields callbackUrl (checked against the allowlist) and link (a flag); the 64 KiB body limit
    bounds those."""
    document = _document()
    unbounded = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if not body or "$ref" in body:
                continue
            for name, field in body["properties"].items():
                bounded = "maxLength" in field or "enum" in field or name in ("callbackUrl", "link")
                if "string" in field.get("type", ()) and not bounded:
                    unbounded.append(f"{method.upper()} {path} {name}")
    assert unbounded == []
    sign_in = document["components"]["schemas"]["EmailPassword"]["properties"]
    assert sign_in["email"]["maxLength"] == 320 and sign_in["password"]["maxLength"] == 256


def test_error_kinds_by_status_come_from_the_error_classes() -> None:
    responses = _document()["components"]["responses"]
    assert responses["Unauthorized"]["content"]["application/json"]["schema"]["properties"]["kind"]["enum"] == [
        "CredentialsSignin",
        "InvalidRefreshToken",
        "RefreshTokenReuse",
        "SessionExpired",
        "Unauthenticated",
    ]
    assert "ServiceUnavailable" in ERROR_KINDS and "AuthError" not in ERROR_KINDS
    assert responses["TooManyRequests"]["headers"]["Retry-After"]["required"] is True


def test_state_changing_routes_document_the_client_header() -> None:
    document = _document()
    # Form routes take a csrfToken instead (their header parameter is optional); /_log changes nothing.
    exempt = {("post", "/token"), ("post", "/signin"), ("post", "/signout"), ("post", "/signin/{provider}"),
              ("post", "/callback/credentials"), ("post", "/signin/email"), ("post", "/callback/email"),
              ("post", "/change-email/verify"), ("post", "/_log")}  # fmt: skip
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("post", "patch", "delete") and (method, path) not in exempt:
                refs = [p.get("$ref") for p in operation.get("parameters", [])]
                assert "#/components/parameters/Client" in refs, f"{method.upper()} {path}"


async def test_document_is_served_without_auth_at_the_base_path() -> None:
    auth = Auth(store=MemoryStore(), secret=SECRET)
    async with client_for(auth) as client:
        response = await client.get("/api/auth/openapi.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == openapi_document(auth.config)
    auth.hasher.close()


async def test_real_answers_validate_against_the_document() -> None:
    """A quick in-process round trip (the schemathesis run against the demo is the thorough one)."""
    auth = Auth(store=MemoryStore(), secret=SECRET)
    schema = schemathesis.openapi.from_dict(openapi_document(auth.config))
    body = {"email": "ann@example.com", "password": "correct horse battery"}
    async with client_for(auth) as client:
        answers: list[tuple[str, httpx.Response]] = [
            ("POST /sign-up", await client.post("/api/auth/sign-up", json=body, headers=CLIENT)),
            ("GET /session", await client.get("/api/auth/session")),
            ("GET /providers", await client.get("/api/auth/providers")),
            (
                "POST /sign-in",
                await client.post("/api/auth/sign-in", json={**body, "password": "wrong"}, headers=CLIENT),
            ),
            ("POST /sign-in", await client.post("/api/auth/sign-in", json=body)),
            ("GET /error", await client.get("/api/auth/error", params={"error": "AccessDenied"})),
        ]
    assert [response.status_code for _, response in answers] == [200, 200, 200, 401, 403, 400]
    for label, response in answers:
        operation = schema.find_operation_by_label(label)
        assert operation is not None
        operation.Case().validate_response(response)
    auth.hasher.close()
