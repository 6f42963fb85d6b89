"""The FastAPI dependencies behind `auth.current_user` and `auth.optional_user`: the same check
RequireAuth runs, with the cookie and bearer schemes declared for the app's OpenAPI. Part of the web
layer (they need only the engine); `authgate.integrations.fastapi.install` answers their errors."""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations at run time,
# and those name the security schemes built inside the factories below.

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from .._errors import AuthError, Unauthenticated
from .._models import User
from .._optional import extra_error
from .dependencies import authenticate_scope, has_credentials

try:
    from fastapi import HTTPException, Request, Security
    from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
except ModuleNotFoundError as error:
    raise extra_error(error, "fastapi") from None

if TYPE_CHECKING:
    from .._engine import AuthEngine

__all__ = ["NO_STORE", "AuthHTTPException", "current_user_dependency", "optional_user_dependency"]

NO_STORE = {"Cache-Control": "no-store"}


class AuthHTTPException(HTTPException):
    """An AuthError on its way out of a FastAPI dependency. `install()` answers it with the error's
    own `{"error", "kind"}` body; without `install()` FastAPI nests that body under `detail`."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(error.status_code, detail=error.to_json(), headers=NO_STORE)
        self.error = error


def _schemes(auth: "AuthEngine") -> tuple[APIKeyCookie, HTTPBearer]:
    # Declared as FastAPI security dependencies only so that the app's OpenAPI shows both ways in
    # (with auto_error=False they never refuse anything; authgate's own check decides).
    cookie = APIKeyCookie(
        name=auth.config.cookies.session_cookie,
        scheme_name="authgateCookie",
        description="The session cookie set by sign-in (browsers also send X-Authgate-Client: true on writes).",
        auto_error=False,
    )
    bearer = HTTPBearer(
        scheme_name="authgateBearer",
        description="An access token from sign-in with transport=bearer.",
        auto_error=False,
    )
    return cookie, bearer


async def _sign_in(auth: "AuthEngine", request: Request) -> User:
    """The request's user, checked exactly like RequireAuth; the session lands on `request.state`."""
    try:
        current = await authenticate_scope(auth, request.scope)
    except AuthError as error:
        raise AuthHTTPException(error) from None
    request.state.user = current.user
    request.state.session = current.session
    return current.user


def current_user_dependency(auth: "AuthEngine") -> Callable[..., Awaitable[User]]:
    """The signed-in user, or 401/403 exactly like RequireAuth; the session lands on `request.state`."""
    cookie, bearer = _schemes(auth)

    async def current_user(
        request: Request,
        _cookie: Annotated[str | None, Security(cookie)],
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> User:
        return await _sign_in(auth, request)

    return current_user


def optional_user_dependency(auth: "AuthEngine") -> Callable[..., Awaitable[User | None]]:
    """The signed-in user, or None for a request without a session (or with an unknown token).

    An expired access token still answers 401 `SessionExpired`, so the JS client refreshes and
    retries instead of showing a signed-in user a signed-out page; a store outage answers 503.
    """
    cookie, bearer = _schemes(auth)

    async def optional_user(
        request: Request,
        _cookie: Annotated[str | None, Security(cookie)],
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> User | None:
        if not has_credentials(auth, request.scope):
            return None
        try:
            return await _sign_in(auth, request)
        except AuthHTTPException as exc:
            if isinstance(exc.error, Unauthenticated):
                return None
            raise

    return optional_user
