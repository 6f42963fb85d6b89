"""The answer to a sign-in, shared by every route that can sign someone in: a session (cookies, or
tokens in the body in bearer mode) or a second-factor challenge."""

from __future__ import annotations

from typing import Any

from .._models import SignInResult
from ..mfa import MFAChallenge
from .call import Call
from .responses import send_json, session_cookies

__all__ = ["bearer_json", "send_sign_in"]


async def send_sign_in(call: Call, result: SignInResult | MFAChallenge, transport: str | None) -> None:
    """`transport="bearer"` returns the tokens in the body and sets no cookie."""
    if isinstance(result, MFAChallenge):
        await send_json(call.send, 200, result.to_json())  # no session yet: nothing to set
        return
    if transport == "bearer" and result.tokens is not None:
        await send_json(call.send, 200, {**result.to_json(), **bearer_json(call, result)})
        return
    cookies = session_cookies(result.tokens, call.config) if result.tokens else None
    await send_json(call.send, 200, result.to_json(), extra_headers=cookies)


def bearer_json(call: Call, result: SignInResult) -> dict[str, Any]:
    assert result.tokens is not None  # noqa: S101 - callers check
    tokens = result.tokens
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "token_type": "Bearer",
        "expires_in": max(0, int((tokens.access_expires_at - call.config.clock()).total_seconds())),
        "session_id": result.session.id,
    }
