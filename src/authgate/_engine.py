"""`Auth`: the framework-free engine. Every rule about users, passwords and sessions lives here
(and in `_sessions.py` / `_oauth.py`); the HTTP layer only parses requests and the store only persists."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

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
from ._emails import normalize_email
from ._errors import (
    NO_SENDER_FIX,
    AccessDenied,
    AuthError,
    Configuration,
    CredentialsSignin,
    DatabaseUnavailable,
    EmailInUse,
    InvalidRequest,
    ServiceUnavailable,
    SessionExpired,
    Unauthenticated,
)
from ._hooks import Callbacks, Events
from ._models import AuthEvent, AuthSession, RequestMeta, Session, SignInResult, User
from ._passwords import PasswordHasher
from ._sessions import DatabaseSessions, JWTSessions
from ._startup import check_providers, plain_configuration_errors, report_startup_failure
from .stores.base import Store

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from ._account import AccountFlows
    from ._http.app import AuthApp
    from ._magic_links import MagicLinks
    from ._oauth import OAuthFlow
    from ._passkeys import PasskeyFlow
    from ._ratelimit import RateLimiter, RateLimitOptions
    from ._security import AccountSecurity
    from .mail import EmailSender
    from .mfa import MFAChallenge, MFAFlow
    from .providers import OAuthProvider

__all__ = ["Auth", "normalize_email"]

logger = logging.getLogger("authgate")

_MAX_NAME = 255
_CLOSE_GRACE = 15.0  # seconds close() waits for background mail before closing the store anyway


class Auth:
    """Email/password and provider sign-in with database sessions (opaque, hashed, rotating) or
    JWT sessions (JWE cookies).

    >>> auth = Auth(store=SQLiteStore("sqlite:///app.db"), secret=os.environ["AUTHGATE_SECRET"])
    >>> app = Starlette(routes=[Mount("/api/auth", app=auth.asgi_app)], lifespan=auth.lifespan)

    With no store the JWT strategy is used and only provider sign-in is available (there is
    nowhere to keep passwords).
    """

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
        self._store = store
        self.email_sender = email_sender
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
        self.limiter = self._make_limiter(rate_limits)
        self.callbacks = callbacks or Callbacks()
        self.events = events or Events()
        self.providers = {provider.id: provider for provider in providers}
        if len(self.providers) != len(providers) or "credentials" in self.providers or "passkey" in self.providers:
            raise Configuration("provider ids must be unique and not 'credentials' or 'passkey'")
        strategy = self.config.sessions.strategy or ("database" if store is not None else "jwt")
        if strategy == "database":
            if store is None:
                raise Configuration("the database session strategy needs a store")
            self.sessions: DatabaseSessions | JWTSessions = DatabaseSessions(self.config, store, self.audit)
        else:
            self.sessions = JWTSessions(self.config, self.callbacks)
        self.hasher = PasswordHasher(self.config.passwords.algorithm, workers=self.config.passwords.hash_workers)
        self._opened = False
        self._open_lock: asyncio.Lock | None = None

    @staticmethod
    def _make_limiter(options: RateLimitOptions | None) -> RateLimiter | None:
        from ._ratelimit import RateLimiter, RateLimitOptions

        options = options or RateLimitOptions()
        return RateLimiter(options) if options.enabled else None

    async def rate_limit(self, limit_name: str, key: str) -> None:
        """Spend one unit of a named limit (RateLimited when over); nothing when limits are off."""
        if self.limiter is not None:
            await self.limiter.hit(limit_name, key)

    @property
    def _needs_verified_email(self) -> bool:
        # Quiet sign-up lets anyone register any address, so sign-in must wait for proof of it
        # (otherwise whoever registers the victim's address first could use the account).
        accounts = self.config.accounts
        return accounts.require_verified_email or accounts.sign_up_conflict == "email"

    @property
    def store(self) -> Store:
        """The store; Configuration when there is none (JWT strategy without users)."""
        if self._store is None:
            raise Configuration("this operation needs a store")
        return self._store

    @property
    def has_store(self) -> bool:
        return self._store is not None

    @property
    def uses_database_sessions(self) -> bool:
        """True with the database strategy (sessions in the store, revocable at once)."""
        return isinstance(self.sessions, DatabaseSessions)

    @staticmethod
    def email_key(email: str) -> str:
        """The lookup key of an address (see `normalize_email`)."""
        return normalize_email(email)[1]

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the store (idempotent). Routes call this lazily, so a missing lifespan still works."""
        if self._opened:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if not self._opened:
                if self._store is not None:
                    await self._store.open()
                self._opened = True

    async def close(self) -> None:
        """Finish the work started after answering (mail, quiet sign-ups; bounded by the mail
        timeout), then close the store and the rate-limit storage."""
        if "accounts" in self.__dict__:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.accounts.idle(), timeout=_CLOSE_GRACE)
        if self._opened and self._store is not None:
            await self._store.close()
        if self.limiter is not None:
            await self.limiter.close()
        self._opened = False
        self._open_lock = None

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
                deleted = await self.cleanup_expired_sessions()
                if deleted:
                    logger.info("authgate cleanup deleted %d expired sessions", deleted)
            except AuthError as error:  # store briefly down: try again next round
                logger.warning("authgate cleanup failed: %s", error.message)
            await asyncio.sleep(interval)

    async def cleanup_expired_sessions(self) -> int:
        """Delete sessions whose refresh lifetime is over, in bounded batches; returns the count."""
        await self.open()
        batch = self.config.sessions.cleanup_batch_size
        total = 0
        while True:
            deleted = await self.store.delete_expired_sessions(now=self.config.clock(), limit=batch)
            total += deleted
            if deleted < batch:
                return total
            await asyncio.sleep(0)  # let requests run between batches

    # -- web integration -------------------------------------------------------------------------

    @cached_property
    def asgi_app(self) -> AuthApp:
        """The auth routes as an ASGI app; mount it at `base_path`."""
        from ._http.app import AuthApp

        return AuthApp(self)

    @cached_property
    def oauth(self) -> OAuthFlow:
        """The provider sign-in flow (state, PKCE, nonce, account linking)."""
        from ._oauth import OAuthFlow

        return OAuthFlow(self)

    @cached_property
    def accounts(self) -> AccountFlows:
        """Email verification, password reset and change, email change, account deletion."""
        from ._account import AccountFlows

        return AccountFlows(self)

    @cached_property
    def magic_links(self) -> MagicLinks:
        """Sign-in links by email (`MagicLinkOptions`)."""
        from ._magic_links import MagicLinks

        return MagicLinks(self)

    @cached_property
    def mfa(self) -> MFAFlow:
        """Second factors: challenges, TOTP enrolment, recovery codes, trusted devices."""
        from .mfa import MFAFlow

        return MFAFlow(self)

    @cached_property
    def security(self) -> AccountSecurity:
        """Credential events and step-up re-authentication, in one place."""
        from ._security import AccountSecurity

        return AccountSecurity(self)

    @cached_property
    def passkeys(self) -> PasskeyFlow:
        """WebAuthn registration and sign-in."""
        from ._passkeys import PasskeyFlow

        return PasskeyFlow(self)

    @cached_property
    def current_user(self) -> Callable[..., Awaitable[User]]:
        """FastAPI dependency: `CurrentUser = Annotated[User, Depends(auth.current_user)]`.
        401/403 like RequireAuth; `authgate.integrations.fastapi.install(app, auth)` makes the
        error body `{"error", "kind"}`."""
        from .integrations.fastapi import current_user_dependency

        return current_user_dependency(self)

    @cached_property
    def optional_user(self) -> Callable[..., Awaitable[User | None]]:
        """FastAPI dependency: the signed-in user or None (an expired token still answers 401)."""
        from .integrations.fastapi import optional_user_dependency

        return optional_user_dependency(self)

    async def get_session(self, source: HTTPConnection | str | None) -> AuthSession | None:
        """The session of a request (bearer header first, then cookie) or of an access token.

        Returns None when nobody is signed in; raises only when the store is unreachable.
        """
        if source is None or isinstance(source, str):
            token = source
        else:
            from ._http.credentials import read_credentials

            token = read_credentials(source.scope, self.config).token
        try:
            return await self.authenticate(token)
        except (Unauthenticated, SessionExpired):
            return None

    # -- audit -----------------------------------------------------------------------------------

    async def audit(
        self,
        event_type: str,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        meta: RequestMeta | None = None,
        **detail: Any,
    ) -> None:
        """Record an event in the audit table and tell the matching event handler. Best effort:
        losing an audit line must not undo a sign-in that already happened."""
        event = AuthEvent(
            id=str(uuid.uuid4()),
            type=event_type,
            created_at=self.config.clock(),
            user_id=user_id,
            session_id=session_id,
            ip=meta.ip if meta else None,
            user_agent=(meta.user_agent or "")[:512] or None if meta else None,
            detail=detail or None,
        )
        if self._store is not None:
            try:
                await self._store.record_event(event)
            except AuthError as error:
                logger.warning("authgate: could not record %s event: %s", event_type, error.message)
        handler = getattr(self.events, event_type, None)
        if handler is not None:
            try:
                await handler(event)
            except Exception:  # an event handler never changes the outcome
                logger.exception("authgate: %s event handler failed", event_type)

    # -- operations ------------------------------------------------------------------------------

    async def check_new_password(self, password: str) -> None:
        """The policy for every new password, at sign-up, change and reset: length only (NIST
        800-63B, no composition rules) and the optional breach-list hook."""
        self._check_password_shape(password, for_new_password=True)
        is_breached = self.config.passwords.is_breached
        if is_breached is not None and await is_breached(password):
            raise InvalidRequest("password: found in a list of breached passwords; choose another", field="password")

    def _check_password_shape(self, password: str, *, for_new_password: bool) -> None:
        options = self.config.passwords
        too_short = for_new_password and len(password) < options.min_length
        if too_short or len(password) > options.max_length:
            raise InvalidRequest(
                f"password: must be {options.min_length} to {options.max_length} characters", field="password"
            )

    async def sign_up(
        self, email: str, password: str, name: str | None = None, *, meta: RequestMeta | None = None
    ) -> SignInResult:
        """Create a user and sign them in. Raises EmailInUse for a taken address."""
        await self.rate_limit("sign_up_per_ip", _ip_key(meta))
        display_email, email_key = normalize_email(email)
        if name is not None and len(name) > _MAX_NAME:
            raise InvalidRequest(f"name: at most {_MAX_NAME} characters", field="name")
        await self.check_new_password(password)
        store = self.store
        await self.open()
        password_hash = await self.hasher.hash(password)
        now = self.config.clock()
        user = User(
            id=str(uuid.uuid4()),
            email=display_email,
            name=(name or "").strip(),
            email_verified=False,
            image=None,
            created_at=now,
            updated_at=now,
        )
        await store.create_user(user, email_key=email_key, password_hash=password_hash)
        await self.audit("create_user", user_id=user.id, meta=meta, method="credentials")
        try:
            return await self.start_session(user, meta, method="credentials")
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
        await self.rate_limit("sign_up_per_ip", _ip_key(meta))
        display_email, email_key = normalize_email(email)
        if name is not None and len(name) > _MAX_NAME:
            raise InvalidRequest(f"name: at most {_MAX_NAME} characters", field="name")
        await self.check_new_password(password)
        store = self.store
        await self.open()
        password_hash = await self.hasher.hash(password)  # spend the hash either way: same timing

        # Everything that differs between a new and a taken address (the lookup, the user and token
        # writes, which mail goes out, a mail outage) happens after the answer: the caller sees the
        # same status, body and timing either way.
        async def finish() -> None:
            existing = await store.get_credentials(email_key)
            if existing is not None:
                await self.accounts.tell_existing_owner(existing[0])
                return
            now = self.config.clock()
            user = User(str(uuid.uuid4()), display_email, (name or "").strip(), False, None, now, now)
            try:
                await store.create_user(user, email_key=email_key, password_hash=password_hash)
            except EmailInUse:
                return  # lost a race to another sign-up of the same address
            await self.audit("create_user", user_id=user.id, meta=meta, method="credentials")
            await self.accounts.send_verification(user)

        self.accounts.run_later(finish(), what="quiet sign-up")

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
        self._check_password_shape(password, for_new_password=False)
        await self.rate_limit("sign_in_per_ip", _ip_key(meta))
        try:
            _, email_key = normalize_email(email)
        except InvalidRequest:
            email_key = None  # answer exactly like a wrong password, after the same work
        store = self.store
        await self.open()
        found = await store.get_credentials(email_key) if email_key else None
        user, stored_hash = found if found else (None, None)
        device = self.mfa.trusted_device(trusted_device, user) if user else None
        account_key = f"{email_key}|device:{device}" if device else (email_key or "invalid-email")
        # Reserve the attempt before verifying: a check-then-count would let every request
        # already in flight through, so parallel guesses could overshoot the limit.
        await self.rate_limit("sign_in_per_account", account_key)
        ok, upgraded_hash = await self.hasher.verify(stored_hash, password)
        if not ok or user is None:
            await self.audit("sign_in_failed", user_id=user.id if user else None, meta=meta, email=email[:254])
            raise CredentialsSignin()
        if upgraded_hash is not None:
            await store.set_password_hash(user.id, upgraded_hash, now=self.config.clock())
        if self._needs_verified_email and not user.email_verified:
            # The password is right, so this is the owner (or whoever registered the address): a
            # fresh link lets the mailbox owner finish, however old the first one is.
            self.accounts.run_later(self.accounts.send_verification(user), what="verification link")
            raise AccessDenied("Verify your email address before signing in; we sent you a new link")
        if device is None:
            methods = await self.mfa.methods_for(user)
            if methods:
                return await self.mfa.challenge(user, methods, meta)
        return await self.start_session(user, meta, method="credentials")

    async def start_session(
        self, user: User, meta: RequestMeta | None, *, method: str, account: Any = None, profile: Any = None
    ) -> SignInResult:
        """Run the `sign_in` callback, then create the session with the configured strategy."""
        if self.callbacks.sign_in is not None and not await self.callbacks.sign_in(user, account, profile):
            await self.audit("sign_in_failed", user_id=user.id, meta=meta, method=method, reason="callback")
            raise AccessDenied()
        result = await self.sessions.start(user, meta)
        await self.audit("sign_in", user_id=user.id, session_id=result.session.id, meta=meta, method=method)
        return result

    async def authenticate(self, access_token: str | None) -> AuthSession:
        """The session for an access token, or Unauthenticated / SessionExpired."""
        await self.open()
        return await self.sessions.authenticate(access_token)

    async def authenticate_fresh(self, access_token: str | None) -> AuthSession:
        """Like `authenticate`, then re-read by id from the store, past any session cache: the
        check in front of sensitive operations (password, email, MFA and passkey changes, the
        session list) must see a revocation at once, whatever a cache's revocation bound is."""
        current = await self.authenticate(access_token)
        if not isinstance(self.sessions, DatabaseSessions):
            return current
        fresh = await self.store.get_session(current.session.id)
        if fresh is None:
            raise Unauthenticated()
        return AuthSession(user=fresh[1], session=fresh[0])

    async def refresh(self, refresh_token: str | None) -> SignInResult:
        """Rotate both tokens. A second presentation of the previous refresh token inside the grace
        window gets the session back without new tokens; any later one revokes the session."""
        await self.open()
        return await self.sessions.refresh(refresh_token)

    async def sign_out(
        self, *, access_token: str | None = None, refresh_token: str | None = None, meta: RequestMeta | None = None
    ) -> bool:
        """Revoke the session the access token (or, failing that, the refresh token) belongs to."""
        await self.open()
        session = await self.sessions.revoke(access_token=access_token, refresh_token=refresh_token)
        if session is None:
            return False
        await self.audit("sign_out", user_id=session.user_id, session_id=session.id, meta=meta)
        return True

    def _require_database_sessions(self) -> Store:
        if not isinstance(self.sessions, DatabaseSessions):
            raise InvalidRequest("listing and revoking sessions needs the database session strategy")
        return self.store

    async def list_sessions(self, user_id: str) -> list[Session]:
        """A user's live sessions, newest first. Always read from the store (never a cache)."""
        store = self._require_database_sessions()
        await self.open()
        now = self.config.clock()
        return [s for s in await store.list_user_sessions(user_id) if s.refresh_expires_at > now]

    async def revoke_session(self, user_id: str, session_id: str) -> bool:
        """Revoke one of the user's own sessions; another user's session id does nothing."""
        store = self._require_database_sessions()
        sessions = await self.list_sessions(user_id)
        if not any(s.id == session_id for s in sessions) or not await store.delete_session(session_id):
            return False
        await self.audit("session_revoked", user_id=user_id, session_id=session_id, reason="user")
        return True

    async def revoke_other_sessions(self, user_id: str, current_session_id: str) -> int:
        """Sign out everywhere else. The owner evicting an intruder also ends what the intruder may
        have left behind: pending links (an email change), trusted devices, MFA challenges. So this
        is a credential event, told to nobody (the owner just did it)."""
        store = self._require_database_sessions()
        await self.open()
        user = await store.get_user(user_id)
        if user is None:
            return 0
        return await self.security.credential_changed(
            user, "session_revoked", keep_session=current_session_id, notify=False, reason="others"
        )


def _ip_key(meta: RequestMeta | None) -> str:
    from ._ratelimit import ip_key

    return ip_key(meta.ip if meta else None)
