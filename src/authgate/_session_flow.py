"""Session operations on top of the configured strategy: start one after every factor passed (the
`sign_in` callback, then the strategy, then the audit line), authenticate, refresh, sign out, list
and revoke, and the bounded cleanup. Every sign-in path ends in `start`, so the callback and the
audit cannot be forgotten by a new one."""

from __future__ import annotations

import asyncio
from typing import Any

from ._context import AuthContext
from ._errors import AccessDenied, InvalidRequest, Unauthenticated
from ._models import AuthSession, RequestMeta, Session, SignInResult, User
from ._sessions import DatabaseSessions, JWTSessions
from .stores.base import Store

__all__ = ["SessionFlow"]


class SessionFlow:
    """Start, check, refresh and end sessions with one strategy."""

    def __init__(self, ctx: AuthContext, strategy: DatabaseSessions | JWTSessions) -> None:
        self.ctx = ctx
        self.strategy = strategy

    async def start(
        self, user: User, meta: RequestMeta | None, *, method: str, account: Any = None, profile: Any = None
    ) -> SignInResult:
        """Run the `sign_in` callback, then create the session with the configured strategy."""
        callback = self.ctx.callbacks.sign_in
        if callback is not None and not await callback(user, account, profile):
            await self.ctx.audit("sign_in_failed", user_id=user.id, meta=meta, method=method, reason="callback")
            raise AccessDenied()
        result = await self.strategy.start(user, meta)
        await self.ctx.audit("sign_in", user_id=user.id, session_id=result.session.id, meta=meta, method=method)
        return result

    async def authenticate(self, access_token: str | None) -> AuthSession:
        """The session for an access token, or Unauthenticated / SessionExpired."""
        await self.ctx.open()
        return await self.strategy.authenticate(access_token)

    async def authenticate_fresh(self, access_token: str | None) -> AuthSession:
        """Like `authenticate`, then re-read by id from the store, past any session cache: the
        check in front of sensitive operations (password, email, MFA and passkey changes, the
        session list) must see a revocation at once, whatever a cache's revocation bound is."""
        current = await self.authenticate(access_token)
        if not isinstance(self.strategy, DatabaseSessions):
            return current
        fresh = await self.ctx.store.get_session(current.session.id)
        if fresh is None:
            raise Unauthenticated()
        return AuthSession(user=fresh[1], session=fresh[0])

    async def refresh(self, refresh_token: str | None) -> SignInResult:
        """Rotate both tokens. A second presentation of the previous refresh token inside the grace
        window gets the session back without new tokens; any later one revokes the session."""
        await self.ctx.open()
        return await self.strategy.refresh(refresh_token)

    async def sign_out(
        self, *, access_token: str | None = None, refresh_token: str | None = None, meta: RequestMeta | None = None
    ) -> bool:
        """Revoke the session the access token (or, failing that, the refresh token) belongs to."""
        await self.ctx.open()
        session = await self.strategy.revoke(access_token=access_token, refresh_token=refresh_token)
        if session is None:
            return False
        await self.ctx.audit("sign_out", user_id=session.user_id, session_id=session.id, meta=meta)
        return True

    def database_store(self) -> Store:
        """The store, when sessions live in it; InvalidRequest with the JWT strategy."""
        if not isinstance(self.strategy, DatabaseSessions):
            raise InvalidRequest("listing and revoking sessions needs the database session strategy")
        return self.ctx.store

    async def list_sessions(self, user_id: str) -> list[Session]:
        """A user's live sessions, newest first. Always read from the store (never a cache)."""
        store = self.database_store()
        await self.ctx.open()
        now = self.ctx.config.clock()
        return [s for s in await store.list_user_sessions(user_id) if s.refresh_expires_at > now]

    async def revoke_session(self, user_id: str, session_id: str) -> bool:
        """Revoke one of the user's own sessions; another user's session id does nothing."""
        store = self.database_store()
        sessions = await self.list_sessions(user_id)
        if not any(s.id == session_id for s in sessions) or not await store.delete_session(session_id):
            return False
        await self.ctx.audit("session_revoked", user_id=user_id, session_id=session_id, reason="user")
        return True

    async def cleanup_expired(self) -> int:
        """Delete sessions whose refresh lifetime is over, in bounded batches; returns the count."""
        await self.ctx.open()
        batch = self.ctx.config.sessions.cleanup_batch_size
        total = 0
        while True:
            deleted = await self.ctx.store.delete_expired_sessions(now=self.ctx.config.clock(), limit=batch)
            total += deleted
            if deleted < batch:
                return total
            await asyncio.sleep(0)  # let requests run between batches
