"""The two account-security rules that every credential-changing route goes through, each
written once here so that a new route cannot forget a piece of it:

- **Credential events.** Whatever changes who can sign in (password, email, factors, recovery codes,
  passkeys, provider identities, account recovery) ends, in one store transaction, every pending
  token of every purpose, every other session and, through the bumped credential version, every
  trusted device and every sign-in whose credential check happened before the change. It is then
  audited and the account's verified address is told.
- **Step-up.** Adding or removing a credential or factor needs a re-authentication within
  `reauth_window`: a password or a code of an existing factor sent with the request, or a session
  whose auth time (set at sign-in and by `reauthenticate`, never by refresh or re-issue) is recent.
  Re-authentication attempts count per user in their own bucket, so strangers failing sign-ins
  cannot lock a signed-in owner out of it.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from ._context import AuthContext
from ._errors import CredentialsSignin, InvalidRequest, ReauthenticationRequired, Verification
from ._models import AuthSession, RequestMeta, User
from ._totp_codes import TOTPCodes
from .mail import credential_changed_notice

__all__ = ["AccountSecurity"]

logger = logging.getLogger("authgate")


class AccountSecurity:
    """Credential events and step-up for one `Auth`."""

    def __init__(self, ctx: AuthContext, totp: TOTPCodes) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.totp = totp

    # -- credential events -----------------------------------------------------------------------

    async def credential_changed(
        self,
        user: User,
        event: str,
        *,
        keep_session: str | None,
        meta: RequestMeta | None = None,
        notify: bool = True,
        **detail: Any,
    ) -> int:
        """Record a change of who can sign in: end every pending token, every other session and
        every trusted device; audit; tell the verified address. Returns the sessions revoked.

        Call it after the change itself is stored: a sign-in that read the old credential then
        carries the old version, and its session insert is refused (or, if it won the race, the
        session is deleted here with the others)."""
        revoked = await self.ctx.store.record_credential_change(user.id, keep_session_id=keep_session)
        await self.ctx.audit(event, user_id=user.id, meta=meta, sessions_revoked=revoked, **detail)
        if notify and user.email_verified and self.ctx.email_sender is not None:
            self.ctx.deliver_later(credential_changed_notice(user.email, event, self.ctx.app_url))
        return revoked

    # -- step-up ---------------------------------------------------------------------------------

    def is_recent(self, current: AuthSession) -> bool:
        """True while the session's last (re-)authentication is inside `reauth_window`."""
        return self.config.clock() - current.session.authenticated_at <= self.config.sessions.reauth_window

    async def require_step_up(
        self, current: AuthSession, *, password: str | None = None, code: str | None = None
    ) -> AuthSession:
        """Pass when the request carries a valid password or factor code, or the session's auth
        time is recent; else ReauthenticationRequired. Returns the session with its auth time."""
        if password is not None or code is not None:
            return await self.reauthenticate(current, password=password, code=code)
        if self.is_recent(current):
            return current
        raise ReauthenticationRequired()

    async def reauthenticate(
        self, current: AuthSession, *, password: str | None = None, code: str | None = None
    ) -> AuthSession:
        """Check a password (or a TOTP code) of the signed-in user and record the new auth time
        on the session. Limited per user, never in the sign-in bucket strangers can fill."""
        await self.ctx.rate_limit("reauth_per_user", current.user.id)
        if password is not None:
            if not await self.password_matches(current.user, password):
                await self.ctx.audit("reauth_failed", user_id=current.user.id, session_id=current.session.id)
                raise CredentialsSignin("Current password is wrong")
        elif code is None or not await self.totp.confirmed_code_matches(current.user.id, code):
            await self.ctx.audit("reauth_failed", user_id=current.user.id, session_id=current.session.id)
            raise Verification("Wrong code")
        now = self.config.clock()
        if self.ctx.uses_database_sessions:
            await self.ctx.store.set_session_auth_time(current.session.id, now)
        return replace(current, session=replace(current.session, auth_time=now))

    async def password_matches(self, user: User, password: str) -> bool:
        """Verify the user's current password (one hash verification whether or not one is set)."""
        found = await self.ctx.store.get_credentials(self.ctx.email_key(user.email))
        stored = found[1] if found is not None and found[0].id == user.id else None
        ok, _ = await self.ctx.hasher.verify(stored, password)
        return ok and stored is not None

    # -- sign out everywhere -----------------------------------------------------------------------

    async def sign_out_everywhere_else(self, user_id: str, current_session_id: str) -> int:
        """Sign out everywhere else. The owner evicting an intruder also ends what the intruder may
        have left behind: pending links (an email change), trusted devices, MFA challenges. So this
        is a credential event, told to nobody (the owner just did it)."""
        if not self.ctx.uses_database_sessions:
            raise InvalidRequest("listing and revoking sessions needs the database session strategy")
        await self.ctx.open()
        user = await self.ctx.store.get_user(user_id)
        if user is None:
            return 0
        return await self.credential_changed(
            user, "session_revoked", keep_session=current_session_id, notify=False, reason="others"
        )
