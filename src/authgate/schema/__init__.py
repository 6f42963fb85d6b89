"""authgate's own fixed schema: the current DDL per dialect and the numbered migrations that reach it.

`SCHEMA_SQL[dialect]` is what `authgate schema --dialect` prints, for teams that run DDL through
their own migration tool; it records its version, so authgate's `apply_schema()` later finds nothing
to do. The stores apply `MIGRATIONS[dialect]` themselves on `open()`.
"""

from __future__ import annotations

from typing import Literal

from . import _postgres, _sqlite
from ._migration import VERSION_TABLE, Migration

__all__ = ["DIALECTS", "LATEST_VERSION", "MIGRATIONS", "SCHEMA_SQL", "VERSION_TABLE", "Dialect", "Migration"]

Dialect = Literal["postgres", "sqlite"]

DIALECTS: tuple[Dialect, ...] = ("postgres", "sqlite")

SCHEMA_SQL: dict[str, str] = {"postgres": _postgres.SCHEMA_SQL, "sqlite": _sqlite.SCHEMA_SQL}
"""The full current schema as SQL text, keyed by dialect."""

MIGRATIONS: dict[str, tuple[Migration, ...]] = {"postgres": _postgres.MIGRATIONS, "sqlite": _sqlite.MIGRATIONS}
"""Numbered migrations per dialect, oldest first."""

LATEST_VERSION: int = _postgres.MIGRATIONS[-1].version
"""The schema version this authgate release expects (the same number for every dialect)."""

assert _sqlite.MIGRATIONS[-1].version == LATEST_VERSION, "dialects must advance in step"  # noqa: S101
