"""The one query module: named parameters rendered per dialect, and every statement valid on both."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from authgate.schema import SCHEMA_SQL
from authgate.stores import _queries
from authgate.stores._queries import Query, Statement, query


def _statements() -> dict[str, tuple[str, Statement]]:
    """Every rendered statement in the module, by name and dialect."""
    found: dict[str, tuple[str, Statement]] = {}
    for name, value in vars(_queries).items():
        if isinstance(value, Query):
            found[f"{name} (postgres)"] = ("postgres", value.postgres)
            found[f"{name} (sqlite)"] = ("sqlite", value.sqlite)
        elif isinstance(value, Statement):
            found[name] = ("sqlite" if name.endswith("_SQLITE") else "postgres", value)
    return found


def test_named_parameters_are_numbered_in_order_of_first_use_and_reused() -> None:
    rendered = query("UPDATE t SET a = :b, c = :d WHERE e = :b AND f = :keep::varchar")
    assert rendered.postgres == Statement(
        "UPDATE t SET a = $1, c = $2 WHERE e = $1 AND f = $3::varchar", ("b", "d", "keep")
    )
    assert rendered.sqlite == Statement("UPDATE t SET a = ?1, c = ?2 WHERE e = ?1 AND f = ?3", ("b", "d", "keep"))
    assert rendered.postgres.args({"d": 2, "keep": None, "b": 1, "unused": 0}) == [1, 2, None]


def test_a_dialect_variant_replaces_the_shared_text_for_that_dialect_only() -> None:
    rendered = query("SELECT :a", postgres_text="SELECT :a FOR SHARE")
    assert rendered.postgres.text == "SELECT $1 FOR SHARE" and rendered.sqlite.text == "SELECT ?1"


def test_no_rendered_statement_keeps_a_named_parameter_or_a_postgres_cast_for_sqlite() -> None:
    for name, (dialect, statement) in _statements().items():
        assert ":" not in statement.text.replace("::", ""), name
        if dialect == "sqlite":
            assert "::" not in statement.text and "$" not in statement.text, name


async def test_every_postgres_statement_prepares_against_the_schema(pg_conn: asyncpg.Connection) -> None:
    await pg_conn.execute(SCHEMA_SQL["postgres"])
    for name, (dialect, statement) in _statements().items():
        if dialect == "postgres":
            prepared = await pg_conn.prepare(statement.text)
            assert len(prepared.get_parameters()) == len(statement.names), name


def test_every_sqlite_statement_compiles_against_the_schema(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "q.db")
    try:
        conn.executescript(SCHEMA_SQL["sqlite"])
        for dialect, statement in _statements().values():
            if dialect == "sqlite":
                conn.execute(f"EXPLAIN {statement.text}", [None] * len(statement.names))  # compiles, runs nothing
    finally:
        conn.close()
