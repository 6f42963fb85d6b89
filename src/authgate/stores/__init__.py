"""Storage adapters. Every one implements `Store` and passes `authgate.testing.StoreContract`.

A store of your own implements `Store` with the record types exported here (`User`, `Session`,
`Account`, `AuthEvent`, `VerificationToken`, `MFAFactor`, `Authenticator`, `RetiredRefresh`,
`StoredCredentials`); it is done when a subclass of `StoreContract` passes.

`PostgresStore` needs asyncpg (the `postgres` extra) and `RedisStore` needs redis-py (the `redis`
extra), so each is imported on first use and `import authgate.stores` works without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import Configuration
from .._models import Account, Authenticator, AuthEvent, MFAFactor, RetiredRefresh, Session, User, VerificationToken
from .base import Store, StoredCredentials
from .memory import MemoryStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore
    from .redis import RedisStore

__all__ = [
    "Account",
    "AuthEvent",
    "Authenticator",
    "MFAFactor",
    "MemoryStore",
    "PostgresStore",
    "RedisStore",
    "RetiredRefresh",
    "SQLiteStore",
    "Session",
    "Store",
    "StoredCredentials",
    "User",
    "VerificationToken",
    "store_from_url",
]


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def store_from_url(url: str) -> Store:
    """The store a URL names: "sqlite:///app.db", "postgresql://..." (or "postgres://"), "memory://".
    The store is not opened yet."""
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        return SQLiteStore(url)
    if scheme in ("postgres", "postgresql"):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise Configuration("A postgres:// store needs asyncpg: pip install 'authgate[postgres]'") from exc
        return PostgresStore(url)
    raise Configuration("Store URL must start with sqlite://, postgresql://, postgres:// or memory://")
