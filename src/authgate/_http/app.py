"""The auth routes (docs/routes.md) as one pure-ASGI app, mounted at the base path.

Every state-changing route runs the cross-site checks, then reads the body (size, type, JSON),
and only then calls the engine, so a refused request never reaches the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._errors import (
    AuthError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    RefreshInProgress,
    SessionExpired,
    Unauthenticated,
)
from .._mfa import TRUSTED_DEVICE_COOKIE
from .._models import SignInResult
from ..mfa import MFAChallenge
from .call import Call
from .credentials import authenticate_request, check_cross_site, check_cross_site_or_bearer, read_credentials
from .parsing import Receive, drain_body, optional_string_field, read_json_body, string_field
from .responses import Send, clearing_cookies, send_error, send_json, session_cookies

if TYPE_CHECKING:
    from .._engine import AuthEngine

__all__ = ["AuthApp"]

Handler = Callable[[Call, Send], Awaitable[None]]


class AuthApp:
    """ASGI app serving the auth routes. Get it from `auth.asgi_app`."""

    def __init__(self, auth: AuthEngine) -> None:
        from ..openapi import serve_openapi
        from .account_routes import AccountRoutes
        from .magic_link_routes import MagicLinkRoutes
        from .provider_routes import ProviderRoutes

        self.auth = auth
        self.config = auth.config
        providers = ProviderRoutes(self)
        self.accounts = AccountRoutes(self)
        self.magic_links = MagicLinkRoutes(providers)
        self._routes: dict[str, dict[str, Handler]] = {
            "/sign-up": {"POST": self.sign_up},
            "/sign-in": {"POST": self.sign_in},
            "/session": {"GET": self.session},
            "/refresh": {"POST": self.refresh},
            "/sign-out": {"POST": self.sign_out},
            # The refresh cookie is only sent below /refresh: this alias lets a browser whose
            # access cookie already expired still end its session on the server.
            "/refresh/sign-out": {"POST": self.sign_out},
            "/token": {"POST": self.token},
            "/sessions": {"GET": self.list_sessions, "DELETE": self.revoke_sessions},
            "/csrf": {"GET": providers.csrf},
            "/providers": {"GET": providers.list_providers},
            "/signin": {"GET": providers.list_providers, "POST": providers.list_providers},
            "/signout": {"POST": providers.signout},
            "/error": {"GET": providers.error_page},
            "/verify-request": {"GET": self.magic_links.verify_request},
            "/_log": {"POST": self.client_log},
            "/openapi.json": {"GET": serve_openapi},
            **self.accounts.routes(),
        }
        # Routes with one path parameter: /signin/{provider}, /callback/{provider}.
        self._prefixed: dict[str, dict[str, Handler]] = {
            "/signin/": {"GET": providers.signin, "POST": providers.signin},
            "/callback/": {"GET": providers.callback, "POST": providers.callback},
        }

    def _route_path(self, scope: Any) -> str:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        base = self.config.base_path
        if path.startswith(base + "/"):  # served as the whole app rather than mounted
            path = path[len(base) :]
        return path.rstrip("/") or "/"

    def _match(self, path: str) -> tuple[dict[str, Handler], str]:
        methods = self._routes.get(path)
        if methods is not None:
            return methods, ""
        for prefix, prefixed in self._prefixed.items():
            param = path.removeprefix(prefix)
            if param != path and param and "/" not in param:
                return prefixed, param
        raise NotFound()

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            methods, param = self._match(self._route_path(scope))
            handler = methods.get(scope["method"])
            if handler is None:
                raise MethodNotAllowed()
            call = Call(scope, receive, read_credentials(scope, self.config), self.config)
            call.path_param = param
            await handler(call, send)
        except AuthError as error:
            await send_error(send, error)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Used only when the auth app is the whole ASGI app; mounted, the parent's lifespan runs.
        context = self.auth.lifespan(self)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await context.__aenter__()
                except AuthError as error:
                    await send({"type": "lifespan.startup.failed", "message": error.message})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await context.__aexit__(None, None, None)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def guarded_body(self, call: Call) -> dict[str, Any]:
        check_cross_site(call.scope, call.credentials, self.config)
        return await read_json_body(call.scope, call.receive)

    def require_passwords(self) -> None:
        # With no store there is nowhere to keep passwords: these routes do not exist.
        if not self.auth.has_store:
            raise NotFound("Email and password sign-in needs a store")

    async def send_sign_in(self, send: Send, result: SignInResult | MFAChallenge, transport: str) -> None:
        if isinstance(result, MFAChallenge):
            await send_json(send, 200, result.to_json())  # no session yet: nothing to set
            return
        if transport == "bearer" and result.tokens is not None:
            await send_json(send, 200, {**result.to_json(), **self.bearer_json(result)})
            return
        cookies = session_cookies(result.tokens, self.config) if result.tokens else None
        await send_json(send, 200, result.to_json(), extra_headers=cookies)

    async def sign_up(self, call: Call, send: Send) -> None:
        self.require_passwords()
        body = await self.guarded_body(call)
        max_password = self.config.passwords.max_length
        email = string_field(body, "email", max_length=320)
        password = string_field(body, "password", max_length=max_password)
        name = optional_string_field(body, "name", max_length=255)
        transport = _transport(body)
        if self.config.accounts.sign_up_conflict == "email":
            await self.auth.sign_up_quietly(email, password, name, meta=call.meta())
            await send_json(send, 200, {"success": True, "verification_required": True})
            return
        result = await self.auth.sign_up(email, password, name, meta=call.meta())
        await self.send_sign_in(send, result, transport)

    async def sign_in(self, call: Call, send: Send) -> None:
        self.require_passwords()
        body = await self.guarded_body(call)
        email = string_field(body, "email", max_length=320)
        password = string_field(body, "password", max_length=self.config.passwords.max_length)
        transport = _transport(body)
        trusted = call.cookie(TRUSTED_DEVICE_COOKIE)
        result = await self.auth.sign_in(email, password, meta=call.meta(), trusted_device=trusted)
        await self.send_sign_in(send, result, transport)

    async def session(self, call: Call, send: Send) -> None:
        from .._sessions import JWTSessions

        try:
            current = await self.auth.authenticate(call.credentials.token)
        except (Unauthenticated, SessionExpired):
            authjs = self.config.authjs
            if authjs is None:
                raise
            # Auth.js's client reads a signed-out session as 200 with an empty body: `{}` (v4)
            # or `null` (v5, whose client would take `{}` for a session).
            await send_json(send, 200, {} if authjs.version == 4 else None)
            return
        body = current.to_json()
        # Auth.js's top-level `expires`: when this session, as the browser holds it, ends.
        body["expires"] = body["session"]["expires_at"]
        if self.auth.callbacks.session is not None:
            body = await self.auth.callbacks.session(body, current)
        sessions = self.auth.sessions
        cookies = None
        if isinstance(sessions, JWTSessions) and not call.credentials.from_bearer and sessions.needs_reissue(current):
            cookies = session_cookies(await sessions.reissue(current), self.config)
        await send_json(send, 200, body, extra_headers=cookies)

    async def client_log(self, call: Call, send: Send) -> None:
        """The Auth.js v4 client reports its fetch errors here; with `AuthJSOptions` they are
        accepted and dropped (reading at most the usual body limit), so the page sees no 404."""
        if self.config.authjs is None:
            raise NotFound()
        await drain_body(call.receive)
        await send_json(send, 200, {})

    async def refresh(self, call: Call, send: Send) -> None:
        check_cross_site(call.scope, call.credentials, self.config)
        try:
            result = await self.auth.refresh(call.credentials.refresh_token)
        except AuthError as error:
            # A dead refresh token means the browser's cookies are useless: drop them.
            if error.status_code == 401:
                await send_error(send, error, extra_headers=clearing_cookies(self.config))
                return
            raise
        cookies = session_cookies(result.tokens, self.config) if result.tokens else None
        await send_json(send, 200, result.to_json(), extra_headers=cookies)

    async def sign_out(self, call: Call, send: Send) -> None:
        await check_cross_site_or_bearer(call.scope, call.credentials, self.auth)
        await self.auth.sign_out(
            access_token=call.credentials.token, refresh_token=call.credentials.refresh_token, meta=call.meta()
        )
        await send_json(send, 200, {"success": True}, extra_headers=clearing_cookies(self.config))

    async def token(self, call: Call, send: Send) -> None:
        # Bearer clients hold their tokens in the body, never in cookies a browser attaches on its
        # own, so this route needs no CSRF header; it still takes only JSON.
        body = await read_json_body(call.scope, call.receive)
        refresh_token = string_field(body, "refresh_token", max_length=512)
        result = await self.auth.refresh(refresh_token)
        if result.tokens is None:
            # Grace-window duplicate: the tokens went to the request that rotated first.
            raise RefreshInProgress()
        await send_json(send, 200, self.bearer_json(result))

    def bearer_json(self, result: SignInResult) -> dict[str, Any]:
        assert result.tokens is not None  # noqa: S101 - callers check
        tokens = result.tokens
        return {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "token_type": "Bearer",
            "expires_in": max(0, int((tokens.access_expires_at - self.config.clock()).total_seconds())),
            "session_id": result.session.id,
        }

    async def _authenticated(self, call: Call) -> tuple[str, str]:
        current = await authenticate_request(call.scope, call.credentials, self.auth, fresh=True)
        return current.user.id, current.session.id

    async def list_sessions(self, call: Call, send: Send) -> None:
        user_id, current_id = await self._authenticated(call)
        sessions = await self.auth.list_sessions(user_id)
        listed = [
            {
                "id": s.id,
                "created_at": s.to_json()["created_at"],
                "last_used_at": s.last_used_at.isoformat().replace("+00:00", "Z") if s.last_used_at else None,
                "ip": s.ip,
                "user_agent": s.user_agent,
                "current": s.id == current_id,
            }
            for s in sessions
        ]
        await send_json(send, 200, {"sessions": listed})

    async def revoke_sessions(self, call: Call, send: Send) -> None:
        user_id, current_id = await self._authenticated(call)
        query = call.query()
        if query.get("all") == "others":
            revoked = await self.auth.revoke_other_sessions(user_id, current_id)
        elif query.get("id"):
            revoked = int(await self.auth.revoke_session(user_id, query["id"]))
        else:
            raise InvalidRequest("give ?id=<session id> or ?all=others", field="id")
        await send_json(send, 200, {"revoked": revoked})


def _transport(body: dict[str, Any]) -> str:
    """`"transport": "bearer"` returns tokens in the body and sets no cookie."""
    transport = optional_string_field(body, "transport", max_length=16) or "cookie"
    if transport not in ("cookie", "bearer"):
        raise InvalidRequest("transport: must be 'cookie' or 'bearer'", field="transport")
    return transport
