"""Where a `callbackUrl` may send the browser: the app's own origin or an allowlist, nothing else.

Hand-written because the question is narrow and the tricks are browser quirks, not URL grammar:
browsers treat `\\` as `/`, drop tabs and newlines inside URLs, and read `https:evil.com` as a
host when the base is https. So the rules are stated as refusals of anything ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from ._config import normalize_origin

__all__ = ["safe_redirect"]

_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def safe_redirect(target: str | None, *, own_origin: str, allowed_origins: Iterable[str] = (), fallback: str) -> str:
    """`target` when it stays on `own_origin` or an allowed origin; otherwise `fallback`."""
    if not target or len(target) > 2048:
        return fallback
    decoded = unquote(unquote(target))  # catch %2f%2f and %252f%252f alike
    if _UNSAFE_CHARS.search(target) or _UNSAFE_CHARS.search(decoded):
        return fallback
    if target.startswith("/"):
        # A path on our own origin, unless a browser would read it as scheme-relative.
        if target.startswith("//") or decoded.startswith("//"):
            return fallback
        return target
    try:
        parts = urlsplit(target)
    except ValueError:
        return fallback
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return fallback
    origin = normalize_origin(target)
    if origin is not None and (origin == own_origin or origin in set(allowed_origins)):
        return target
    return fallback
