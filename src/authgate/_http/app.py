"""The auth routes (DESIGN section 3) as one pure-ASGI app, mounted at the base path.

Every state-changing route runs the cross-site checks, then reads the body (size, type, JSON),
and only then calls the engine, so a refused request never reaches the store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .._errors import AuthError, InvalidRequest, MethodNotAllowed, NotFound, RefreshInProgress
from .._models import RequestMeta, SignInResult
from .credentials import Credentials, check_cross_site, read_credentials
from .parsing import Receive, optional_string_field, read_json_body, string_field
from .responses import Send, clearing_cookies, send_error, send_json, session_cookies

if TYPE_CHECKING:
    from .._engine import Auth

__all__ = ["AuthApp"]


class _Call:
    """One request as the handlers see it: scope, receive, and the credentials read once."""

    __slots__ = ("credentials", "receive", "scope")

    def __init__(self, scope: Any, receive: Receive, credentials: Credentials) -> None:
        self.scope = scope
        self.receive = receive
        self.credentials = credentials

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    def meta(self) -> RequestMeta:
        client = self.scope.get("client")
        return RequestMeta(ip=client[0] if client else None, user_agent=self.header(b"user-agent"))


Handler = Callable[[_Call, Send], Awaitable[None]]


class AuthApp:
    """ASGI app serving the auth routes. Get it from `auth.asgi_app`."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.config = auth.config
        self._routes: dict[str, dict[str, Handler]] = {
            "/sign-up": {"POST": self._sign_up},
            "/sign-in": {"POST": self._sign_in},
            "/session": {"GET": self._session},
            "/refresh": {"POST": self._refresh},
            "/sign-out": {"POST": self._sign_out},
            "/token": {"POST": self._token},
            "/sessions": {"GET": self._list_sessions, "DELETE": self._revoke_sessions},
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

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            methods = self._routes.get(self._route_path(scope))
            if methods is None:
                raise NotFound()
            handler = methods.get(scope["method"])
            if handler is None:
                raise MethodNotAllowed()
            await handler(_Call(scope, receive, read_credentials(scope, self.config)), send)
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

    async def _guarded_body(self, call: _Call) -> dict[str, Any]:
        check_cross_site(call.scope, call.credentials, self.config)
        return await read_json_body(call.scope, call.receive)

    async def _send_sign_in(self, send: Send, result: SignInResult, transport: str) -> None:
        if transport == "bearer" and result.tokens is not None:
            await send_json(send, 200, {**result.to_json(), **self._bearer_json(result)})
            return
        cookies = session_cookies(result.tokens, self.config) if result.tokens else None
        await send_json(send, 200, result.to_json(), extra_headers=cookies)

    async def _sign_up(self, call: _Call, send: Send) -> None:
        body = await self._guarded_body(call)
        max_password = self.config.passwords.max_length
        email = string_field(body, "email", max_length=320)
        password = string_field(body, "password", max_length=max_password)
        name = optional_string_field(body, "name", max_length=255)
        transport = _transport(body)
        result = await self.auth.sign_up(email, password, name, meta=call.meta())
        await self._send_sign_in(send, result, transport)

    async def _sign_in(self, call: _Call, send: Send) -> None:
        body = await self._guarded_body(call)
        email = string_field(body, "email", max_length=320)
        password = string_field(body, "password", max_length=self.config.passwords.max_length)
        transport = _transport(body)
        result = await self.auth.sign_in(email, password, meta=call.meta())
        await self._send_sign_in(send, result, transport)

    async def _session(self, call: _Call, send: Send) -> None:
        session = await self.auth.authenticate(call.credentials.token)
        await send_json(send, 200, session.to_json())

    async def _refresh(self, call: _Call, send: Send) -> None:
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

    async def _sign_out(self, call: _Call, send: Send) -> None:
        check_cross_site(call.scope, call.credentials, self.config)
        await self.auth.sign_out(access_token=call.credentials.token, refresh_token=call.credentials.refresh_token)
        await send_json(send, 200, {"success": True}, extra_headers=clearing_cookies(self.config))

    async def _token(self, call: _Call, send: Send) -> None:
        # Bearer clients hold their tokens in the body, never in cookies a browser attaches on its
        # own, so this route needs no CSRF header; it still takes only JSON.
        body = await read_json_body(call.scope, call.receive)
        refresh_token = string_field(body, "refresh_token", max_length=512)
        result = await self.auth.refresh(refresh_token)
        if result.tokens is None:
            # Grace-window duplicate: the tokens went to the request that rotated first.
            raise RefreshInProgress()
        await send_json(send, 200, self._bearer_json(result))

    def _bearer_json(self, result: SignInResult) -> dict[str, Any]:
        assert result.tokens is not None  # noqa: S101 - callers check
        tokens = result.tokens
        return {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "token_type": "Bearer",
            "expires_in": max(0, int((tokens.access_expires_at - self.config.clock()).total_seconds())),
            "session_id": result.session.id,
        }

    async def _authenticated(self, call: _Call) -> tuple[str, str]:
        check_cross_site(call.scope, call.credentials, self.config)
        current = await self.auth.authenticate(call.credentials.token)
        return current.user.id, current.session.id

    async def _list_sessions(self, call: _Call, send: Send) -> None:
        user_id, current_id = await self._authenticated(call)
        sessions = await self.auth.list_sessions(user_id)
        await send_json(
            send,
            200,
            {
                "sessions": [
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
            },
        )

    async def _revoke_sessions(self, call: _Call, send: Send) -> None:
        user_id, current_id = await self._authenticated(call)
        query = _query(call.scope)
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


def _query(scope: Any) -> dict[str, str]:
    from urllib.parse import parse_qsl

    try:
        raw = scope.get("query_string", b"").decode("ascii")
    except UnicodeDecodeError:
        raise InvalidRequest("query string must be ASCII") from None
    return dict(parse_qsl(raw)[:8])
