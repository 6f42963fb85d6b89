"""The Auth.js half of the route table: /csrf, /providers, /signin/{provider},
/callback/{provider}, /signout (form variant) and /error.

A provider callback never answers with an error status: every failure is a redirect to the
error page carrying a stable kind, so a user who tampers with the URL sees a page, not a 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._csrf import csrf_token_from_cookie, new_csrf_cookie
from .._errors import AuthError, InvalidRequest, NotFound, Unauthenticated
from .._mfa import TRUSTED_DEVICE_COOKIE
from .._oauth import CHECKS_COOKIE, CHECKS_MAX_AGE, error_location
from ..mfa import MFAChallenge
from .authjs import UrlMode, credentials_form, mfa_location, send_location, url_mode
from .call import Call
from .confirmation import CSRF_COOKIE, check_form_csrf, read_form_or_json
from .parsing import body_media_type, optional_string_field
from .responses import Send, clearing_cookies, send_json, send_redirect, session_cookies, short_lived_cookie

if TYPE_CHECKING:
    from .app import AuthApp

__all__ = ["CSRF_COOKIE", "ProviderRoutes"]

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


class ProviderRoutes:
    """Handlers bound to one AuthApp."""

    def __init__(self, app: AuthApp) -> None:
        self.app = app
        self.auth = app.auth
        self.config = app.config

    # -- helpers ---------------------------------------------------------------------------------

    def _checks_cookie_name(self) -> str:
        return f"__Secure-{CHECKS_COOKIE}" if self.config.cookies.host_prefix else CHECKS_COOKIE

    def _checks_path(self) -> str:
        return f"{self.config.base_path}/callback"

    def _redirect_uri(self, call: Call, provider_id: str) -> str:
        return f"{call.origin()}{self.config.base_path}/callback/{provider_id}"

    async def form_or_json(self, call: Call) -> tuple[dict[str, Any], bool]:
        """The body of a POST that an HTML form or a script may send; (body, came_from_form)."""
        return await read_form_or_json(call)

    def check_form_csrf(self, call: Call, body: dict[str, Any], from_form: bool) -> None:
        check_form_csrf(call, body, from_form, self.config)

    # -- routes ----------------------------------------------------------------------------------

    async def csrf(self, call: Call, send: Send) -> None:
        """A token for HTML forms; the same one while the signed cookie stays valid."""
        secret = self.config.signing_secret
        token = csrf_token_from_cookie(self.config.secrets, call.cookie(CSRF_COOKIE))
        headers = None
        if token is None:
            token, cookie = new_csrf_cookie(secret)
            headers = [short_lived_cookie(self.config, CSRF_COOKIE, cookie, path="/", max_age=24 * 3600)]
        await send_json(send, 200, {"csrfToken": token}, extra_headers=headers)

    async def list_providers(self, call: Call, send: Send) -> None:
        base = f"{call.origin()}{self.config.base_path}"
        listed: dict[str, dict[str, str]] = {}
        if self.auth.has_store:
            listed["credentials"] = {
                "id": "credentials",
                "name": "Email and password",
                "type": "credentials",
                "signinUrl": f"{base}/sign-in",
                "callbackUrl": f"{base}/callback/credentials",
            }
        if self.auth.has_store and self.config.magic_links is not None:
            listed["email"] = {
                "id": "email",
                "name": "Email",
                "type": "email",
                "signinUrl": f"{base}/signin/email",
                "callbackUrl": f"{base}/callback/email",
            }
        for provider in self.auth.providers.values():
            listed[provider.id] = {
                "id": provider.id,
                "name": provider.name,
                "type": provider.kind,
                "signinUrl": f"{base}/signin/{provider.id}",
                "callbackUrl": f"{base}/callback/{provider.id}",
            }
        await send_json(send, 200, listed)

    async def signin(self, call: Call, send: Send) -> None:
        """Start a provider flow: 302 to the provider with state, PKCE S256 and nonce.

        GET (a plain link) signs in; POST (form with csrfToken, or script with the client header)
        may also ask to link the provider to the signed-in user with `link=true`.
        """
        provider_id = call.path_param
        if provider_id == "email" and self.config.magic_links is not None:
            await self.app.magic_links.request(call, send)
            return
        if provider_id == "passkey":
            if call.scope["method"] != "POST":
                raise NotFound("Passkey sign-in starts with POST /signin/passkey")
            await self.app.accounts.passkey_sign_in_options(call, send)
            return
        self.auth.oauth.provider(provider_id)  # 404 before anything else for unknown ids
        params: dict[str, Any] = call.query()
        link = False
        mode: UrlMode = None
        if call.scope["method"] == "POST":
            body, from_form = await self.form_or_json(call)
            self.check_form_csrf(call, body, from_form)
            params = {**params, **body}
            link = str(params.get("link", "")).lower() in ("1", "true")
            mode = url_mode(call, body)
        link_session = None
        if link:
            link_session = await self.auth.get_session(call.credentials.token)
            if link_session is None:
                raise Unauthenticated()
        requested = params.get("callbackUrl")
        if requested is not None and not isinstance(requested, str):
            raise InvalidRequest("callbackUrl: must be a string", field="callbackUrl")
        target = await self.callback_target(call, requested)
        started = await self.auth.oauth.start(
            provider_id,
            redirect_uri=self._redirect_uri(call, provider_id),
            callback_url=target,
            link_session=link_session,
            password=optional_string_field(params, "password", max_length=self.config.passwords.max_length),
            code=optional_string_field(params, "code", max_length=16),
        )
        cookie = short_lived_cookie(
            self.config, self._checks_cookie_name(), started.checks_cookie, path=self._checks_path(),
            max_age=CHECKS_MAX_AGE,
        )  # fmt: skip
        await send_location(send, mode, started.authorization_url, extra_headers=[cookie])

    async def callback_target(self, call: Call, requested: str | None) -> str:
        origin = call.origin()
        if self.auth.callbacks.redirect is not None and requested:
            requested = await self.auth.callbacks.redirect(requested, origin)
        return self.auth.oauth.callback_target(requested, origin)

    async def callback(self, call: Call, send: Send) -> None:
        provider_id = call.path_param
        if provider_id == "credentials":
            if call.scope["method"] != "POST":
                raise NotFound()
            if body_media_type(call.scope) != "application/x-www-form-urlencoded":
                await self.app.sign_in(call, send)
                return
            body, from_form = await self.form_or_json(call)
            self.check_form_csrf(call, body, from_form)
            self.app.require_passwords()
            await credentials_form(self, call, send, body)
            return
        if provider_id == "passkey":
            if call.scope["method"] != "POST":
                raise NotFound()
            await self.app.accounts.passkey_callback(call, send)
            return
        if provider_id == "email" and self.config.magic_links is not None:
            await self.app.magic_links.callback(call, send)
            return
        if call.scope["method"] != "GET":
            raise NotFound("Provider callbacks arrive as GET redirects")
        self.auth.oauth.provider(provider_id)
        checks_name = self._checks_cookie_name()
        drop_checks = short_lived_cookie(self.config, checks_name, "", path=self._checks_path(), max_age=0)
        error_page = self._error_page(call)
        try:
            current = await self.auth.get_session(call.credentials.token)
            result, target = await self.auth.oauth.finish(
                provider_id,
                params=call.query(),
                checks_cookie=call.cookie(self._checks_cookie_name()),
                redirect_uri=self._redirect_uri(call, provider_id),
                current=current,
                meta=call.meta(),
                trusted_device=call.cookie(TRUSTED_DEVICE_COOKIE),
            )
        except AuthError as error:
            kind = error.kind if error.kind in _ERROR_KINDS else "OAuthCallbackError"
            await send_redirect(send, error_location(error_page, kind), extra_headers=[drop_checks])
            return
        if isinstance(result, MFAChallenge):
            # The challenge rides in the fragment: browsers never send it to a server or in a
            # Referer. The page answers it with POST /mfa/verify.
            await send_redirect(send, mfa_location(target, result), extra_headers=[drop_checks])
            return
        cookies = session_cookies(result.tokens, self.config) if result.tokens else []
        await send_redirect(send, target, extra_headers=[drop_checks, *cookies])

    async def signout(self, call: Call, send: Send) -> None:
        """Auth.js form sign-out: a form with csrfToken gets a redirect (or `{url}` when it asks
        with `json=true` or `X-Auth-Return-Redirect`); a script sending JSON gets `{success}`."""
        body, from_form = await self.form_or_json(call)
        self.check_form_csrf(call, body, from_form)
        await self.auth.sign_out(
            access_token=call.credentials.token, refresh_token=call.credentials.refresh_token, meta=call.meta()
        )
        if not from_form:
            await send_json(send, 200, {"success": True}, extra_headers=clearing_cookies(self.config))
            return
        requested = body.get("callbackUrl")
        target = await self.callback_target(call, requested if isinstance(requested, str) else None)
        await send_location(send, url_mode(call, body), target, extra_headers=clearing_cookies(self.config))

    def _error_page(self, call: Call) -> str:
        """The app's own error page when configured, else GET <base_path>/error (JSON)."""
        path = self.config.accounts.error_path
        if path is None:
            return f"{call.origin()}{self.config.base_path}/error"
        origin = self.config.own_origin or self.config.accounts.app_url or call.origin()
        return f"{origin.rstrip('/')}{path}"

    async def error_page(self, call: Call, send: Send) -> None:
        kind = call.query().get("error", "")
        if kind not in _ERROR_KINDS:
            kind = "OAuthCallbackError"
        if self.config.accounts.error_path is not None:
            await send_redirect(send, error_location(self._error_page(call), kind))
            return
        messages = {
            "AccessDenied": "Sign-in was refused.",
            "InvalidCheck": "The sign-in attempt could not be verified; please start again.",
            "OAuthAccountNotLinked": "This email already belongs to an account. Sign in the way you did before, "
            "then link this provider from your account.",
        }
        message = messages.get(kind, "Sign-in did not complete; please try again.")
        await send_json(send, 400, {"error": message, "kind": kind})
