"""`RequireAuth`: pure ASGI protection for Starlette routes (and any ASGI app)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import request_response, websocket_session

from .._errors import AuthError
from .._http.credentials import SAFE_METHODS, authenticate_request, read_credentials
from .._http.responses import send_error, send_redirect

if TYPE_CHECKING:
    from .._auth import Auth

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

    Server-rendered pages: with `sign_in_url="/login"`, a browser navigating to the page (GET or
    HEAD, `Accept: text/html`) without a valid session is redirected there with
    `?callbackUrl=<the page's path>` instead of getting the 401 JSON; API calls keep the JSON.
    """

    def __init__(self, app: ASGIApp | Endpoint, auth: Auth, *, sign_in_url: str | None = None) -> None:
        if sign_in_url is not None and not (sign_in_url.startswith("/") and not sign_in_url.startswith("//")):
            raise ValueError("RequireAuth(sign_in_url=...) must be a path on this site, e.g. '/login'")
        self.sign_in_url = sign_in_url
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
            if self._is_page_load(scope) and error.status_code == 401:
                await send_redirect(send, self._sign_in_location(scope))
                return
            await send_error(send, error)
            return
        state = scope.setdefault("state", {})
        state["user"] = current.user
        state["session"] = current.session
        await (self.websocket_app if kind == "websocket" else self.app)(scope, receive, send)

    def _is_page_load(self, scope: Any) -> bool:
        if self.sign_in_url is None or scope["method"] not in SAFE_METHODS:
            return False
        accept = next((value for name, value in scope["headers"] if name == b"accept"), b"")
        return b"text/html" in accept

    def _sign_in_location(self, scope: Any) -> str:
        # Only our own path goes back in callbackUrl (never a host), so the sign-in page can send the
        # browser back without an open redirect.
        path = quote(scope["path"])
        query = scope.get("query_string", b"").decode("latin-1")
        back = f"{path}?{query}" if query else path
        separator = "&" if "?" in str(self.sign_in_url) else "?"
        return f"{self.sign_in_url}{separator}{urlencode({'callbackUrl': back})}"
