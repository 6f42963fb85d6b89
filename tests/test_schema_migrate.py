"""Schema and migrations: idempotence, concurrency, SCHEMA_SQL == migrations, AuthInGo takeover, upgrades from
an older authgate, indexes."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import bcrypt
import pytest

from authgate.schema import LATEST_VERSION, MIGRATIONS, SCHEMA_SQL
from authgate.schema._postgres import VERSION_TABLE_SQL as PG_VERSION_TABLE_SQL
from authgate.schema._sqlite import VERSION_TABLE_SQL as SQLITE_VERSION_TABLE_SQL
from authgate.stores._queries import CREDENTIALS, SESSION_BY_TOKEN, USER_EVENTS
from authgate.stores.postgres import PostgresStore, apply_schema
from authgate.stores.sqlite import SQLiteStore

# Seed 004: AuthInGo's Postgres adapter schema, verbatim.
AUTHINGO_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
id VARCHAR(255) PRIMARY KEY,
email VARCHAR(255) UNIQUE NOT NULL,
name VARCHAR(255) NOT NULL,
password_hash VARCHAR(255) NOT NULL,
email_verified BOOLEAN DEFAULT FALSE,
created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS sessions (
id VARCHAR(255) PRIMARY KEY,
user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
token VARCHAR(255) UNIQUE NOT NULL,
refresh_token VARCHAR(255) UNIQUE NOT NULL,
refresh_expires_at TIMESTAMPTZ NOT NULL,
expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_sessions_token ON sessions(token);
CREATE INDEX IF NOT EXISTS idx_sessions_refresh_token ON sessions(refresh_token);
CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON sessions(expires_at);
CREATE INDEX IF NOT EXISTS idx_sessions_refresh_expires_at ON sessions(refresh_expires_at);
"""


ALL_VERSIONS = list(range(1, LATEST_VERSION + 1))
AUTHGATE_TABLES = (
    "verification_tokens, mfa_factors, recovery_codes, authenticators, auth_events, accounts, retired_refresh_tokens,"
    " sessions, users, authgate_schema_version"
)
# Every release an existing database may come from, oldest first.
OLDER_VERSIONS = ALL_VERSIONS[:-1]


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def _pg_catalog(conn: asyncpg.Connection) -> dict[str, Any]:
    """Columns, indexes and constraints of the current schema, without column order or schema names."""
    columns = await conn.fetch(
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY 1, 2"
    )
    indexes = await conn.fetch(
        "SELECT indexname, replace(indexdef, current_schema() || '.', '') FROM pg_indexes"
        " WHERE schemaname = current_schema() ORDER BY 1"
    )
    constraints = await conn.fetch(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2"
    )
    return {
        "columns": [tuple(r) for r in columns],
        "indexes": [tuple(r) for r in indexes],
        "constraints": [tuple(r) for r in constraints],
    }


# -- Postgres: applying ----------------------------------------------------------------------------


async def test_postgres_apply_schema_twice_applies_each_migration_once(pg_conn: asyncpg.Connection) -> None:
    assert await apply_schema(pg_conn) == [m.version for m in MIGRATIONS["postgres"]]
    assert await apply_schema(pg_conn) == []
    versions = await pg_conn.fetch("SELECT version FROM authgate_schema_version ORDER BY version")
    assert [r["version"] for r in versions] == ALL_VERSIONS


async def test_postgres_concurrent_apply_schema_applies_each_migration_once(
    pg_url: str, pg_schema: str, pg_conn: asyncpg.Connection
) -> None:
    conns = [await asyncpg.connect(pg_url, server_settings={"search_path": pg_schema}) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_schema(conn) for conn in conns))
    finally:
        for conn in conns:
            await conn.close()
    assert sorted(results) == [[], [], [], ALL_VERSIONS]
    assert await pg_conn.fetchval("SELECT count(*) FROM authgate_schema_version") == LATEST_VERSION


async def test_postgres_concurrent_store_open_on_one_schema_succeeds(pg_url: str, pg_schema: str) -> None:
    stores = [PostgresStore(pg_url, schema=pg_schema, min_size=1, max_size=1) for _ in range(3)]
    await asyncio.gather(*(store.open() for store in stores))
    for store in stores:
        await store.close()


async def test_postgres_apply_schema_accepts_a_pool(pg_url: str, pg_schema: str) -> None:
    pool = await asyncpg.create_pool(pg_url, min_size=1, max_size=1, server_settings={"search_path": pg_schema})
    try:
        assert await apply_schema(pool) == ALL_VERSIONS
        assert await apply_schema(pool) == []
    finally:
        await pool.close()


async def test_postgres_schema_sql_builds_the_same_schema_as_the_migrations(
    pg_url: str, pg_conn: asyncpg.Connection
) -> None:
    await apply_schema(pg_conn)
    migrated = await _pg_catalog(pg_conn)
    other = f"authgate_test_sql_{hashlib.sha256(str(id(pg_conn)).encode()).hexdigest()[:10]}"
    await pg_conn.execute(f"CREATE SCHEMA {other}")
    try:
        conn = await asyncpg.connect(pg_url, server_settings={"search_path": other})
        try:
            await conn.execute(SCHEMA_SQL["postgres"])
            await conn.execute(SCHEMA_SQL["postgres"])  # the text itself is idempotent too
            from_text = await _pg_catalog(conn)
            # SCHEMA_SQL records its version, so a later apply_schema (which would hash tokens
            # again in migration 1) finds nothing to do.
            assert await apply_schema(conn) == []
        finally:
            await conn.close()
    finally:
        await pg_conn.execute(f"DROP SCHEMA {other} CASCADE")
    assert from_text == migrated


# -- Postgres: taking over an AuthInGo database ---------------------------------------------------


async def test_authingo_database_is_taken_over_keeping_users_and_hashing_tokens(
    pg_url: str, pg_schema: str, pg_conn: asyncpg.Connection
) -> None:
    await pg_conn.execute(AUTHINGO_SCHEMA)
    password_hash = bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(rounds=4)).decode()
    password_hash = "$2a$" + password_hash.removeprefix("$2b$")  # what Go's bcrypt writes
    await pg_conn.execute(
        "INSERT INTO users (id, email, name, password_hash, email_verified) VALUES ($1, $2, $3, $4, true)",
        "usr_2f9c",
        "Ada.Lovelace@Example.COM",
        "Ada",
        password_hash,
    )
    access, refresh = "plain-access-7Yb3kQ", "plain-refresh-Zx81pL"
    await pg_conn.execute(
        "INSERT INTO sessions (id, user_id, token, refresh_token, refresh_expires_at, expires_at)"
        " VALUES ('ses_1', 'usr_2f9c', $1, $2, now() + interval '7 days', now() + interval '15 minutes')",
        access,
        refresh,
    )

    assert await apply_schema(pg_conn) == ALL_VERSIONS

    user = await pg_conn.fetchrow("SELECT * FROM users")
    assert user is not None
    assert user["id"] == "usr_2f9c"
    assert user["password_hash"] == password_hash
    assert user["email"] == "Ada.Lovelace@Example.COM"
    assert user["email_key"] == "ada.lovelace@example.com"
    assert user["name"] == "Ada" and user["email_verified"] is True and user["image"] is None
    session = await pg_conn.fetchrow("SELECT * FROM sessions")
    assert session is not None
    assert session["token"] == sha256_hex(access)
    assert session["refresh_token"] == sha256_hex(refresh)
    for table in ("users", "sessions", "retired_refresh_tokens", "authgate_schema_version"):
        for row in await pg_conn.fetch(f"SELECT t::text AS dump FROM {table} t"):  # noqa: S608 - fixed names
            assert access not in row["dump"] and refresh not in row["dump"], table

    store = PostgresStore(pg_url, schema=pg_schema, min_size=1, max_size=2)
    await store.open()
    try:
        found = await store.get_session_by_token(sha256_hex(access))
        assert found is not None
        assert (found[0].id, found[1].id) == ("ses_1", "usr_2f9c")
        assert await store.get_session_by_refresh(sha256_hex(refresh)) is not None
        credentials = await store.get_credentials("ada.lovelace@example.com")
        assert credentials is not None
        assert credentials[1] is not None
        assert bcrypt.checkpw(b"correct horse battery", credentials[1].encode())
    finally:
        await store.close()
    assert await apply_schema(pg_conn) == []
    assert await pg_conn.fetchval("SELECT token FROM sessions") == sha256_hex(access)  # not hashed twice


async def test_authingo_takeover_ends_with_the_same_schema_as_a_fresh_database(
    pg_url: str, pg_conn: asyncpg.Connection
) -> None:
    await pg_conn.execute(AUTHINGO_SCHEMA)
    await apply_schema(pg_conn)
    taken_over = await _pg_catalog(pg_conn)
    await pg_conn.execute(f"DROP TABLE {AUTHGATE_TABLES}")
    await apply_schema(pg_conn)
    assert await _pg_catalog(pg_conn) == taken_over


async def _pg_apply_up_to(conn: asyncpg.Connection, version: int) -> None:
    """What an older authgate release left behind: migrations 1..version and their version rows."""
    async with conn.transaction():
        await conn.execute(PG_VERSION_TABLE_SQL)
        for migration in MIGRATIONS["postgres"][:version]:
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO authgate_schema_version (version, name) VALUES ($1, $2)", migration.version, migration.name
            )


@pytest.mark.parametrize("version", OLDER_VERSIONS)
async def test_postgres_older_database_upgrades_to_the_same_schema_as_a_fresh_one(
    pg_conn: asyncpg.Connection, version: int
) -> None:
    await apply_schema(pg_conn)
    fresh = await _pg_catalog(pg_conn)
    await pg_conn.execute(f"DROP TABLE {AUTHGATE_TABLES}")
    await _pg_apply_up_to(pg_conn, version)
    await pg_conn.execute(
        "INSERT INTO users (id, email, email_key, created_at, updated_at)"
        " VALUES ('u1', 'ada@example.com', 'ada@example.com', now(), now())"
    )
    assert await apply_schema(pg_conn) == ALL_VERSIONS[version:]
    assert await _pg_catalog(pg_conn) == fresh
    assert await pg_conn.fetchval("SELECT id FROM users") == "u1"


async def test_postgres_application_accounts_table_fails_migration_2_and_changes_nothing(
    pg_conn: asyncpg.Connection,
) -> None:
    await _pg_apply_up_to(pg_conn, 1)
    await pg_conn.execute("CREATE TABLE accounts (id SERIAL PRIMARY KEY, user_id VARCHAR(255), balance INTEGER)")
    with pytest.raises(asyncpg.DuplicateTableError):
        await apply_schema(pg_conn)
    assert await pg_conn.fetchval("SELECT to_regclass('auth_events')") is None
    assert await pg_conn.fetchval("SELECT max(version) FROM authgate_schema_version") == 1
    assert await pg_conn.fetchval("SELECT to_regclass('idx_accounts_user_id')") is None


async def test_postgres_application_authenticators_table_fails_migration_3_and_changes_nothing(
    pg_conn: asyncpg.Connection,
) -> None:
    await _pg_apply_up_to(pg_conn, 2)
    await pg_conn.execute("CREATE TABLE authenticators (id SERIAL PRIMARY KEY, label TEXT)")
    with pytest.raises(asyncpg.DuplicateTableError):
        await apply_schema(pg_conn)
    assert await pg_conn.fetchval("SELECT max(version) FROM authgate_schema_version") == 2
    for name in ("verification_tokens", "mfa_factors", "recovery_codes", "idx_authenticators_user_id"):
        assert await pg_conn.fetchval("SELECT to_regclass($1)", name) is None, name


async def test_failed_migration_leaves_the_database_untouched(pg_conn: asyncpg.Connection) -> None:
    await pg_conn.execute(AUTHINGO_SCHEMA)
    # Two AuthInGo users whose emails differ only by case cannot both get the same email_key.
    await pg_conn.execute(
        "INSERT INTO users (id, email, name, password_hash) VALUES ('a', 'x@example.com', '', 'h'),"
        " ('b', 'X@example.com', '', 'h')"
    )
    await pg_conn.execute(
        "INSERT INTO sessions (id, user_id, token, refresh_token, refresh_expires_at, expires_at)"
        " VALUES ('s', 'a', 'plain', 'plain-r', now(), now())"
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await apply_schema(pg_conn)
    assert await pg_conn.fetchval("SELECT token FROM sessions") == "plain"
    assert await pg_conn.fetchval("SELECT to_regclass('authgate_schema_version')") is None


# -- Postgres: the hot queries use indexes --------------------------------------------------------


async def _explain(conn: asyncpg.Connection, sql: str, *args: object) -> str:
    return "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))


async def test_session_and_credentials_lookups_use_indexes(
    pg_store: PostgresStore, pg_url: str, pg_schema: str
) -> None:
    conn = await asyncpg.connect(pg_url, server_settings={"search_path": pg_schema})
    try:
        await conn.execute(
            "INSERT INTO users (id, email, email_key, created_at, updated_at)"
            " SELECT 'u' || g, 'user' || g || '@example.com', 'user' || g || '@example.com', now(), now()"
            " FROM generate_series(1, 5000) g"
        )
        await conn.execute(
            "INSERT INTO sessions (id, user_id, token, refresh_token, expires_at, refresh_expires_at, created_at)"
            " SELECT 's' || g, 'u' || g, md5('a' || g) || md5('b' || g), md5('c' || g) || md5('d' || g),"
            " now(), now() + interval '30 days', now() FROM generate_series(1, 5000) g"
        )
        await conn.execute("ANALYZE users; ANALYZE sessions")
        token = await conn.fetchval("SELECT token FROM sessions WHERE id = 's2500'")
        plan = await _explain(conn, SESSION_BY_TOKEN.postgres.text, token)
        assert "Seq Scan" not in plan, plan
        assert re.search(r"Index Scan using (idx_sessions_token|sessions_token_key) on sessions", plan), plan
        assert re.search(r"Index Scan using users_pkey on users", plan), plan
        assert "password_hash" not in SESSION_BY_TOKEN.postgres.text

        plan = await _explain(conn, CREDENTIALS.postgres.text, "user2500@example.com")
        assert "Seq Scan" not in plan, plan
        assert "uq_users_email_key" in plan, plan
    finally:
        await conn.close()


async def test_audit_events_of_one_user_are_listed_through_the_index(
    pg_store: PostgresStore, pg_url: str, pg_schema: str
) -> None:
    conn = await asyncpg.connect(pg_url, server_settings={"search_path": pg_schema})
    try:
        await conn.execute(
            "INSERT INTO auth_events (id, type, user_id, created_at)"
            " SELECT 'e' || g, 'signin', 'u' || (g % 50), now() - g * interval '1 second'"
            " FROM generate_series(1, 20000) g"
        )
        await conn.execute("ANALYZE auth_events")
        # 400 events for this user, 100 wanted: read in order from the index, no sort.
        assert USER_EVENTS.postgres.names == ("user_id", "limit")
        plan = await _explain(conn, USER_EVENTS.postgres.text, "u25", 100)
        assert "Seq Scan" not in plan and "Sort" not in plan, plan
        assert "Index Scan using idx_auth_events_user_id_created_at" in plan, plan
    finally:
        await conn.close()


# -- SQLite -----------------------------------------------------------------------------------------


def _sqlite_catalog(path: Path) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
        return {
            table: {
                "columns": sorted(conn.execute(f"PRAGMA table_info({table})").fetchall()),
                "indexes": sorted(
                    (name, unique, [c[2] for c in conn.execute(f"PRAGMA index_info({name})")])
                    for _, name, unique, *_ in conn.execute(f"PRAGMA index_list({table})")
                ),
                "foreign_keys": sorted(conn.execute(f"PRAGMA foreign_key_list({table})").fetchall()),
            }
            for table in tables
        }


async def test_sqlite_open_twice_applies_each_migration_once(tmp_path: Path) -> None:
    for _ in range(2):
        store = SQLiteStore(tmp_path / "a.db")
        await store.open()
        await store.close()
    with sqlite3.connect(tmp_path / "a.db") as conn:
        versions = conn.execute("SELECT version FROM authgate_schema_version ORDER BY version").fetchall()
        assert versions == [(v,) for v in ALL_VERSIONS]


async def test_sqlite_concurrent_open_of_one_file_succeeds(tmp_path: Path) -> None:
    stores = [SQLiteStore(tmp_path / "a.db") for _ in range(4)]
    await asyncio.gather(*(store.open() for store in stores))
    for store in stores:
        await store.close()
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert conn.execute("SELECT count(*) FROM authgate_schema_version").fetchone() == (LATEST_VERSION,)


async def test_sqlite_schema_sql_builds_the_same_schema_as_the_migrations(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "migrated.db")
    await store.open()
    await store.close()
    with sqlite3.connect(tmp_path / "from_text.db") as conn:
        conn.executescript(SCHEMA_SQL["sqlite"])
        conn.executescript(SCHEMA_SQL["sqlite"])  # the text itself is idempotent too
    assert _sqlite_catalog(tmp_path / "from_text.db") == _sqlite_catalog(tmp_path / "migrated.db")
    # Recorded version: opening a store on it applies nothing.
    store = SQLiteStore(tmp_path / "from_text.db")
    await store.open()
    await store.close()
    with sqlite3.connect(tmp_path / "from_text.db") as conn:
        assert conn.execute("SELECT count(*) FROM authgate_schema_version").fetchone() == (LATEST_VERSION,)


def _sqlite_apply_up_to(path: Path, version: int) -> None:
    """What an older authgate release left behind: migrations 1..version and their version rows."""
    with sqlite3.connect(path) as conn:
        conn.execute(SQLITE_VERSION_TABLE_SQL)
        for migration in MIGRATIONS["sqlite"][:version]:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO authgate_schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, "2031-01-01T00:00:00.000000+00:00"),
            )
    # sqlite3's context manager commits but does not close.
    conn.close()


@pytest.mark.parametrize("version", OLDER_VERSIONS)
async def test_sqlite_older_database_upgrades_to_the_same_schema_as_a_fresh_one(tmp_path: Path, version: int) -> None:
    store = SQLiteStore(tmp_path / "fresh.db")
    await store.open()
    await store.close()
    _sqlite_apply_up_to(tmp_path / "old.db", version)
    store = SQLiteStore(tmp_path / "old.db")
    await store.open()
    await store.close()
    assert _sqlite_catalog(tmp_path / "old.db") == _sqlite_catalog(tmp_path / "fresh.db")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        versions = conn.execute("SELECT version FROM authgate_schema_version ORDER BY version").fetchall()
    conn.close()
    assert versions == [(v,) for v in ALL_VERSIONS]


async def test_sqlite_application_accounts_table_fails_migration_2_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _sqlite_apply_up_to(path, 1)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, user_id TEXT, balance INTEGER)")
    conn.close()
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        await SQLiteStore(path).open()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT max(version) FROM authgate_schema_version").fetchone() == (1,)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    conn.close()
    assert "auth_events" not in tables and "idx_accounts_user_id" not in tables


async def test_sqlite_application_authenticators_table_fails_migration_3_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _sqlite_apply_up_to(path, 2)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE authenticators (id INTEGER PRIMARY KEY, label TEXT)")
    conn.close()
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        await SQLiteStore(path).open()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT max(version) FROM authgate_schema_version").fetchone() == (2,)
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    conn.close()
    assert not names & {"verification_tokens", "mfa_factors", "recovery_codes", "idx_authenticators_user_id"}


def test_both_dialects_have_schema_sql_and_the_same_latest_version() -> None:
    assert set(SCHEMA_SQL) == {"postgres", "sqlite"}
    assert all(MIGRATIONS[d][-1].version == LATEST_VERSION for d in SCHEMA_SQL)
    for dialect in SCHEMA_SQL:
        versions = [m.version for m in MIGRATIONS[dialect]]
        assert versions == list(range(1, len(versions) + 1))
