"""The Auth.js half of the route table: /csrf, /providers, /signin, /signin/{provider},
/callback/{provider}, /callback/credentials, /signout (form variant) and /error.

A provider callback never answers with an error status: every failure is a redirect to the
error page carrying a stable kind, so a user who tampers with the URL sees a page, not a 500.
"""

from __future__ import annotations

from .._csrf import csrf_token_from_cookie, new_csrf_cookie
from .._errors import AuthError, Unauthenticated
from .._mfa import TRUSTED_DEVICE_COOKIE
from .._oauth import CHECKS_COOKIE, CHECKS_MAX_AGE, error_location
from ..mfa import MFAChallenge
from .authjs import SIGN_IN_ANSWERS, callback_target, credentials_form, mfa_location, send_location, url_mode
from .bodies import CredentialsForm, EmailPassword, OAuthStart, OAuthStartForm, SignOut, SignOutForm
from .call import Call
from .confirmation import CSRF_COOKIE
from .responses import clearing_cookies, send_json, send_redirect, session_cookies, short_lived_cookie
from .session_routes import needs_store, sign_in
from .spec import REDIRECT, SIGNED_IN_SECURITY, STRING, TRUE, Access, RouteList, closed, ok, query, ref

__all__ = ["ROUTES"]

ROUTES = RouteList()
route = ROUTES.route

_ERROR_KINDS = {
    "AccessDenied",
    "Configuration",
    "CredentialsSignin",
    "InvalidCheck",
    "OAuthAccountNotLinked",
    "OAuthCallbackError",
    "RateLimited",
    "ServiceUnavailable",
    "Verification",
}
_PROVIDERS = ok({"type": "object", "additionalProperties": ref("Provider")}, "Providers by id")
URL = ok(ref("RedirectUrl"), "The redirect as JSON (`json=true` or `X-Auth-Return-Redirect`)", cookies=True)


def _checks_cookie_name(call: Call) -> str:
    return f"__Secure-{CHECKS_COOKIE}" if call.config.cookies.host_prefix else CHECKS_COOKIE


def _checks_path(call: Call) -> str:
    return f"{call.config.base_path}/callback"


def known_provider(call: Call) -> None:
    """404 for a provider id that is not configured, before anything else runs."""
    call.auth.oauth.provider(call.path_param)


def _redirect_uri(call: Call, provider_id: str) -> str:
    return f"{call.origin()}{call.config.base_path}/callback/{provider_id}"


@route(
    "GET", "/csrf", Access.PUBLIC, summary="A CSRF token for HTML form posts",
    answers={200: ok(closed({"csrfToken": STRING}), cookies=True)},
    description="Sets the signed `authgate_csrf` cookie that a form's `csrfToken` must match.",
)  # fmt: skip
async def csrf(call: Call, _: None) -> None:
    """A token for HTML forms; the same one while the signed cookie stays valid."""
    token = csrf_token_from_cookie(call.config.secrets, call.cookie(CSRF_COOKIE))
    headers = None
    if token is None:
        token, cookie = new_csrf_cookie(call.config.signing_secret)
        headers = [short_lived_cookie(call.config, CSRF_COOKIE, cookie, path="/", max_age=24 * 3600)]
    await send_json(call.send, 200, {"csrfToken": token}, extra_headers=headers)


@route("POST", "/signin", Access.PUBLIC, summary="Public provider metadata (Auth.js)", answers={200: _PROVIDERS})
@route("GET", "/signin", Access.PUBLIC, summary="Public provider metadata (Auth.js)", answers={200: _PROVIDERS})
@route("GET", "/providers", Access.PUBLIC, summary="Public provider metadata", answers={200: _PROVIDERS})
async def list_providers(call: Call, _: None) -> None:
    auth = call.auth
    base = f"{call.origin()}{call.config.base_path}"
    listed: dict[str, dict[str, str]] = {}
    if auth.has_store:
        listed["credentials"] = {
            "id": "credentials",
            "name": "Email and password",
            "type": "credentials",
            "signinUrl": f"{base}/sign-in",
            "callbackUrl": f"{base}/callback/credentials",
        }
    if auth.has_store and call.config.magic_links is not None:
        listed["email"] = {
            "id": "email",
            "name": "Email",
            "type": "email",
            "signinUrl": f"{base}/signin/email",
            "callbackUrl": f"{base}/callback/email",
        }
    for provider in auth.providers.values():
        listed[provider.id] = {
            "id": provider.id,
            "name": provider.name,
            "type": provider.kind,
            "signinUrl": f"{base}/signin/{provider.id}",
            "callbackUrl": f"{base}/callback/{provider.id}",
        }
    await send_json(call.send, 200, listed)


@route(
    "GET", "/signin/{provider}", Access.PUBLIC, summary="Start a provider sign-in (302 to the provider)",
    answers={302: REDIRECT}, errors=(400,), requires=known_provider, query=(query("callbackUrl", STRING),),
    description="Sets the `authgate_oauth` checks cookie.",
)  # fmt: skip
async def signin_link(call: Call, _: None) -> None:
    """A plain link: 302 to the provider with state, PKCE S256 and nonce."""
    await _start(call, None, call.query().get("callbackUrl"))


@route(
    "POST", "/signin/{provider}", Access.FORM,
    summary="Start a provider sign-in from a form or script; `link=true` links it to the signed-in user",
    answers={200: URL, 302: REDIRECT}, errors=(401,), requires=known_provider, query=(query("callbackUrl", STRING),),
    description="A form with `csrfToken`, or JSON with the client header; a form with `json=true` or the header "
    "`X-Auth-Return-Redirect: 1` gets 200 `{url}` instead of the 302.",
)  # fmt: skip
async def signin(call: Call, body: OAuthStart | OAuthStartForm) -> None:
    requested = body.callback_url if body.callback_url is not None else call.query().get("callbackUrl")
    await _start(call, body, requested)


async def _start(call: Call, body: OAuthStart | OAuthStartForm | None, requested: str | None) -> None:
    """Start the provider flow; a POST may link the provider to the signed-in user (step-up)."""
    provider_id = call.path_param
    link_session = None
    if body is not None and str(body.link).lower() in ("1", "true"):
        link_session = await call.auth.get_session(call.credentials.token)
        if link_session is None:
            raise Unauthenticated()
    started = await call.auth.oauth.start(
        provider_id,
        redirect_uri=_redirect_uri(call, provider_id),
        callback_url=await callback_target(call, requested),
        link_session=link_session,
        password=body.password if body else None,
        code=body.code if body else None,
    )
    cookie = short_lived_cookie(
        call.config, _checks_cookie_name(call), started.checks_cookie, path=_checks_path(call), max_age=CHECKS_MAX_AGE
    )
    await send_location(call.send, url_mode(call, body), started.authorization_url, extra_headers=[cookie])


@route(
    "GET", "/callback/{provider}", Access.PUBLIC,
    summary="Complete a provider sign-in; failures redirect to /error?error=<kind>", answers={302: REDIRECT},
    requires=known_provider, query=tuple(query(name, STRING) for name in ("code", "state", "error", "iss")),
    description="302 to `callbackUrl` with the session cookies; a user with a second factor (or under "
    "`MFAOptions(required=True)`) gets `callbackUrl#mfa_challenge=...&methods=...` and no cookie, then answers "
    "POST /mfa/verify. Failures: 302 to `/error?error=InvalidCheck|OAuthCallbackError|AccessDenied|"
    "OAuthAccountNotLinked`.",
)  # fmt: skip
async def callback(call: Call, _: None) -> None:
    provider_id = call.path_param
    drop_checks = short_lived_cookie(call.config, _checks_cookie_name(call), "", path=_checks_path(call), max_age=0)
    try:
        current = await call.auth.get_session(call.credentials.token)
        result, target = await call.auth.oauth.finish(
            provider_id,
            params=call.query(),
            checks_cookie=call.cookie(_checks_cookie_name(call)),
            redirect_uri=_redirect_uri(call, provider_id),
            current=current,
            meta=call.meta(),
            trusted_device=call.cookie(TRUSTED_DEVICE_COOKIE),
        )
    except AuthError as error:
        kind = error.kind if error.kind in _ERROR_KINDS else "OAuthCallbackError"
        await send_redirect(call.send, error_location(_error_page(call), kind), extra_headers=[drop_checks])
        return
    if isinstance(result, MFAChallenge):
        # The challenge rides in the fragment: browsers never send it to a server or in a
        # Referer. The page answers it with POST /mfa/verify.
        await send_redirect(call.send, mfa_location(target, result), extra_headers=[drop_checks])
        return
    cookies = session_cookies(result.tokens, call.config) if result.tokens else []
    await send_redirect(call.send, target, extra_headers=[drop_checks, *cookies])


@route(
    "POST", "/callback/credentials", Access.FORM,
    summary="Sign in with email and password (JSON as /sign-in, or Auth.js's form: 302 or {url})",
    answers=SIGN_IN_ANSWERS,
    errors=(401, 429), requires=needs_store, url_errors=(401, 403, 429),
    description="The Auth.js form: `email`, `password`, `csrfToken`, `callbackUrl`, `json=true` (v4) or the header"
    " `X-Auth-Return-Redirect: 1` (v5). A failure is `/error?error=CredentialsSignin` (or `RateLimited`) as a 302,"
    " or as `{url}` with 401/429 (`json=true`) or with 200 (v5 header, as @auth/core answers).",
)  # fmt: skip
async def credentials_callback(call: Call, body: EmailPassword | CredentialsForm) -> None:
    if isinstance(body, CredentialsForm):
        await credentials_form(call, body)
    else:
        await sign_in(call, body)


@route(
    "POST", "/signout", Access.FORM,
    summary="Auth.js sign-out: a form with csrfToken gets a redirect (or {url} when asked), a script gets JSON",
    answers={200: ok({"anyOf": [closed({"success": TRUE}), ref("RedirectUrl")]}, cookies=True), 302: REDIRECT},
    security=(*SIGNED_IN_SECURITY, {}), description="Clears both cookies.",
)  # fmt: skip
async def signout(call: Call, body: SignOut | SignOutForm) -> None:
    """Auth.js form sign-out: a form with csrfToken gets a redirect (or `{url}` when it asks with
    `json=true` or `X-Auth-Return-Redirect`); a script sending JSON gets `{success}`."""
    credentials = call.credentials
    await call.auth.sign_out(access_token=credentials.token, refresh_token=credentials.refresh_token, meta=call.meta())
    if not isinstance(body, SignOutForm):
        await send_json(call.send, 200, {"success": True}, extra_headers=clearing_cookies(call.config))
        return
    target = await callback_target(call, body.callback_url)
    await send_location(call.send, url_mode(call, body), target, extra_headers=clearing_cookies(call.config))


def _error_page(call: Call) -> str:
    """The app's own error page when configured, else GET <base_path>/error (JSON)."""
    path = call.config.accounts.error_path
    if path is None:
        return f"{call.origin()}{call.config.base_path}/error"
    origin = call.config.own_origin or call.config.accounts.app_url or call.origin()
    return f"{origin.rstrip('/')}{path}"


@route(
    "GET", "/error", Access.PUBLIC, summary="The error page of provider flows",
    answers={400: ok(ref("Error"), "The error, by kind")}, query=(query("error", STRING),),
    description="Answers 400 `{error, kind}` for the known kinds only.",
)  # fmt: skip
async def error_page(call: Call, _: None) -> None:
    kind = call.query().get("error", "")
    if kind not in _ERROR_KINDS:
        kind = "OAuthCallbackError"
    if call.config.accounts.error_path is not None:
        await send_redirect(call.send, error_location(_error_page(call), kind))
        return
    messages = {
        "AccessDenied": "Sign-in was refused.",
        "InvalidCheck": "The sign-in attempt could not be verified; please start again.",
        "OAuthAccountNotLinked": "This email already belongs to an account. Sign in the way you did before, "
        "then link this provider from your account.",
    }
    message = messages.get(kind, "Sign-in did not complete; please try again.")
    await send_json(call.send, 400, {"error": message, "kind": kind})
