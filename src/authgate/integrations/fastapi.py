"""FastAPI: `install(app, auth)` mounts the auth routes, answers authgate errors as
`{"error", "kind"}` (the JS client's contract) and lists the cookie and bearer schemes in the app's
OpenAPI; `auth.current_user` and `auth.optional_user` are the dependencies:

    CurrentUser = Annotated[User, Depends(auth.current_user)]
    OptionalUser = Annotated[User | None, Depends(auth.optional_user)]
"""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations at run time,
# and those name the security schemes built inside the factories below.

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from .._errors import AuthError, Unauthenticated
from .._models import User
from .._optional import extra_error
from ._common import authenticate_scope, has_credentials

try:
    from fastapi import FastAPI, HTTPException, Request, Security
    from fastapi.responses import JSONResponse
    from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
except ModuleNotFoundError as error:
    raise extra_error(error, "fastapi") from None

if TYPE_CHECKING:
    from .._engine import Auth

__all__ = ["AuthHTTPException", "current_user_dependency", "install", "optional_user_dependency"]

_NO_STORE = {"Cache-Control": "no-store"}


class AuthHTTPException(HTTPException):
    """An AuthError on its way out of a FastAPI dependency. `install()` answers it with the error's
    own `{"error", "kind"}` body; without `install()` FastAPI nests that body under `detail`."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(error.status_code, detail=error.to_json(), headers=_NO_STORE)
        self.error = error


def _schemes(auth: "Auth") -> tuple[APIKeyCookie, HTTPBearer]:
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


async def _sign_in(auth: "Auth", request: Request) -> User:
    """The request's user, checked exactly like RequireAuth; the session lands on `request.state`."""
    try:
        current = await authenticate_scope(auth, request.scope)
    except AuthError as error:
        raise AuthHTTPException(error) from None
    request.state.user = current.user
    request.state.session = current.session
    return current.user


def current_user_dependency(auth: "Auth") -> Callable[..., Awaitable[User]]:
    """The signed-in user, or 401/403 exactly like RequireAuth; the session lands on `request.state`."""
    cookie, bearer = _schemes(auth)

    async def current_user(
        request: Request,
        _cookie: Annotated[str | None, Security(cookie)],
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> User:
        return await _sign_in(auth, request)

    return current_user


def optional_user_dependency(auth: "Auth") -> Callable[..., Awaitable[User | None]]:
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


async def _answer(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthHTTPException)  # noqa: S101 - registered for this class only
    headers = dict(_NO_STORE)
    retry_after = getattr(exc.error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(exc.error.to_json(), status_code=exc.status_code, headers=headers)


def install(app: FastAPI, auth: "Auth", *, mount: bool = True) -> None:
    """Mount `auth.asgi_app` at its base path and answer authgate errors from dependencies as
    top-level `{"error", "kind"}` JSON. The lifespan stays explicit: `FastAPI(lifespan=auth.lifespan)`."""
    if mount:
        app.mount(auth.config.base_path, auth.asgi_app)
    app.add_exception_handler(AuthHTTPException, _answer)
