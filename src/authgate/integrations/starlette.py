"""`RequireAuth`: pure ASGI protection for Starlette routes (and any ASGI app)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import request_response, websocket_session

from .._errors import AuthError
from .._http.credentials import authenticate_request, read_credentials
from .._http.responses import send_error

if TYPE_CHECKING:
    from .._engine import Auth

__all__ = ["RequireAuth"]

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
Endpoint = Callable[[Request], Awaitable[Response]]


class RequireAuth:
    """Let a request through only with a valid session; put it on `request.state`.

    `Route("/api/private", RequireAuth(endpoint, auth))` (or around a `WebSocketRoute`):
    `request.state.user` and `request.state.session` are then set. GET and HEAD pass with the
    session cookie alone, so a browser can navigate to a protected page; other methods without the
    `X-Authgate-Client: true` header (or a bearer token that authenticates) get 403 `MissingCSRF`;
    a WebSocket needs a trusted Origin (or a bearer token) and is closed with 1008 otherwise;
    without a valid session the answer is 401. Any other scope type is refused (fail closed).
    The wrapped app never runs unless the request is authenticated.
    """

    def __init__(self, app: ASGIApp | Endpoint, auth: Auth) -> None:
        # A plain `async def endpoint(request)` (or `(websocket)`) is wrapped like Starlette's Route
        # and WebSocketRoute would wrap it; anything else is an ASGI app already.
        self.app: ASGIApp = app  # type: ignore[assignment]
        self.websocket_app: ASGIApp = app  # type: ignore[assignment]
        if (inspect.isfunction(app) or inspect.ismethod(app)) and len(inspect.signature(app).parameters) == 1:
            self.app = request_response(app)
            self.websocket_app = websocket_session(app)
        self.auth = auth

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "lifespan":  # no request, nobody to authenticate (RequireAuth around a whole app)
            await self.app(scope, receive, send)
            return
        if kind not in ("http", "websocket"):
            raise RuntimeError(f"RequireAuth: refusing an ASGI scope of type {kind!r}")  # fail closed
        credentials = read_credentials(scope, self.auth.config)
        try:
            current = await authenticate_request(scope, credentials, self.auth)
        except AuthError as error:
            if kind == "websocket":
                # Closing before accepting makes the server answer the handshake with 403.
                await send({"type": "websocket.close", "code": 1008, "reason": error.kind})
                return
            await send_error(send, error)
            return
        state = scope.setdefault("state", {})
        state["user"] = current.user
        state["session"] = current.session
        await (self.websocket_app if kind == "websocket" else self.app)(scope, receive, send)
