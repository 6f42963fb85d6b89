"""The Auth.js browser client's dialect (`next-auth/react` 4.24 and 5.0), beside authgate's own.

What the client sends: form posts (`application/x-www-form-urlencoded`) carrying `csrfToken`
(double submit against the signed CSRF cookie), and either `json=true` in the form (v4) or the
header `X-Auth-Return-Redirect: 1` (v5), asking for the redirect as 200 `{"url": ...}` instead of
a 302 that `fetch` would follow into the provider. Without either, a form post gets the 302 an HTML
form expects. The security checks are the same as on the JSON routes: a form's CSRF proof is the
token, never its absence, and the Origin check applies to both.

A failed credentials sign-in answers `{url: <base>/error?error=CredentialsSignin&...}` (or
`error=RateLimited`, or `AccessDenied` for an unverified address when one is required), with the
error's status (401, 429, 403) in v4's mode and 200 in v5's, as each Auth.js server does, so each
client reports `error: "CredentialsSignin"`. A user with a second factor gets
`{url: <callbackUrl>#mfa_challenge=...&methods=...}`, the fragment the provider callback already
uses: the page reads it from the returned `url` (or from `location.hash` after the client
navigates) and answers it with POST /mfa/verify. A fragment is never sent to a server or in a
Referer.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from .._errors import AccessDenied, CredentialsSignin, RateLimited
from .._mfa import TRUSTED_DEVICE_COOKIE
from ..mfa import MFAChallenge
from .bodies import AuthJSForm, CredentialsForm
from .call import Call
from .responses import Send, send_json, send_redirect, session_cookies
from .spec import REDIRECT, Schema, ok, ref
from .validation import Body

__all__ = [
    "SIGN_IN_ANSWERS",
    "UrlMode",
    "callback_target",
    "credentials_form",
    "error_url",
    "mfa_location",
    "send_location",
    "url_mode",
]

#: None: a plain HTML form (302); "v4": `json=true` (errors keep their status); "v5": the header
#: (errors answer 200, as @auth/core does).
UrlMode = Literal["v4", "v5"] | None

#: The answers of a sign-in that a form or a script may send: the session or a second-factor
#: challenge (JSON), the redirect as `{url}` (a form that asked), or the 302.
SIGN_IN_ANSWERS: dict[int, Schema] = {
    200: ok({"anyOf": [ref("SignedIn"), ref("MFAChallenge"), ref("RedirectUrl")]}, cookies=True),
    302: REDIRECT,
}


def url_mode(call: Call, body: Body | None) -> UrlMode:
    """Whether this request asked for `{url}` instead of a redirect, and in which client's way."""
    if call.header(b"x-auth-return-redirect") is not None:
        return "v5"
    if isinstance(body, AuthJSForm) and (body.json or "").lower() == "true":
        return "v4"
    return None


async def send_location(
    send: Send,
    mode: UrlMode,
    url: str,
    *,
    status: int = 200,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A redirect as the request asked for it: 302, or JSON `{url}` (`status` applies to v4 only)."""
    if mode is None:
        await send_redirect(send, url, extra_headers=extra_headers)
        return
    await send_json(send, status if mode == "v4" else 200, {"url": url}, extra_headers=extra_headers)


def mfa_location(target: str, challenge: MFAChallenge) -> str:
    """The callback URL with the MFA challenge in its fragment (see the module docstring)."""
    fragment = urlencode({"mfa_challenge": challenge.challenge, "methods": ",".join(challenge.methods)})
    return f"{target.split('#', 1)[0]}#{fragment}"


def error_url(call: Call, kind: str, **extra: str) -> str:
    """The auth app's own error page (GET <base_path>/error) for `kind`."""
    return f"{call.origin()}{call.config.base_path}/error?{urlencode({'error': kind, **extra})}"


async def callback_target(call: Call, requested: str | None) -> str:
    """Where to send the browser afterwards: `callbackUrl` if the app's redirect callback and the
    allowlist accept it, else the app's default."""
    origin = call.origin()
    if call.auth.callbacks.redirect is not None and requested:
        requested = await call.auth.callbacks.redirect(requested, origin)
    return call.auth.oauth.callback_target(requested, origin)


async def credentials_form(call: Call, body: CredentialsForm) -> None:
    """POST /callback/credentials as an Auth.js form: `email`, `password`, `csrfToken`, `callbackUrl`.

    The CSRF and Origin checks have passed before this runs. Invalid credentials and rate limits
    become the error URL Auth.js uses; malformed input stays a 400, as on the JSON route.
    """
    mode = url_mode(call, body)
    target = await callback_target(call, body.callback_url)
    trusted = call.cookie(TRUSTED_DEVICE_COOKIE)
    try:
        result = await call.auth.sign_in(body.email, body.password, meta=call.meta(), trusted_device=trusted)
    except (CredentialsSignin, RateLimited, AccessDenied) as error:
        extra = {"provider": "credentials"} if mode != "v5" else {"code": "credentials"}
        await send_location(call.send, mode, error_url(call, error.kind, **extra), status=error.status_code)
        return
    if isinstance(result, MFAChallenge):
        await send_location(call.send, mode, mfa_location(target, result))
        return
    cookies = session_cookies(result.tokens, call.config) if result.tokens else None
    await send_location(call.send, mode, target, extra_headers=cookies)
