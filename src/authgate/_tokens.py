"""Opaque tokens: 256 bits from `secrets`, stored only as SHA-256 and looked up by that hash.

SHA-256 without a salt is right here (unlike passwords): the input already has 256 bits of entropy,
so the hash only has to be one-way, and it must be deterministic for the indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["hash_token", "looks_like_token", "new_token"]

# Tokens we issue are 43 urlsafe-base64 characters. A database that `authgate migrate` took over
# from AuthInGo (its users and sessions tables, kept with their tokens now hashed; see
# docs/configuration.md) may hold tokens of other opaque formats, so accept any short printable
# token-ish string; everything else (empty, 10 KB, non-ASCII, NUL) is refused before any store call.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")


def new_token() -> str:
    """A fresh 256-bit URL-safe token."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def looks_like_token(value: str | None) -> bool:
    """True when `value` could be a token we issued; a cheap filter before touching the store."""
    return value is not None and _TOKEN_SHAPE.fullmatch(value) is not None
