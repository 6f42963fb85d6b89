"""`Auth`: the framework-free engine. Every rule about users, passwords and sessions lives here;
the HTTP layer only parses requests and the store only persists."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email

from ._config import AuthConfig, Clock, CookieOptions, PasswordOptions, SessionOptions, utc_now
from ._errors import (
    AuthError,
    CredentialsSignin,
    InvalidRefreshToken,
    InvalidRequest,
    RefreshTokenReuse,
    SessionExpired,
    Unauthenticated,
)
from ._models import AuthSession, RequestMeta, Session, SignInResult, Tokens, User
from ._passwords import PasswordHasher
from ._tokens import hash_token, looks_like_token, new_token
from .stores.base import Store

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from ._http.app import AuthApp

__all__ = ["Auth", "normalize_email"]

logger = logging.getLogger("authgate")

_MAX_EMAIL = 254
_MAX_NAME = 255
_MAX_USER_AGENT = 512


def normalize_email(email: str) -> tuple[str, str]:
    """Validate an address; return (display form, lookup key).

    The key is NFKC + case-folded, so `Ann@Example.com`, `ann@example.com` and the full-width
    form of the same letters are one account: a look-alike cannot register beside the real user.
    """
    trimmed = email.strip()
    if not trimmed or len(trimmed) > _MAX_EMAIL:
        raise InvalidRequest("email: must be a valid email address", field="email")
    try:
        display = validate_email(trimmed, check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidRequest("email: must be a valid email address", field="email") from None
    return display, unicodedata.normalize("NFKC", display).casefold()


class Auth:
    """Email/password sign-up and sign-in with opaque, hashed, rotating database sessions.

    >>> auth = Auth(store=SQLiteStore("sqlite:///app.db"), secret=os.environ["AUTHGATE_SECRET"])
    >>> app = Starlette(routes=[Mount("/api/auth", app=auth.asgi_app)], lifespan=auth.lifespan)
    """

    def __init__(
        self,
        store: Store,
        *,
        secret: str,
        base_path: str = "/api/auth",
        base_url: str | None = None,
        trusted_origins: tuple[str, ...] | list[str] = (),
        cookies: CookieOptions | None = None,
        sessions: SessionOptions | None = None,
        passwords: PasswordOptions | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.config = AuthConfig(
            secret=secret,
            base_path=base_path,
            base_url=base_url,
            trusted_origins=tuple(trusted_origins),
            cookies=cookies or CookieOptions(),
            sessions=sessions or SessionOptions(),
            passwords=passwords or PasswordOptions(),
            clock=clock,
        )
        self.store = store
        self.hasher = PasswordHasher(self.config.passwords.algorithm, workers=self.config.passwords.hash_workers)
        self._opened = False
        self._open_lock: asyncio.Lock | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the store (idempotent). Routes call this lazily, so a missing lifespan still works."""
        if self._opened:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if not self._opened:
                await self.store.open()
                self._opened = True

    async def close(self) -> None:
        """Close the store and the hashing pool."""
        if self._opened:
            await self.store.close()
            self._opened = False
        self._open_lock = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """ASGI lifespan: open the store, run the cleanup loop, close on shutdown.

        Pass it as `Starlette(lifespan=auth.lifespan)`, or `async with auth.lifespan(app):` inside your own.
        """
        await self.open()
        cleanup = asyncio.create_task(self._cleanup_loop(), name="authgate-cleanup")
        try:
            yield
        finally:
            cleanup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cleanup
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
    def current_user(self) -> Any:
        """FastAPI dependency: `user: User = Depends(auth.current_user)`. 401/403 like RequireAuth."""
        from .integrations.fastapi import current_user_dependency

        return current_user_dependency(self)

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

    # -- operations ------------------------------------------------------------------------------

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
        display_email, email_key = normalize_email(email)
        self._check_password_shape(password, for_new_password=True)
        if name is not None and len(name) > _MAX_NAME:
            raise InvalidRequest(f"name: at most {_MAX_NAME} characters", field="name")
        if self.config.passwords.is_breached is not None and await self.config.passwords.is_breached(password):
            raise InvalidRequest("password: found in a list of breached passwords; choose another", field="password")
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
        await self.store.create_user(user, email_key=email_key, password_hash=password_hash)
        return await self._start_session(user, meta)

    async def sign_in(self, email: str, password: str, *, meta: RequestMeta | None = None) -> SignInResult:
        """Check email and password and start a new session (always a new token: no fixation).

        Unknown email and wrong password raise the same CredentialsSignin after one hash verify each.
        """
        self._check_password_shape(password, for_new_password=False)
        try:
            _, email_key = normalize_email(email)
        except InvalidRequest:
            email_key = None  # answer exactly like a wrong password, after the same work
        await self.open()
        found = await self.store.get_credentials(email_key) if email_key else None
        user, stored_hash = found if found else (None, None)
        ok, upgraded_hash = await self.hasher.verify(stored_hash, password)
        if not ok or user is None:
            raise CredentialsSignin()
        if upgraded_hash is not None:
            await self.store.set_password_hash(user.id, upgraded_hash, now=self.config.clock())
        return await self._start_session(user, meta)

    async def _start_session(self, user: User, meta: RequestMeta | None) -> SignInResult:
        options = self.config.sessions
        now = self.config.clock()
        access_token, refresh_token = new_token(), new_token()
        session = Session(
            id=str(uuid.uuid4()),
            user_id=user.id,
            expires_at=now + options.access_lifetime,
            refresh_expires_at=now + options.refresh_lifetime,
            created_at=now,
            last_used_at=now,
            ip=meta.ip if meta else None,
            user_agent=(meta.user_agent or "")[:_MAX_USER_AGENT] or None if meta else None,
        )
        await self.store.create_session(
            session, token_hash=hash_token(access_token), refresh_hash=hash_token(refresh_token)
        )
        tokens = Tokens(access_token, refresh_token, session.expires_at, session.refresh_expires_at)
        return SignInResult(user=user, session=session, tokens=tokens)

    async def authenticate(self, access_token: str | None) -> AuthSession:
        """The session for an access token, or Unauthenticated / SessionExpired."""
        if not looks_like_token(access_token):
            raise Unauthenticated()
        assert access_token is not None  # noqa: S101 - looks_like_token(None) is False
        await self.open()
        found = await self.store.get_session_by_token(hash_token(access_token))
        if found is None:
            raise Unauthenticated()
        session, user = found
        if self.config.clock() >= session.expires_at:
            raise SessionExpired()
        return AuthSession(user=user, session=session)

    async def refresh(self, refresh_token: str | None) -> SignInResult:
        """Rotate both tokens. A second presentation of the previous refresh token inside the grace
        window gets the session back without new tokens; any later one revokes the session."""
        if not looks_like_token(refresh_token):
            raise InvalidRefreshToken()
        assert refresh_token is not None  # noqa: S101
        await self.open()
        refresh_hash = hash_token(refresh_token)
        options = self.config.sessions
        found = await self.store.get_session_by_refresh(refresh_hash)
        if found is not None:
            session, user = found
            now = self.config.clock()
            if now >= session.refresh_expires_at:
                await self.store.delete_session(session.id)
                raise InvalidRefreshToken()
            refresh_expires_at = min(now + options.refresh_lifetime, session.created_at + options.absolute_lifetime)
            expires_at = min(now + options.access_lifetime, refresh_expires_at)
            access_token, new_refresh_token = new_token(), new_token()
            rotated = await self.store.rotate_refresh(
                session.id,
                old_refresh_hash=refresh_hash,
                token_hash=hash_token(access_token),
                refresh_hash=hash_token(new_refresh_token),
                expires_at=expires_at,
                refresh_expires_at=refresh_expires_at,
                now=now,
            )
            if rotated is not None:
                tokens = Tokens(access_token, new_refresh_token, expires_at, refresh_expires_at)
                return SignInResult(user=user, session=rotated, tokens=tokens)
            # Another request rotated this token between our read and our write: a race, see below.
        return await self._answer_retired_refresh(refresh_hash, options.refresh_grace)

    async def _answer_retired_refresh(self, refresh_hash: str, grace: timedelta) -> SignInResult:
        retired = await self.store.get_retired_refresh(refresh_hash)
        if retired is None:
            raise InvalidRefreshToken()
        if self.config.clock() - retired.retired_at <= grace:
            current = await self.store.get_session(retired.session_id)
            if current is not None:
                session, user = current
                return SignInResult(user=user, session=session, tokens=None)
            raise InvalidRefreshToken()
        # An old refresh token came back after the race window: someone holds a stolen copy.
        await self.store.delete_session(retired.session_id)
        logger.warning("authgate: refresh token reuse, session %s revoked", retired.session_id)
        raise RefreshTokenReuse()

    async def sign_out(self, *, access_token: str | None = None, refresh_token: str | None = None) -> bool:
        """Revoke the session the access token (or, failing that, the refresh token) belongs to."""
        await self.open()
        if looks_like_token(access_token):
            assert access_token is not None  # noqa: S101
            found = await self.store.get_session_by_token(hash_token(access_token))
            if found is not None:
                return await self.store.delete_session(found[0].id)
        if looks_like_token(refresh_token):
            assert refresh_token is not None  # noqa: S101
            found = await self.store.get_session_by_refresh(hash_token(refresh_token))
            if found is not None:
                return await self.store.delete_session(found[0].id)
        return False

    async def list_sessions(self, user_id: str) -> list[Session]:
        """A user's live sessions, newest first."""
        await self.open()
        now = self.config.clock()
        return [s for s in await self.store.list_user_sessions(user_id) if s.refresh_expires_at > now]

    async def revoke_session(self, user_id: str, session_id: str) -> bool:
        """Revoke one of the user's own sessions; another user's session id does nothing."""
        sessions = await self.list_sessions(user_id)
        if not any(s.id == session_id for s in sessions):
            return False
        return await self.store.delete_session(session_id)

    async def revoke_other_sessions(self, user_id: str, current_session_id: str) -> int:
        """Sign out everywhere else."""
        await self.open()
        return await self.store.delete_user_sessions(user_id, except_session_id=current_session_id)
