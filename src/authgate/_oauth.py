"""Provider sign-in (OAuth 2.0 with OIDC): state, PKCE S256 and nonce held in a short-lived
encrypted cookie bound to the browser and the provider, then account resolution.

Linking rules: a returning provider identity signs in as its user; a new identity whose email
belongs to nobody creates a user; one whose email belongs to an existing user is linked only when
the provider is configured as trusted for linking AND says the email is verified AND the existing
account's address is verified. Otherwise `OAuthAccountNotLinked`: silently merging on an unverified
email hands the account to whoever registers that address at a sloppy provider.

`email_verified` on a user comes only from our own verification or from a provider trusted for
linking with a verified claim: a user created through an untrusted provider starts unverified, so
it can never receive a merge, and a password reset by the mailbox owner removes its identities.
Linking a provider to a signed-in user needs step-up and is a credential event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ._context import AuthContext
from ._emails import normalize_email
from ._errors import (
    AccessDenied,
    AccountInUse,
    EmailInUse,
    InvalidCheck,
    InvalidRequest,
    NotFound,
    OAuthAccountNotLinked,
    OAuthCallbackError,
)
from ._jwe import InvalidJWE, JWECodec
from ._mfa import MFAFlow
from ._models import Account, AuthSession, MFAChallenge, RequestMeta, SignInResult, User
from ._redirects import safe_redirect
from ._security import AccountSecurity
from .providers import OAuthProvider, Profile, ProviderError

logger = logging.getLogger("authgate")

__all__ = ["CHECKS_COOKIE", "CHECKS_MAX_AGE", "OAuthFlow", "OAuthStart"]

CHECKS_COOKIE = "authgate_oauth"
CHECKS_MAX_AGE = 15 * 60


@dataclass(frozen=True, slots=True)
class OAuthStart:
    """Where to send the browser, and the encrypted checks cookie to set on the way."""

    authorization_url: str
    checks_cookie: str


def _pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class OAuthFlow:
    """Starts and finishes provider sign-ins for one `Auth`."""

    def __init__(self, ctx: AuthContext, *, security: AccountSecurity, mfa: MFAFlow) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.security = security
        self.mfa = mfa
        self.codec = JWECodec(self.config.secrets, CHECKS_COOKIE)

    def provider(self, provider_id: str) -> OAuthProvider:
        provider = self.ctx.providers.get(provider_id)
        if provider is None:
            raise NotFound(f"Unknown provider {provider_id!r}")
        return provider

    def callback_target(self, requested: str | None, own_origin: str) -> str:
        """`callbackUrl` if it stays on our origin or the allowlist, else the site root."""
        return safe_redirect(
            requested, own_origin=own_origin, allowed_origins=self.config.trusted_origins, fallback=own_origin + "/"
        )

    async def start(
        self,
        provider_id: str,
        *,
        redirect_uri: str,
        callback_url: str,
        link_session: AuthSession | None = None,
        password: str | None = None,
        code: str | None = None,
    ) -> OAuthStart:
        """Build the authorization URL and the checks that the callback must find again. With
        `link_session` the provider is linked to that signed-in user (after step-up)."""
        provider = self.provider(provider_id)
        link_user = None
        if link_session is not None:
            link_session = await self.security.require_step_up(link_session, password=password, code=code)
            link_user = link_session.user
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(32) if provider.uses_nonce else None
        url = await provider.authorization_url(
            redirect_uri=redirect_uri, state=state, code_challenge=_pkce_challenge(verifier), nonce=nonce
        )
        checks = {
            "provider": provider.id,
            "state": state,
            "verifier": verifier,
            "nonce": nonce,
            "callback_url": callback_url,
            "link_user": link_user.id if link_user else None,
        }
        cookie = self.codec.encode(checks, max_age=CHECKS_MAX_AGE, now=self.config.clock().timestamp())
        return OAuthStart(authorization_url=url, checks_cookie=cookie)

    def _read_checks(self, provider_id: str, cookie: str | None, state: str | None) -> dict[str, Any]:
        if not cookie or not state:
            raise InvalidCheck()
        try:
            checks = self.codec.decode(cookie, now=self.config.clock().timestamp())
        except InvalidJWE:
            raise InvalidCheck() from None
        expected_state = checks.get("state")
        if (
            checks.get("provider") != provider_id
            or not isinstance(expected_state, str)
            or not hmac.compare_digest(expected_state.encode(), state.encode("utf-8", "surrogatepass"))
        ):
            raise InvalidCheck()
        return checks

    async def finish(
        self,
        provider_id: str,
        *,
        params: dict[str, str],
        checks_cookie: str | None,
        redirect_uri: str,
        current: AuthSession | None,
        meta: RequestMeta | None,
        trusted_device: str | None = None,
    ) -> tuple[SignInResult | MFAChallenge, str]:
        """Check state/PKCE/nonce, exchange the code, resolve the user, start a session.

        Returns the session (or, when the user has a second factor or MFA is required, the
        challenge to answer first) and the checked callback URL to redirect to. A provider
        sign-in replaces the password, never the second factor.
        """
        provider = self.provider(provider_id)
        if "error" in params:
            raise AccessDenied() if params["error"] == "access_denied" else OAuthCallbackError()
        checks = self._read_checks(provider_id, checks_cookie, params.get("state"))
        # RFC 9207: when the provider names itself in the callback, it must be the one we asked,
        # which stops a response from one provider being replayed into another's callback.
        expected_issuer = getattr(provider, "issuer", None)
        if "iss" in params and expected_issuer is not None and params["iss"] != expected_issuer:
            raise InvalidCheck()
        code = params.get("code")
        if not code:
            raise OAuthCallbackError("The provider sent no code")
        try:
            profile = await provider.complete(
                code=code, redirect_uri=redirect_uri, code_verifier=str(checks["verifier"]), nonce=checks.get("nonce")
            )
        except ProviderError as error:
            # The reason goes to the log for operators; the browser only learns the kind.
            logger.info("authgate: %s sign-in failed: %s", provider_id, error.message)
            raise (InvalidCheck() if error.kind == "InvalidCheck" else OAuthCallbackError()) from None
        link_user_id = checks.get("link_user")
        if link_user_id is not None and (current is None or current.user.id != link_user_id):
            raise InvalidCheck("The account link was started by another session")
        user, account = await self._resolve_user(provider, profile, link_user_id, meta)
        if link_user_id is not None and current is not None:
            await self.security.credential_changed(
                user, "account_linked", keep_session=current.session.id, meta=meta, provider=provider.id
            )
            user = await self.ctx.store.get_user(user.id) or user  # its new credential version
        target = str(checks["callback_url"])
        # Linking happens inside a session that already passed its second factor.
        result = await self.mfa.after_first_factor(
            user, meta, method=provider.id, trusted_device=trusted_device,
            second_factor_done=link_user_id is not None, account=account, profile=profile,
        )  # fmt: skip
        return result, target

    async def _resolve_user(
        self, provider: OAuthProvider, profile: Profile, link_user_id: str | None, meta: RequestMeta | None
    ) -> tuple[User, Account]:
        store = self.ctx.store
        now = self.config.clock()
        account = Account(user_id="", provider=provider.id, account_id=profile.account_id, created_at=now)
        existing = await store.get_user_by_account(provider.id, profile.account_id)
        if existing is not None:
            if link_user_id is not None and existing.id != link_user_id:
                raise OAuthAccountNotLinked("This provider account is already linked to another user")
            return existing, Account(existing.id, provider.id, profile.account_id, now)
        if link_user_id is not None:
            linked_user = await store.get_user(link_user_id)
            if linked_user is None:
                raise InvalidCheck()
            return linked_user, await self._link(linked_user, account, meta)
        if not profile.email:
            raise OAuthCallbackError("The provider did not share an email address")
        try:
            display_email, email_key = normalize_email(profile.email)
        except InvalidRequest:
            raise OAuthCallbackError("The provider shared an invalid email address") from None
        found = await store.get_credentials(email_key)
        if found is not None:
            owner = found[0]
            # All three must hold. The owner's own address must be verified too: otherwise an
            # attacker who registered the victim's email first (with a password they know) would
            # inherit the victim's provider sign-in ("pre-hijacking").
            if not (provider.trusted_for_linking and profile.email_verified and owner.email_verified):
                await self.ctx.audit("sign_in_failed", user_id=owner.id, meta=meta, reason="account_not_linked")
                raise OAuthAccountNotLinked()
            return owner, await self._link(owner, account, meta)
        user = User(
            id=str(uuid.uuid4()),
            email=display_email,
            name=(profile.name or "")[:255],
            # Only a provider trusted for linking vouches for an address; anything else is proved
            # by our own verification (or a password reset) before it counts.
            email_verified=provider.trusted_for_linking and profile.email_verified,
            image=profile.image,
            created_at=now,
            updated_at=now,
        )
        try:
            await store.create_user(user, email_key=email_key, password_hash=None)
        except EmailInUse:
            raise OAuthAccountNotLinked() from None  # registered a moment ago by someone else
        await self.ctx.audit("create_user", user_id=user.id, meta=meta, method=provider.id)
        return user, await self._link(user, account, meta)

    async def unlink(
        self,
        current: AuthSession,
        provider_id: str,
        account_id: str,
        *,
        password: str | None = None,
        code: str | None = None,
    ) -> None:
        """Remove a provider identity from the signed-in user (step-up; a credential event). The last
        way to sign in cannot be removed: an account with no password keeps at least one identity."""
        current = await self.security.require_step_up(current, password=password, code=code)
        store = self.ctx.store
        accounts = await store.list_accounts(current.user.id)
        if not any(a.provider == provider_id and a.account_id == account_id for a in accounts):
            raise NotFound("No such linked account")
        found = await store.get_credentials(self.ctx.email_key(current.user.email))
        has_password = found is not None and found[1] is not None
        if not has_password and len(accounts) == 1 and not await store.list_authenticators(current.user.id):
            raise InvalidRequest("this is the account's only way to sign in; set a password or add a passkey first")
        if not await store.unlink_account(current.user.id, provider_id, account_id):
            raise NotFound("No such linked account")
        await self.security.credential_changed(
            current.user, "account_unlinked", keep_session=current.session.id, provider=provider_id
        )

    async def _link(self, user: User, account: Account, meta: RequestMeta | None) -> Account:
        linked = Account(user.id, account.provider, account.account_id, account.created_at)
        try:
            await self.ctx.store.link_account(linked)
        except AccountInUse:
            raise OAuthAccountNotLinked("This provider account is already linked to another user") from None
        await self.ctx.audit("link_account", user_id=user.id, meta=meta, provider=account.provider)
        return linked


def error_location(base: str, kind: str) -> str:
    """The error page URL for a failed provider sign-in."""
    return f"{base}?{urlencode({'error': kind})}"
