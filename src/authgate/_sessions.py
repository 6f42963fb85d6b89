"""Session strategies: opaque database sessions, or self-contained JWE cookies.

Both answer the same four questions (start, authenticate, refresh, revoke), so the engine and the
HTTP layer never branch on the strategy.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ._config import AuthConfig
from ._errors import CredentialsSignin, InvalidRefreshToken, RefreshTokenReuse, SessionExpired, Unauthenticated
from ._hooks import Callbacks
from ._jwe import InvalidJWE, JWECodec
from ._models import AuthSession, RequestMeta, Session, SignInResult, Tokens, User
from ._tokens import hash_token, looks_like_token, new_token
from .stores.base import Store

__all__ = ["DatabaseSessions", "JWTSessions"]

logger = logging.getLogger("authgate")

Audit = Callable[..., Awaitable[None]]
_MAX_USER_AGENT = 512


class DatabaseSessions:
    """Opaque 256-bit tokens; the store keeps SHA-256 of each. Refresh rotates both, with a grace
    window for racing tabs and revocation when an older token comes back."""

    name: Literal["database"] = "database"

    def __init__(self, config: AuthConfig, store: Store, audit: Audit) -> None:
        self.config = config
        self.store = store
        self.audit = audit

    async def start(self, user: User, meta: RequestMeta | None) -> SignInResult:
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
            user_agent=((meta.user_agent or "")[:_MAX_USER_AGENT] or None) if meta else None,
            auth_time=now,  # every session starts from a credential check
        )
        created = await self.store.create_session(
            session,
            token_hash=hash_token(access_token),
            refresh_hash=hash_token(refresh_token),
            credential_version=user.credential_version,
        )
        if not created:
            # The password, factor or passkey this sign-in was checked against changed meanwhile.
            raise CredentialsSignin("Your sign-in details changed while signing in; sign in again")
        tokens = Tokens(access_token, refresh_token, session.expires_at, session.refresh_expires_at)
        return SignInResult(user=user, session=session, tokens=tokens)

    async def authenticate(self, token: str | None) -> AuthSession:
        if token is None or not looks_like_token(token):
            raise Unauthenticated()
        found = await self.store.get_session_by_token(hash_token(token))
        if found is None:
            raise Unauthenticated()
        session, user = found
        if self.config.clock() >= session.expires_at:
            raise SessionExpired()
        return AuthSession(user=user, session=session)

    async def refresh(self, refresh_token: str | None) -> SignInResult:
        if refresh_token is None or not looks_like_token(refresh_token):
            raise InvalidRefreshToken()
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
        return await self._answer_retired(refresh_hash, options.refresh_grace)

    async def _answer_retired(self, refresh_hash: str, grace: timedelta) -> SignInResult:
        retired = await self.store.get_retired_refresh(refresh_hash)
        if retired is None:
            raise InvalidRefreshToken()
        # Only the token the latest rotation retired can be a racing tab; an older one is theft.
        if retired.is_latest and self.config.clock() - retired.retired_at <= grace:
            current = await self.store.get_session(retired.session_id)
            if current is None:
                raise InvalidRefreshToken()
            session, user = current
            return SignInResult(user=user, session=session, tokens=None)
        # An old refresh token came back after the race window: someone holds a stolen copy.
        current = await self.store.get_session(retired.session_id)
        await self.store.delete_session(retired.session_id)
        logger.warning("authgate: refresh token reuse, session %s revoked", retired.session_id)
        user_id = current[1].id if current else None
        await self.audit("refresh_reuse", user_id=user_id, session_id=retired.session_id)
        await self.audit("session_revoked", user_id=user_id, session_id=retired.session_id, reason="refresh_reuse")
        raise RefreshTokenReuse()

    async def revoke(self, *, access_token: str | None, refresh_token: str | None) -> Session | None:
        """End the session behind any token of it: the current access or refresh token, or a
        refresh token a racing refresh has just retired (sign-out must not lose that race)."""
        for token, lookup in (
            (access_token, self.store.get_session_by_token),
            (refresh_token, self.store.get_session_by_refresh),
        ):
            if token is not None and looks_like_token(token):
                found = await lookup(hash_token(token))
                if found is not None and await self.store.delete_session(found[0].id):
                    return found[0]
        for token, retired_lookup in (
            (access_token, self.store.get_retired_access),
            (refresh_token, self.store.get_retired_refresh),
        ):
            if token is not None and looks_like_token(token):
                retired = await retired_lookup(hash_token(token))
                current = await self.store.get_session(retired.session_id) if retired else None
                if current is not None and await self.store.delete_session(current[0].id):
                    return current[0]
        return None


# Claims the security rules rest on: when the session began (the absolute lifetime counts from
# it) and when the user last proved a credential (step-up). Named as in OIDC where one exists.
_SESSION_START = "session_start"
_AUTH_TIME = "auth_time"
_PINNED = (_SESSION_START, _AUTH_TIME)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


class JWTSessions:
    """A JWE cookie carries the user; nothing is stored. Revocation is limited to expiry (or a
    denylist in your `jwt` callback), which is the price of needing no database."""

    name: Literal["jwt"] = "jwt"

    def __init__(self, config: AuthConfig, callbacks: Callbacks) -> None:
        self.config = config
        self.callbacks = callbacks
        self.codec = JWECodec(config.secrets, config.cookies.session_cookie)

    @property
    def max_age(self) -> timedelta:
        return self.config.sessions.refresh_lifetime

    def _expiry(self, session_start: float, now: float) -> float:
        # A cookie lives `max_age` past its last issue, never past the absolute lifetime counted from
        # sign-in: re-issue slides the first, never the second.
        absolute = session_start + self.config.sessions.absolute_lifetime.total_seconds()
        return min(now + self.max_age.total_seconds(), absolute)

    async def _issue(self, claims: dict[str, Any], user: User | None) -> tuple[str, dict[str, Any]]:
        if self.callbacks.jwt is not None:
            pinned = {k: claims[k] for k in _PINNED}
            # The callback may add claims, never move the times the security rules rest on.
            claims = {**await self.callbacks.jwt(dict(claims), user), **pinned}
        now = self.config.clock().timestamp()
        start = float(claims[_SESSION_START])
        max_age = int(self._expiry(start, now) - now)
        if max_age <= 0:
            raise Unauthenticated()
        token = self.codec.encode(claims, max_age=max_age, now=now)
        return token, claims


    async def start(self, user: User, meta: RequestMeta | None) -> SignInResult:
        claims: dict[str, Any] = {
            "sub": user.id,
            "email": user.email,
            "name": user.name,
            "picture": user.image,
            "email_verified": user.email_verified,
            "user_created_at": _iso(user.created_at),
            "user_updated_at": _iso(user.updated_at),
            "sid": str(uuid.uuid4()),
        }
        now = self.config.clock()
        # Sign-in time and auth time travel in the token; re-issue copies them, never resets them.
        claims[_SESSION_START] = claims[_AUTH_TIME] = int(now.timestamp())
        token, claims = await self._issue(claims, user)
        expires = datetime.fromtimestamp(self._expiry(claims[_SESSION_START], now.timestamp()), UTC)
        session = self._session(claims, expires=expires)
        tokens = Tokens(token, None, session.expires_at, session.expires_at)
        return SignInResult(user=user, session=session, tokens=tokens, claims=claims)

    def _session(self, claims: dict[str, Any], *, expires: datetime) -> Session:
        return Session(
            id=str(claims["sid"]), user_id=str(claims["sub"]), expires_at=expires, refresh_expires_at=expires,
            created_at=datetime.fromtimestamp(claims[_SESSION_START], UTC),
            auth_time=datetime.fromtimestamp(claims[_AUTH_TIME], UTC),
        )  # fmt: skip

    async def authenticate(self, token: str | None) -> AuthSession:
        if not token:
            raise Unauthenticated()
        try:
            now = self.config.clock().timestamp()
            claims = self.codec.decode(token, now=now)
            # Tokens from before these claims existed count from their issue time.
            claims.setdefault(_SESSION_START, claims["iat"])
            claims.setdefault(_AUTH_TIME, claims[_SESSION_START])
            if now >= float(claims[_SESSION_START]) + self.config.sessions.absolute_lifetime.total_seconds():
                raise Unauthenticated()
            user = User(
                id=str(claims["sub"]),
                email=str(claims["email"]),
                name=str(claims.get("name") or ""),
                email_verified=bool(claims.get("email_verified")),
                image=claims.get("picture"),
                created_at=datetime.fromisoformat(claims["user_created_at"]),
                updated_at=datetime.fromisoformat(claims["user_updated_at"]),
            )
            session = self._session(claims, expires=datetime.fromtimestamp(claims["exp"], UTC))
        except (InvalidJWE, KeyError, TypeError, ValueError):
            raise Unauthenticated() from None
        return AuthSession(user=user, session=session, claims=claims)

    def needs_reissue(self, current: AuthSession) -> bool:
        """True once the token is older than `update_age`: /session then sends a fresh one."""
        issued = float((current.claims or {}).get("iat", 0))
        return self.config.clock().timestamp() - issued >= self.config.sessions.update_age.total_seconds()

    async def reissue(self, current: AuthSession, *, auth_time: datetime | None = None) -> Tokens:
        """A fresh cookie with the same claims, the same sign-in time and the same auth time (or a
        new auth time after a re-authentication); it never outlives the absolute lifetime."""
        claims = {k: v for k, v in (current.claims or {}).items() if k not in ("iat", "exp", "jti")}
        if auth_time is not None:
            claims[_AUTH_TIME] = int(auth_time.timestamp())
        token, claims = await self._issue(claims, None)
        expires = datetime.fromtimestamp(self._expiry(claims[_SESSION_START], self.config.clock().timestamp()), UTC)
        return Tokens(token, None, expires, expires)

    async def refresh(self, refresh_token: str | None) -> SignInResult:
        # The JWT strategy has no refresh token: /session re-issues the cookie after update_age.
        raise InvalidRefreshToken("The JWT session strategy has no refresh token")

    async def revoke(self, *, access_token: str | None, refresh_token: str | None) -> Session | None:
        try:
            return (await self.authenticate(access_token)).session
        except Unauthenticated:
            return None
