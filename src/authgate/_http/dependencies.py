"""What the FastAPI dependencies and the Litestar integration share: the same `authenticate_request` RequireAuth
runs (cross-site rule, then the session), from an ASGI scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._models import AuthSession
from .credentials import authenticate_request, read_credentials

if TYPE_CHECKING:
    from .._engine import AuthEngine

__all__ = ["authenticate_scope", "has_credentials"]


async def authenticate_scope(auth: AuthEngine, scope: Mapping[str, Any]) -> AuthSession:
    """The request's session, or the AuthError (MissingCSRF, ForbiddenOrigin, Unauthenticated,
    SessionExpired, ServiceUnavailable) that RequireAuth would answer with."""
    return await authenticate_request(scope, read_credentials(scope, auth.config), auth)


def has_credentials(auth: AuthEngine, scope: Mapping[str, Any]) -> bool:
    """Whether the request presents a session at all (bearer header or session cookie)."""
    return read_credentials(scope, auth.config).token is not None
