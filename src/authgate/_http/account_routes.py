"""Routes for second factors, passkeys and the account lifecycle. Every one of them that acts for
a signed-in user re-reads the session from the store and runs the cross-site checks first."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .._errors import AuthError, InvalidRequest, NotFound
from .._mfa import TRUSTED_DEVICE_COOKIE
from .._models import AuthSession
from .call import Call
from .confirmation import check_form_csrf, read_form_or_json, send_confirmation_page
from .credentials import authenticate_request, check_cross_site
from .parsing import optional_string_field, read_json_body, read_optional_json_body, string_field
from .responses import Send, clearing_cookies, send_json, send_redirect, session_cookies, short_lived_cookie

if TYPE_CHECKING:
    from .app import AuthApp

__all__ = ["AccountRoutes"]


def _object_field(body: dict[str, Any], field: str) -> dict[str, Any]:
    value = body.get(field)
    if not isinstance(value, dict):
        raise InvalidRequest(f"{field}: must be an object", field=field)
    return value


class AccountRoutes:
    """Handlers bound to one AuthApp."""

    def __init__(self, app: AuthApp) -> None:
        self.app = app
        self.auth = app.auth
        self.config = app.config

    def routes(self) -> dict[str, dict[str, Any]]:
        return {
            "/mfa": {"GET": self.mfa_status},
            "/reauthenticate": {"POST": self.reauthenticate},
            "/accounts": {"GET": self.account_list, "DELETE": self.account_unlink},
            "/mfa/verify": {"POST": self.mfa_verify},
            "/mfa/totp/enroll": {"POST": self.totp_enroll},
            "/mfa/totp/confirm": {"POST": self.totp_confirm},
            "/mfa/totp/disable": {"POST": self.totp_disable},
            "/mfa/recovery-codes": {"POST": self.recovery_codes},
            "/mfa/email/enable": {"POST": self.email_mfa_enable},
            "/mfa/email/disable": {"POST": self.email_mfa_disable},
            "/verify-email": {"GET": self.verify_email_link, "POST": self.verify_email},
            "/verify-email/send": {"POST": self.send_verification},
            "/forgot-password": {"POST": self.forgot_password},
            "/reset-password": {"POST": self.reset_password},
            "/change-password": {"POST": self.change_password},
            "/change-email": {"POST": self.change_email},
            "/change-email/verify": {"GET": self.change_email_link, "POST": self.change_email_verify},
            "/delete-account": {"POST": self.delete_account},
            "/passkey/register/options": {"POST": self.passkey_register_options},
            "/passkey/register/verify": {"POST": self.passkey_register_verify},
            "/passkeys": {"GET": self.passkey_list, "PATCH": self.passkey_rename, "DELETE": self.passkey_delete},
        }

    async def _signed_in(self, call: Call) -> AuthSession:
        return await authenticate_request(call.scope, call.credentials, self.auth, fresh=True)

    def _proof(self, body: dict[str, Any]) -> dict[str, str | None]:
        """The optional step-up proof a body may carry: the password, or a TOTP code."""
        return {
            "password": optional_string_field(body, "password", max_length=self.config.passwords.max_length),
            "code": optional_string_field(body, "code", max_length=16),
        }

    async def reauthenticate(self, call: Call, send: Send) -> None:
        """Step-up: prove the password (or a TOTP code) again; later credential changes within
        `reauth_window` then need no proof of their own."""
        current = await self._signed_in(call)
        body = await read_json_body(call.scope, call.receive)
        current = await self.auth.security.reauthenticate(current, **self._proof(body))
        headers = None
        if not self.auth.uses_database_sessions and not call.credentials.from_bearer:
            # The JWT strategy keeps the auth time in the cookie: hand out one that carries it.
            tokens = await self.auth.sessions.reissue(current, auth_time=current.session.auth_time)  # type: ignore[union-attr]
            headers = session_cookies(tokens, self.config)
        auth_time = current.session.authenticated_at.isoformat().replace("+00:00", "Z")
        await send_json(send, 200, {"reauthenticated": True, "auth_time": auth_time}, extra_headers=headers)

    # -- MFA -------------------------------------------------------------------------------------

    async def mfa_verify(self, call: Call, send: Send) -> None:
        body = await self.app.guarded_body(call)
        challenge = string_field(body, "challenge", max_length=256)
        code = string_field(body, "code", max_length=64)
        trust = body.get("trust_device", False)
        if not isinstance(trust, bool):
            raise InvalidRequest("trust_device: must be true or false", field="trust_device")
        transport = optional_string_field(body, "transport", max_length=16) or "cookie"
        result = await self.auth.mfa.verify(challenge, code, meta=call.meta())
        if transport == "bearer":
            await self.app.send_sign_in(send, result, "bearer")
            return
        headers = session_cookies(result.tokens, self.config) if result.tokens else []
        if trust:
            lifetime = int(self.config.mfa.trusted_device_lifetime.total_seconds())
            value = self.auth.mfa.trusted_device_cookie(result.user)
            headers.append(
                short_lived_cookie(
                    self.config, TRUSTED_DEVICE_COOKIE, value, path=self.config.base_path, max_age=lifetime
                )
            )
        await send_json(send, 200, result.to_json(), extra_headers=headers)

    async def mfa_status(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        await send_json(send, 200, await self.auth.mfa.status(current.user))

    async def totp_enroll(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_optional_json_body(call.scope, call.receive)
        enrollment = await self.auth.mfa.enroll_totp(current, **self._proof(body))
        await send_json(send, 200, enrollment.to_json())

    async def totp_confirm(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_json_body(call.scope, call.receive)
        codes = await self.auth.mfa.confirm_totp(current, string_field(body, "code", max_length=16))
        await send_json(send, 200, {"enabled": True, "recovery_codes": codes})

    async def totp_disable(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_json_body(call.scope, call.receive)
        await send_json(send, 200, {"disabled": await self.auth.mfa.disable(current, "totp", **self._proof(body))})

    async def recovery_codes(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_json_body(call.scope, call.receive)
        codes = await self.auth.mfa.new_recovery_codes(current, **self._proof(body))
        await send_json(send, 200, {"recovery_codes": codes})

    async def email_mfa_enable(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_optional_json_body(call.scope, call.receive)
        await self.auth.mfa.enable_email(current, **self._proof(body))
        await send_json(send, 200, {"enabled": True})

    async def email_mfa_disable(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_optional_json_body(call.scope, call.receive)
        await send_json(send, 200, {"disabled": await self.auth.mfa.disable(current, "email", **self._proof(body))})

    # -- email verification ----------------------------------------------------------------------

    async def send_verification(self, call: Call, send: Send) -> None:
        """Signed in: a new link for the session's address. Signed out, `{email}`: a new link if that
        address has an unverified account, the same answer for every address (the first link may
        have expired before its owner could sign in)."""
        check_cross_site(call.scope, call.credentials, self.config)
        body = await read_optional_json_body(call.scope, call.receive)
        email = optional_string_field(body, "email", max_length=320)
        if email is not None:
            await self.auth.accounts.resend_verification(email, meta=call.meta())
            await send_json(send, 200, {"sent": True})
            return
        current = await self.auth.authenticate_fresh(call.credentials.token)
        await self.auth.accounts.send_verification(current.user)
        await send_json(send, 200, {"sent": True})

    async def verify_email(self, call: Call, send: Send) -> None:
        body = await self.app.guarded_body(call)
        user = await self.auth.accounts.verify_email(string_field(body, "token", max_length=256))
        await send_json(send, 200, {"user": user.to_json()})

    async def _link_then_redirect(self, call: Call, send: Send, action: Any, flag: str) -> None:
        """A link opened from an email: do it, then land on the app with a flag or an error kind."""
        try:
            await action(call.query().get("token"))
            query = {flag: "1"}
        except AuthError as error:
            query = {"error": error.kind}
        await send_redirect(send, f"{self.auth.ctx.app_url}/?{urlencode(query)}")

    async def verify_email_link(self, call: Call, send: Send) -> None:
        await self._link_then_redirect(call, send, self.auth.accounts.verify_email, "email_verified")

    # -- passwords -------------------------------------------------------------------------------

    async def forgot_password(self, call: Call, send: Send) -> None:
        body = await self.app.guarded_body(call)
        email = string_field(body, "email", max_length=320)
        await self.auth.accounts.forgot_password(email, meta=call.meta())
        await send_json(send, 200, {"success": True})  # the same for every address

    async def reset_password(self, call: Call, send: Send) -> None:
        body = await self.app.guarded_body(call)
        token = string_field(body, "token", max_length=256)
        password = string_field(body, "password", max_length=self.config.passwords.max_length)
        await self.auth.accounts.reset_password(token, password, meta=call.meta())
        await send_json(send, 200, {"success": True}, extra_headers=clearing_cookies(self.config))

    async def change_password(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_json_body(call.scope, call.receive)
        max_length = self.config.passwords.max_length
        old = string_field(body, "current_password", max_length=max_length)
        new = string_field(body, "new_password", max_length=max_length)
        await self.auth.accounts.change_password(current, old, new, meta=call.meta())
        await send_json(send, 200, {"success": True})

    # -- email change and deletion ---------------------------------------------------------------

    async def change_email(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_json_body(call.scope, call.receive)
        email = string_field(body, "email", max_length=320)
        await self.auth.accounts.request_email_change(current, email, **self._proof(body))
        await send_json(send, 200, {"verification_sent": True})

    async def _current_session_id(self, call: Call) -> str | None:
        current = await self.auth.get_session(call.credentials.token)
        return current.session.id if current else None

    async def change_email_verify(self, call: Call, send: Send) -> None:
        """POST: JSON `{token}` with the header (200 `{user}`), or the confirmation page's form with
        its CSRF token (then a redirect to the app with `?email_changed=1` or `?error=Kind`)."""
        body, from_form = await read_form_or_json(call)
        check_form_csrf(call, body, from_form, self.config)
        token = string_field(body, "token", max_length=256)
        keep = await self._current_session_id(call)
        if not from_form:
            user = await self.auth.accounts.confirm_email_change(token, keep_session=keep)
            await send_json(send, 200, {"user": user.to_json()})
            return
        try:
            await self.auth.accounts.confirm_email_change(token, keep_session=keep)
            query = {"email_changed": "1"}
        except AuthError as error:
            query = {"error": error.kind}
        await send_redirect(send, f"{self.auth.ctx.app_url}/?{urlencode(query)}")

    async def change_email_link(self, call: Call, send: Send) -> None:
        """GET, the emailed link: a confirmation page; only its POST changes the address (a mail
        scanner opening the link spends nothing)."""
        try:
            token = call.query().get("token")
            new_email = await self.auth.accounts.pending_email_change(token)
        except AuthError as error:
            await send_redirect(send, f"{self.auth.ctx.app_url}/?{urlencode({'error': error.kind})}")
            return
        await send_confirmation_page(
            call, send, self.config, title="Change your email address",
            question=f"Use <strong>{escape(new_email)}</strong> as your account's email address?",
            action=f"{self.config.base_path}/change-email/verify", fields={"token": token or ""}, button="Confirm",
        )  # fmt: skip

    async def delete_account(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_optional_json_body(call.scope, call.receive)
        await self.auth.accounts.delete_account(current, meta=call.meta(), **self._proof(body))
        await send_json(send, 200, {"deleted": True}, extra_headers=clearing_cookies(self.config))

    # -- passkeys --------------------------------------------------------------------------------

    async def passkey_register_options(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_optional_json_body(call.scope, call.receive)
        options = await self.auth.passkeys.registration_options(current, origin=call.origin(), **self._proof(body))
        await send_json(send, 200, options)

    async def passkey_register_verify(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        body = await read_json_body(call.scope, call.receive)
        credential = _object_field(body, "credential")
        name = optional_string_field(body, "name", max_length=255)
        added = await self.auth.passkeys.register(current, credential, name, origin=call.origin())
        await send_json(send, 200, {"passkey": self.auth.passkeys.describe(added)})

    async def passkey_list(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        found = await self.auth.store.list_authenticators(current.user.id)
        await send_json(send, 200, {"passkeys": [self.auth.passkeys.describe(a) for a in found]})

    def _passkey_id(self, call: Call) -> str:
        from .._passkeys import is_credential_id

        credential_id = call.query().get("id")
        if not credential_id:
            raise InvalidRequest("id: the passkey id is required", field="id")
        if not is_credential_id(credential_id):
            raise NotFound("No such passkey")
        return credential_id

    async def passkey_rename(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        credential_id = self._passkey_id(call)
        body = await read_json_body(call.scope, call.receive)
        name = string_field(body, "name", max_length=255)
        if not await self.auth.store.rename_authenticator(current.user.id, credential_id, name):
            raise NotFound("No such passkey")
        await send_json(send, 200, {"renamed": True})

    async def passkey_delete(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        credential_id = self._passkey_id(call)
        body = await read_optional_json_body(call.scope, call.receive)
        await self.auth.passkeys.remove(current, credential_id, **self._proof(body))
        await send_json(send, 200, {"deleted": True})

    # -- provider identities ---------------------------------------------------------------------

    async def account_list(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        accounts = await self.auth.store.list_accounts(current.user.id)
        listed = [{"provider": a.provider, "account_id": a.account_id} for a in accounts]
        await send_json(send, 200, {"accounts": listed})

    async def account_unlink(self, call: Call, send: Send) -> None:
        current = await self._signed_in(call)
        query = call.query()
        provider, account_id = query.get("provider"), query.get("id")
        if not provider or not account_id:
            raise InvalidRequest("give ?provider=<provider id>&id=<account id>", field="provider")
        body = await read_optional_json_body(call.scope, call.receive)
        await self.auth.oauth.unlink(current, provider, account_id, **self._proof(body))
        await send_json(send, 200, {"unlinked": True})

    async def passkey_sign_in_options(self, call: Call, send: Send) -> None:
        check_cross_site(call.scope, call.credentials, self.config)
        await send_json(send, 200, await self.auth.passkeys.authentication_options(origin=call.origin()))

    async def passkey_callback(self, call: Call, send: Send) -> None:
        body = await self.app.guarded_body(call)
        credential = _object_field(body, "credential")
        result = await self.auth.passkeys.sign_in(
            credential, origin=call.origin(), meta=call.meta(), trusted_device=call.cookie(TRUSTED_DEVICE_COOKIE)
        )
        await self.app.send_sign_in(send, result, optional_string_field(body, "transport", max_length=16) or "cookie")
