"""Optional dependencies: a missing one is an ImportError that names the extra to install.

Core authgate (Starlette routes, SQLite and memory stores, argon2/bcrypt, JWT sessions, rate limits
in memory) needs no extra. Each feature below pulls its own packages, so a plain install stays lean:

    pip install 'authgate[postgres]'   # PostgresStore (asyncpg)
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import Configuration

__all__ = ["EXTRAS", "MissingExtra", "extra_error", "require"]

# extra -> (the feature, in the user's words; the packages it installs, as imported)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "postgres": ("PostgresStore", ("asyncpg",)),
    "redis": ("RedisStore and Redis rate limits", ("redis",)),
    "mfa": ("TOTP second factors", ("pyotp", "segno")),
    "passkeys": ("passkeys (WebAuthn)", ("webauthn",)),
    "mail": ("SMTPSender", ("aiosmtplib",)),
    "oauth": ("OAuth/OpenID Connect providers", ("httpx",)),
    "fastapi": ("the FastAPI integration", ("fastapi",)),
    "litestar": ("the Litestar plugin", ("litestar",)),
    "demo": ("`authgate demo`", ("uvicorn",)),
}


class MissingExtra(Configuration, ImportError):
    """An optional package is not installed; the message names the `pip install` that fixes it.

    An ImportError for `import` statements, and a `Configuration` AuthError so that a route using
    the feature answers `{"kind": "Configuration"}` with the fix instead of a bare 500."""

    def __init__(self, extra: str, package: str) -> None:
        feature = EXTRAS[extra][0]
        Configuration.__init__(
            self, f"{feature}: the {package!r} package is not installed; pip install 'authgate[{extra}]'"
        )
        self.name = package
        self.extra = extra


def require(extra: str, module: str | None = None) -> ModuleType:
    """Import `module` (default: the extra's first package) or raise MissingExtra naming `extra`.

    Only a missing package of the extra itself becomes MissingExtra; an ImportError inside an
    installed package (a broken install) propagates unchanged, so its real cause stays visible.
    """
    try:
        return importlib.import_module(module or EXTRAS[extra][1][0])
    except ModuleNotFoundError as error:
        raise extra_error(error, extra) from None


def extra_error(error: ModuleNotFoundError, extra: str) -> ImportError:
    """For `except ModuleNotFoundError as e: raise extra_error(e, "postgres") from None` around a
    module's top-level imports: MissingExtra when the extra's package is the missing one, else `error`."""
    top = (error.name or "").partition(".")[0]
    return MissingExtra(extra, top) if top in EXTRAS[extra][1] else error
