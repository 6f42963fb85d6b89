"""Sign-in links sent by email (Auth.js's email provider).

Asking for a link answers the same, in the same time, whether or not the address has an account,
and whether or not mail is working: the caller only waits for the input checks and the rate
limits; the lookup, the token and the email happen afterwards in a background task.

The token is random, stored only as SHA-256 with purpose `magic_link`, bound to the normalised
address (and to the user id when the account exists, so a credential event ends it), and lives
`MagicLinkOptions.lifetime` (10 minutes by default). Mail scanners open links, so the emailed
link only shows a confirmation page; the POST from that page spends the token. A magic link is
one factor: a user with TOTP or email MFA gets the MFA challenge, as after a password.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from ._account import AccountFlows
from ._config import MagicLinkOptions
from ._context import AuthContext
from ._emails import normalize_email
from ._errors import Configuration, EmailInUse, InvalidRequest, Verification
from ._mfa import MFAFlow
from ._models import MFAChallenge, RequestMeta, SignInResult, User
from ._tokens import looks_like_token
from ._verification import Verifications
from .mail import magic_link_message

__all__ = ["MAGIC_LINK", "MagicLinks"]

MAGIC_LINK = "magic_link"


class MagicLinks:
    """Request and redeem sign-in links for one `Auth`."""

    def __init__(self, ctx: AuthContext, *, accounts: AccountFlows, mfa: MFAFlow) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.accounts = accounts
        self.mfa = mfa
        self.tokens = Verifications(ctx)

    @property
    def options(self) -> MagicLinkOptions:
        options = self.config.magic_links
        if options is None or not self.ctx.has_store:
            raise Configuration("magic links need MagicLinkOptions and a store")
        return options

    def check_available(self) -> None:
        """Configuration when magic links cannot work here (no options, store or email sender)."""
        _ = self.options
        if self.ctx.email_sender is None:
            raise Configuration("magic links need an email_sender")

    async def request(self, email: str, callback_url: str, *, meta: RequestMeta | None) -> None:
        """Check the input and the limits now; look up, issue and email later (see the module)."""
        self.check_available()
        display_email, email_key = normalize_email(email)  # a malformed address is a 400 for anyone
        await self.ctx.rate_limit_ip("magic_link_per_ip", meta)  # IPv6 by /64
        await self.ctx.rate_limit("magic_link_per_email", email_key)
        self.ctx.run_later(self._send(display_email, email_key, callback_url), what="a sign-in link")

    async def _send(self, display_email: str, email_key: str, callback_url: str) -> None:
        options = self.options
        await self.ctx.open()
        found = await self.ctx.store.get_credentials(email_key)
        user = found[0] if found else None
        if user is None and not options.create_users:
            return  # nobody to sign in, and the requester must not learn that
        raw = await self.tokens.issue(
            MAGIC_LINK, user_id=user.id if user else None, lifetime=options.lifetime,
            data={"email": email_key, "callback": callback_url},
        )  # fmt: skip
        link = f"{self.ctx.api_url}/callback/email?{urlencode({'token': raw, 'email': email_key})}"
        minutes = max(1, int(options.lifetime.total_seconds() // 60))
        await self.ctx.deliver(magic_link_message(user.email if user else display_email, link, minutes))

    async def drain(self) -> None:
        """Wait for links still being sent (tests, shutdown)."""
        await self.ctx.idle()

    async def peek(self, raw: str | None, email: str | None) -> str:
        """The callback URL of a live link for this address, without spending it; Verification
        otherwise. The confirmation page uses it, so a scanner's GET changes nothing."""
        token = await self.tokens.peek(raw, MAGIC_LINK)
        data = token.data or {}
        if not self._same_address(data, email):
            raise Verification()
        return str(data.get("callback", ""))

    async def redeem(
        self, raw: str | None, email: str | None, *, meta: RequestMeta | None, trusted_device: str | None
    ) -> tuple[SignInResult | MFAChallenge, str]:
        """Spend the link and sign in (or answer with the MFA challenge); (result, callback URL)."""
        self.check_available()
        if raw is None or not looks_like_token(raw):
            raise Verification()
        # Check the address before spending: a link opened with another address is refused and
        # stays usable by its owner.
        await self.peek(raw, email)
        token = await self.tokens.consume(raw, MAGIC_LINK)
        data = token.data or {}
        if not self._same_address(data, email):
            raise Verification()
        user = await self._user_for(str(data["email"]), token.user_id, meta)
        target = str(data.get("callback", ""))
        return await self.mfa.after_first_factor(user, meta, method="email", trusted_device=trusted_device), target

    @staticmethod
    def _same_address(data: dict[str, object], email: str | None) -> bool:
        if not email:
            return False
        try:
            _, key = normalize_email(email)
        except InvalidRequest:
            return False
        return key == data.get("email")

    async def _user_for(self, email_key: str, user_id: str | None, meta: RequestMeta | None) -> User:
        store = self.ctx.store
        found = await store.get_credentials(email_key)
        user = found[0] if found else None
        if user_id is not None and (user is None or user.id != user_id):
            raise Verification()  # the account changed its address (or went away) since
        if user is None:
            if not self.options.create_users:
                raise Verification()
            user = await self._create(email_key, meta)
        if not user.email_verified:
            # Following the link proved the mailbox, and nobody had before: whoever registered the
            # address (and knows its password) loses it, as with a reset (account recovery).
            user = await self.accounts.recover_unverified(user, meta=meta, remove_password=True)
        return user

    async def _create(self, email_key: str, meta: RequestMeta | None) -> User:
        now = self.config.clock()
        user = User(str(uuid.uuid4()), email_key, "", True, None, now, now)
        store = self.ctx.store
        try:
            await store.create_user(user, email_key=email_key, password_hash=None)
        except EmailInUse:
            found = await store.get_credentials(email_key)  # created by a racing request
            if found is None:
                raise Verification() from None
            return found[0]
        await self.ctx.audit("create_user", user_id=user.id, meta=meta, method="email")
        return user
