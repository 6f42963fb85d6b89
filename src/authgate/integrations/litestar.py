"""Litestar: one plugin wires authgate into an app, the way Litestar's own security backends do.

    auth = Auth(store=SQLiteStore("sqlite:///app.db"), secret=os.environ["AUTHGATE_SECRET"])
    authgate = AuthGatePlugin(auth)

    @get("/api/me", guards=[authgate.guard], security=authgate.security)
    async def me(current_user: CurrentUser) -> dict[str, str]: ...

    app = Litestar([me], plugins=[authgate])

`on_app_init` mounts the auth routes at `base_path`, adds `auth.lifespan`, answers every AuthError
as `{"error", "kind"}` JSON, registers the `current_user` and `optional_user` dependencies and adds
the cookie and bearer security schemes to the OpenAPI document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import AuthError, Unauthenticated
from .._http.dependencies import authenticate_scope, has_credentials
from .._models import AuthSession, User
from .._optional import extra_error

try:
    from litestar import Request, Response
    from litestar.config.app import AppConfig
    from litestar.connection import ASGIConnection
    from litestar.di import NamedDependency, Provide
    from litestar.handlers import BaseRouteHandler, asgi
    from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
    from litestar.plugins import InitPluginProtocol
    from litestar.types import Receive, Scope, Send
except ModuleNotFoundError as error:
    raise extra_error(error, "litestar") from None

if TYPE_CHECKING:
    from .._auth import Auth

__all__ = ["AuthGatePlugin", "CurrentUser", "OptionalUser"]

#: `async def me(current_user: CurrentUser)`: the parameter name picks the dependency.
CurrentUser = NamedDependency[User]
#: `async def page(optional_user: OptionalUser)`: None when signed out.
OptionalUser = NamedDependency[User | None]

_STATE_KEY = "authgate_session"
COOKIE_SCHEME = "authgateCookie"
BEARER_SCHEME = "authgateBearer"


class AuthGatePlugin(InitPluginProtocol):
    """Mounts authgate into a Litestar app; `guard` protects handlers, `security` documents them."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        #: For a protected handler's `security=`: either scheme authenticates.
        self.security: list[SecurityRequirement] = [{COOKIE_SCHEME: []}, {BEARER_SCHEME: []}]

    async def guard(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        """Let the request through only with a valid session (401/403 like RequireAuth)."""
        await self._session(connection)

    async def _session(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthSession:
        state = connection.scope.setdefault("state", {})
        found = state.get(_STATE_KEY)
        if isinstance(found, AuthSession):
            return found
        current = await authenticate_scope(self.auth, connection.scope)
        state[_STATE_KEY] = current
        return current

    async def _current_user(self, request: Request[Any, Any, Any]) -> User:
        return (await self._session(request)).user

    async def _optional_user(self, request: Request[Any, Any, Any]) -> User | None:
        if not has_credentials(self.auth, request.scope):
            return None
        try:
            return (await self._session(request)).user
        except Unauthenticated:  # an unknown token is nobody; an expired one still answers 401
            return None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        auth_app: Any = self.auth.asgi_app  # a plain ASGI app; Litestar's event types are narrower

        @asgi(self.auth.config.base_path, is_mount=True, copy_scope=True)
        async def authgate_routes(scope: Scope, receive: Receive, send: Send) -> None:
            await auth_app(scope, receive, send)

        app_config.route_handlers.append(authgate_routes)
        app_config.lifespan.append(self.auth.lifespan)
        app_config.exception_handlers[AuthError] = _answer
        app_config.dependencies.setdefault("current_user", Provide(self._current_user))
        app_config.dependencies.setdefault("optional_user", Provide(self._optional_user))
        if app_config.openapi_config is not None:
            app_config.openapi_config.components = [*_components(app_config), self._components()]
        return app_config

    def _components(self) -> Components:
        cookie = self.auth.config.cookies.session_cookie
        return Components(
            security_schemes={
                COOKIE_SCHEME: SecurityScheme(
                    type="apiKey",
                    name=cookie,
                    security_scheme_in="cookie",
                    description="The session cookie set by sign-in (send X-Authgate-Client: true on writes).",
                ),
                BEARER_SCHEME: SecurityScheme(
                    type="http", scheme="bearer", description="An access token from sign-in with transport=bearer."
                ),
            }
        )


def _components(app_config: AppConfig) -> list[Components]:
    assert app_config.openapi_config is not None  # noqa: S101 - checked by the caller
    existing = app_config.openapi_config.components
    return list(existing) if isinstance(existing, list) else [existing]


def _answer(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, str]]:
    assert isinstance(error, AuthError)  # noqa: S101 - registered for AuthError only
    headers = {"Cache-Control": "no-store"}
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(error.to_json(), status_code=error.status_code, headers=headers)
