"""The `authgate demo` app: the auth routes, one protected route and a page that uses them."""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ._config import CookieOptions, SessionOptions
from ._engine import Auth
from .integrations.starlette import RequireAuth
from .stores import store_from_url

__all__ = ["build_demo_app", "is_loopback_host"]

logger = logging.getLogger("authgate.demo")
STATIC_DIR = Path(__file__).parent / "demo_static"


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses, where plain-HTTP cookies are acceptable."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_demo_app(
    *,
    database_url: str,
    secret: str,
    secure_cookies: bool,
    access_ttl: int | None = None,
    refresh_ttl: int | None = None,
) -> tuple[Starlette, Auth]:
    """The demo as a Starlette app; lifetimes are adjustable so client tests can watch expiry."""
    defaults = SessionOptions()
    sessions = SessionOptions(
        access_lifetime=timedelta(seconds=access_ttl) if access_ttl else defaults.access_lifetime,
        refresh_lifetime=timedelta(seconds=refresh_ttl) if refresh_ttl else defaults.refresh_lifetime,
    )
    auth = Auth(
        store=store_from_url(database_url),
        secret=secret,
        cookies=CookieOptions(secure=secure_cookies),
        sessions=sessions,
    )

    async def private(request: Request) -> Response:
        return PlainTextResponse(f"hello {request.state.user.email}", headers={"Cache-Control": "no-store"})

    async def index(request: Request) -> Response:
        page = STATIC_DIR / "index.html"
        if not page.exists():
            return PlainTextResponse("demo page missing: run scripts/demo to build it", status_code=500)
        return FileResponse(page, headers={"Cache-Control": "no-store"})

    app = Starlette(
        routes=[
            Route("/", index),
            Mount("/api/auth", app=auth.asgi_app),
            Route("/api/private", RequireAuth(private, auth), methods=["GET", "POST"]),
            Mount("/static", app=StaticFiles(directory=STATIC_DIR, check_dir=False)),
        ],
        lifespan=auth.lifespan,
    )
    return app, auth
