"""Checking a TOTP code of a user's factor: open its sealed secret, find the matching time step
and spend that step in the store (a code cannot be used twice in its window). Shared by the MFA
challenge and by step-up re-authentication, which sits below the MFA flow."""

from __future__ import annotations

import logging

from ._context import AuthContext
from ._errors import Verification
from ._models import MFAFactor
from .mfa._totp import SecretBox, is_six_digits, matching_step

__all__ = ["TOTPCodes"]

logger = logging.getLogger("authgate")


class TOTPCodes:
    """TOTP secrets sealed under the configured secrets, and the codes they produce."""

    def __init__(self, ctx: AuthContext) -> None:
        self.ctx = ctx
        self.box = SecretBox(ctx.config.secrets)

    async def confirmed_code_matches(self, user_id: str, code: str) -> bool:
        """A current code of the user's confirmed TOTP factor (spent: it cannot be replayed)."""
        code = code.strip()
        if not is_six_digits(code):
            return False
        factors = await self.ctx.store.list_mfa_factors(user_id)
        if not any(f.kind == "totp" and f.confirmed for f in factors):
            return False
        return await self.code_matches(user_id, code)

    async def code_matches(self, user_id: str, code: str) -> bool:
        """A current code of the user's TOTP factor, spending its time step."""
        factor = next((f for f in await self.ctx.store.list_mfa_factors(user_id) if f.kind == "totp"), None)
        if factor is None or factor.secret is None:
            return False
        step = matching_step(self.open_secret(factor, user_id), code, self.ctx.config.clock())
        # The store refuses a step it has seen: the same code cannot be used twice in its window.
        return step is not None and await self.ctx.store.advance_totp_step(user_id, step)

    def open_secret(self, factor: MFAFactor, user_id: str) -> str:
        """The factor's plain secret; Verification (and the fix in the log) when no configured
        secret opens it."""
        assert factor.secret is not None  # noqa: S101 - callers check
        try:
            return self.box.open(factor.secret, user_id)
        except ValueError:
            # The secret it was sealed with is no longer configured: a clear answer, and the fix for
            # the operator in the log, never a 500.
            logger.error(
                "authgate: the TOTP secret of user %s does not decrypt with any configured secret; add the "
                "previous secret back as secret=[new, old] (AUTHGATE_SECRET must stay the same across restarts)",
                user_id,
            )
            raise Verification("Your authenticator app cannot be checked right now; use a recovery code") from None
