"""`RequireAuth`: pure ASGI protection for Starlette routes (and any ASGI app)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import request_response

from .._errors import AuthError
from .._http.credentials import check_cross_site, read_credentials
from .._http.responses import send_error

if TYPE_CHECKING:
    from .._engine import Auth

__all__ = ["RequireAuth"]

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
Endpoint = Callable[[Request], Awaitable[Response]]


class RequireAuth:
    """Let a request through only with a valid session; put it on `request.state`.

    `Route("/api/private", RequireAuth(endpoint, auth))`: `request.state.user` and
    `request.state.session` are then set. Without the `X-Authgate-Client: true` header (or a
    bearer token) the answer is 403 `MissingCSRF`, without a valid session 401, and the wrapped
    app never runs.
    """

    def __init__(self, app: ASGIApp | Endpoint, auth: Auth) -> None:
        # A plain `async def endpoint(request)` is wrapped like Starlette's Route would wrap it.
        if inspect.isfunction(app) or inspect.ismethod(app):
            app = request_response(app)
        self.app: ASGIApp = app  # type: ignore[assignment]
        self.auth = auth

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = self.auth.config
        credentials = read_credentials(scope, config)
        try:
            check_cross_site(scope, credentials, config)
            current = await self.auth.authenticate(credentials.token)
        except AuthError as error:
            await send_error(send, error)
            return
        state = scope.setdefault("state", {})
        state["user"] = current.user
        state["session"] = current.session
        await self.app(scope, receive, send)
