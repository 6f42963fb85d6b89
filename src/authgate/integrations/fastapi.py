"""FastAPI: `install(app, auth)` mounts the auth routes, answers authgate errors as
`{"error", "kind"}` (the JS client's contract) and lists the cookie and bearer schemes in the app's
OpenAPI; `auth.current_user` and `auth.optional_user` are the dependencies:

    CurrentUser = Annotated[User, Depends(auth.current_user)]
    OptionalUser = Annotated[User | None, Depends(auth.optional_user)]
"""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations at run time,
# and those name the security schemes built inside the factories below.

from typing import TYPE_CHECKING

from .._http.fastapi_dependencies import (
    NO_STORE,
    AuthHTTPException,
    current_user_dependency,
    optional_user_dependency,
)
from .._optional import extra_error

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
except ModuleNotFoundError as error:
    raise extra_error(error, "fastapi") from None

if TYPE_CHECKING:
    from .._auth import Auth

__all__ = ["AuthHTTPException", "current_user_dependency", "install", "optional_user_dependency"]


async def _answer(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthHTTPException)  # noqa: S101 - registered for this class only
    headers = dict(NO_STORE)
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
