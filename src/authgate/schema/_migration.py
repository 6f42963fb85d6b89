"""The shape of a numbered migration, shared by both dialects."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VERSION_TABLE", "Migration"]

VERSION_TABLE = "authgate_schema_version"
"""One row per applied migration; its absence means a fresh or an AuthInGo database."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step. Its statements run in order inside a single transaction together with the
    row that records it in `authgate_schema_version`, so a step is either fully applied or not at all."""

    version: int
    name: str
    statements: tuple[str, ...]
