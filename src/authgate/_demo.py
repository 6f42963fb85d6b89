"""The `authgate demo` app: the auth routes, one protected route and a page that uses them."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ._config import AccountOptions, AuthJSOptions, CookieOptions, MagicLinkOptions, SessionOptions
from ._engine import Auth
from ._ratelimit import RateLimitOptions
from .integrations.starlette import RequireAuth
from .mail import ConsoleSender
from .providers import OIDC, GitHub, Google, OAuthProvider
from .stores import store_from_url

__all__ = ["build_demo_app", "demo_origin", "is_loopback_host", "providers_from_env"]

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


def demo_origin(host: str, port: int) -> str:
    """Where the demo page lives, for links in emails (never taken from a request's Host header).
    Loopback uses `localhost`: WebAuthn takes it as a secure context and an RP ID, while an IP
    address cannot be an RP ID, so passkeys need the name. Elsewhere the demo expects HTTPS in
    front of it (its cookies are Secure there)."""
    return f"http://localhost:{port}" if is_loopback_host(host) else f"https://{host}:{port}"


def providers_from_env(environ: Mapping[str, str] | None = None) -> list[OAuthProvider]:
    """GitHub, Google and a generic OIDC provider, each when all of its variables are set."""
    env = os.environ if environ is None else environ
    providers: list[OAuthProvider] = []
    if env.get("GITHUB_CLIENT_ID") and env.get("GITHUB_CLIENT_SECRET"):
        providers.append(GitHub(client_id=env["GITHUB_CLIENT_ID"], client_secret=env["GITHUB_CLIENT_SECRET"]))
    if env.get("GOOGLE_CLIENT_ID") and env.get("GOOGLE_CLIENT_SECRET"):
        providers.append(Google(client_id=env["GOOGLE_CLIENT_ID"], client_secret=env["GOOGLE_CLIENT_SECRET"]))
    if env.get("OIDC_ISSUER") and env.get("OIDC_CLIENT_ID") and env.get("OIDC_CLIENT_SECRET"):
        providers.append(
            OIDC(issuer=env["OIDC_ISSUER"], client_id=env["OIDC_CLIENT_ID"], client_secret=env["OIDC_CLIENT_SECRET"])
        )
    return providers


def build_demo_app(
    *,
    database_url: str,
    secret: str,
    secure_cookies: bool,
    access_ttl: int | None = None,
    refresh_ttl: int | None = None,
    app_url: str | None = None,
    rate_limits: bool = True,
    providers: list[OAuthProvider] | None = None,
    authjs_version: Literal[4, 5] | int | None = None,
) -> tuple[Starlette, Auth]:
    """The demo as a Starlette app; lifetimes are adjustable so client tests can watch expiry.

    Emails (verification, reset links, sign-in codes) are printed to stderr. Links in them point
    at `app_url` (the page reads `?token=` and shows the reset form); set it, since otherwise they
    would follow the request's Host header. Rate limits count in memory; tests that sign up many
    users from one address turn them off. Magic links are on and create accounts; `authjs_version`
    (4 or 5) turns on `AuthJSOptions` for the unmodified Auth.js client.
    """
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
        email_sender=ConsoleSender(),
        accounts=AccountOptions(app_url=app_url, reset_path="/"),
        rate_limits=RateLimitOptions(enabled=rate_limits, storage_url="memory://"),
        providers=providers if providers is not None else providers_from_env(),
        authjs=AuthJSOptions(version=5 if authjs_version == 5 else 4) if authjs_version else None,
        magic_links=MagicLinkOptions(create_users=True),
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
