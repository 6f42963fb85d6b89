"""Shared test helpers: an injectable clock, app builders and store inspection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from authgate import Auth, RequireAuth
from authgate._errors import NotFound
from authgate._http.app import AuthApp
from authgate.stores.base import Store

SECRET = "test-secret-" + "x" * 40
CLIENT = {"X-Authgate-Client": "true"}
ORIGIN = "https://testserver"


def dispatched_routes(app: AuthApp) -> set[tuple[str, str]]:
    """(method, path) for every route in the app's tables, `{provider}` for the prefixed ones."""
    routes = {(method.lower(), path) for path, methods in app._routes.items() for method in methods}
    for prefix, methods in app._prefixed.items():
        routes |= {(method.lower(), f"{prefix}{{provider}}") for method in methods}
    return routes


def undocumented(dispatched: set[tuple[str, str]], documented: set[tuple[str, str]]) -> set[str]:
    """Dispatched routes with no documentation. A prefixed route counts as documented on
    `{provider}` or on a concrete path under it: POST /callback/{provider} exists only for
    /callback/credentials, /callback/email and /callback/passkey."""
    missing = set()
    for method, path in dispatched:
        prefix = path.removesuffix("{provider}")
        concrete = prefix != path and any(m == method and p.startswith(prefix) for m, p in documented)
        if (method, path) not in documented and not concrete:
            missing.add(f"{method.upper()} {path}")
    return missing


def not_dispatched(app: AuthApp, documented: set[tuple[str, str]]) -> set[str]:
    """Documented routes that the app does not dispatch (concrete paths match the prefixed routes)."""
    extra = set()
    for method, path in documented:
        try:
            methods, _ = app._match(path)
        except NotFound:
            methods = {}
        if method.upper() not in methods:
            extra.add(f"{method.upper()} {path}")
    return extra


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def build_app(auth: Auth) -> Starlette:
    async def private(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.state.user.email}")

    return Starlette(
        routes=[
            Mount("/api/auth", app=auth.asgi_app),
            Route("/api/private", RequireAuth(private, auth), methods=["GET", "POST"]),
        ]
    )


def client_for(auth: Auth) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(auth)), base_url=ORIGIN)


async def user_count(store: Store, *emails: str) -> int:
    """How many of these addresses have an account."""
    return sum([await store.get_credentials(e.strip().lower()) is not None for e in emails])


async def session_count(store: Store, email: str) -> int:
    found = await store.get_credentials(email.strip().lower())
    if found is None:
        return 0
    return len(await store.list_user_sessions(found[0].id))
