"""Single-use tokens bound to a user and a purpose, stored only as SHA-256 (the raw value goes to
the user once, by email or in a response). Shared by email verification, password reset, email
change, MFA challenges and WebAuthn challenges."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ._context import AuthContext
from ._errors import Verification
from ._models import VerificationToken
from ._tokens import hash_token, looks_like_token, new_token

__all__ = ["Verifications"]


class Verifications:
    """Issue, read and consume verification tokens through the store."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx

    async def issue(
        self,
        purpose: str,
        *,
        user_id: str | None,
        lifetime: timedelta,
        data: dict[str, Any] | None = None,
        raw: str | None = None,
    ) -> str:
        """Store a new token (or `raw`, e.g. a WebAuthn challenge) and return the raw value."""
        raw = raw or new_token()
        now = self.ctx.config.clock()
        token = VerificationToken(
            token_hash=hash_token(raw), purpose=purpose, expires_at=now + lifetime, created_at=now,
            user_id=user_id, data=data,
        )  # fmt: skip
        await self.ctx.store.create_verification(token)
        return raw

    async def peek(self, raw: str | None, purpose: str) -> VerificationToken:
        """A live token of this purpose without using it up; Verification otherwise."""
        if raw is None or not looks_like_token(raw):
            raise Verification()
        token = await self.ctx.store.get_verification(hash_token(raw))
        if token is None or token.purpose != purpose or self.ctx.config.clock() >= token.expires_at:
            raise Verification()
        return token

    async def consume(self, raw: str | None, purpose: str) -> VerificationToken:
        """Use a token up (exactly one caller wins); Verification when missing, used or expired."""
        if raw is None or not looks_like_token(raw):
            raise Verification()
        token = await self.ctx.store.consume_verification(hash_token(raw), purpose)
        if token is None or self.ctx.config.clock() >= token.expires_at:
            raise Verification()
        return token

    async def count_attempt(self, raw: str) -> int:
        return await self.ctx.store.count_verification_attempt(hash_token(raw))
