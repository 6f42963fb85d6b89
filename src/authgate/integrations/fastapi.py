"""FastAPI dependencies: `Depends(auth.current_user)` answers 401/403 exactly like RequireAuth."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request

from .._errors import AuthError
from .._http.credentials import authenticate_request, read_credentials
from .._models import User

if TYPE_CHECKING:
    from .._engine import Auth

__all__ = ["current_user_dependency"]


def current_user_dependency(auth: Auth) -> Callable[[Request], Awaitable[User]]:
    """Build the dependency. Failures raise HTTPException with `detail={"error", "kind"}`,
    so FastAPI's own error handling (and OpenAPI) sees them; the session lands on `request.state`."""

    async def current_user(request: Request) -> User:
        credentials = read_credentials(request.scope, auth.config)
        try:
            current = await authenticate_request(request.scope, credentials, auth)
        except AuthError as error:
            headers = {"Cache-Control": "no-store"}
            raise HTTPException(error.status_code, detail=error.to_json(), headers=headers) from None
        request.state.user = current.user
        request.state.session = current.session
        return current.user

    return current_user
