"""The auth routes (docs/routes.md) as one pure-ASGI app, mounted at the base path.

The router serves the declared routes (spec.py; the table is `authgate.openapi.ROUTES`). For each
request it runs, in order: what the route requires of the configuration (404 without it), the
access checks of its class, the body (size, type, strict JSON or form, then the typed model), and
only then the handler, so a refused request never reaches the engine or the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import AuthError, MethodNotAllowed, NotFound
from ..openapi import ROUTES
from .call import Call
from .confirmation import check_form_csrf
from .credentials import authenticate_request, check_cross_site, check_cross_site_or_bearer, read_credentials
from .parsing import FORM, Receive, body_media_type, read_form_body, read_json_body, read_optional_json_body
from .responses import Send, send_error
from .spec import Access, Route
from .validation import Body, BodyDecoder

if TYPE_CHECKING:
    from .._engine import AuthEngine

__all__ = ["AuthApp"]


class Endpoint:
    """A declared route with its body models bound to this app's configuration."""

    __slots__ = ("form", "json", "route")

    def __init__(self, route: Route, json: BodyDecoder[Body] | None, form: BodyDecoder[Body] | None) -> None:
        self.route = route
        self.json = json
        self.form = form

    async def serve(self, call: Call) -> None:
        route = self.route
        if route.requires is not None:
            route.requires(call)
        if route.access is Access.CLIENT:
            check_cross_site(call.scope, call.credentials, call.config)
        elif route.access is Access.OWN_SESSION:
            await check_cross_site_or_bearer(call.scope, call.credentials, call.auth)
        elif route.access is Access.SIGNED_IN:
            call.session = await authenticate_request(call.scope, call.credentials, call.auth, fresh=True)
        body = None if self.json is None else await self._body(call, self.json)
        await route.handler(call, body)

    async def _body(self, call: Call, json: BodyDecoder[Body]) -> Body:
        if self.form is not None and body_media_type(call.scope) == FORM:
            form = await read_form_body(call.scope, call.receive)
            check_form_csrf(call, form)  # the form carries its own proof: read it first
            return self.form.decode(form)
        if self.route.access is Access.FORM:
            check_cross_site(call.scope, call.credentials, call.config)  # JSON proves itself with the header
        read = read_optional_json_body if self.route.body_optional else read_json_body
        return json.decode(await read(call.scope, call.receive))


class AuthApp:
    """ASGI app serving the auth routes. Get it from `auth.asgi_app`."""

    def __init__(self, auth: AuthEngine) -> None:
        self.auth = auth
        self.config = auth.config
        decoders: dict[type[Body], BodyDecoder[Body]] = {}

        def bound(model: type[Body] | None) -> BodyDecoder[Body] | None:
            if model is None:
                return None
            if model not in decoders:
                decoders[model] = BodyDecoder(model, max_password=self.config.passwords.max_length)
            return decoders[model]

        self._routes: dict[str, dict[str, Endpoint]] = {}
        # Routes whose path ends in one parameter: /signin/{provider}, /callback/{provider}.
        self._prefixed: dict[str, dict[str, Endpoint]] = {}
        for route in ROUTES:
            prefix = route.path.removesuffix("{provider}")
            table = self._prefixed if prefix != route.path else self._routes
            table.setdefault(prefix, {})[route.method] = Endpoint(route, bound(route.json), bound(route.form))

    def _route_path(self, scope: Any) -> str:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        base = self.config.base_path
        if path.startswith(base + "/"):  # served as the whole app rather than mounted
            path = path[len(base) :]
        return path.rstrip("/") or "/"

    def _match(self, path: str) -> tuple[dict[str, Endpoint], str]:
        """The routes at `path` by method, and the path parameter: an exact path first."""
        methods = self._routes.get(path)
        if methods is not None:
            return methods, ""
        return self._match_prefixed(path)

    def _match_prefixed(self, path: str) -> tuple[dict[str, Endpoint], str]:
        for prefix, prefixed in self._prefixed.items():
            param = path.removeprefix(prefix)
            if param != path and param and "/" not in param:
                return prefixed, param
        raise NotFound()

    def _endpoint(self, path: str, method: str) -> tuple[Endpoint, str]:
        methods, param = self._match(path)
        endpoint = methods.get(method)
        if endpoint is None and not param:
            # An exact path under a prefixed route (POST /signin/passkey) leaves its other methods to
            # that route: GET /signin/passkey asks for a provider "passkey", which is not found.
            try:
                methods, param = self._match_prefixed(path)
            except NotFound:
                pass
            endpoint = methods.get(method)
        if endpoint is None:
            raise MethodNotAllowed()
        return endpoint, param

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            endpoint, param = self._endpoint(self._route_path(scope), scope["method"])
            call = Call(scope, receive, send, self.auth, read_credentials(scope, self.config))
            call.path_param = param
            await endpoint.serve(call)
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
