"""Storage adapters. Every one implements `Store` and passes `authgate.testing.StoreContract`.

`PostgresStore` needs asyncpg (the `postgres` extra), so it is imported on first use and
`import authgate.stores` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import Configuration
from .base import Store, StoredCredentials
from .memory import MemoryStore
from .sqlite import SQLiteStore

if TYPE_CHECKING:
    from .postgres import PostgresStore

__all__ = ["MemoryStore", "PostgresStore", "SQLiteStore", "Store", "StoredCredentials", "store_from_url"]


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
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
