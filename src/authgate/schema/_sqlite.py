"""SQLite schema: numbered migrations and the full current schema as one text.

Timestamps are TEXT in one fixed-width ISO-8601 UTC form (`2030-01-02T03:04:05.000006+00:00`),
so SQL comparisons and ORDER BY on them are chronological. Booleans are 0/1.
"""

from __future__ import annotations

from ._migration import VERSION_TABLE, Migration
from ._tables import ACCOUNTS_EVENTS, RETIRED_REFRESH, VERIFICATION_MFA_PASSKEYS, ColumnTypes, if_not_exists

__all__ = ["MIGRATIONS", "SCHEMA_SQL", "VERSION_TABLE_SQL"]

VERSION_TABLE_SQL = f"""\
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""

_TYPES = ColumnTypes(time="TEXT", json="TEXT", bytes="BLOB", false="0")

_TABLES = (
    """CREATE TABLE IF NOT EXISTS users (
    id VARCHAR(255) PRIMARY KEY,
    email VARCHAR(255) UNIQUE NOT NULL,
    email_key VARCHAR(255) UNIQUE NOT NULL,
    name VARCHAR(255) NOT NULL DEFAULT '',
    password_hash VARCHAR(255),
    email_verified BOOLEAN NOT NULL DEFAULT 0,
    image TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS sessions (
    id VARCHAR(255) PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token VARCHAR(255) UNIQUE NOT NULL,
    refresh_token VARCHAR(255) UNIQUE NOT NULL,
    expires_at TEXT NOT NULL,
    refresh_expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    ip TEXT,
    user_agent TEXT
)""",
    "CREATE INDEX IF NOT EXISTS idx_sessions_token ON sessions(token)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_refresh_token ON sessions(refresh_token)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON sessions(expires_at)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_refresh_expires_at ON sessions(refresh_expires_at)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_user_id ON sessions(user_id)",
    *_TYPES.render(RETIRED_REFRESH),
)

_ACCOUNTS_EVENTS = _TYPES.render(ACCOUNTS_EVENTS)
_VERIFICATION_MFA_PASSKEYS = _TYPES.render(VERIFICATION_MFA_PASSKEYS)

# See the Postgres schema: credential events bump the version a session insert must match;
# sessions keep their last re-authentication and the refresh hash the latest rotation retired.
_CREDENTIAL_VERSION_AUTH_TIME = (
    "ALTER TABLE users ADD COLUMN credential_version INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE sessions ADD COLUMN auth_time TEXT",
    "ALTER TABLE sessions ADD COLUMN previous_refresh_hash TEXT",
    "ALTER TABLE retired_refresh_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'refresh'",
)

# Later steps append here as 5, 6, ...
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users_sessions_retired_refresh", _TABLES),
    Migration(2, "accounts_auth_events", _ACCOUNTS_EVENTS),
    Migration(3, "verification_mfa_passkeys", _VERIFICATION_MFA_PASSKEYS),
    Migration(4, "credential_version_auth_time", _CREDENTIAL_VERSION_AUTH_TIME),
)


def _with_step_4_columns(statement: str) -> str:
    # SQLite has no ADD COLUMN IF NOT EXISTS, so the idempotent text creates the tables with step 4's
    # columns in place (at the end, where the ALTERs put them) instead of altering them.
    for table_end, columns in (
        ("    updated_at TEXT NOT NULL\n)", "credential_version INTEGER NOT NULL DEFAULT 0"),
        ("    user_agent TEXT\n)", "auth_time TEXT,\n    previous_refresh_hash TEXT"),
        ("    retired_at TEXT NOT NULL\n)", "kind TEXT NOT NULL DEFAULT 'refresh'"),
    ):
        statement = statement.replace(table_end, f"{table_end[:-2]},\n    {columns}\n)")
    return statement


_TABLES_SQL = ";\n\n".join(
    (
        *(_with_step_4_columns(statement) for statement in _TABLES),
        *(if_not_exists(statement) for statement in (*_ACCOUNTS_EVENTS, *_VERIFICATION_MFA_PASSKEYS)),
    )
)
_VERSION_ROWS = ",\n".join(
    f"    ({m.version}, '{m.name}', strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now'))" for m in MIGRATIONS
)

SCHEMA_SQL = f"""\
-- authgate schema for SQLite (version {MIGRATIONS[-1].version}).
-- Token columns hold SHA-256 hex digests, never raw tokens. Timestamps are ISO-8601 UTC text.
{VERSION_TABLE_SQL};

{_TABLES_SQL};

-- Recording the version keeps `authgate migrate` from re-running these steps.
INSERT OR IGNORE INTO {VERSION_TABLE} (version, name, applied_at) VALUES
{_VERSION_ROWS};
"""  # noqa: S608 - built from this module's constants, at import time
