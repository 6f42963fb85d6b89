"""The account lifecycle: email verification, passwords, email change, deletion, step-up and
linked provider identities. A route that acts for a signed-in user gets the session the router
re-read from the store (`call.signed_in`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape
from urllib.parse import urlencode

from .._errors import AuthError, InvalidRequest
from .bodies import (
    ChangeEmail,
    ChangePassword,
    ForgotPassword,
    LinkToken,
    LinkTokenForm,
    ResendVerification,
    ResetPassword,
    StepUp,
)
from .call import Call
from .confirmation import send_confirmation_page
from .mfa_routes import proof
from .responses import clearing_cookies, send_json, send_redirect, session_cookies
from .spec import REDIRECT, SIGNED_IN_SECURITY, STRING, TRUE, Access, RouteList, closed, html_page, ok, query, ref

__all__ = ["ROUTES"]

ROUTES = RouteList()
route = ROUTES.route
_USER = ok(closed({"user": ref("User")}))
_SUCCESS = ok(closed({"success": TRUE}))
_TOKEN_QUERY = (query("token", STRING, description="the token from the emailed link"),)


async def _link_then_redirect(call: Call, action: Callable[[str | None], Awaitable[object]], flag: str) -> None:
    """A link opened from an email: do it, then land on the app with a flag or an error kind."""
    try:
        await action(call.query().get("token"))
        params = {flag: "1"}
    except AuthError as error:
        params = {"error": error.kind}
    await send_redirect(call.send, f"{call.auth.ctx.app_url}/?{urlencode(params)}")


@route(
    "GET", "/verify-email", Access.PUBLIC, summary="Emailed verification link: verify, then redirect to the app",
    answers={302: REDIRECT}, query=_TOKEN_QUERY,
    description="Redirects to the app with `?email_verified=1` or `?error=Verification`.",
)  # fmt: skip
async def verify_email_link(call: Call, _: None) -> None:
    await _link_then_redirect(call, call.auth.accounts.verify_email, "email_verified")


@route(
    "POST", "/verify-email", Access.CLIENT, summary="Verify the email address with the emailed token",
    answers={200: _USER},
)  # fmt: skip
async def verify_email(call: Call, body: LinkToken) -> None:
    user = await call.auth.accounts.verify_email(body.token)
    await send_json(call.send, 200, {"user": user.to_json()})


@route(
    "POST", "/verify-email/send", Access.CLIENT,
    summary="Email a verification link: for the session's address, or (signed out) for `email` if it has an "
    "unverified account, with the same answer for every address",
    answers={200: ok(closed({"sent": TRUE}))}, errors=(401, 429), body_optional=True, security=SIGNED_IN_SECURITY,
    description="Signed in: no body. The link opens GET /verify-email. 429 after 3 an hour.",
)  # fmt: skip
async def send_verification(call: Call, body: ResendVerification) -> None:
    """Signed out, `{email}`: a new link if that address has an unverified account, the same answer
    for every address (the first link may have expired before its owner could sign in)."""
    if body.email is not None:
        await call.auth.accounts.resend_verification(body.email, meta=call.meta())
    else:
        current = await call.auth.authenticate_fresh(call.credentials.token)
        await call.auth.accounts.send_verification(current.user)
    await send_json(call.send, 200, {"sent": True})


@route(
    "POST", "/forgot-password", Access.CLIENT, summary="Email a reset link; the same answer for every address",
    answers={200: _SUCCESS}, errors=(429,),
    description="The reset link (`reset_lifetime`, 30 minutes) goes out in the background. Counted per IP, then per"
    " address.",
)  # fmt: skip
async def forgot_password(call: Call, body: ForgotPassword) -> None:
    await call.auth.accounts.forgot_password(body.email, meta=call.meta())
    await send_json(call.send, 200, {"success": True})  # the same for every address


@route(
    "POST", "/reset-password", Access.CLIENT, summary="Set a new password from a reset link; revokes every session",
    answers={200: ok(closed({"success": TRUE}), cookies=True)},
    description="A credential event: every session and pending link ends; passkeys and provider identities are "
    "removed; an unverified address becomes verified and its factors are removed (account recovery).",
)  # fmt: skip
async def reset_password(call: Call, body: ResetPassword) -> None:
    await call.auth.accounts.reset_password(body.token, body.password, meta=call.meta())
    await send_json(call.send, 200, {"success": True}, extra_headers=clearing_cookies(call.config))


@route(
    "POST", "/change-password", Access.SIGNED_IN, summary="Change the password; revokes every other session",
    answers={200: _SUCCESS}, description="A credential event: every other session ends.",
)  # fmt: skip
async def change_password(call: Call, body: ChangePassword) -> None:
    await call.auth.accounts.change_password(call.signed_in, body.current_password, body.new_password, meta=call.meta())
    await send_json(call.send, 200, {"success": True})


@route(
    "POST", "/change-email", Access.SIGNED_IN,
    summary="Email a confirmation link to a new address (step-up); in quiet mode the same answer for a taken address",
    answers={200: ok(closed({"verification_sent": TRUE}))}, errors=(409, 429),
    description="Nothing changes until the link is followed; then the old address is told and it is a credential "
    "event. 409 `EmailInUse` except in quiet mode.",
)  # fmt: skip
async def change_email(call: Call, body: ChangeEmail) -> None:
    await call.auth.accounts.request_email_change(call.signed_in, body.email, password=body.password, code=body.code)
    await send_json(call.send, 200, {"verification_sent": True})


@route(
    "GET", "/change-email/verify", Access.PUBLIC,
    summary="The emailed email-change link: a confirmation page whose button POSTs (GET spends nothing)",
    answers={200: html_page("token and csrfToken"), 302: REDIRECT}, query=_TOKEN_QUERY,
    description="Mail scanners open links. A dead link redirects to the app with `?error=Kind`.",
)  # fmt: skip
async def change_email_link(call: Call, _: None) -> None:
    """The emailed link: a confirmation page; only its POST changes the address (a mail scanner
    opening the link spends nothing)."""
    try:
        token = call.query().get("token")
        new_email = await call.auth.accounts.pending_email_change(token)
    except AuthError as error:
        await send_redirect(call.send, f"{call.auth.ctx.app_url}/?{urlencode({'error': error.kind})}")
        return
    await send_confirmation_page(
        call, title="Change your email address",
        question=f"Use <strong>{escape(new_email)}</strong> as your account's email address?",
        action=f"{call.config.base_path}/change-email/verify", fields={"token": token or ""}, button="Confirm",
    )  # fmt: skip


@route(
    "POST", "/change-email/verify", Access.FORM,
    summary="Confirm an email change: JSON with the header (200 {user}), or the confirmation page's form with "
    "csrfToken (302 to the app with ?email_changed=1 or ?error=Kind)",
    answers={200: _USER, 302: REDIRECT}, errors=(409,),
)  # fmt: skip
async def change_email_verify(call: Call, body: LinkToken | LinkTokenForm) -> None:
    current = await call.auth.get_session(call.credentials.token)
    keep = current.session.id if current else None
    if not isinstance(body, LinkTokenForm):
        user = await call.auth.accounts.confirm_email_change(body.token, keep_session=keep)
        await send_json(call.send, 200, {"user": user.to_json()})
        return
    try:
        await call.auth.accounts.confirm_email_change(body.token, keep_session=keep)
        params = {"email_changed": "1"}
    except AuthError as error:
        params = {"error": error.kind}
    await send_redirect(call.send, f"{call.auth.ctx.app_url}/?{urlencode(params)}")


@route(
    "POST", "/delete-account", Access.SIGNED_IN, summary="Delete the account (step-up)",
    answers={200: ok(closed({"deleted": TRUE}), cookies=True)}, errors=(429,), body_optional=True,
    description="Sessions, accounts, factors and passkeys are removed.",
)  # fmt: skip
async def delete_account(call: Call, body: StepUp) -> None:
    await call.auth.accounts.delete_account(call.signed_in, meta=call.meta(), **proof(body))
    await send_json(call.send, 200, {"deleted": True}, extra_headers=clearing_cookies(call.config))


@route(
    "POST", "/reauthenticate", Access.SIGNED_IN,
    summary="Step-up: prove the password or a TOTP code again; credential changes within reauth_window then need "
    "no proof of their own",
    answers={200: ok(closed({"reauthenticated": TRUE, "auth_time": STRING}), cookies=True)}, errors=(429,),
    description="The JWT strategy re-issues its cookie. 429 counts per user, so strangers cannot fill it.",
)  # fmt: skip
async def reauthenticate(call: Call, body: StepUp) -> None:
    current = await call.auth.security.reauthenticate(call.signed_in, **proof(body))
    headers = None
    if not call.auth.uses_database_sessions and not call.credentials.from_bearer:
        # The JWT strategy keeps the auth time in the cookie: hand out one that carries it.
        tokens = await call.auth.sessions.reissue(current, auth_time=current.session.auth_time)  # type: ignore[union-attr]
        headers = session_cookies(tokens, call.config)
    auth_time = current.session.authenticated_at.isoformat().replace("+00:00", "Z")
    await send_json(call.send, 200, {"reauthenticated": True, "auth_time": auth_time}, extra_headers=headers)


@route(
    "GET", "/accounts", Access.SIGNED_IN, summary="List the provider identities linked to the user",
    answers={
        200: ok(closed({"accounts": {"type": "array", "items": closed({"provider": STRING, "account_id": STRING})}}))
    },
)  # fmt: skip
async def account_list(call: Call, _: None) -> None:
    accounts = await call.auth.store.list_accounts(call.signed_in.user.id)
    listed = [{"provider": a.provider, "account_id": a.account_id} for a in accounts]
    await send_json(call.send, 200, {"accounts": listed})


@route(
    "DELETE", "/accounts", Access.SIGNED_IN,
    summary="Unlink a provider identity (step-up; not the last way to sign in)",
    answers={200: ok(closed({"unlinked": TRUE}))}, errors=(404, 429), body_optional=True,
    query=(
        query("provider", {**STRING, "maxLength": 64, "minLength": 1}, required=True),
        query("id", {**STRING, "maxLength": 255, "minLength": 1}, required=True),
    ),
    description="A credential event.",
)  # fmt: skip
async def account_unlink(call: Call, body: StepUp) -> None:
    params = call.query()
    provider, account_id = params.get("provider"), params.get("id")
    if not provider or not account_id:
        raise InvalidRequest("give ?provider=<provider id>&id=<account id>", field="provider")
    await call.auth.oauth.unlink(call.signed_in, provider, account_id, **proof(body))
    await send_json(call.send, 200, {"unlinked": True})
