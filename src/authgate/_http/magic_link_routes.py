"""HTTP side of sign-in links by email: POST /signin/email, GET and POST /callback/email,
GET /verify-request. The flow itself is `authgate._magic_links`.

Both request kinds of the provider routes are accepted: JSON with `X-Authgate-Client: true`
(authgate's client) and the Auth.js form with `csrfToken` (double submit). The emailed link
opens a confirmation page (GET never spends the token: mail scanners follow links); its form
POSTs back with a CSRF token, and that POST signs in.
"""

from __future__ import annotations

from html import escape

from .._errors import AuthError, NotFound
from .._mfa import TRUSTED_DEVICE_COOKIE
from ..mfa import MFAChallenge
from .answers import send_sign_in
from .authjs import SIGN_IN_ANSWERS, callback_target, error_url, mfa_location, send_location, url_mode
from .bodies import MagicLinkRedeem, MagicLinkRedeemForm, MagicLinkRequest, MagicLinkRequestForm
from .call import Call
from .confirmation import send_confirmation_page
from .responses import send_json, session_cookies
from .spec import REDIRECT, STRING, TRUE, Access, RouteList, closed, html_page, ok, query, ref

__all__ = ["ROUTES"]

ROUTES = RouteList()
route = ROUTES.route


def magic_links_on(call: Call) -> None:
    """Without MagicLinkOptions these routes do not exist; with them but no way to send mail,
    they fail as misconfigured before reading anything."""
    if call.config.magic_links is None:
        raise NotFound()
    call.auth.magic_links.check_available()


@route(
    "POST", "/signin/email", Access.FORM,
    summary="Email a single-use sign-in link (MagicLinkOptions); the same answer for every address",
    answers={200: ok({"anyOf": [closed({"success": TRUE}), ref("RedirectUrl")]}), 302: REDIRECT},
    errors=(429,), requires=magic_links_on,
    description="JSON: 200 `{success}`; form: 302 (or `{url}`) to `/verify-request?provider=email&type=email`. The "
    "lookup, the token and the email happen after the answer, which is the same in the same time for every address"
    " and during a mail outage. 429 per IP, then per address.",
)  # fmt: skip
async def request_link(call: Call, body: MagicLinkRequest | MagicLinkRequestForm) -> None:
    """The same answer whoever owns the address."""
    target = await callback_target(call, body.callback_url)
    await call.auth.magic_links.request(body.email, target, meta=call.meta())
    if not isinstance(body, MagicLinkRequestForm):
        await send_json(call.send, 200, {"success": True})  # authgate's client: the same for every address
        return
    verify = f"{call.origin()}{call.config.base_path}/verify-request?provider=email&type=email"
    await send_location(call.send, url_mode(call, body), verify)


@route(
    "GET", "/verify-request", Access.PUBLIC, summary="Where Auth.js sends the browser after asking for a link",
    answers={200: ok(closed({"message": STRING}))},
)  # fmt: skip
async def verify_request(call: Call, _: None) -> None:
    await send_json(call.send, 200, {"message": "If the address can sign in, a sign-in link is on its way."})


@route(
    "GET", "/callback/email", Access.PUBLIC,
    summary="The emailed link: a confirmation page whose button POSTs (GET spends nothing)",
    answers={200: html_page("token, email and csrfToken"), 302: REDIRECT}, requires=magic_links_on,
    query=(query("token", STRING), query("email", STRING)),
    description="Mail scanners open links. A bad link redirects to the error page.",
)  # fmt: skip
async def confirmation_page(call: Call, _: None) -> None:
    """A page whose button POSTs; the token stays unspent."""
    try:
        params = call.query()  # a mangled link is a page for the user too, not a JSON 400
        token, email = params.get("token"), params.get("email")
        await call.auth.magic_links.peek(token, email)
    except AuthError as error:
        kind = "ServiceUnavailable" if error.kind == "ServiceUnavailable" else "Verification"
        await send_location(call.send, None, error_url(call, kind))
        return
    await send_confirmation_page(
        call, title="Sign in", question=f"Sign in as <strong>{escape(email or '')}</strong>?",
        action=f"{call.config.base_path}/callback/email", fields={"token": token or "", "email": email or ""},
        button="Sign in",
    )  # fmt: skip


@route(
    "POST", "/callback/email", Access.FORM,
    summary="Spend a sign-in link: form from the confirmation page (302 or {url}) or JSON (as /sign-in)",
    answers=SIGN_IN_ANSWERS,
    errors=(429,), requires=magic_links_on, url_errors=(400, 429),
    description="Form: 302 (or `{url}`) to the `callbackUrl` given when asking, with cookies; a user with a second "
    "factor gets `callbackUrl#mfa_challenge=...&methods=...`. JSON: as /sign-in. A bad link: form 302 to "
    "`/error?error=Verification`, JSON 400 `Verification`.",
)  # fmt: skip
async def redeem(call: Call, body: MagicLinkRedeem | MagicLinkRedeemForm) -> None:
    from_form = isinstance(body, MagicLinkRedeemForm)
    try:
        result, target = await call.auth.magic_links.redeem(
            body.token, body.email, meta=call.meta(), trusted_device=call.cookie(TRUSTED_DEVICE_COOKIE)
        )
    except AuthError as error:
        if not from_form:
            raise
        kind = error.kind if error.kind in ("Verification", "AccessDenied", "RateLimited") else "Verification"
        await send_location(call.send, url_mode(call, body), error_url(call, kind), status=error.status_code)
        return
    if not from_form:
        await send_sign_in(call, result, "cookie")
        return
    if isinstance(result, MFAChallenge):
        await send_location(call.send, url_mode(call, body), mfa_location(target, result))
        return
    cookies = session_cookies(result.tokens, call.config) if result.tokens else None
    await send_location(call.send, url_mode(call, body), target, extra_headers=cookies)
