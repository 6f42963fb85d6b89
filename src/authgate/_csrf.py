"""The double-submit CSRF token for HTML form posts (Auth.js's `/csrf`).

The cookie holds `token|HMAC(secret, token)`; a form must send the same `token`. An attacker's
page can neither read the cookie nor set one that passes the HMAC, so it cannot produce a match.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

__all__ = ["csrf_matches", "csrf_token_from_cookie", "new_csrf_cookie"]


def _sign(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), f"authgate-csrf:{token}".encode(), hashlib.sha256).hexdigest()


def new_csrf_cookie(secret: str) -> tuple[str, str]:
    """A fresh (token, cookie value) pair."""
    token = secrets.token_urlsafe(32)
    return token, f"{token}|{_sign(secret, token)}"


def csrf_token_from_cookie(secrets_: str | Sequence[str], cookie_value: str | None) -> str | None:
    """The token inside a cookie signed with any configured secret (rotation keeps cookies made
    under the previous one valid), or None for a missing or forged one."""
    if not cookie_value or "|" not in cookie_value or len(cookie_value) > 256:
        return None
    token, signature = cookie_value.split("|", 1)
    keys = (secrets_,) if isinstance(secrets_, str) else tuple(secrets_)
    if not any(hmac.compare_digest(signature.encode(), _sign(key, token).encode()) for key in keys):
        return None
    return token


def csrf_matches(secrets_: str | Sequence[str], cookie_value: str | None, submitted: str | None) -> bool:
    """True when the submitted token equals the one in a valid cookie (constant time)."""
    token = csrf_token_from_cookie(secrets_, cookie_value)
    if token is None or not submitted:
        return False
    return hmac.compare_digest(token.encode(), submitted.encode("utf-8", "surrogatepass"))
