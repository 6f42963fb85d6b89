"""The `authgate demo` app: the auth routes, one protected route and a page that uses them."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import secrets
import socket
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ._auth import Auth
from ._config import AccountOptions, AuthJSOptions, CookieOptions, MagicLinkOptions, SessionOptions
from ._optional import require
from ._ratelimit import RateLimitOptions
from .integrations.starlette import RequireAuth
from .mail import ConsoleSender
from .providers import OIDC, GitHub, Google, OAuthProvider
from .stores import store_from_url

__all__ = ["build_demo_app", "demo_origin", "is_loopback_host", "providers_from_env", "serve_demo"]

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


_DEMO_SECRET_FILE = "authgate-demo.secret"  # noqa: S105 - a file name, not a secret


def _demo_secret() -> str:
    """AUTHGATE_SECRET, else a secret kept in a file beside the demo database: a new secret on each
    start would sign everyone out and make enrolled TOTP secrets unreadable."""
    secret = os.environ.get("AUTHGATE_SECRET")
    if secret:
        return secret
    path = Path(_DEMO_SECRET_FILE)
    if path.exists():
        kept = path.read_text().strip()
        if len(kept) >= 32:
            print(f"authgate demo: AUTHGATE_SECRET is not set; using the secret kept in {path}", file=sys.stderr)
            return kept
    kept = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(kept + "\n")
    print(
        f"authgate demo: AUTHGATE_SECRET is not set; created {path} and will reuse it, so sessions and TOTP"
        " secrets survive restarts",
        file=sys.stderr,
    )
    return kept


def _port_in_use(host: str, port: int) -> bool:
    """Whether uvicorn's bind would fail, checked before the demo prints its address."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False


def serve_demo(
    *,
    host: str,
    port: int,
    database_url: str,
    access_ttl: int | None,
    refresh_ttl: int | None,
    rate_limits: bool,
    authjs_version: int | None = None,
) -> int:
    """`authgate demo`: check the port, build the app, serve it with uvicorn until stopped."""

    uvicorn = require("demo")
    if _port_in_use(host, port):
        print(
            f"authgate demo: port {port} on {host} is already in use (another demo still running?). Stop that"
            f" process, or pick another port: authgate demo --port {port + 1} (scripts/demo --port {port + 1})",
            file=sys.stderr,
        )
        return 1
    secret = _demo_secret()
    secure = not is_loopback_host(host)
    if not secure:
        print(
            "authgate demo: serving plain HTTP on loopback, so cookies are NOT marked Secure; "
            "never do this on a public address",
            file=sys.stderr,
        )
    else:
        print(
            f"authgate demo: {host} is not loopback; cookies are Secure, so browsers only keep them over HTTPS",
            file=sys.stderr,
        )
    origin = demo_origin(host, port)
    providers = providers_from_env()
    app, _ = build_demo_app(
        database_url=database_url,
        secret=secret,
        secure_cookies=secure,
        access_ttl=access_ttl,
        refresh_ttl=refresh_ttl,
        app_url=origin,
        rate_limits=rate_limits,
        providers=providers,
        authjs_version=authjs_version,
    )
    names = ", ".join(p.name for p in providers) or "none (set GITHUB_/GOOGLE_/OIDC_ variables to add some)"
    print(f"authgate demo: providers: {names}; emails are printed here", file=sys.stderr)
    if not rate_limits:
        print("authgate demo: rate limits are OFF", file=sys.stderr)
    print(f"authgate demo: open {origin}/ (database {database_url})", file=sys.stderr)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
