"""Shared test helpers: an injectable clock, app builders and store inspection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from authgate import Auth, RequireAuth
from authgate.stores.base import Store

SECRET = "test-secret-" + "x" * 40
CLIENT = {"X-Authgate-Client": "true"}
ORIGIN = "https://testserver"


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
