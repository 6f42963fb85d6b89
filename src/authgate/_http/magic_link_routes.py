"""HTTP side of sign-in links by email: POST /signin/email, GET and POST /callback/email,
GET /verify-request. The flow itself is `authgate._magic_links`.

Both request kinds of the provider routes are accepted: JSON with `X-Authgate-Client: true`
(authgate's client) and the Auth.js form with `csrfToken` (double submit). The emailed link
opens a confirmation page (GET never spends the token: mail scanners follow links); its form
POSTs back with a CSRF token, and that POST signs in.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .._errors import AuthError, MethodNotAllowed
from .._mfa import TRUSTED_DEVICE_COOKIE
from .._oauth import error_location
from ..mfa import MFAChallenge
from .authjs import mfa_location, send_location, url_mode
from .call import Call
from .confirmation import send_confirmation_page
from .parsing import optional_string_field, string_field
from .responses import Send, send_json, session_cookies

if TYPE_CHECKING:
    from .provider_routes import ProviderRoutes

__all__ = ["MagicLinkRoutes"]

class MagicLinkRoutes:
    """Handlers bound to the provider routes (for their CSRF, body and redirect helpers)."""

    def __init__(self, routes: ProviderRoutes) -> None:
        self.routes = routes
        self.auth = routes.auth
        self.config = routes.config

    def _error_url(self, call: Call, kind: str) -> str:
        return error_location(f"{call.origin()}{self.config.base_path}/error", kind)

    async def request(self, call: Call, send: Send) -> None:
        """POST /signin/email: `{email, callbackUrl?}`. The same answer whoever owns the address."""
        if call.scope["method"] != "POST":
            raise MethodNotAllowed()
        self.auth.magic_links.check_available()
        body, from_form = await self.routes.form_or_json(call)
        self.routes.check_form_csrf(call, body, from_form)
        email = string_field(body, "email", max_length=320)
        requested = optional_string_field(body, "callbackUrl", max_length=2048)
        target = await self.routes.callback_target(call, requested)
        await self.auth.magic_links.request(email, target, meta=call.meta())
        if not from_form:
            await send_json(send, 200, {"success": True})  # authgate's client: the same for every address
            return
        verify = f"{call.origin()}{self.config.base_path}/verify-request?provider=email&type=email"
        await send_location(send, url_mode(call, body), verify)

    async def verify_request(self, call: Call, send: Send) -> None:
        """GET /verify-request: where Auth.js sends the browser after asking for a link."""
        await send_json(send, 200, {"message": "If the address can sign in, a sign-in link is on its way."})

    async def callback(self, call: Call, send: Send) -> None:
        if call.scope["method"] == "GET":
            await self._confirmation_page(call, send)
        else:
            await self._redeem(call, send)

    async def _confirmation_page(self, call: Call, send: Send) -> None:
        """GET /callback/email?token&email: a page whose button POSTs; the token stays unspent."""
        self.auth.magic_links.check_available()
        try:
            query = call.query()  # a mangled link is a page for the user too, not a JSON 400
            token, email = query.get("token"), query.get("email")
            await self.auth.magic_links.peek(token, email)
        except AuthError as error:
            kind = "ServiceUnavailable" if error.kind == "ServiceUnavailable" else "Verification"
            await send_location(send, None, self._error_url(call, kind))
            return
        await send_confirmation_page(
            call, send, self.config, title="Sign in", question=f"Sign in as <strong>{escape(email or '')}</strong>?",
            action=f"{self.config.base_path}/callback/email", fields={"token": token or "", "email": email or ""},
            button="Sign in",
        )  # fmt: skip

    async def _redeem(self, call: Call, send: Send) -> None:
        """POST /callback/email: `{token, email}` (form with csrfToken, or JSON with the header)."""
        self.auth.magic_links.check_available()
        body, from_form = await self.routes.form_or_json(call)
        self.routes.check_form_csrf(call, body, from_form)
        token = optional_string_field(body, "token", max_length=256)
        email = optional_string_field(body, "email", max_length=320)
        try:
            result, target = await self.auth.magic_links.redeem(
                token, email, meta=call.meta(), trusted_device=call.cookie(TRUSTED_DEVICE_COOKIE)
            )
        except AuthError as error:
            if not from_form:
                raise
            kind = error.kind if error.kind in ("Verification", "AccessDenied", "RateLimited") else "Verification"
            await send_location(send, url_mode(call, body), self._error_url(call, kind), status=error.status_code)
            return
        if not from_form:
            await self.routes.app.send_sign_in(send, result, "cookie")
            return
        if isinstance(result, MFAChallenge):
            await send_location(send, url_mode(call, body), mfa_location(target, result))
            return
        cookies = session_cookies(result.tokens, self.config) if result.tokens else None
        await send_location(send, url_mode(call, body), target, extra_headers=cookies)
