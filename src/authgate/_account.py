"""The account lifecycle: email verification, forgot/reset/change password, change email, delete.

Every token is single-use, short-lived, stored hashed and bound to its user and purpose. A reset
link also carries a fingerprint of the password hash it was issued against, so it dies the moment
the password changes by any route.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from ._errors import Configuration, CredentialsSignin, EmailInUse, InvalidRequest, Verification
from ._models import AuthSession, RequestMeta, User
from ._verification import Verifications

if TYPE_CHECKING:
    from ._engine import Auth
    from .mail import EmailMessage

__all__ = ["AccountFlows"]

logger = logging.getLogger("authgate")

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name, not a password
CHANGE_EMAIL = "change_email"


def _fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:32]


class AccountFlows:
    """Framework-free account operations for one `Auth`."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.config = auth.config
        self.tokens = Verifications(auth)
        self._background: set[asyncio.Task[None]] = set()

    # -- links -----------------------------------------------------------------------------------
    # Links in emails come from configuration only, never from the request: a forged Host header
    # would otherwise mail the victim a reset link to the attacker's site, token included.

    @property
    def app_url(self) -> str:
        """Where the app's pages live (reset form, landing after a link)."""
        url = self.config.accounts.app_url or self.config.base_url
        if url is None:
            raise Configuration("set base_url or AccountOptions(app_url=...) to send links by email")
        return url.rstrip("/")

    @property
    def api_url(self) -> str:
        """Where the auth routes live (links that GET a route)."""
        origin = self.config.own_origin or self.app_url
        return f"{origin}{self.config.base_path}"

    # -- delivery --------------------------------------------------------------------------------

    async def deliver(self, message: EmailMessage) -> None:
        """Send now; Configuration when no sender is set."""
        if self.auth.email_sender is None:
            raise Configuration("an email_sender is needed for this operation")
        await self.auth.email_sender.send(message)

    def deliver_later(self, message: EmailMessage) -> None:
        """Send in the background, so the answer takes as long whether or not an email goes out."""

        async def run() -> None:
            try:
                await self.deliver(message)
            except Exception:  # nobody is waiting for this answer; log and move on
                logger.exception("authgate: sending an email to %s failed", message.to)

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- email verification ------------------------------------------------------------------------

    async def send_verification(self, user: User) -> None:
        from .mail import verification_message

        if user.email_verified:
            raise InvalidRequest("email is already verified")
        await self.auth.rate_limit("email_verification_per_user", user.id)
        await self.auth.store.delete_verifications(user.id, VERIFY_EMAIL)
        raw = await self.tokens.issue(
            VERIFY_EMAIL, user_id=user.id, lifetime=self.config.accounts.verification_lifetime,
            data={"email": user.email},
        )  # fmt: skip
        link = f"{self.api_url}/verify-email?{urlencode({'token': raw})}"
        await self.deliver(verification_message(user.email, link))

    async def verify_email(self, raw: str | None) -> User:
        token = await self.tokens.consume(raw, VERIFY_EMAIL)
        user = await self.auth.store.get_user(token.user_id or "")
        # The link proves ownership of the address it was sent to, not of a later one.
        if user is None or (token.data or {}).get("email") != user.email:
            raise Verification()
        verified = replace(user, email_verified=True, updated_at=self.config.clock())
        await self.auth.store.update_user(verified)
        return verified

    # -- passwords -------------------------------------------------------------------------------

    async def forgot_password(self, email: str) -> None:
        """Always succeeds from the caller's view; emails a reset link when the account exists."""
        from ._engine import normalize_email
        from .mail import password_reset_message

        try:
            _, email_key = normalize_email(email)
        except InvalidRequest:
            return
        await self.auth.rate_limit("forgot_password_per_email", email_key)
        found = await self.auth.store.get_credentials(email_key)
        if found is None:
            return
        user, password_hash = found
        await self.auth.store.delete_verifications(user.id, RESET_PASSWORD)
        raw = await self.tokens.issue(
            RESET_PASSWORD, user_id=user.id, lifetime=self.config.accounts.reset_lifetime,
            data={"pw": _fingerprint(password_hash)},
        )  # fmt: skip
        link = f"{self.app_url}{self.config.accounts.reset_path}?{urlencode({'token': raw})}"
        self.deliver_later(password_reset_message(user.email, link))

    async def reset_password(self, raw: str | None, new_password: str, *, meta: RequestMeta | None) -> User:
        """Set a new password from a reset link and revoke every session and reset link."""
        await self.auth.check_new_password(new_password)
        token = await self.tokens.consume(raw, RESET_PASSWORD)
        user = await self.auth.store.get_user(token.user_id or "")
        if user is None:
            raise Verification()
        found = await self.auth.store.get_credentials(self._email_key(user))
        if found is None or (token.data or {}).get("pw") != _fingerprint(found[1]):
            raise Verification()  # the password changed since this link was sent
        await self._set_password(user, new_password, keep_session=None, meta=meta, reason="password_reset")
        return user

    async def change_password(
        self, current: AuthSession, current_password: str, new_password: str, *, meta: RequestMeta | None
    ) -> None:
        """Needs the current password; revokes every other session."""
        await self.auth.check_new_password(new_password)
        await self.require_password(current.user, current_password)
        await self._set_password(current.user, new_password, keep_session=current.session.id, meta=meta,
                                 reason="password_change")  # fmt: skip

    async def _set_password(
        self, user: User, new_password: str, *, keep_session: str | None, meta: RequestMeta | None, reason: str
    ) -> None:
        store = self.auth.store
        await store.set_password_hash(user.id, await self.auth.hasher.hash(new_password), now=self.config.clock())
        await store.delete_verifications(user.id, RESET_PASSWORD)
        revoked = await store.delete_user_sessions(user.id, except_session_id=keep_session)
        await self.auth._audit(reason, user_id=user.id, meta=meta, sessions_revoked=revoked)

    async def require_password(self, user: User, password: str) -> None:
        """Re-authentication for sensitive operations: the current password must match. Attempts
        count against the account's sign-in limit, so a stolen session cannot guess without end."""
        email_key = self._email_key(user)
        await self.auth.rate_limit("sign_in_per_account", email_key)
        found = await self.auth.store.get_credentials(email_key)
        stored = found[1] if found else None
        ok, _ = await self.auth.hasher.verify(stored, password)
        if not ok or stored is None:
            raise CredentialsSignin("Current password is wrong")

    def _email_key(self, user: User) -> str:
        from ._engine import normalize_email

        return normalize_email(user.email)[1]

    # -- email change ----------------------------------------------------------------------------

    async def request_email_change(self, current: AuthSession, new_email: str, password: str | None) -> None:
        """Email a link to the new address; nothing changes until it is followed. Needs the
        password (or a recent sign-in): a stolen session alone must not move the account away."""
        from ._engine import normalize_email
        from .mail import email_change_message

        display, email_key = normalize_email(new_email)
        await self.reauthenticate(current, password)
        if await self.auth.store.get_credentials(email_key) is not None:
            raise EmailInUse()
        await self.auth.rate_limit("email_verification_per_user", current.user.id)
        await self.auth.store.delete_verifications(current.user.id, CHANGE_EMAIL)
        raw = await self.tokens.issue(
            CHANGE_EMAIL, user_id=current.user.id, lifetime=self.config.accounts.verification_lifetime,
            data={"email": display, "email_key": email_key, "old_email": current.user.email},
        )  # fmt: skip
        link = f"{self.api_url}/change-email/verify?{urlencode({'token': raw})}"
        await self.deliver(email_change_message(display, link))

    async def confirm_email_change(self, raw: str | None, *, keep_session: str | None = None) -> User:
        """Switch to the new address; tell the old one; end every other session and reset link."""
        from .mail import email_changed_notice

        token = await self.tokens.consume(raw, CHANGE_EMAIL)
        data = token.data or {}
        user = await self.auth.store.get_user(token.user_id or "")
        if user is None or data.get("old_email") != user.email:
            raise Verification()
        changed = replace(user, email=str(data["email"]), email_verified=True, updated_at=self.config.clock())
        await self.auth.store.update_user(changed, email_key=str(data["email_key"]))
        await self.auth.store.delete_verifications(user.id, RESET_PASSWORD)
        revoked = await self.auth.store.delete_user_sessions(user.id, except_session_id=keep_session)
        self.deliver_later(email_changed_notice(user.email, changed.email, self.app_url))
        await self.auth._audit("email_change", user_id=user.id, sessions_revoked=revoked)
        return changed

    async def reauthenticate(self, current: AuthSession, password: str | None) -> None:
        """The password for accounts that have one; otherwise a sign-in within `reauth_window`."""
        found = await self.auth.store.get_credentials(self._email_key(current.user))
        if found is not None and found[1] is not None:
            await self.require_password(current.user, password or "")
        elif self.config.clock() - current.session.created_at > self.config.sessions.reauth_window:
            raise CredentialsSignin("Sign in again to do this")

    # -- deletion --------------------------------------------------------------------------------

    async def delete_account(self, current: AuthSession, password: str | None, *, meta: RequestMeta | None) -> None:
        """Needs the password (or, for accounts without one, a sign-in in the last 10 minutes)."""
        await self.reauthenticate(current, password)
        await self.auth.store.delete_user(current.user.id)
        await self.auth._audit("delete_account", user_id=current.user.id, meta=meta)
