"""Reading what a request carries (bearer header, cookies) and the cross-site checks, straight
from the ASGI scope: this runs on every protected request, so it avoids building a Request."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._config import AuthConfig, normalize_origin
from .._errors import ForbiddenOrigin, MissingCSRF
from .._models import AuthSession

if TYPE_CHECKING:
    from .._engine import AuthEngine

__all__ = ["Credentials", "authenticate_request", "check_cross_site", "read_credentials"]

#: Methods a browser may send cross-site on its own (top-level navigation) that change nothing:
#: they pass with the cookie alone, so a signed-in user can navigate to a protected page.
SAFE_METHODS = frozenset({"GET", "HEAD"})

_CLIENT_HEADER = b"x-authgate-client"
logger = logging.getLogger("authgate")


@dataclass(frozen=True, slots=True)
class Credentials:
    """The token a request presents and the headers the cross-site checks need."""

    token: str | None
    from_bearer: bool
    refresh_token: str | None
    client_header: bool
    origin: str | None
    sec_fetch_site: str | None
    host: str | None


def cookie_value(cookie_header: str, name: str) -> str | None:
    # The last matching cookie wins nowhere in the spec; browsers send the most specific path
    # first, so the first match is the one meant for this path.
    for part in cookie_header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return None


def read_credentials(scope: Any, config: AuthConfig) -> Credentials:
    """Bearer header first, then the session cookie (goauth's order)."""
    cookie = authorization = origin = fetch_site = host = None
    client_header = False
    for raw_name, raw_value in scope["headers"]:
        if raw_name == b"cookie":
            value = raw_value.decode("latin-1")
            cookie = value if cookie is None else f"{cookie}; {value}"
        elif raw_name == b"authorization":
            authorization = raw_value.decode("latin-1")
        elif raw_name == _CLIENT_HEADER:
            client_header = raw_value.strip().lower() == b"true"
        elif raw_name == b"origin":
            origin = raw_value.decode("latin-1")
        elif raw_name == b"sec-fetch-site":
            fetch_site = raw_value.decode("latin-1").lower()
        elif raw_name == b"host":
            host = raw_value.decode("latin-1")
    token: str | None = None
    from_bearer = False
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token, from_bearer = value.strip(), True
    cookies = config.cookies
    if token is None and cookie is not None:
        token = cookie_value(cookie, cookies.session_cookie)
    refresh = cookie_value(cookie, cookies.refresh_cookie) if cookie is not None else None
    return Credentials(token, from_bearer, refresh, client_header, origin, fetch_site, host)


def own_origin(scope: Any, config: AuthConfig, host: str | None) -> str | None:
    """The app's origin: `base_url` when configured, else what the request was addressed to."""
    if config.own_origin is not None:
        return config.own_origin
    if host is None:
        return None
    # A WebSocket handshake arrives as ws/wss; the page that opened it has the http(s) origin.
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    return normalize_origin(f"{scheme}://{host}")


def check_cross_site(scope: Any, credentials: Credentials, config: AuthConfig, *, csrf_token_ok: bool = False) -> None:
    """Refuse a request a browser could have sent on another site's behalf.

    Needs the client header (which a cross-site form cannot set without a CORS preflight) or a
    valid CSRF token, and an Origin that is ours or trusted (exact scheme, host and port). An
    Authorization header exempts nothing here: only a bearer token that authenticates does, and
    that is decided by `authenticate_request` / `check_cross_site_or_bearer`, never by its presence.
    """
    if not (credentials.client_header or csrf_token_ok):
        raise MissingCSRF()
    _check_origin(scope, credentials, config)


def _check_origin(scope: Any, credentials: Credentials, config: AuthConfig) -> None:
    if credentials.origin is not None:
        origin = normalize_origin(credentials.origin)
        trusted = origin is not None and (
            origin == own_origin(scope, config, credentials.host) or origin in config.trusted_origins
        )
        if not trusted:
            _warn_if_proxied(scope, config, credentials.origin, credentials.host)
            raise ForbiddenOrigin()
    elif credentials.sec_fetch_site == "cross-site":
        raise ForbiddenOrigin()


async def authenticate_request(
    scope: Any, credentials: Credentials, auth: AuthEngine, *, fresh: bool = False
) -> AuthSession:
    """The one check in front of every protected request: RequireAuth, the FastAPI and Litestar
    dependencies and the auth app's own signed-in routes all call it, for every scope type.

    - A bearer token is checked first (goauth's order) and, when it authenticates, needs no
      cross-site check (browsers never attach Authorization on their own). One that does not
      authenticate is refused: it relaxes nothing.
    - A WebSocket handshake cannot carry our header, so it needs an Origin that is ours or trusted
      (browsers always send one); no Origin, no cookie session.
    - GET and HEAD pass with the cookie alone (SameSite=Lax keeps cross-site subrequests
      cookieless); every other method needs the header or CSRF token and a trusted Origin.
    Raises an AuthError (403 before any store call for cross-site refusals, else 401).
    """
    authenticate = auth.authenticate_fresh if fresh else auth.authenticate
    if credentials.from_bearer:
        return await authenticate(credentials.token)
    if scope["type"] == "websocket":
        if credentials.origin is None:
            raise ForbiddenOrigin("A WebSocket needs an Origin header or a bearer token")
        _check_origin(scope, credentials, auth.config)
    elif scope["type"] != "http" or scope["method"] not in SAFE_METHODS:
        check_cross_site(scope, credentials, auth.config)
    return await authenticate(credentials.token)


async def check_cross_site_or_bearer(scope: Any, credentials: Credentials, auth: AuthEngine) -> None:
    """For routes that act on the caller's own session without needing it up front (sign-out): a
    bearer token that authenticates is its own proof; anything else gets the cross-site check."""
    if credentials.from_bearer and await auth.get_session(credentials.token) is not None:
        return
    check_cross_site(scope, credentials, auth.config)


_warned: set[tuple[str, str | None]] = set()


def _warn_if_proxied(scope: Any, config: AuthConfig, origin: str, host: str | None) -> None:
    """A refused Origin whose host is the request's own host is almost always the app itself behind
    a proxy (TLS terminated, another port) with `base_url` unset or wrong: say so, once per pair."""
    refused = normalize_origin(origin)
    own = own_origin(scope, config, host)
    if refused is None or host is None or urlsplit(refused).hostname != urlsplit(f"//{host}").hostname:
        return
    if (refused, own) in _warned or len(_warned) > 100:
        return
    _warned.add((refused, own))
    source = "base_url" if config.own_origin else "the request (base_url is not set)"
    logger.warning(
        "authgate refused a write from origin %s: the app's own origin is %s, taken from %s. If the app is"
        " served at %s (e.g. behind a proxy that terminates TLS), set Auth(base_url=%r), or add it to"
        " trusted_origins",
        refused, own, source, refused, refused,
    )
