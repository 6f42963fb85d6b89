"""`AuthEngine`: the framework-free facade. It builds the shared context and the flows (each rule
lives in exactly one of them: `_session_flow`, `_password_flow`, `_security`, `_account`, `_mfa`,
`_oauth`, `_passkeys`, `_magic_links`) and offers their operations under one name. It knows
nothing of HTTP: `authgate.Auth` adds the routes app and the framework dependencies on top."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ._account import AccountFlows
from ._config import (
    AccountOptions,
    AuthConfig,
    AuthJSOptions,
    Clock,
    CookieOptions,
    MagicLinkOptions,
    MFAOptions,
    PasskeyOptions,
    PasswordOptions,
    SessionOptions,
    utc_now,
)
from ._context import AuthContext
from ._emails import normalize_email
from ._errors import NO_SENDER_FIX, AuthError, Configuration, DatabaseUnavailable, SessionExpired, Unauthenticated
from ._hooks import Callbacks, Events
from ._magic_links import MagicLinks
from ._mfa import MFAFlow
from ._models import AuthSession, MFAChallenge, RequestMeta, Session, SignInResult, User
from ._oauth import OAuthFlow
from ._password_flow import PasswordFlow
from ._ratelimit import RateLimitOptions
from ._security import AccountSecurity
from ._session_flow import SessionFlow
from ._sessions import DatabaseSessions, JWTSessions
from ._startup import check_providers, plain_configuration_errors, report_startup_failure
from ._totp_codes import TOTPCodes
from .mail import EmailSender
from .providers import OAuthProvider
from .stores.base import Store

if TYPE_CHECKING:
    from ._passkeys import PasskeyFlow

__all__ = ["AuthEngine", "normalize_email"]

logger = logging.getLogger("authgate")


class AuthEngine:
    """Email/password and provider sign-in with database sessions (opaque, hashed, rotating) or
    JWT sessions (JWE cookies), without the web layer; use `authgate.Auth`."""

    @plain_configuration_errors
    def __init__(
        self,
        # MemoryStore(), SQLiteStore(url), PostgresStore(url | pool=...), RedisStore(...) around one.
        # None: JWT sessions and provider sign-in only (there is nowhere to keep passwords).
        store: Store | None = None,
        *,
        secret: str | Sequence[str],
        base_path: str = "/api/auth",
        base_url: str | None = None,
        trusted_origins: Sequence[str] = (),
        # Reverse proxies (IPs or CIDRs) whose X-Forwarded-For names the client; empty: the socket peer.
        trusted_proxies: Sequence[str] = (),
        cookies: CookieOptions | None = None,
        sessions: SessionOptions | None = None,
        passwords: PasswordOptions | None = None,
        # OAuth/OIDC providers, e.g. `[GitHub(client_id=..., client_secret=...)]` (see providers.md).
        providers: Sequence[OAuthProvider] = (),
        # `Callbacks`: async hooks that may refuse a sign-in or shape the session and JWT.
        callbacks: Callbacks | None = None,
        # `Events`: async callables told about sign-ins, sign-outs, new users, linked accounts, revocations.
        events: Events | None = None,
        # Sends verification, reset, MFA-code and sign-in-link emails: `SMTPSender(...)` (the `mail`
        # extra) or `ConsoleSender()` in development. Needs `base_url` or `AccountOptions(app_url=...)`.
        email_sender: EmailSender | None = None,
        # `RateLimitOptions`; None: its defaults (on, in memory). `RateLimitOptions(enabled=False)`: off.
        rate_limits: RateLimitOptions | None = None,
        mfa: MFAOptions | None = None,
        accounts: AccountOptions | None = None,
        passkeys: PasskeyOptions | None = None,
        authjs: AuthJSOptions | None = None,
        magic_links: MagicLinkOptions | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if secret is None:  # e.g. os.environ.get("AUTHGATE_SECRET") with the variable unset
            raise Configuration("secret is missing: generate one with `authgate secret` and pass it (AUTHGATE_SECRET)")
        self.config = AuthConfig(
            secret=secret if isinstance(secret, str) else tuple(secret),
            base_path=base_path,
            base_url=base_url,
            trusted_origins=tuple(trusted_origins),
            trusted_proxies=tuple(trusted_proxies),
            cookies=cookies or CookieOptions(),
            sessions=sessions or SessionOptions(),
            passwords=passwords or PasswordOptions(),
            mfa=mfa or MFAOptions(),
            accounts=accounts or AccountOptions(),
            passkeys=passkeys or PasskeyOptions(),
            authjs=authjs,
            magic_links=magic_links,
            clock=clock,
        )
        if email_sender is None:
            needs = (
                ("AccountOptions(sign_up_conflict='email')", self.config.accounts.sign_up_conflict == "email"),
                ("MFAOptions(required=True) (email codes for users without TOTP)", self.config.mfa.required),
            )
            for option, needed in needs:
                if needed:
                    raise Configuration(f"{option} sends email, but there is no email_sender: {NO_SENDER_FIX}")
        if email_sender is not None and not (base_url or self.config.accounts.app_url):
            # Emailed links must not be built from the request's Host header (a forged Host
            # would mail a reset token to the attacker's site), so the address must be configured.
            raise Configuration(
                "an email_sender needs base_url='https://your.site' (or AccountOptions(app_url=...)) for the links"
                " it sends"
            )
        if self.config.magic_links is not None and store is None:
            raise Configuration("MagicLinkOptions needs a store")
        if self.config.magic_links is not None and email_sender is None:
            raise Configuration(f"MagicLinkOptions sends email, but there is no email_sender: {NO_SENDER_FIX}")
        self.providers = {provider.id: provider for provider in providers}
        # The built-in sign-in methods own their paths (/callback/credentials, /callback/passkey,
        # /signin/email): a provider by that id would be shadowed or would shadow them.
        if len(self.providers) != len(providers) or self.providers.keys() & {"credentials", "passkey", "email"}:
            raise Configuration("provider ids must be unique and not 'credentials', 'passkey' or 'email'")
        self.ctx = ctx = AuthContext(
            self.config,
            store,
            email_sender=email_sender,
            rate_limits=rate_limits,
            callbacks=callbacks or Callbacks(),
            events=events or Events(),
            providers=self.providers,
        )
        self.email_sender, self.hasher, self.limiter = ctx.email_sender, ctx.hasher, ctx.limiter
        self.callbacks, self.events = ctx.callbacks, ctx.events
        if ctx.uses_database_sessions:
            if store is None:
                raise Configuration("the database session strategy needs a store")
            self.sessions: DatabaseSessions | JWTSessions = DatabaseSessions(self.config, store, ctx.audit)
        else:
            self.sessions = JWTSessions(self.config, ctx.callbacks)
        self.session_flow = SessionFlow(ctx, self.sessions)
        totp = TOTPCodes(ctx)
        self.security = AccountSecurity(ctx, totp)
        self.mfa = MFAFlow(ctx, sessions=self.session_flow, security=self.security, totp=totp)
        self.accounts = AccountFlows(ctx, self.security)
        self.password_flow = PasswordFlow(ctx, sessions=self.session_flow, mfa=self.mfa, accounts=self.accounts)
        self.oauth = OAuthFlow(ctx, security=self.security, mfa=self.mfa)
        self.magic_links = MagicLinks(ctx, accounts=self.accounts, mfa=self.mfa)

    # -- what the context holds ------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store; Configuration when there is none (JWT strategy without users)."""
        return self.ctx.store

    @property
    def has_store(self) -> bool:
        return self.ctx.has_store

    @property
    def uses_database_sessions(self) -> bool:
        """True with the database strategy (sessions in the store, revocable at once)."""
        return self.ctx.uses_database_sessions

    async def idle(self) -> None:
        """Wait for the work started after answering (emails, quiet sign-ups): tests, shutdown."""
        await self.ctx.idle()

    @cached_property
    def passkeys(self) -> PasskeyFlow:
        """WebAuthn registration and sign-in (the `passkeys` extra, imported on first use)."""
        from ._passkeys import PasskeyFlow  # optional dependency: webauthn

        return PasskeyFlow(self.ctx, security=self.security, mfa=self.mfa)

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the store (idempotent). Routes call this lazily, so a missing lifespan still works."""
        await self.ctx.open()

    async def close(self) -> None:
        """Finish the work started after answering (mail, quiet sign-ups; bounded by the mail
        timeout), then close the store and the rate-limit storage."""
        await self.ctx.close()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """ASGI lifespan: open the store, run the cleanup loop, close on shutdown.

        Pass it as `Starlette(lifespan=auth.lifespan)`, or `async with auth.lifespan(app):` inside your own.
        """
        try:
            await self.open()
        except DatabaseUnavailable as error:
            raise report_startup_failure(error.detail) from None
        cleanup = asyncio.create_task(self._cleanup_loop(), name="authgate-cleanup") if self.has_store else None
        providers = asyncio.create_task(check_providers(self.providers.values()), name="authgate-provider-check")
        try:
            yield
        finally:
            for task in (cleanup, providers):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self.close()

    async def _cleanup_loop(self) -> None:
        interval = self.config.sessions.cleanup_interval.total_seconds()
        while True:
            try:
                deleted = await self.session_flow.cleanup_expired()
                if deleted:
                    logger.info("authgate cleanup deleted %d expired sessions", deleted)
            except AuthError as error:  # store briefly down: try again next round
                logger.warning("authgate cleanup failed: %s", error.message)
            await asyncio.sleep(interval)

    async def cleanup_expired_sessions(self) -> int:
        """Delete sessions whose refresh lifetime is over, in bounded batches; returns the count."""
        return await self.session_flow.cleanup_expired()

    # -- operations ------------------------------------------------------------------------------

    async def sign_up(
        self, email: str, password: str, name: str | None = None, *, meta: RequestMeta | None = None
    ) -> SignInResult:
        """Create a user and sign them in. Raises EmailInUse for a taken address."""
        return await self.password_flow.sign_up(email, password, name, meta=meta)

    async def sign_up_quietly(
        self, email: str, password: str, name: str | None, *, meta: RequestMeta | None = None
    ) -> None:
        """The same answer whether or not the address has an account (`sign_up_conflict="email"`)."""
        await self.password_flow.sign_up_quietly(email, password, name, meta=meta)

    async def sign_in(
        self, email: str, password: str, *, meta: RequestMeta | None = None, trusted_device: str | None = None
    ) -> SignInResult | MFAChallenge:
        """Check email and password; start a session, or answer with an MFA challenge."""
        return await self.password_flow.sign_in(email, password, meta=meta, trusted_device=trusted_device)

    async def start_session(
        self, user: User, meta: RequestMeta | None, *, method: str, account: Any = None, profile: Any = None
    ) -> SignInResult:
        """Run the `sign_in` callback, then create the session with the configured strategy."""
        return await self.session_flow.start(user, meta, method=method, account=account, profile=profile)

    async def authenticate(self, access_token: str | None) -> AuthSession:
        """The session for an access token, or Unauthenticated / SessionExpired."""
        return await self.session_flow.authenticate(access_token)

    async def authenticate_fresh(self, access_token: str | None) -> AuthSession:
        """`authenticate`, then re-read from the store past any cache (before sensitive operations)."""
        return await self.session_flow.authenticate_fresh(access_token)

    async def get_session(self, access_token: str | None) -> AuthSession | None:
        """The session of an access token; None when nobody is signed in. Raises only when the
        store is unreachable."""
        try:
            return await self.session_flow.authenticate(access_token)
        except (Unauthenticated, SessionExpired):
            return None

    async def refresh(self, refresh_token: str | None) -> SignInResult:
        """Rotate both tokens (a racing tab inside the grace window gets the session back)."""
        return await self.session_flow.refresh(refresh_token)

    async def sign_out(
        self, *, access_token: str | None = None, refresh_token: str | None = None, meta: RequestMeta | None = None
    ) -> bool:
        """Revoke the session the access token (or, failing that, the refresh token) belongs to."""
        return await self.session_flow.sign_out(access_token=access_token, refresh_token=refresh_token, meta=meta)

    async def list_sessions(self, user_id: str) -> list[Session]:
        """A user's live sessions, newest first. Always read from the store (never a cache)."""
        return await self.session_flow.list_sessions(user_id)

    async def revoke_session(self, user_id: str, session_id: str) -> bool:
        """Revoke one of the user's own sessions; another user's session id does nothing."""
        return await self.session_flow.revoke_session(user_id, session_id)

    async def revoke_other_sessions(self, user_id: str, current_session_id: str) -> int:
        """Sign out everywhere else (a credential event: see `AccountSecurity`)."""
        return await self.security.sign_out_everywhere_else(user_id, current_session_id)
