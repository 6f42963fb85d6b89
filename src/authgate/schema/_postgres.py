"""PostgreSQL schema: numbered migrations and the full current schema as one text.

Migration 1 starts from AuthInGo's tables exactly as its adapter creates them and then
upgrades them. A fresh database and an AuthInGo database therefore go through the same ALTERs and
end identical; `CREATE ... IF NOT EXISTS` makes the first half a no-op when AuthInGo was there.
"""

from __future__ import annotations

from ._migration import VERSION_TABLE, Migration
from ._tables import ACCOUNTS_EVENTS, RETIRED_REFRESH, VERIFICATION_MFA_PASSKEYS, ColumnTypes, if_not_exists

__all__ = ["MIGRATIONS", "SCHEMA_SQL", "VERSION_TABLE_SQL"]

VERSION_TABLE_SQL = f"""\
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""

# AuthInGo's DDL, kept verbatim so a taken-over database is recognised column for column.
_AUTHINGO_TABLES = (
    """CREATE TABLE IF NOT EXISTS users (
    id VARCHAR(255) PRIMARY KEY,
    email VARCHAR(255) UNIQUE NOT NULL,
    name VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    email_verified BOOLEAN DEFAULT FALSE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
)""",
    """CREATE TABLE IF NOT EXISTS sessions (
    id VARCHAR(255) PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token VARCHAR(255) UNIQUE NOT NULL,
    refresh_token VARCHAR(255) UNIQUE NOT NULL,
    refresh_expires_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
)""",
    "CREATE INDEX IF NOT EXISTS idx_sessions_token ON sessions(token)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_refresh_token ON sessions(refresh_token)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON sessions(expires_at)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_refresh_expires_at ON sessions(refresh_expires_at)",
)

_UPGRADE_USERS = (
    """ALTER TABLE users
    ADD COLUMN IF NOT EXISTS email_key VARCHAR(255),
    ADD COLUMN IF NOT EXISTS image TEXT,
    ALTER COLUMN name SET DEFAULT '',
    ALTER COLUMN password_hash DROP NOT NULL,
    ALTER COLUMN email_verified SET DEFAULT FALSE""",
    # The engine normalises with NFKC + casefold; for the ASCII addresses AuthInGo accepted,
    # lower(trim()) gives the same key.
    "UPDATE users SET email_key = lower(trim(email)) WHERE email_key IS NULL",
    """UPDATE users SET
    email_verified = COALESCE(email_verified, FALSE),
    created_at = COALESCE(created_at, CURRENT_TIMESTAMP),
    updated_at = COALESCE(updated_at, created_at, CURRENT_TIMESTAMP)
WHERE email_verified IS NULL OR created_at IS NULL OR updated_at IS NULL""",
    """ALTER TABLE users
    ALTER COLUMN email_key SET NOT NULL,
    ALTER COLUMN email_verified SET NOT NULL,
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN updated_at SET NOT NULL,
    ADD CONSTRAINT uq_users_email_key UNIQUE (email_key)""",
)

_UPGRADE_SESSIONS = (
    """ALTER TABLE sessions
    ADD COLUMN IF NOT EXISTS last_used_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS ip TEXT,
    ADD COLUMN IF NOT EXISTS user_agent TEXT""",
    "UPDATE sessions SET created_at = CURRENT_TIMESTAMP WHERE created_at IS NULL",
    "ALTER TABLE sessions ALTER COLUMN created_at SET NOT NULL",
    # AuthInGo stored tokens in the clear; authgate stores SHA-256 hex and hashes the presented
    # cookie, so existing sessions keep working and a leaked database cannot be replayed. This runs
    # exactly once (the version row commits with it), so hashes are never hashed again.
    """UPDATE sessions SET
    token = encode(sha256(convert_to(token, 'UTF8')), 'hex'),
    refresh_token = encode(sha256(convert_to(refresh_token, 'UTF8')), 'hex')""",
    "CREATE INDEX IF NOT EXISTS idx_sessions_user_id ON sessions(user_id)",
)

_TYPES = ColumnTypes(time="TIMESTAMPTZ", json="JSONB", bytes="BYTEA", false="FALSE")
_RETIRED_REFRESH = _TYPES.render(RETIRED_REFRESH)
_ACCOUNTS_EVENTS = _TYPES.render(ACCOUNTS_EVENTS)
_VERIFICATION_MFA_PASSKEYS = _TYPES.render(VERIFICATION_MFA_PASSKEYS)

# Credential events bump users.credential_version (a session insert names the version its check
# saw); sessions carry the time of the last re-authentication and the refresh hash the latest
# rotation retired (the only one a racing tab may still present).
_CREDENTIAL_VERSION_AUTH_TIME = (
    "ALTER TABLE users ADD COLUMN IF NOT EXISTS credential_version INTEGER NOT NULL DEFAULT 0",
    """ALTER TABLE sessions
    ADD COLUMN IF NOT EXISTS auth_time TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS previous_refresh_hash VARCHAR(64)""",
    # Rotation retires the access token too ('access'), so a sign-out that raced a refresh and
    # carries only the old access cookie still finds its session. Only 'refresh' rows act as
    # retired refresh tokens.
    "ALTER TABLE retired_refresh_tokens ADD COLUMN IF NOT EXISTS kind VARCHAR(8) NOT NULL DEFAULT 'refresh'",
)

# Later steps append here as 5, 6, ...
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "users_sessions_retired_refresh",
        (*_AUTHINGO_TABLES, *_UPGRADE_USERS, *_UPGRADE_SESSIONS, *_RETIRED_REFRESH),
    ),
    Migration(2, "accounts_auth_events", _ACCOUNTS_EVENTS),
    Migration(3, "verification_mfa_passkeys", _VERIFICATION_MFA_PASSKEYS),
    Migration(4, "credential_version_auth_time", _CREDENTIAL_VERSION_AUTH_TIME),
)


_ACCOUNTS_EVENTS_SQL = ";\n".join(if_not_exists(statement) for statement in _ACCOUNTS_EVENTS)
_VERIFICATION_MFA_PASSKEYS_SQL = ";\n".join(if_not_exists(statement) for statement in _VERIFICATION_MFA_PASSKEYS)
# The current sessions table: AuthInGo's, with created_at NOT NULL (step 1) and the columns steps 1
# and 4 add, where their ALTERs put them.
_SESSIONS_SQL = _AUTHINGO_TABLES[1].replace(
    "    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP\n)",
    """    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_used_at TIMESTAMPTZ,
    ip TEXT,
    user_agent TEXT,
    auth_time TIMESTAMPTZ,
    previous_refresh_hash VARCHAR(64)
)""",
)

_VERSION_ROWS = ",\n".join(f"    ({m.version}, '{m.name}')" for m in MIGRATIONS)

SCHEMA_SQL = f"""\
-- authgate schema for PostgreSQL (version {MIGRATIONS[-1].version}).
-- Token columns hold SHA-256 hex digests, never raw tokens.
{VERSION_TABLE_SQL};

CREATE TABLE IF NOT EXISTS users (
    id VARCHAR(255) PRIMARY KEY,
    email VARCHAR(255) UNIQUE NOT NULL,
    email_key VARCHAR(255) NOT NULL CONSTRAINT uq_users_email_key UNIQUE,
    name VARCHAR(255) NOT NULL DEFAULT '',
    password_hash VARCHAR(255),
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    image TEXT,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
    credential_version INTEGER NOT NULL DEFAULT 0
);

{_SESSIONS_SQL};
CREATE INDEX IF NOT EXISTS idx_sessions_token ON sessions(token);
CREATE INDEX IF NOT EXISTS idx_sessions_refresh_token ON sessions(refresh_token);
CREATE INDEX IF NOT EXISTS idx_sessions_expires_at ON sessions(expires_at);
CREATE INDEX IF NOT EXISTS idx_sessions_refresh_expires_at ON sessions(refresh_expires_at);
CREATE INDEX IF NOT EXISTS idx_sessions_user_id ON sessions(user_id);

{_RETIRED_REFRESH[0]};
{_RETIRED_REFRESH[1]};
{_CREDENTIAL_VERSION_AUTH_TIME[2]};

{_ACCOUNTS_EVENTS_SQL};

{_VERIFICATION_MFA_PASSKEYS_SQL};

-- Recording the versions keeps `authgate migrate` from re-running step 1 (which hashes tokens).
INSERT INTO {VERSION_TABLE} (version, name) VALUES
{_VERSION_ROWS}
ON CONFLICT (version) DO NOTHING;
"""  # noqa: S608 - built from this module's constants, at import time
