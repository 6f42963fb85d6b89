"""`Auth`: the engine plus what a web app mounts and depends on (the routes app and the FastAPI
dependencies). It sits above the web layer so that the engine below never imports it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cached_property

from starlette.requests import HTTPConnection

from ._engine import AuthEngine
from ._http.app import AuthApp
from ._http.credentials import read_credentials
from ._models import AuthSession, User

__all__ = ["Auth"]


class Auth(AuthEngine):
    """Email/password and provider sign-in with database sessions (opaque, hashed, rotating) or
    JWT sessions (JWE cookies).

    >>> auth = Auth(store=SQLiteStore("sqlite:///app.db"), secret=os.environ["AUTHGATE_SECRET"])
    >>> app = Starlette(routes=[Mount("/api/auth", app=auth.asgi_app)], lifespan=auth.lifespan)

    With no store the JWT strategy is used and only provider sign-in is available (there is
    nowhere to keep passwords).
    """

    @cached_property
    def asgi_app(self) -> AuthApp:
        """The auth routes as an ASGI app; mount it at `base_path`."""
        return AuthApp(self)

    @cached_property
    def current_user(self) -> Callable[..., Awaitable[User]]:
        """FastAPI dependency: `CurrentUser = Annotated[User, Depends(auth.current_user)]`.
        401/403 like RequireAuth; `authgate.integrations.fastapi.install(app, auth)` makes the
        error body `{"error", "kind"}`."""
        from ._http.fastapi_dependencies import current_user_dependency  # optional dependency: fastapi

        return current_user_dependency(self)

    @cached_property
    def optional_user(self) -> Callable[..., Awaitable[User | None]]:
        """FastAPI dependency: the signed-in user or None (an expired token still answers 401)."""
        from ._http.fastapi_dependencies import optional_user_dependency  # optional dependency: fastapi

        return optional_user_dependency(self)

    async def get_session(self, source: HTTPConnection | str | None) -> AuthSession | None:
        """The session of a request (bearer header first, then cookie) or of an access token.

        Returns None when nobody is signed in; raises only when the store is unreachable.
        """
        if isinstance(source, HTTPConnection):
            source = read_credentials(source.scope, self.config).token
        return await super().get_session(source)
