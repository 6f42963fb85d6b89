"""The tables both dialects create alike, written once with the column types that differ as fields.

`ColumnTypes.render` fills `{time}` (a timestamp), `{json}`, `{bytes}` and `{false}` (a boolean's
default) with one dialect's types when its module is imported; everything else is the same text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ACCOUNTS_EVENTS", "RETIRED_REFRESH", "VERIFICATION_MFA_PASSKEYS", "ColumnTypes", "if_not_exists"]


@dataclass(frozen=True, slots=True)
class ColumnTypes:
    """How one dialect spells the column types that differ."""

    time: str
    json: str
    bytes: str
    false: str

    def render(self, statements: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(statement.format_map(asdict(self)) for statement in statements)


def if_not_exists(statement: str) -> str:
    """The idempotent form of a plain CREATE TABLE or CREATE INDEX, for SCHEMA_SQL."""
    return statement.replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1).replace(
        "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1
    )


# Step 1's record of rotated-away refresh tokens (step 1 also creates or adopts users and sessions,
# which each dialect writes out: Postgres starts from AuthInGo's tables).
RETIRED_REFRESH = (
    """CREATE TABLE IF NOT EXISTS retired_refresh_tokens (
    token_hash VARCHAR(255) PRIMARY KEY,
    session_id VARCHAR(255) NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    retired_at {time} NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_retired_refresh_tokens_session_id ON retired_refresh_tokens(session_id)",
)

# Plain CREATE, not IF NOT EXISTS: AuthInGo never had these tables, and `accounts` is a common
# application table name, so a clash must fail the migration (and roll it back) instead of letting
# authgate adopt someone else's table. SCHEMA_SQL uses the IF NOT EXISTS form of the same text.
ACCOUNTS_EVENTS = (
    """CREATE TABLE accounts (
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider VARCHAR(64) NOT NULL,
    account_id VARCHAR(255) NOT NULL,
    created_at {time} NOT NULL,
    PRIMARY KEY (provider, account_id)
)""",
    "CREATE INDEX idx_accounts_user_id ON accounts(user_id)",
    # No foreign key on user_id: the audit trail outlives deleted users. detail is a JSON object.
    """CREATE TABLE auth_events (
    id VARCHAR(64) PRIMARY KEY,
    type VARCHAR(64) NOT NULL,
    user_id VARCHAR(255),
    session_id VARCHAR(255),
    ip TEXT,
    user_agent TEXT,
    detail {json},
    created_at {time} NOT NULL
)""",
    "CREATE INDEX idx_auth_events_user_id_created_at ON auth_events(user_id, created_at DESC)",
    "CREATE INDEX idx_auth_events_created_at ON auth_events(created_at)",
)

# Plain CREATE for the same reason as step 2. Token and code columns hold SHA-256 hex digests; the
# (user_id, ...) primary keys of mfa_factors and recovery_codes serve lookups by user, so only
# verification_tokens and authenticators need their own user_id index.
VERIFICATION_MFA_PASSKEYS = (
    # data is a JSON object.
    """CREATE TABLE verification_tokens (
    token_hash VARCHAR(64) PRIMARY KEY,
    purpose VARCHAR(32) NOT NULL,
    user_id VARCHAR(255) REFERENCES users(id) ON DELETE CASCADE,
    data {json},
    attempts INTEGER NOT NULL DEFAULT 0,
    expires_at {time} NOT NULL,
    created_at {time} NOT NULL
)""",
    "CREATE INDEX idx_verification_tokens_user_id_purpose ON verification_tokens(user_id, purpose)",
    "CREATE INDEX idx_verification_tokens_expires_at ON verification_tokens(expires_at)",
    """CREATE TABLE mfa_factors (
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind VARCHAR(16) NOT NULL,
    secret TEXT,
    confirmed BOOLEAN NOT NULL,
    last_used_step BIGINT NOT NULL DEFAULT -1,
    created_at {time} NOT NULL,
    PRIMARY KEY (user_id, kind)
)""",
    """CREATE TABLE recovery_codes (
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash VARCHAR(64) NOT NULL,
    created_at {time} NOT NULL,
    PRIMARY KEY (user_id, code_hash)
)""",
    # transports is a JSON array of strings, so any value the client sent reads back unchanged.
    """CREATE TABLE authenticators (
    credential_id VARCHAR(1024) PRIMARY KEY,
    user_id VARCHAR(255) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    public_key {bytes} NOT NULL,
    sign_count BIGINT NOT NULL,
    name VARCHAR(255) NOT NULL,
    transports TEXT NOT NULL DEFAULT '[]',
    backed_up BOOLEAN NOT NULL DEFAULT {false},
    created_at {time} NOT NULL,
    last_used_at {time}
)""",
    "CREATE INDEX idx_authenticators_user_id ON authenticators(user_id)",
)
