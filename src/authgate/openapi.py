"""The OpenAPI 3.1 description of the auth routes, served at `GET {base_path}/openapi.json`.

Paths are relative to the base path, which is the document's server URL. Every status a route can
answer is listed with its body; error bodies name the kinds that status can carry, taken from the
error classes themselves, so a new kind shows up here without an edit. A test compares the paths
with the app's route tables, so a new route without documentation fails the build. The route table
of docs/routes.md is generated from this document (`python -m authgate._docs`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import _errors
from ._http.parsing import MAX_BODY
from ._http.responses import Send, send_json

if TYPE_CHECKING:
    from ._config import AuthConfig
    from ._http.call import Call

__all__ = ["ERROR_KINDS", "openapi_document", "serve_openapi"]

Schema = dict[str, Any]

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
# What the route families can answer besides their success.
_BODY = (400, 403, 413, 415, 503)  # cross-site checks, then a strict JSON body, then the store
_SIGNED_IN = (401, 403, 503)  # cross-site checks, then the session from the store
_SIGNED_IN_BODY = (400, 401, 403, 413, 415, 503)


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """A closed object: the listed properties and nothing else."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


def _text(max_length: int, *, min_length: int = 0, **extra: Any) -> Schema:
    return {"type": "string", "maxLength": max_length, "minLength": min_length, **extra}


_STRING: Schema = {"type": "string"}
_NULLABLE_STRING: Schema = {"type": ["string", "null"]}
_TIME: Schema = {"type": "string", "format": "date-time"}
_TRUE: Schema = {"type": "boolean", "const": True}
_BOOL: Schema = {"type": "boolean"}
_COUNT: Schema = {"type": "integer", "minimum": 0}
_NO_STORE: dict[str, Schema] = {"Cache-Control": {"required": True, "schema": {"type": "string", "const": "no-store"}}}
_SET_COOKIE: Schema = {"description": "session cookies set, rotated or cleared", "schema": _STRING}
_TRANSPORT: Schema = {
    "type": ["string", "null"],
    "enum": ["cookie", "bearer", None],
    "description": "`bearer` returns the tokens in the body and sets no cookie",
}


def _schemas(config: AuthConfig) -> dict[str, Schema]:
    bearer = {
        "access_token": _STRING,
        "refresh_token": _NULLABLE_STRING,
        "token_type": {"type": "string", "const": "Bearer"},
        "expires_in": _COUNT,
        "session_id": _STRING,
    }
    passkey = {
        "id": _STRING,
        "name": _STRING,
        "created_at": _TIME,
        "last_used_at": {"anyOf": [_TIME, {"type": "null"}]},
        "backed_up": _BOOL,
        "transports": {"type": "array", "items": _STRING},
    }
    return {
        "Error": {
            **_object({"error": _STRING, "kind": {"type": "string", "enum": ERROR_KINDS}}, {"field": _STRING}),
            "description": "Every failure: a human message, a stable kind and, for input errors, the field.",
        },
        "User": _object(
            {
                "id": _STRING,
                "email": _STRING,
                "name": _STRING,
                "email_verified": _BOOL,
                "image": _NULLABLE_STRING,
                "created_at": _TIME,
                "updated_at": _TIME,
            }
        ),
        "Session": _object(
            {"id": _STRING, "user_id": _STRING, "expires_at": _TIME, "refresh_expires_at": _TIME, "created_at": _TIME}
        ),
        "SignedIn": {
            **_object({"user": _ref("User"), "session": _ref("Session")}, {**bearer, "expires": _TIME}),
            "description": "The session; with `transport: bearer` also the tokens; from GET /session also "
            "Auth.js's `expires` (= `session.expires_at`).",
        },
        "RedirectUrl": {
            **_object({"url": _STRING}),
            "description": "Auth.js's answer for a form with `json=true` or `X-Auth-Return-Redirect: 1`: where to go "
            "(the provider, `callbackUrl`, `callbackUrl#mfa_challenge=...&methods=...`, or /error?error=<kind>).",
        },
        "BearerTokens": _object(bearer),
        "MFAChallenge": {
            **_object(
                {
                    "mfa_required": _TRUE,
                    "challenge": _STRING,
                    "expires_in": _COUNT,
                    "methods": {"type": "array", "items": {"enum": ["email", "recovery_code", "totp"]}},
                }
            ),
            "description": "Password accepted; answer the challenge at POST /mfa/verify to get the session.",
        },
        "VerificationRequired": {
            **_object({"success": _TRUE, "verification_required": _TRUE}),
            "description": "With `sign_up_conflict='email'`: the same answer for new and taken addresses.",
        },
        "Provider": _object(
            {"id": _STRING, "name": _STRING, "type": _STRING, "signinUrl": _STRING, "callbackUrl": _STRING}
        ),
        "SessionInfo": _object(
            {
                "id": _STRING,
                "created_at": _TIME,
                "last_used_at": {"anyOf": [_TIME, {"type": "null"}]},
                "ip": _NULLABLE_STRING,
                "user_agent": _NULLABLE_STRING,
                "current": _BOOL,
            }
        ),
        "Passkey": _object(passkey),
        "WebAuthnOptions": {
            "type": "object",
            "required": ["challenge"],
            "properties": {"challenge": _STRING},
            "description": "PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON "
            "(WebAuthn Level 3), for navigator.credentials.create() / get().",
        },
        "EmailPassword": _object(
            {"email": _text(320, format="email"), "password": _text(config.passwords.max_length)},
            {"transport": _TRANSPORT},
        ),
    }


def _error_responses() -> dict[str, Schema]:
    by_status: dict[int, set[str]] = {}
    for cls in _ERROR_CLASSES:
        if cls is not _errors.AuthError:
            by_status.setdefault(cls.status_code, set()).add(cls.kind)
    responses: dict[str, Schema] = {}
    for status, name in _STATUS_NAMES.items():
        schema = {"allOf": [_ref("Error")], "properties": {"kind": {"enum": sorted(by_status[status])}}}
        headers = dict(_NO_STORE)
        if status == 429:
            headers["Retry-After"] = {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
        responses[name] = {
            "description": ", ".join(sorted(by_status[status])),
            "headers": headers,
            "content": {"application/json": {"schema": schema}},
        }
    responses["Unauthorized"]["headers"]["Set-Cookie"] = {
        "description": "POST /refresh only: both session cookies cleared (Max-Age=0)",
        "schema": _STRING,
    }
    return responses


def _ok(schema: Schema, description: str = "OK", *, cookies: bool = False) -> Schema:
    headers = {**_NO_STORE, **({"Set-Cookie": _SET_COOKIE} if cookies else {})}
    return {"description": description, "headers": headers, "content": {"application/json": {"schema": schema}}}


_REDIRECT: Schema = {
    "description": "Redirect (to the provider, the app, or the error page)",
    "headers": {**_NO_STORE, "Location": {"required": True, "schema": _STRING}, "Set-Cookie": _SET_COOKIE},
}


def _confirmation_page(operation: Schema, posts: str, *, extra: dict[str, Schema] | None = None) -> Schema:
    """An emailed link's GET: the HTML page whose form POSTs `posts` back (it spends nothing), or a
    redirect for a dead link."""
    page = {
        "description": f"HTML confirmation page (a form POSTing {posts})",
        "headers": _NO_STORE,
        "content": {"text/html": {"schema": _STRING}},
    }
    return {**operation, "responses": {"200": page, "302": _REDIRECT, **(extra or {})}}


def _op(
    summary: str,
    ok: dict[int, Schema],
    errors: tuple[int, ...] = (),
    *,
    body: Schema | None = None,
    form: Schema | None = None,
    params: list[Schema] | None = None,
    security: list[dict[str, list[str]]] | None = None,
    body_required: bool = True,
    description: str = "",
) -> Schema:
    """One operation. `summary` and `description` are also the route's row in docs/routes.md."""
    operation: Schema = {"summary": summary, "responses": {str(status): ok[status] for status in sorted(ok)}}
    if description:
        operation["description"] = description
    for status in sorted(set(errors)):
        operation["responses"][str(status)] = {"$ref": f"#/components/responses/{_STATUS_NAMES[status]}"}
    if params:
        operation["parameters"] = params
    if body is not None or form is not None:
        content = {"application/json": {"schema": body}} if body is not None else {}
        if form is not None:
            content["application/x-www-form-urlencoded"] = {"schema": form}
        operation["requestBody"] = {"required": body_required, "content": content}
    operation["security"] = security if security is not None else []
    return operation


def _url_errors(operation: Schema, *statuses: int) -> Schema:
    """Auth.js v4 mode (`json=true`) keeps a failure's status but answers `{url}` to the error page."""
    for status in statuses:
        operation["responses"][str(status)] = {
            "description": f"{_STATUS_NAMES[status]}: the error, or (form with `json=true`) the error page as {{url}}",
            "headers": _NO_STORE,
            "content": {"application/json": {"schema": {"anyOf": [_ref("Error"), _ref("RedirectUrl")]}}},
        }
    return operation


_CLIENT = {"$ref": "#/components/parameters/Client"}
_CLIENT_OPTIONAL = {"$ref": "#/components/parameters/ClientOptional"}
_SIGNED_IN_SECURITY: list[dict[str, list[str]]] = [{"sessionCookie": []}, {"bearer": []}]


def _query(name: str, schema: Schema, *, required: bool = False, description: str = "") -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _provider_param(reserved: list[str]) -> Schema:
    return {
        "name": "provider",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 64, "not": {"enum": reserved}},
    }


def _paths(config: AuthConfig) -> dict[str, Schema]:
    max_password = config.passwords.max_length
    new_password = _text(max_password, min_length=config.passwords.min_length)
    signed_in = _ok(_ref("SignedIn"), "Signed in; session cookies set unless `transport` is `bearer`", cookies=True)
    sign_in_answer = _ok(
        {"anyOf": [_ref("SignedIn"), _ref("MFAChallenge")]}, "Signed in, or a second factor is due", cookies=True
    )
    user = _ok(_object({"user": _ref("User")}))
    success = _ok(_object({"success": _TRUE}))
    code = _object({"code": _text(16)})
    # Step-up: a route that adds or removes a credential takes the password or a
    # TOTP code with the request, or passes without one inside `reauth_window` of a (re-)sign-in.
    nullable_password = {"type": ["string", "null"], "maxLength": max_password}
    nullable_code = {"type": ["string", "null"], "maxLength": 16}
    proof = {"password": nullable_password, "code": nullable_code}
    step_up_body: dict[str, Any] = {"body": _object({}, proof), "body_required": False}
    providers = _ok({"type": "object", "additionalProperties": _ref("Provider")}, "Providers by id")
    token_query = [_query("token", _STRING, description="the token from the emailed link")]
    passkey_id = [_query("id", _text(1024, min_length=1), required=True, description="the passkey id")]
    passkey_credential = {"credential": {"type": "object", "description": "the WebAuthn credential as JSON"}}
    signed_in_op: dict[str, Any] = {"security": _SIGNED_IN_SECURITY, "params": [_CLIENT]}
    url = _ok(_ref("RedirectUrl"), "The redirect as JSON (`json=true` or `X-Auth-Return-Redirect`)", cookies=True)
    return_redirect = {
        "name": "X-Auth-Return-Redirect",
        "in": "header",
        "required": False,
        "description": "Auth.js v5: answer 200 `{url}` instead of 302 (v4 sends `json=true` in the form)",
        "schema": {"type": "string"},
    }
    authjs_form = {"csrfToken": _STRING, "callbackUrl": _STRING, "json": _STRING}
    sign_in_errors = (*_BODY, 401, 404, 429)
    return {
        "/sign-up": {
            "post": _op(
                "Create an account and sign in",
                {200: _ok({"anyOf": [_ref("SignedIn"), _ref("VerificationRequired")]}, cookies=True)},
                (*_BODY, 404, 409, 429),
                params=[_CLIENT],
                body=_object(
                    {"email": _text(320, format="email"), "password": new_password},
                    {"name": {"type": ["string", "null"], "maxLength": 255}, "transport": _TRANSPORT},
                ),
                description=(
                    'With `sign_up_conflict="email"` every address gets the same 200 `{success, '
                    "verification_required}`; otherwise a taken address is 409 `EmailInUse`."
                ),
            )
        },
        "/sign-in": {
            "post": _op(
                "Sign in with email and password",
                {200: sign_in_answer},
                sign_in_errors,
                params=[_CLIENT],
                body=_ref("EmailPassword"),
                description=(
                    "A user with a second factor gets `{mfa_required, challenge, expires_in, methods}` and no "
                    "cookie; an unverified address is 403 `AccessDenied` when verification is required. Unknown"
                    " email and wrong password give the same 401 `CredentialsSignin`."
                ),
            )
        },
        "/session": {
            "get": _op(
                "The current session (an app's `session` callback may reshape this body)",
                {
                    200: _ok(
                        {"anyOf": [_ref("SignedIn"), _object({}), {"type": "null"}]},
                        "The session (re-issued cookie with the JWT strategy); with `AuthJSOptions`, signed out: "
                        "`{}` (version 4) or `null` (version 5) instead of 401",
                        cookies=True,
                    )
                },
                (401, 503),
                security=[*_SIGNED_IN_SECURITY, {}],
                description=(
                    "`expires` equals `session.expires_at` (Auth.js's field); the JWT strategy re-issues its "
                    "cookie after `update_age`. Signed out: 401 `Unauthenticated` or `SessionExpired`, or with "
                    "`AuthJSOptions` 200 `{}` (version 4) / `null` (version 5)."
                ),
            )
        },
        "/refresh": {
            "post": _op(
                "Rotate both tokens from the refresh cookie",
                {200: signed_in},
                (401, 403, 503),
                params=[_CLIENT],
                security=[{"refreshCookie": []}, {}],
                description=(
                    "Inside the grace window a second refresh with the just-rotated token gets 200 without new "
                    "cookies; an older token is 401 `RefreshTokenReuse` and revokes the session (cookies "
                    "cleared)."
                ),
            )
        },
        "/sign-out": {
            "post": _op(
                "Revoke the session and clear both cookies",
                {200: _ok(_object({"success": _TRUE}), cookies=True)},
                (403, 503),
                params=[_CLIENT],
                security=[*_SIGNED_IN_SECURITY, {}],
            )
        },
        "/refresh/sign-out": {
            "post": _op(
                "Sign out with the refresh cookie (it is only sent below /refresh)",
                {200: _ok(_object({"success": _TRUE}), cookies=True)},
                (403, 503),
                params=[_CLIENT],
                security=[{"refreshCookie": []}, {}],
            )
        },
        "/token": {
            "post": _op(
                "Bearer mode: rotate tokens with a refresh token from the body",
                {200: _ok(_ref("BearerTokens"))},
                (400, 401, 409, 413, 415, 503),
                body=_object({"refresh_token": _text(512)}),
                description="401 as /refresh; 409 `RefreshInProgress` inside the grace window.",
            )
        },
        "/sessions": {
            "get": _op(
                "List the user's sessions",
                {200: _ok(_object({"sessions": {"type": "array", "items": _ref("SessionInfo")}}))},
                (400, *_SIGNED_IN),
                **signed_in_op,
                description="400 with the JWT strategy (no session list).",
            ),
            "delete": _op(
                "Revoke one session (?id=) or all others (?all=others)",
                {200: _ok(_object({"revoked": _COUNT}))},
                (400, *_SIGNED_IN),
                security=_SIGNED_IN_SECURITY,
                params=[_CLIENT, _query("id", _text(128)), _query("all", {"type": "string", "enum": ["others"]})],
                description="A session that is not yours counts 0.",
            ),
        },
        "/csrf": {
            "get": _op(
                "A CSRF token for HTML form posts",
                {200: _ok(_object({"csrfToken": _STRING}), cookies=True)},
                description="Sets the signed `authgate_csrf` cookie that a form's `csrfToken` must match.",
            )
        },
        "/providers": {"get": _op("Public provider metadata", {200: providers})},
        "/signin": {
            "get": _op("Public provider metadata (Auth.js)", {200: providers}),
            "post": _op("Public provider metadata (Auth.js)", {200: providers}),
        },
        "/signin/{provider}": {
            "parameters": [_provider_param(["email", "passkey"])],
            "get": _op(
                "Start a provider sign-in (302 to the provider)",
                {302: _REDIRECT},
                (400, 404),
                params=[_query("callbackUrl", _STRING)],
                description="Sets the `authgate_oauth` checks cookie.",
            ),
            "post": _op(
                "Start a provider sign-in from a form or script; `link=true` links it to the signed-in user",
                {200: url, 302: _REDIRECT},
                (*_BODY, 401, 404),
                params=[_CLIENT_OPTIONAL, return_redirect, _query("callbackUrl", _STRING)],
                body=_object({}, {"callbackUrl": _STRING, "link": {"type": ["boolean", "string"]}}),
                form=_object({}, {**authjs_form, "link": _STRING}),
                description=(
                    "A form with `csrfToken`, or JSON with the client header; a form with `json=true` or the "
                    "header `X-Auth-Return-Redirect: 1` gets 200 `{url}` instead of the 302."
                ),
            ),
        },
        "/signin/passkey": {
            "post": _op(
                "Passkey sign-in options (a fresh challenge)",
                {200: _ok(_ref("WebAuthnOptions"))},
                (403, 503),
                params=[_CLIENT],
            )
        },
        "/signin/email": {
            "post": _op(
                "Email a single-use sign-in link (MagicLinkOptions); the same answer for every address",
                {200: _ok({"anyOf": [_object({"success": _TRUE}), _ref("RedirectUrl")]}), 302: _REDIRECT},
                (*_BODY, 404, 429),
                params=[_CLIENT_OPTIONAL, return_redirect],
                body=_object({"email": _text(320)}, {"callbackUrl": _text(2048)}),
                form=_object({"email": _text(320)}, authjs_form),
                description=(
                    "JSON: 200 `{success}`; form: 302 (or `{url}`) to "
                    "`/verify-request?provider=email&type=email`. The lookup, the token and the email happen "
                    "after the answer, which is the same in the same time for every address and during a mail "
                    "outage. 429 per IP, then per address."
                ),
            )
        },
        "/verify-request": {
            "get": _op(
                "Where Auth.js sends the browser after asking for a link", {200: _ok(_object({"message": _STRING}))}
            )
        },
        "/callback/email": {
            "get": _confirmation_page(
                _op(
                    "The emailed link: a confirmation page whose button POSTs (GET spends nothing)",
                    {302: _REDIRECT},
                    (404,),
                    params=[_query("token", _STRING), _query("email", _STRING)],
                    description="Mail scanners open links. A bad link redirects to the error page.",
                ),
                "token, email and csrfToken",
                extra={"404": {"$ref": "#/components/responses/NotFound"}},
            ),
            "post": _url_errors(
                _op(
                    "Spend a sign-in link: form from the confirmation page (302 or {url}) or JSON (as /sign-in)",
                    {
                        200: _ok(
                            {"anyOf": [_ref("SignedIn"), _ref("MFAChallenge"), _ref("RedirectUrl")]}, cookies=True
                        ),
                        302: _REDIRECT,
                    },
                    (*_BODY, 404, 429),
                    params=[_CLIENT_OPTIONAL, return_redirect],
                    body=_object({"token": _text(256), "email": _text(320)}),
                    form=_object({"token": _text(256), "email": _text(320)}, authjs_form),
                    description=(
                        "Form: 302 (or `{url}`) to the `callbackUrl` given when asking, with cookies; a user with a"
                        " second factor gets `callbackUrl#mfa_challenge=...&methods=...`. JSON: as /sign-in. A bad "
                        "link: form 302 to `/error?error=Verification`, JSON 400 `Verification`."
                    ),
                ),
                400,
                429,
            ),
        },
        "/callback/{provider}": {
            "parameters": [_provider_param(["credentials", "email", "passkey"])],
            "get": _op(
                "Complete a provider sign-in; failures redirect to /error?error=<kind>",
                {302: _REDIRECT},
                (404,),
                params=[_query(name, _STRING) for name in ("code", "state", "error", "iss")],
                description=(
                    "302 to `callbackUrl` with the session cookies; a user with a second factor (or under "
                    "`MFAOptions(required=True)`) gets `callbackUrl#mfa_challenge=...&methods=...` and no "
                    "cookie, then answers POST /mfa/verify. Failures: 302 to "
                    "`/error?error=InvalidCheck|OAuthCallbackError|AccessDenied|OAuthAccountNotLinked`."
                ),
            ),
        },
        "/callback/credentials": {
            "post": _url_errors(
                _op(
                    "Sign in with email and password (JSON as /sign-in, or Auth.js's form: 302 or {url})",
                    {
                        200: _ok(
                            {"anyOf": [_ref("SignedIn"), _ref("MFAChallenge"), _ref("RedirectUrl")]}, cookies=True
                        ),
                        302: _REDIRECT,
                    },
                    sign_in_errors,
                    params=[_CLIENT_OPTIONAL, return_redirect],
                    body=_ref("EmailPassword"),
                    form=_object(
                        {"email": _text(320), "password": _text(config.passwords.max_length), "csrfToken": _STRING},
                        {"callbackUrl": _STRING, "json": _STRING, "redirect": _STRING},
                    ),
                    description=(
                        "The Auth.js form: `email`, `password`, `csrfToken`, `callbackUrl`, `json=true` (v4) or the"
                        " header `X-Auth-Return-Redirect: 1` (v5). A failure is `/error?error=CredentialsSignin` "
                        "(or `RateLimited`) as a 302, or as `{url}` with 401/429 (`json=true`) or with 200 (v5 "
                        "header, as @auth/core answers)."
                    ),
                ),
                401,
                403,
                429,
            )
        },
        "/callback/passkey": {
            "post": _op(
                "Sign in with a passkey assertion",
                {200: signed_in},
                _BODY,
                params=[_CLIENT],
                body=_object(passkey_credential, {"transport": _TRANSPORT}),
            )
        },
        "/signout": {
            "post": _op(
                "Auth.js sign-out: a form with csrfToken gets a redirect (or {url} when asked), a script gets JSON",
                {200: _ok({"anyOf": [_object({"success": _TRUE}), _ref("RedirectUrl")]}, cookies=True), 302: _REDIRECT},
                _BODY,
                params=[_CLIENT_OPTIONAL, return_redirect],
                security=[*_SIGNED_IN_SECURITY, {}],
                body=_object({}, {"callbackUrl": _STRING}),
                form=_object({"csrfToken": _STRING}, {"callbackUrl": _STRING, "json": _STRING}),
                description="Clears both cookies.",
            )
        },
        "/error": {
            "get": {
                **_op(
                    "The error page of provider flows",
                    {},
                    params=[_query("error", _STRING)],
                    description="Answers 400 `{error, kind}` for the known kinds only.",
                ),
                "responses": {"400": _ok(_ref("Error"), "The error, by kind")},
            }
        },
        "/openapi.json": {"get": _op("This document", {200: _ok({"type": "object"})})},
        "/_log": {
            "post": {
                **_op(
                    "The Auth.js v4 client's error reports: accepted and dropped with AuthJSOptions",
                    {},
                    description="404 without `AuthJSOptions`.",
                ),
                "responses": {
                    "200": _ok(_object({})),
                    "404": {"$ref": "#/components/responses/NotFound"},
                    "413": {"$ref": "#/components/responses/PayloadTooLarge"},
                },
            }
        },
        "/mfa": {
            "get": _op(
                "The user's second factors",
                {
                    200: _ok(
                        _object(
                            {
                                "factors": {"type": "array", "items": _object({"kind": _STRING, "confirmed": _BOOL})},
                                "recovery_codes_left": _COUNT,
                                "required": _BOOL,
                            }
                        )
                    )
                },
                _SIGNED_IN,
                **signed_in_op,
            )
        },
        "/mfa/verify": {
            "post": _op(
                "Answer a sign-in challenge with a code",
                {200: signed_in},
                (*_BODY, 429),
                params=[_CLIENT],
                body=_object(
                    {"challenge": _text(256), "code": _text(64)},
                    {"trust_device": _BOOL, "transport": _TRANSPORT},
                ),
                description=(
                    "`trust_device` sets `authgate_trusted_device` (`trusted_device_lifetime`, 90 days). A "
                    "wrong, used or expired code, or the 6th try, is 400 `Verification`."
                ),
            )
        },
        "/mfa/totp/enroll": {
            "post": _op(
                "Start TOTP enrolment (step-up)",
                {200: _ok(_object({"secret": _STRING, "otpauth_uri": _STRING, "qr_svg": _STRING}))},
                (*_SIGNED_IN_BODY, 429),
                **step_up_body,
                **signed_in_op,
                description="400 when TOTP is already on.",
            )
        },
        "/mfa/totp/confirm": {
            "post": _op(
                "Confirm TOTP with a first code; returns recovery codes",
                {200: _ok(_object({"enabled": _TRUE, "recovery_codes": {"type": "array", "items": _STRING}}))},
                (*_SIGNED_IN_BODY, 429),
                body=code,
                **signed_in_op,
                description="10 recovery codes, shown once.",
            )
        },
        "/mfa/totp/disable": {
            "post": _op(
                "Disable TOTP (needs a current code or the password)",
                {200: _ok(_object({"disabled": _BOOL}))},
                (*_SIGNED_IN_BODY, 429),
                body=_object({}, proof),
                **signed_in_op,
                description="Always needs the proof, even inside `reauth_window`; a credential event.",
            )
        },
        "/mfa/recovery-codes": {
            "post": _op(
                "New recovery codes (needs a current TOTP code or the password)",
                {200: _ok(_object({"recovery_codes": {"type": "array", "items": _STRING}}))},
                (*_SIGNED_IN_BODY, 429),
                body=_object({}, proof),
                **signed_in_op,
                description="Always needs the proof, even inside `reauth_window`; a credential event.",
            )
        },
        "/mfa/email/enable": {
            "post": _op(
                "Use emailed codes as a second factor (step-up)",
                {200: _ok(_object({"enabled": _TRUE}))},
                (*_SIGNED_IN_BODY, 429),
                **step_up_body,
                **signed_in_op,
                description="A credential event; 400 when the address is not verified or there is no `email_sender`.",
            )
        },
        "/mfa/email/disable": {
            "post": _op(
                "Stop emailed codes (step-up)",
                {200: _ok(_object({"disabled": _BOOL}))},
                (*_SIGNED_IN_BODY, 429),
                **step_up_body,
                **signed_in_op,
                description="A credential event.",
            )
        },
        "/verify-email": {
            "get": _op(
                "Emailed verification link: verify, then redirect to the app",
                {302: _REDIRECT},
                params=token_query,
                description="Redirects to the app with `?email_verified=1` or `?error=Verification`.",
            ),
            "post": _op(
                "Verify the email address with the emailed token",
                {200: user},
                _BODY,
                params=[_CLIENT],
                body=_object({"token": _text(256)}),
            ),
        },
        "/verify-email/send": {
            "post": _op(
                "Email a verification link: for the session's address, or (signed out) for `email` if it "
                "has an unverified account, with the same answer for every address",
                {200: _ok(_object({"sent": _TRUE}))},
                (*_SIGNED_IN_BODY, 429),
                body=_object({}, {"email": {"type": ["string", "null"], "maxLength": 320}}),
                body_required=False,
                **signed_in_op,
                description="Signed in: no body. The link opens GET /verify-email. 429 after 3 an hour.",
            )
        },
        "/forgot-password": {
            "post": _op(
                "Email a reset link; the same answer for every address",
                {200: success},
                (*_BODY, 429),
                params=[_CLIENT],
                body=_object({"email": _text(320, format="email")}),
                description=(
                    "The reset link (`reset_lifetime`, 30 minutes) goes out in the background. Counted per IP, "
                    "then per address."
                ),
            )
        },
        "/reset-password": {
            "post": _op(
                "Set a new password from a reset link; revokes every session",
                {200: _ok(_object({"success": _TRUE}), cookies=True)},
                _BODY,
                params=[_CLIENT],
                body=_object({"token": _text(256), "password": new_password}),
                description=(
                    "A credential event: every session and pending link ends; passkeys and provider identities "
                    "are removed; an unverified address becomes verified and its factors are removed (account "
                    "recovery)."
                ),
            )
        },
        "/change-password": {
            "post": _op(
                "Change the password; revokes every other session",
                {200: success},
                _SIGNED_IN_BODY,
                body=_object({"current_password": _text(max_password), "new_password": new_password}),
                **signed_in_op,
                description="A credential event: every other session ends.",
            )
        },
        "/change-email": {
            "post": _op(
                "Email a confirmation link to a new address (step-up); in quiet mode the same answer for a "
                "taken address",
                {200: _ok(_object({"verification_sent": _TRUE}))},
                (*_SIGNED_IN_BODY, 409, 429),
                body=_object({"email": _text(320, format="email")}, proof),
                **signed_in_op,
                description=(
                    "Nothing changes until the link is followed; then the old address is told and it is a "
                    "credential event. 409 `EmailInUse` except in quiet mode."
                ),
            )
        },
        "/change-email/verify": {
            "get": _confirmation_page(
                _op(
                    "The emailed email-change link: a confirmation page whose button POSTs (GET spends nothing)",
                    {302: _REDIRECT},
                    params=token_query,
                    description="Mail scanners open links. A dead link redirects to the app with `?error=Kind`.",
                ),
                "token and csrfToken",
            ),
            "post": _op(
                "Confirm an email change: JSON with the header (200 {user}), or the confirmation page's form "
                "with csrfToken (302 to the app with ?email_changed=1 or ?error=Kind)",
                {200: user, 302: _REDIRECT},
                (*_BODY, 409),
                params=[_CLIENT_OPTIONAL],
                body=_object({"token": _text(256)}),
                form=_object({"token": _text(256), "csrfToken": _text(256)}),
            ),
        },
        "/delete-account": {
            "post": _op(
                "Delete the account (step-up)",
                {200: _ok(_object({"deleted": _TRUE}), cookies=True)},
                (*_SIGNED_IN_BODY, 429),
                **step_up_body,
                **signed_in_op,
                description="Sessions, accounts, factors and passkeys are removed.",
            )
        },
        "/passkey/register/options": {
            "post": _op(
                "Passkey registration options (a fresh challenge; step-up)",
                {200: _ok(_ref("WebAuthnOptions"))},
                (*_SIGNED_IN_BODY, 429),
                **step_up_body,
                **signed_in_op,
                description="User verification is required.",
            )
        },
        "/passkey/register/verify": {
            "post": _op(
                "Register a passkey from the authenticator's answer",
                {200: _ok(_object({"passkey": _ref("Passkey")}))},
                (*_SIGNED_IN_BODY, 409),
                body=_object(passkey_credential, {"name": {"type": ["string", "null"], "maxLength": 255}}),
                **signed_in_op,
                description=(
                    "Inside the step-up window; a credential event. 409 `PasskeyInUse` for a credential already"
                    " registered."
                ),
            )
        },
        "/passkeys": {
            "get": _op(
                "List the user's passkeys",
                {200: _ok(_object({"passkeys": {"type": "array", "items": _ref("Passkey")}}))},
                _SIGNED_IN,
                **signed_in_op,
            ),
            "patch": _op(
                "Rename a passkey",
                {200: _ok(_object({"renamed": _TRUE}))},
                (*_SIGNED_IN_BODY, 404),
                security=_SIGNED_IN_SECURITY,
                params=[_CLIENT, *passkey_id],
                body=_object({"name": _text(255)}),
                description="404 for a passkey that is not yours.",
            ),
            "delete": _op(
                "Delete a passkey (step-up)",
                {200: _ok(_object({"deleted": _TRUE}))},
                (*_SIGNED_IN_BODY, 404, 429),
                security=_SIGNED_IN_SECURITY,
                params=[_CLIENT, *passkey_id],
                **step_up_body,
                description="A credential event; 404 for a passkey that is not yours.",
            ),
        },
        "/reauthenticate": {
            "post": _op(
                "Step-up: prove the password or a TOTP code again; credential changes within reauth_window "
                "then need no proof of their own",
                {200: _ok(_object({"reauthenticated": _TRUE, "auth_time": _STRING}), cookies=True)},
                (*_SIGNED_IN_BODY, 429),
                body=_object({}, proof),
                **signed_in_op,
                description=(
                    "The JWT strategy re-issues its cookie. 429 counts per user, so strangers cannot fill it."
                ),
            )
        },
        "/accounts": {
            "get": _op(
                "List the provider identities linked to the user",
                {
                    200: _ok(
                        _object(
                            {
                                "accounts": {
                                    "type": "array",
                                    "items": _object({"provider": _STRING, "account_id": _STRING}),
                                }
                            }
                        )
                    )
                },
                _SIGNED_IN,
                **signed_in_op,
            ),
            "delete": _op(
                "Unlink a provider identity (step-up; not the last way to sign in)",
                {200: _ok(_object({"unlinked": _TRUE}))},
                (*_SIGNED_IN_BODY, 404, 429),
                security=_SIGNED_IN_SECURITY,
                params=[
                    _CLIENT,
                    _query("provider", _text(64, min_length=1), required=True),
                    _query("id", _text(255, min_length=1), required=True),
                ],
                **step_up_body,
                description="A credential event.",
            ),
        },
    }


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


async def serve_openapi(call: Call, send: Send) -> None:
    """`GET {base_path}/openapi.json`: public, like the routes it describes."""
    await send_json(send, 200, openapi_document(call.config))
