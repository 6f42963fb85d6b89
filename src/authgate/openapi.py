"""The OpenAPI 3.1 description of the auth routes, served at `GET {base_path}/openapi.json`.

Written from the route declarations (`authgate._http.spec`): each route's operation comes from
its summary, answers and access class, its request body from the body model its handler takes,
so the document describes exactly the fields the handlers read and the router checks. Paths are
relative to the base path, which is the document's server URL. Error bodies name the kinds each
status can carry, taken from the error classes themselves. The route table of docs/routes.md is
generated from this document (`python -m authgate._docs`).
"""

from __future__ import annotations

import copy
from typing import Any

from . import _errors
from ._config import AuthConfig
from ._http.bodies import EmailPassword
from ._http.call import Call
from ._http.parsing import MAX_BODY
from ._http.responses import send_json
from ._http.spec import (
    BOOL,
    COUNT,
    NO_STORE,
    NULLABLE_STRING,
    SIGNED_IN_SECURITY,
    STRING,
    TIME,
    TRUE,
    Access,
    Route,
    RouteList,
    Schema,
    closed,
    ok,
    ref,
)
from ._http.table import ROUTES as _DECLARED
from ._http.validation import Body, FieldRule, FormBody, field_rules

__all__ = ["ERROR_KINDS", "ROUTES", "openapi_document", "serve_openapi"]

_ERROR_CLASSES = [cls for cls in vars(_errors).values() if isinstance(cls, type) and issubclass(cls, _errors.AuthError)]
ERROR_KINDS = sorted({cls.kind for cls in _ERROR_CLASSES if cls is not _errors.AuthError})
_STATUS_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    503: "ServiceUnavailable",
}
_CLIENT = {"$ref": "#/components/parameters/Client"}
_CLIENT_OPTIONAL = {"$ref": "#/components/parameters/ClientOptional"}
_RETURN_REDIRECT = {
    "name": "X-Auth-Return-Redirect",
    "in": "header",
    "required": False,
    "description": "Auth.js v5: answer 200 `{url}` instead of 302 (v4 sends `json=true` in the form)",
    "schema": {"type": "string"},
}
# Request bodies shared by several routes, documented once as components.
_NAMED_BODIES: tuple[type[Body], ...] = (EmailPassword,)


def _schemas(config: AuthConfig) -> dict[str, Schema]:
    bearer = {
        "access_token": STRING,
        "refresh_token": NULLABLE_STRING,
        "token_type": {"type": "string", "const": "Bearer"},
        "expires_in": COUNT,
        "session_id": STRING,
    }
    passkey = {
        "id": STRING,
        "name": STRING,
        "created_at": TIME,
        "last_used_at": {"anyOf": [TIME, {"type": "null"}]},
        "backed_up": BOOL,
        "transports": {"type": "array", "items": STRING},
    }
    return {
        "Error": {
            **closed({"error": STRING, "kind": {"type": "string", "enum": ERROR_KINDS}}, {"field": STRING}),
            "description": "Every failure: a human message, a stable kind and, for input errors, the field.",
        },
        "User": closed(
            {
                "id": STRING,
                "email": STRING,
                "name": STRING,
                "email_verified": BOOL,
                "image": NULLABLE_STRING,
                "created_at": TIME,
                "updated_at": TIME,
            }
        ),
        "Session": closed(
            {"id": STRING, "user_id": STRING, "expires_at": TIME, "refresh_expires_at": TIME, "created_at": TIME}
        ),
        "SignedIn": {
            **closed({"user": ref("User"), "session": ref("Session")}, {**bearer, "expires": TIME}),
            "description": "The session; with `transport: bearer` also the tokens; from GET /session also "
            "Auth.js's `expires` (= `session.expires_at`).",
        },
        "RedirectUrl": {
            **closed({"url": STRING}),
            "description": "Auth.js's answer for a form with `json=true` or `X-Auth-Return-Redirect: 1`: where to go "
            "(the provider, `callbackUrl`, `callbackUrl#mfa_challenge=...&methods=...`, or /error?error=<kind>).",
        },
        "BearerTokens": closed(bearer),
        "MFAChallenge": {
            **closed(
                {
                    "mfa_required": TRUE,
                    "challenge": STRING,
                    "expires_in": COUNT,
                    "methods": {"type": "array", "items": {"enum": ["email", "recovery_code", "totp"]}},
                }
            ),
            "description": "Password accepted; answer the challenge at POST /mfa/verify to get the session.",
        },
        "VerificationRequired": {
            **closed({"success": TRUE, "verification_required": TRUE}),
            "description": "With `sign_up_conflict='email'`: the same answer for new and taken addresses.",
        },
        "Provider": closed(
            {"id": STRING, "name": STRING, "type": STRING, "signinUrl": STRING, "callbackUrl": STRING}
        ),
        "SessionInfo": closed(
            {
                "id": STRING,
                "created_at": TIME,
                "last_used_at": {"anyOf": [TIME, {"type": "null"}]},
                "ip": NULLABLE_STRING,
                "user_agent": NULLABLE_STRING,
                "current": BOOL,
            }
        ),
        "Passkey": closed(passkey),
        "WebAuthnOptions": {
            "type": "object",
            "required": ["challenge"],
            "properties": {"challenge": STRING},
            "description": "PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON "
            "(WebAuthn Level 3), for navigator.credentials.create() / get().",
        },
        **{model.__name__: _body_schema(model, config) for model in _NAMED_BODIES},
    }


def _error_responses() -> dict[str, Schema]:
    by_status: dict[int, set[str]] = {}
    for cls in _ERROR_CLASSES:
        if cls is not _errors.AuthError:
            by_status.setdefault(cls.status_code, set()).add(cls.kind)
    responses: dict[str, Schema] = {}
    for status, name in _STATUS_NAMES.items():
        schema = {"allOf": [ref("Error")], "properties": {"kind": {"enum": sorted(by_status[status])}}}
        headers = dict(NO_STORE)
        if status == 429:
            headers["Retry-After"] = {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
        responses[name] = {
            "description": ", ".join(sorted(by_status[status])),
            "headers": headers,
            "content": {"application/json": {"schema": schema}},
        }
    responses["Unauthorized"]["headers"]["Set-Cookie"] = {
        "description": "POST /refresh only: both session cookies cleared (Max-Age=0)",
        "schema": STRING,
    }
    return responses


def _field_schema(rule: FieldRule, config: AuthConfig, *, form: bool) -> Schema:
    passwords = config.passwords
    schema: Schema
    if rule.kind == "text":
        schema = {"type": "string"}
        max_length = rule.bound(passwords.max_length)
        if max_length is not None:
            schema["maxLength"] = max_length
        if rule.limit == "new_password":
            schema["minLength"] = passwords.min_length
    elif rule.kind == "choice":
        schema = {"type": "string", "enum": list(rule.choices)}
    elif rule.kind == "flag":
        schema = {"type": "boolean"}
    elif rule.kind == "flag_or_text":
        schema = {"type": ["boolean", "string"]}
    else:
        schema = {"type": "object"}
    if rule.nullable and not form:  # a form field is text or absent, never null
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*types, "null"]
        if "enum" in schema:
            schema["enum"].append(None)
    return {**schema, **rule.schema}


def _body_schema(model: type[Body], config: AuthConfig) -> Schema:
    """A body model as a closed object: its fields, in order, and nothing else."""
    rules, form = field_rules(model), issubclass(model, FormBody)
    return closed(
        {rule.name: _field_schema(rule, config, form=form) for rule in rules if rule.required},
        {rule.name: _field_schema(rule, config, form=form) for rule in rules if not rule.required},
    )


def _request_schema(model: type[Body], config: AuthConfig) -> Schema:
    return ref(model.__name__) if model in _NAMED_BODIES else _body_schema(model, config)


def _parameters(route: Route) -> list[Schema]:
    headers: list[Schema] = []
    if route.access is Access.FORM:
        headers.append(_CLIENT_OPTIONAL)
        if route.form is not None and any(rule.name == "json" for rule in field_rules(route.form)):
            headers.append(_RETURN_REDIRECT)  # the form may ask for `{url}`: so may the v5 header
    elif route.access is not Access.PUBLIC:
        headers.append(_CLIENT)
    return [*headers, *route.query]


def _operation(route: Route, config: AuthConfig) -> Schema:
    """One route's operation. `summary` and `description` are also its row in docs/routes.md."""
    responses = {str(status): route.answers[status] for status in sorted(route.answers)}
    for status in route.error_statuses:
        responses.setdefault(str(status), {"$ref": f"#/components/responses/{_STATUS_NAMES[status]}"})
    for status in route.url_errors:
        # Auth.js v4 mode (`json=true`) keeps a failure's status but answers `{url}` to the error page.
        responses[str(status)] = {
            "description": f"{_STATUS_NAMES[status]}: the error, or (form with `json=true`) the error page as {{url}}",
            "headers": NO_STORE,
            "content": {"application/json": {"schema": {"anyOf": [ref("Error"), ref("RedirectUrl")]}}},
        }
    operation: Schema = {"summary": route.summary, "responses": responses}
    if route.description:
        operation["description"] = route.description
    parameters = _parameters(route)
    if parameters:
        operation["parameters"] = parameters
    if route.json is not None:
        content = {"application/json": {"schema": _request_schema(route.json, config)}}
        if route.form is not None:
            content["application/x-www-form-urlencoded"] = {"schema": _request_schema(route.form, config)}
        operation["requestBody"] = {"required": not route.body_optional, "content": content}
    security = route.security
    if security is None:
        security = SIGNED_IN_SECURITY if route.access is Access.SIGNED_IN else ()
    operation["security"] = [dict(requirement) for requirement in security]
    return operation


def _paths(config: AuthConfig) -> dict[str, Schema]:
    paths: dict[str, Schema] = {}
    for route in ROUTES:
        item = paths.setdefault(route.path, {})
        prefix = route.path.removesuffix("{provider}")
        if prefix != route.path and "parameters" not in item:
            # The concrete paths beside this one (/signin/passkey) are their own operations.
            reserved = sorted({other.path.removeprefix(prefix) for other in ROUTES if other.path.startswith(prefix)})
            reserved.remove("{provider}")
            item["parameters"] = [
                {
                    "name": "provider",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 64, "not": {"enum": reserved}},
                }
            ]
        item[route.method.lower()] = _operation(route, config)
    return paths


def openapi_document(config: AuthConfig) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the auth routes for this configuration (base path, cookie names,
    password lengths). Paths are relative to `config.base_path`, the document's server URL."""
    cookies = config.cookies
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "authgate auth routes",
            "version": "1",
            "description": f"Every answer is JSON with `Cache-Control: no-store`. Request bodies are JSON objects "
            f"of at most {MAX_BODY} bytes (duplicate keys, NaN, NUL and lone surrogates are refused). "
            "State-changing routes need `X-Authgate-Client: true` (or, for form posts, a CSRF token) and an "
            "Origin that is the app's own or trusted.",
        },
        "servers": [{"url": config.base_path}],
        "paths": _paths(config),
        "components": {
            "schemas": _schemas(config),
            "responses": _error_responses(),
            "parameters": {
                "Client": {
                    "name": "X-Authgate-Client",
                    "in": "header",
                    "required": True,
                    "description": "Anti-CSRF header: a cross-site form cannot send it without a CORS preflight. "
                    "Not needed with a bearer token.",
                    "schema": {"type": "string", "enum": ["true"]},
                },
                "ClientOptional": {
                    "name": "X-Authgate-Client",
                    "in": "header",
                    "required": False,
                    "description": "Needed unless the form body carries a valid csrfToken (see GET /csrf).",
                    "schema": {"type": "string", "enum": ["true"]},
                },
            },
            "securitySchemes": {
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": cookies.session_cookie},
                "refreshCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": cookies.refresh_cookie,
                    "description": f"Path={config.base_path}/refresh, so only /refresh and /refresh/sign-out see it",
                },
                "bearer": {"type": "http", "scheme": "bearer", "description": "the access token (bearer mode)"},
            },
        },
    }
    # The building blocks above are shared module constants: hand out a copy the caller may change.
    return copy.deepcopy(document)


_OWN = RouteList()


@_OWN.route("GET", "/openapi.json", Access.PUBLIC, summary="This document", answers={200: ok({"type": "object"})})
async def serve_openapi(call: Call, _: None) -> None:
    """`GET {base_path}/openapi.json`: public, like the routes it describes."""
    await send_json(call.send, 200, openapi_document(call.config))


#: Every route of the auth app: the declared table and this document's own route.
ROUTES: tuple[Route, ...] = (*_DECLARED, *_OWN.routes)
