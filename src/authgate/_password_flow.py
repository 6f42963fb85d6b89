"""Email and password: sign-up (plain, or quiet when `sign_up_conflict="email"`) and sign-in.

Unknown email and wrong password take the same path and the same time (one hash verification
each); the attempt is counted before the hash, so parallel guesses cannot overshoot a limit.
"""

from __future__ import annotations

import uuid

from ._account import AccountFlows
from ._context import AuthContext
from ._emails import normalize_email
from ._errors import AccessDenied, CredentialsSignin, EmailInUse, InvalidRequest, ServiceUnavailable
from ._mfa import MFAFlow
from ._models import MFAChallenge, RequestMeta, SignInResult, User
from ._password_policy import check_new_password, check_password_shape
from ._session_flow import SessionFlow

__all__ = ["PasswordFlow"]

_MAX_NAME = 255


class PasswordFlow:
    """Sign-up and sign-in with an email address and a password."""

    def __init__(self, ctx: AuthContext, *, sessions: SessionFlow, mfa: MFAFlow, accounts: AccountFlows) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.sessions = sessions
        self.mfa = mfa
        self.accounts = accounts

    @property
    def _needs_verified_email(self) -> bool:
        # Quiet sign-up lets anyone register any address, so sign-in must wait for proof of it
        # (otherwise whoever registers the victim's address first could use the account).
        accounts = self.config.accounts
        return accounts.require_verified_email or accounts.sign_up_conflict == "email"

    async def _check_sign_up(self, email: str, password: str, name: str | None, meta: RequestMeta | None) -> User:
        """The limits and the input checks of both sign-ups; the user to create (not stored yet)."""
        await self.ctx.rate_limit_ip("sign_up_per_ip", meta)
        display_email, _ = normalize_email(email)
        if name is not None and len(name) > _MAX_NAME:
            raise InvalidRequest(f"name: at most {_MAX_NAME} characters", field="name")
        await check_new_password(self.config.passwords, password)
        now = self.config.clock()
        return User(str(uuid.uuid4()), display_email, (name or "").strip(), False, None, now, now)

    async def sign_up(
        self, email: str, password: str, name: str | None = None, *, meta: RequestMeta | None = None
    ) -> SignInResult:
        """Create a user and sign them in. Raises EmailInUse for a taken address."""
        user = await self._check_sign_up(email, password, name, meta)
        store = self.ctx.store
        await self.ctx.open()
        password_hash = await self.ctx.hasher.hash(password)
        await store.create_user(user, email_key=self.ctx.email_key(email), password_hash=password_hash)
        await self.ctx.audit("create_user", user_id=user.id, meta=meta, method="credentials")
        try:
            return await self.sessions.start(user, meta, method="credentials")
        except ServiceUnavailable:
            # A 503 must mean "nothing was written" (the client retries the sign-up), or say what was.
            try:
                await store.delete_user(user.id)
            except ServiceUnavailable:
                raise ServiceUnavailable(
                    "Your account was created but you could not be signed in; sign in to continue"
                ) from None
            raise

    async def sign_up_quietly(
        self, email: str, password: str, name: str | None, *, meta: RequestMeta | None = None
    ) -> None:
        """`sign_up_conflict="email"`: the same answer whether or not the address has an account.
        A new user gets a verification link and no session; an existing owner gets an email
        saying someone tried to sign up with their address."""
        new_user = await self._check_sign_up(email, password, name, meta)
        email_key = self.ctx.email_key(email)
        store = self.ctx.store
        await self.ctx.open()
        password_hash = await self.ctx.hasher.hash(password)  # spend the hash either way: same timing

        # Everything that differs between a new and a taken address (the lookup, the user and token
        # writes, which mail goes out, a mail outage) happens after the answer: the caller sees the
        # same status, body and timing either way.
        async def finish() -> None:
            existing = await store.get_credentials(email_key)
            if existing is not None:
                await self.accounts.tell_existing_owner(existing[0])
                return
            now = self.config.clock()
            user = User(new_user.id, new_user.email, new_user.name, False, None, now, now)
            try:
                await store.create_user(user, email_key=email_key, password_hash=password_hash)
            except EmailInUse:
                return  # lost a race to another sign-up of the same address
            await self.ctx.audit("create_user", user_id=user.id, meta=meta, method="credentials")
            await self.accounts.send_verification(user)

        self.ctx.run_later(finish(), what="quiet sign-up")

    async def sign_in(
        self,
        email: str,
        password: str,
        *,
        meta: RequestMeta | None = None,
        trusted_device: str | None = None,
    ) -> SignInResult | MFAChallenge:
        """Check email and password; start a session, or answer with an MFA challenge.

        Unknown email and wrong password raise the same CredentialsSignin after one hash verify
        each. Limits: every attempt counts per IP and per account (reserved atomically before the
        hash), the account in a separate bucket for a trusted device, so an attacker hammering
        the account cannot lock its owner out of the device they already proved. Engine callers
        get the same limits as HTTP routes.
        """
        check_password_shape(self.config.passwords, password, for_new_password=False)
        await self.ctx.rate_limit_ip("sign_in_per_ip", meta)
        try:
            _, email_key = normalize_email(email)
        except InvalidRequest:
            email_key = None  # answer exactly like a wrong password, after the same work
        store = self.ctx.store
        await self.ctx.open()
        found = await store.get_credentials(email_key) if email_key else None
        user, stored_hash = found if found else (None, None)
        device = self.mfa.trusted_device(trusted_device, user) if user else None
        account_key = f"{email_key}|device:{device}" if device else (email_key or "invalid-email")
        # Reserve the attempt before verifying: a check-then-count would let every request
        # already in flight through, so parallel guesses could overshoot the limit.
        await self.ctx.rate_limit("sign_in_per_account", account_key)
        ok, upgraded_hash = await self.ctx.hasher.verify(stored_hash, password)
        if not ok or user is None:
            await self.ctx.audit("sign_in_failed", user_id=user.id if user else None, meta=meta, email=email[:254])
            raise CredentialsSignin()
        if upgraded_hash is not None:
            await store.set_password_hash(user.id, upgraded_hash, now=self.config.clock())
        if self._needs_verified_email and not user.email_verified:
            # The password is right, so this is the owner (or whoever registered the address): a
            # fresh link lets the mailbox owner finish, however old the first one is.
            self.ctx.run_later(self.accounts.send_verification(user), what="verification link")
            raise AccessDenied("Verify your email address before signing in; we sent you a new link")
        return await self.mfa.after_first_factor(user, meta, method="credentials", trusted_device=trusted_device)
