"""JSON answers and Set-Cookie headers, sent straight over ASGI."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from .._config import AuthConfig
from .._errors import AuthError
from .._models import Tokens

__all__ = ["clearing_cookies", "send_error", "send_json", "session_cookies"]

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_BASE_HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]


async def send_json(
    send: Send, status: int, body: object, *, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = [*_BASE_HEADERS, (b"content-length", str(len(payload)).encode())]
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def send_redirect(send: Send, location: str, *, extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """302 to a location that the caller has already checked against the allowlist."""
    headers = [
        # Percent-encode anything non-ASCII, so no redirect target can break the header.
        (b"location", quote(location, safe="/:?#[]@!$&'()*+,;=%-._~").encode("ascii")),
        (b"cache-control", b"no-store"),
        (b"content-length", b"0"),
        (b"referrer-policy", b"no-referrer"),  # the callback URL carries a one-time code
    ]
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": 302, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def send_error(send: Send, error: AuthError, *, extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        extra_headers = [*(extra_headers or []), (b"retry-after", str(retry_after).encode())]
    await send_json(send, error.status_code, error.to_json(), extra_headers=extra_headers)


def _cookie(
    name: str, value: str, *, path: str, max_age: int, same_site: str, config: AuthConfig
) -> tuple[bytes, bytes]:
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", f"SameSite={same_site.title()}"]
    if config.cookies.secure:
        parts.append("Secure")
    if config.cookies.domain and not config.cookies.host_prefix:
        parts.append(f"Domain={config.cookies.domain}")
    return b"set-cookie", "; ".join(parts).encode("latin-1")


def _seconds_until(moment: datetime, now: datetime) -> int:
    # Round up: a cookie must not vanish before the token inside it expires (1.9 s -> 2, not 1).
    return max(0, math.ceil((moment - now).total_seconds()))


def session_cookies(tokens: Tokens, config: AuthConfig) -> list[tuple[bytes, bytes]]:
    """Both cookies for a new or rotated session (only the session cookie with the JWT strategy)."""
    now = config.clock()
    cookies = config.cookies
    headers = [
        _cookie(
            cookies.session_cookie,
            tokens.access_token,
            path="/",
            max_age=_seconds_until(tokens.access_expires_at, now),
            same_site=cookies.session_same_site,
            config=config,
        )
    ]
    if tokens.refresh_token is not None:
        headers.append(
            _cookie(
                cookies.refresh_cookie,
                tokens.refresh_token,
                path=f"{config.base_path}/refresh",
                max_age=_seconds_until(tokens.refresh_expires_at, now),
                same_site=cookies.refresh_same_site,
                config=config,
            )
        )
    return headers


def short_lived_cookie(config: AuthConfig, name: str, value: str, *, path: str, max_age: int) -> tuple[bytes, bytes]:
    """A helper cookie (OAuth checks, CSRF token): HttpOnly, SameSite=Lax so it survives the
    provider's top-level redirect back to us, Secure as configured."""
    return _cookie(name, value, path=path, max_age=max_age, same_site="lax", config=config)


def clearing_cookies(config: AuthConfig) -> list[tuple[bytes, bytes]]:
    """Both cookies with Max-Age=0, so the browser drops them."""
    cookies = config.cookies
    return [
        _cookie(cookies.session_cookie, "", path="/", max_age=0, same_site=cookies.session_same_site, config=config),
        _cookie(
            cookies.refresh_cookie,
            "",
            path=f"{config.base_path}/refresh",
            max_age=0,
            same_site=cookies.refresh_same_site,
            config=config,
        ),
    ]
