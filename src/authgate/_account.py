"""The account lifecycle: email verification, forgot/reset/change password, change email, delete.

Every token is single-use, short-lived, stored hashed and bound to its user and purpose, and dies
with any credential event (`AccountSecurity.credential_changed`). A reset link also carries a
fingerprint of the password hash it was issued against. With `sign_up_conflict="email"` (quiet
mode) every route that could tell whether an address has an account does the variable work after
answering. An unverified address can always be reclaimed by its mailbox owner: a password reset
of an unverified account verifies it and removes whatever anyone else attached to it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from ._context import AuthContext
from ._emails import normalize_email
from ._errors import EmailInUse, InvalidRequest, Verification
from ._models import AuthSession, RequestMeta, User
from ._password_policy import check_new_password
from ._security import AccountSecurity
from ._verification import Verifications
from .mail import (
    email_change_message,
    email_changed_notice,
    existing_account_message,
    password_reset_message,
    unverified_account_message,
    verification_message,
)

__all__ = ["AccountFlows"]

logger = logging.getLogger("authgate")

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name, not a password
CHANGE_EMAIL = "change_email"


def _fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:32]


class AccountFlows:
    """Framework-free account operations for one `Auth`."""

    def __init__(self, ctx: AuthContext, security: AccountSecurity) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.security = security
        self.tokens = Verifications(ctx)

    # -- email verification ------------------------------------------------------------------------

    async def send_verification(self, user: User) -> None:
        if user.email_verified:
            raise InvalidRequest("email is already verified")
        await self.ctx.rate_limit("email_verification_per_user", user.id)
        await self.ctx.store.delete_verifications(user.id, VERIFY_EMAIL)
        raw = await self.tokens.issue(
            VERIFY_EMAIL, user_id=user.id, lifetime=self.config.accounts.verification_lifetime,
            data={"email": user.email},
        )  # fmt: skip
        link = f"{self.ctx.api_url}/verify-email?{urlencode({'token': raw})}"
        await self.ctx.deliver(verification_message(user.email, link))

    async def resend_verification(self, email: str, *, meta: RequestMeta | None = None) -> None:
        """A new verification link for an unverified account, asked for without a session (the first
        link expired before the owner could sign in). Same answer for every address. Counted per
        client IP first, so one client cannot start a lookup (and a counter) for every address."""
        await self.ctx.rate_limit_ip("email_verification_per_ip", meta)
        try:
            email_key = self.ctx.email_key(email)
        except InvalidRequest:
            return

        async def send() -> None:
            found = await self.ctx.store.get_credentials(email_key)
            if found is not None and not found[0].email_verified:
                await self.send_verification(found[0])

        self.ctx.run_later(send(), what="resending a verification link")

    async def tell_existing_owner(self, user: User) -> None:
        """Someone signed up with a taken address: tell its owner instead of the caller. An owner who
        never verified it gets a link to claim the account (a password reset, see reset_password)."""
        if user.email_verified:
            await self.ctx.deliver(existing_account_message(user.email, self.ctx.app_url))
            return
        await self.ctx.deliver(unverified_account_message(user.email, await self._reset_link(user)))

    async def verify_email(self, raw: str | None) -> User:
        token = await self.tokens.consume(raw, VERIFY_EMAIL)
        user = await self.ctx.store.get_user(token.user_id or "")
        # The link proves ownership of the address it was sent to, not of a later one.
        if user is None or (token.data or {}).get("email") != user.email:
            raise Verification()
        verified = replace(user, email_verified=True, updated_at=self.config.clock())
        await self.ctx.store.update_user(verified)
        return verified

    # -- passwords -------------------------------------------------------------------------------

    async def forgot_password(self, email: str, *, meta: RequestMeta | None = None) -> None:
        """Always succeeds from the caller's view; emails a reset link when the account exists. The
        lookup, the token write and the mail happen after the answer, so timing tells nothing.
        Counted per client IP first, so one client cannot make a counter for every address."""
        await self.ctx.rate_limit_ip("forgot_password_per_ip", meta)
        try:
            email_key = self.ctx.email_key(email)
        except InvalidRequest:
            return
        await self.ctx.rate_limit("forgot_password_per_email", email_key)

        async def send() -> None:
            found = await self.ctx.store.get_credentials(email_key)
            if found is not None:
                await self.ctx.deliver(password_reset_message(found[0].email, await self._reset_link(found[0])))

        self.ctx.run_later(send(), what="sending a reset link")

    async def _reset_link(self, user: User) -> str:
        found = await self.ctx.store.get_credentials(self.ctx.email_key(user.email))
        password_hash = found[1] if found is not None else None
        await self.ctx.store.delete_verifications(user.id, RESET_PASSWORD)
        raw = await self.tokens.issue(
            RESET_PASSWORD, user_id=user.id, lifetime=self.config.accounts.reset_lifetime,
            data={"pw": _fingerprint(password_hash)},
        )  # fmt: skip
        return f"{self.ctx.app_url}{self.config.accounts.reset_path}?{urlencode({'token': raw})}"

    async def reset_password(self, raw: str | None, new_password: str, *, meta: RequestMeta | None) -> User:
        """Set a new password from a reset link; a credential event ends every session and link.

        The link proves the mailbox, so a reset is the account's recovery: passkeys and provider
        identities are removed (an intruder may have added them). For an account whose address was
        never verified the address becomes verified and its second factors go too: whatever was
        attached before the mailbox owner arrived belonged to whoever registered the address."""
        await check_new_password(self.config.passwords, new_password)
        token = await self.tokens.consume(raw, RESET_PASSWORD)
        user = await self.ctx.store.get_user(token.user_id or "")
        if user is None:
            raise Verification()
        found = await self.ctx.store.get_credentials(self.ctx.email_key(user.email))
        if found is None or (token.data or {}).get("pw") != _fingerprint(found[1]):
            raise Verification()  # the password changed since this link was sent
        store = self.ctx.store
        await store.set_password_hash(user.id, await self.ctx.hasher.hash(new_password), now=self.config.clock())
        if user.email_verified:
            # A reset is the owner taking the account back: passkeys and provider identities (ways
            # to sign in that someone holding a session could have added) go; second factors stay,
            # or the mailbox alone would be enough to take an account protected by MFA.
            removed = await self._remove_sign_in_methods(user, factors=False)
            await self.security.credential_changed(user, "password_reset", keep_session=None, meta=meta,
                                                        **removed)  # fmt: skip
            return user
        return await self.recover_unverified(user, meta=meta)

    async def recover_unverified(self, user: User, *, meta: RequestMeta | None, remove_password: bool = False) -> User:
        """The mailbox owner of an account whose address was never verified has just proved the
        mailbox (a reset link, a sign-in link): the account is theirs. The address becomes verified
        and everything someone else may have attached before goes: second factors, passkeys,
        provider identities, sessions, pending links, and (`remove_password`) the password.
        Returns the user as stored now (its new credential version)."""
        store = self.ctx.store
        if remove_password:
            await store.set_password_hash(user.id, None, now=self.config.clock())
        removed = await self._remove_sign_in_methods(user, factors=True)
        verified = replace(user, email_verified=True, updated_at=self.config.clock())
        await store.update_user(verified)
        await self.security.credential_changed(verified, "account_recovered", keep_session=None, meta=meta,
                                                    **removed)  # fmt: skip
        return await store.get_user(user.id) or verified

    async def _remove_sign_in_methods(self, user: User, *, factors: bool) -> dict[str, Any]:
        store = self.ctx.store
        removed: dict[str, Any] = {}
        if factors:
            kinds = [f.kind for f in await store.list_mfa_factors(user.id)]
            for kind in kinds:
                await store.delete_mfa_factor(user.id, kind)
            await store.replace_recovery_codes(user.id, [], now=self.config.clock())
            removed["factors_removed"] = len(kinds)
        passkeys = [a.credential_id for a in await store.list_authenticators(user.id)]
        for credential_id in passkeys:
            await store.delete_authenticator(user.id, credential_id)
        accounts = await store.list_accounts(user.id)
        for account in accounts:
            await store.unlink_account(user.id, account.provider, account.account_id)
        return {**removed, "passkeys_removed": len(passkeys), "accounts_unlinked": len(accounts)}

    async def change_password(
        self, current: AuthSession, current_password: str, new_password: str, *, meta: RequestMeta | None
    ) -> None:
        """Needs the current password (the step-up proof); ends every other session."""
        await check_new_password(self.config.passwords, new_password)
        await self.security.reauthenticate(current, password=current_password)
        store = self.ctx.store
        await store.set_password_hash(current.user.id, await self.ctx.hasher.hash(new_password),
                                      now=self.config.clock())  # fmt: skip
        await self.security.credential_changed(
            current.user, "password_change", keep_session=current.session.id, meta=meta
        )

    # -- email change ----------------------------------------------------------------------------

    async def request_email_change(
        self, current: AuthSession, new_email: str, password: str | None, code: str | None = None
    ) -> None:
        """Email a link to the new address; nothing changes until it is followed. Needs step-up: a
        stolen session alone must not move the account away. In quiet mode a taken address gets the
        same answer as a free one (and no link)."""
        display, email_key = normalize_email(new_email)
        await self.security.require_step_up(current, password=password, code=code)
        await self.ctx.rate_limit("email_verification_per_user", current.user.id)

        async def send() -> None:
            if await self.ctx.store.get_credentials(email_key) is not None:
                if quiet:
                    return
                raise EmailInUse()
            await self.ctx.store.delete_verifications(current.user.id, CHANGE_EMAIL)
            raw = await self.tokens.issue(
                CHANGE_EMAIL, user_id=current.user.id, lifetime=self.config.accounts.verification_lifetime,
                data={"email": display, "email_key": email_key, "old_email": current.user.email},
            )  # fmt: skip
            link = f"{self.ctx.api_url}/change-email/verify?{urlencode({'token': raw})}"
            await self.ctx.deliver(email_change_message(display, link))

        quiet = self.config.accounts.sign_up_conflict == "email"
        if quiet:
            self.ctx.run_later(send(), what="an email change")
        else:
            await send()

    async def pending_email_change(self, raw: str | None) -> str:
        """The address a live email-change link would switch to, without spending the link."""
        token = await self.tokens.peek(raw, CHANGE_EMAIL)
        return str((token.data or {}).get("email", ""))

    async def confirm_email_change(self, raw: str | None, *, keep_session: str | None = None) -> User:
        """Switch to the new address; tell the old one; end every other session and reset link."""
        token = await self.tokens.consume(raw, CHANGE_EMAIL)
        data = token.data or {}
        user = await self.ctx.store.get_user(token.user_id or "")
        if user is None or data.get("old_email") != user.email:
            raise Verification()
        changed = replace(user, email=str(data["email"]), email_verified=True, updated_at=self.config.clock())
        await self.ctx.store.update_user(changed, email_key=str(data["email_key"]))
        # The old address hears about it below; the credential event ends every other session and
        # every pending link (a reset mailed to the old address must not undo the change).
        await self.security.credential_changed(changed, "email_change", keep_session=keep_session, notify=False)
        self.ctx.deliver_later(email_changed_notice(user.email, changed.email, self.ctx.app_url))
        return changed

    # -- deletion --------------------------------------------------------------------------------

    async def delete_account(
        self, current: AuthSession, password: str | None, *, meta: RequestMeta | None, code: str | None = None
    ) -> None:
        """Needs step-up: the password or a factor code, or a re-authentication within `reauth_window`."""
        await self.security.require_step_up(current, password=password, code=code)
        await self.ctx.store.delete_user(current.user.id)
        await self.ctx.audit("delete_account", user_id=current.user.id, meta=meta)
