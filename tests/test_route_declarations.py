"""Each route is declared once, on its handler (authgate._http.spec); the router, the body
validation, the OpenAPI document and docs/routes.md are made from that declaration. A handler
reads its body as attributes of its msgspec model (mypy checks them), so these tests pin the rest
of the chain: the document describes exactly the model's fields, and the schemathesis run, which
generates requests from that document, sends every one of them."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode

from authgate import AuthError, PasswordOptions
from authgate._config import AuthConfig
from authgate._http.bodies import MFAVerify, OAuthStart, PasskeySignIn, SignUp
from authgate._http.spec import Route
from authgate._http.validation import Body, BodyDecoder
from authgate.openapi import ROUTES, openapi_document

FORM = "application/x-www-form-urlencoded"
# The document test_schemathesis.py generates its requests from (the demo serves the same paths).
DOCUMENT = openapi_document(AuthConfig(secret="x" * 32))
WITH_BODY = [route for route in ROUTES if route.json is not None]


def _label(route: Route) -> str:
    return f"{route.method} {route.path}"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]  # type: ignore[no-any-return]
    return schema


def _models(route: Route) -> dict[str, type[Body]]:
    models: dict[str, type[Body]] = {}
    if route.json is not None:
        models["application/json"] = route.json
    if route.form is not None:
        models[FORM] = route.form
    return models


def test_every_route_is_declared_once() -> None:
    labels = [_label(route) for route in ROUTES]
    assert len(labels) == len(set(labels))
    documented = {
        f"{method.upper()} {path}"
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert set(labels) == documented


@pytest.mark.parametrize("route", ROUTES, ids=_label)
def test_request_schema_is_exactly_the_body_model(route: Route) -> None:
    operation = DOCUMENT["paths"][route.path][route.method.lower()]
    content = operation.get("requestBody", {}).get("content", {})
    documented = {}
    for media_type, body in content.items():
        schema = _resolve(body["schema"])
        documented[media_type] = (set(schema["properties"]), set(schema["required"]), schema["additionalProperties"])
    expected = {
        media_type: (
            {field.encode_name for field in msgspec.structs.fields(model)},
            {field.encode_name for field in msgspec.structs.fields(model) if field.required},
            False,
        )
        for media_type, model in _models(route).items()
    }
    assert documented == expected
    if content:
        assert operation["requestBody"]["required"] is not route.body_optional


@pytest.mark.parametrize("route", WITH_BODY, ids=_label)
def test_schemathesis_sends_every_body_field(route: Route) -> None:
    """Positive cases from the document include each field of each media type at least once."""
    operation = schemathesis.openapi.from_dict(DOCUMENT).find_operation_by_label(_label(route))
    assert operation is not None
    sent: dict[str, set[str]] = {}

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @settings(max_examples=50, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    def generate(case: Case[Any]) -> None:
        if isinstance(case.body, dict):
            sent.setdefault(case.media_type or "", set()).update(case.body)

    generate()
    expected = {
        media_type: {field.encode_name for field in msgspec.structs.fields(model)}
        for media_type, model in _models(route).items()
    }
    assert sent == expected


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (SignUp, {"password": "p" * 10}, "email: is required"),
        (SignUp, {"email": None, "password": "p" * 10}, "email: is required"),
        (SignUp, {"email": "a@b.c", "password": "p" * 300}, "password: at most 256 characters"),
        (SignUp, {"email": "a@b.c\x00", "password": 5}, "email: must not contain NUL characters"),
        (SignUp, {"email": "a@b.c", "password": "pw", "transport": "x"}, "transport: must be 'cookie' or 'bearer'"),
        (MFAVerify, {"challenge": "c", "code": "1", "trust_device": None}, "trust_device: must be true or false"),
        (MFAVerify, {"challenge": "c", "code": "1", "trust_device": "yes"}, "trust_device: must be true or false"),
        (PasskeySignIn, {"credential": "x"}, "credential: must be an object"),
        (PasskeySignIn, {}, "credential: must be an object"),
        (OAuthStart, {"link": 1}, "link: must be true, false or a string"),
    ],
)
def test_a_refusal_names_the_first_bad_field(model: type[Body], data: dict[str, Any], message: str) -> None:
    with pytest.raises(AuthError) as refused:
        BodyDecoder(model, max_password=256).decode(data)
    assert refused.value.to_json() == {"error": message, "kind": "InvalidRequest", "field": message.split(":")[0]}


def test_the_password_bounds_follow_the_configuration() -> None:
    body = {"email": "a@b.c", "password": "p" * 300}
    assert BodyDecoder(SignUp, max_password=512).decode(body).password == "p" * 300
    document = openapi_document(AuthConfig(secret="x" * 32, passwords=PasswordOptions(min_length=12, max_length=512)))
    assert document["components"]["schemas"]["EmailPassword"]["properties"]["password"]["maxLength"] == 512
    new_password = document["paths"]["/sign-up"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert new_password["properties"]["password"] == {"type": "string", "maxLength": 512, "minLength": 12}
