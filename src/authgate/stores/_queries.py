"""Every statement the SQL stores send, written once with named parameters (`:token_hash`).

Each `Query` is rendered for both dialects when this module is imported: Postgres gets `$1..$n`,
SQLite `?1..?n`, each with the parameter names in that order, so a request only picks its values
out by name and no SQL is built while it runs. Postgres type casts (`:keep::varchar`,
`detail::text`) are dropped for SQLite, which types values dynamically; Postgres needs them where
it cannot infer a parameter's type (one that only meets `IS NULL`), and to carry jsonb as text both
ways, so that a jsonb codec an application set on its own pool cannot double-encode it.

Where the dialects differ in more than that, the statement has a variant per dialect right here,
with the reason. Rows are read by position: the column lists below are the layouts that
`_sql.py` decodes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Query", "Statement"]

_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_CAST = re.compile(r"::\w+(?:\[\])?")


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement as one dialect's driver takes it: `text` with numbered placeholders, and
    `names`, the parameter each number stands for (the first is `$1` or `?1`)."""

    text: str
    names: tuple[str, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The values in placeholder order; `params` may hold more than the statement uses."""
        return [params[name] for name in self.names]


def _numbered(text: str, placeholder: str) -> Statement:
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"{placeholder}{names.index(match[1]) + 1}"

    return Statement(_PARAMETER.sub(number, text), tuple(names))


def postgres(text: str) -> Statement:
    """A statement only the Postgres store sends."""
    return _numbered(text, "$")


def sqlite(text: str) -> Statement:
    """A statement only the SQLite store sends."""
    return _numbered(_CAST.sub("", text), "?")


@dataclass(frozen=True, slots=True)
class Query:
    """One statement for both dialects."""

    postgres: Statement
    sqlite: Statement


def query(text: str, *, postgres_text: str | None = None, sqlite_text: str | None = None) -> Query:
    """`text` for both dialects, or a dialect's own variant where given."""
    return Query(postgres(postgres_text or text), sqlite(sqlite_text or text))


def by_insertion(text: str) -> Query:
    """A listing whose `{tiebreak}` SQLite fills with `, rowid`: ties in `created_at` then come in
    insertion order, as the memory store's stable sort gives them. Postgres has no rowid."""
    return query(text.format(tiebreak=""), sqlite_text=text.format(tiebreak=", rowid"))


# -- users ----------------------------------------------------------------------------------------

CREATE_USER = query("""\
INSERT INTO users (id, email, email_key, name, password_hash, email_verified, image, created_at, updated_at)
VALUES (:id, :email, :email_key, :name, :password_hash, :email_verified, :image, :created_at, :updated_at)""")
CREDENTIALS = query("""\
SELECT id, email, name, email_verified, image, created_at, updated_at, credential_version, password_hash
FROM users WHERE email_key = :email_key""")
USER = query("""\
SELECT id, email, name, email_verified, image, created_at, updated_at, credential_version
FROM users WHERE id = :user_id""")
SET_PASSWORD_HASH = query("UPDATE users SET password_hash = :password_hash, updated_at = :now WHERE id = :user_id")
UPDATE_USER = query("""\
UPDATE users SET email = :email, email_key = COALESCE(:email_key::varchar, email_key), name = :name, image = :image,
    email_verified = :email_verified, updated_at = :updated_at
WHERE id = :id""")
# One statement, so one transaction: ON DELETE CASCADE (SQLite: foreign_keys=ON on every connection)
# takes the sessions and their retired hashes, linked accounts, verification tokens, MFA factors,
# recovery codes and passkeys with the user.
DELETE_USER = query("DELETE FROM users WHERE id = :user_id")

# -- sessions -------------------------------------------------------------------------------------

# The session check: one indexed query joining users, the session's columns and then its user's (as
# USER lists them). The other keys and the batch are derived from it, so the layouts cannot drift apart.
_SESSION_CHECK = """\
SELECT s.id, s.user_id, s.expires_at, s.refresh_expires_at, s.created_at, s.last_used_at, s.ip, s.user_agent,
    s.auth_time, u.id, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at, u.credential_version
FROM sessions s JOIN users u ON u.id = s.user_id
WHERE s.token = :token_hash"""
SESSION_BY_TOKEN = query(_SESSION_CHECK)
SESSION_BY_REFRESH = query(_SESSION_CHECK.replace("s.token = :token_hash", "s.refresh_token = :refresh_hash"))
SESSION_BY_ID = query(_SESSION_CHECK.replace("s.token = :token_hash", "s.id = :session_id"))
# Postgres only: the same rows for many tokens at once, each led by its token (concurrent session
# checks share it, see _batch.py). An array parameter, so one prepared statement serves any batch size.
SESSIONS_BY_TOKENS = postgres(
    _SESSION_CHECK.replace("SELECT s.id,", "SELECT s.token, s.id,", 1).replace(
        "s.token = :token_hash", "s.token = ANY(:token_hashes::text[])"
    )
)

# Postgres locks the user row (FOR SHARE): a concurrent credential change (which updates that row)
# either commits first, and the version check then inserts nothing, or waits for this insert and
# then deletes the new session with every other one. SQLite needs no lock: its writes are serialised.
_CREATE_SESSION = """\
INSERT INTO sessions (id, user_id, token, refresh_token, expires_at, refresh_expires_at, created_at, last_used_at, ip,
    user_agent, auth_time)
SELECT :id, u.id, :token_hash, :refresh_hash, :expires_at, :refresh_expires_at, :created_at, :last_used_at, :ip,
    :user_agent, :auth_time
FROM users u
WHERE u.id = :user_id
    AND (:credential_version::integer IS NULL OR u.credential_version = :credential_version::integer)"""
CREATE_SESSION = query(_CREATE_SESSION, postgres_text=_CREATE_SESSION + "\nFOR SHARE OF u")

# Postgres rotates in one statement. Under READ COMMITTED a racing UPDATE waits for the winner's row
# lock, then re-checks `refresh_token = :old_refresh_hash` against the new row and matches nothing:
# exactly one rotation wins, and only the winner's CTE records the retired hashes.
ROTATE_POSTGRES = postgres("""\
WITH old AS (
    SELECT id, token FROM sessions WHERE id = :session_id AND refresh_token = :old_refresh_hash FOR UPDATE
), rotated AS (
    UPDATE sessions s SET token = :token_hash, refresh_token = :refresh_hash, expires_at = :expires_at,
        refresh_expires_at = :refresh_expires_at, last_used_at = :now, previous_refresh_hash = :old_refresh_hash
    FROM old WHERE s.id = old.id
    RETURNING s.id, s.user_id, s.expires_at, s.refresh_expires_at, s.created_at, s.last_used_at, s.ip, s.user_agent,
        s.auth_time, old.token AS old_token
), retired AS (
    INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at, kind)
    SELECT :old_refresh_hash, id, :now, 'refresh' FROM rotated
    UNION ALL SELECT old_token, id, :now, 'access' FROM rotated
)
SELECT id, user_id, expires_at, refresh_expires_at, created_at, last_used_at, ip, user_agent, auth_time FROM rotated""")
# SQLite has no writable CTEs: the store runs these in one BEGIN IMMEDIATE transaction, whose write
# lock makes the access token read first the one the update replaces.
ROTATION_OLD_TOKEN_SQLITE = sqlite(
    "SELECT token FROM sessions WHERE id = :session_id AND refresh_token = :old_refresh_hash"
)
ROTATE_SQLITE = sqlite("""\
UPDATE sessions SET token = :token_hash, refresh_token = :refresh_hash, expires_at = :expires_at,
    refresh_expires_at = :refresh_expires_at, last_used_at = :now, previous_refresh_hash = :old_refresh_hash
WHERE id = :session_id AND refresh_token = :old_refresh_hash
RETURNING id, user_id, expires_at, refresh_expires_at, created_at, last_used_at, ip, user_agent, auth_time""")
RETIRE_SQLITE = sqlite("""\
INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at, kind)
VALUES (:token_hash, :session_id, :retired_at, :kind)""")

RETIRED = query("""\
SELECT r.session_id, r.retired_at, s.previous_refresh_hash = r.token_hash AS is_latest
FROM retired_refresh_tokens r JOIN sessions s ON s.id = r.session_id
WHERE r.token_hash = :token_hash AND r.kind = :kind""")
SET_AUTH_TIME = query("UPDATE sessions SET auth_time = :auth_time WHERE id = :session_id")
# A credential event, in one transaction: the version bump, every pending token of every purpose,
# and every session but the one kept (DELETE_USER_SESSIONS).
BUMP_CREDENTIAL_VERSION = query("UPDATE users SET credential_version = credential_version + 1 WHERE id = :user_id")
DELETE_USER_VERIFICATIONS = query("DELETE FROM verification_tokens WHERE user_id = :user_id")
DELETE_USER_SESSIONS = query(
    "DELETE FROM sessions WHERE user_id = :user_id AND (:keep::varchar IS NULL OR id <> :keep)"
)
DELETE_SESSION = query("DELETE FROM sessions WHERE id = :session_id")
LIST_USER_SESSIONS = by_insertion("""\
SELECT id, user_id, expires_at, refresh_expires_at, created_at, last_used_at, ip, user_agent, auth_time
FROM sessions WHERE user_id = :user_id ORDER BY created_at DESC{tiebreak}""")
# SKIP LOCKED on Postgres: cleanup passes over rows a request is touching instead of making it wait.
# SQLite has no row locks (and no such clause); its writer lock serialises the delete with requests.
DELETE_EXPIRED = query(
    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE refresh_expires_at < :now LIMIT :limit)",
    postgres_text="""\
DELETE FROM sessions WHERE id IN (
    SELECT id FROM sessions WHERE refresh_expires_at < :now LIMIT :limit FOR UPDATE SKIP LOCKED
)""",
)

# -- linked accounts and the audit trail ----------------------------------------------------------

LINK_ACCOUNT = query("""\
INSERT INTO accounts (user_id, provider, account_id, created_at)
VALUES (:user_id, :provider, :account_id, :created_at)""")
UNLINK_ACCOUNT = query(
    "DELETE FROM accounts WHERE user_id = :user_id AND provider = :provider AND account_id = :account_id"
)
USER_BY_ACCOUNT = query("""\
SELECT u.id, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at, u.credential_version
FROM accounts a JOIN users u ON u.id = a.user_id WHERE a.provider = :provider AND a.account_id = :account_id""")
LIST_ACCOUNTS = by_insertion("""\
SELECT user_id, provider, account_id, created_at
FROM accounts WHERE user_id = :user_id ORDER BY created_at{tiebreak}""")
RECORD_EVENT = query("""\
INSERT INTO auth_events (id, type, user_id, session_id, ip, user_agent, detail, created_at)
VALUES (:id, :type, :user_id, :session_id, :ip, :user_agent, :detail::text::jsonb, :created_at)""")
# Two statements rather than `:user_id IS NULL OR user_id = :user_id`: a generic plan of the OR form
# cannot use the (user_id, created_at) index.
EVENTS = by_insertion("""\
SELECT id, type, created_at, user_id, session_id, ip, user_agent, detail::text AS detail
FROM auth_events ORDER BY created_at DESC{tiebreak} LIMIT :limit""")
USER_EVENTS = by_insertion("""\
SELECT id, type, created_at, user_id, session_id, ip, user_agent, detail::text AS detail
FROM auth_events WHERE user_id = :user_id ORDER BY created_at DESC{tiebreak} LIMIT :limit""")

# -- verification tokens --------------------------------------------------------------------------
# Each single-use or counting operation is one statement: of concurrent consumers exactly one deletes
# the row, and increments serialise (Postgres: on the row lock; SQLite: on its one writer).

CREATE_VERIFICATION = query("""\
INSERT INTO verification_tokens (token_hash, purpose, expires_at, created_at, user_id, data, attempts)
VALUES (:token_hash, :purpose, :expires_at, :created_at, :user_id, :data::text::jsonb, :attempts)
ON CONFLICT (token_hash) DO UPDATE SET purpose = EXCLUDED.purpose, expires_at = EXCLUDED.expires_at,
    created_at = EXCLUDED.created_at, user_id = EXCLUDED.user_id, data = EXCLUDED.data, attempts = EXCLUDED.attempts""")
VERIFICATION = query("""\
SELECT token_hash, purpose, expires_at, created_at, user_id, data::text AS data, attempts
FROM verification_tokens WHERE token_hash = :token_hash""")
CONSUME_VERIFICATION = query("""\
DELETE FROM verification_tokens WHERE token_hash = :token_hash AND purpose = :purpose
RETURNING token_hash, purpose, expires_at, created_at, user_id, data::text AS data, attempts""")
COUNT_VERIFICATION_ATTEMPT = query(
    "UPDATE verification_tokens SET attempts = attempts + 1 WHERE token_hash = :token_hash RETURNING attempts"
)
DELETE_VERIFICATIONS = query("DELETE FROM verification_tokens WHERE user_id = :user_id AND purpose = :purpose")

# -- MFA factors and recovery codes ---------------------------------------------------------------

SAVE_FACTOR = query("""\
INSERT INTO mfa_factors (user_id, kind, confirmed, created_at, secret, last_used_step)
VALUES (:user_id, :kind, :confirmed, :created_at, :secret, :last_used_step)
ON CONFLICT (user_id, kind) DO UPDATE SET confirmed = EXCLUDED.confirmed, created_at = EXCLUDED.created_at,
    secret = EXCLUDED.secret, last_used_step = EXCLUDED.last_used_step""")
LIST_FACTORS = by_insertion("""\
SELECT user_id, kind, confirmed, created_at, secret, last_used_step
FROM mfa_factors WHERE user_id = :user_id ORDER BY created_at{tiebreak}""")
DELETE_FACTOR = query("DELETE FROM mfa_factors WHERE user_id = :user_id AND kind = :kind")
# Each dialect's null-safe equality (a factor may have no secret); SQLite gained IS NOT DISTINCT FROM
# only in 3.39, later than many a system's Python carries. A racing confirmation waits for the
# winner's write, then finds the factor confirmed and changes nothing.
CONFIRM_FACTOR = query(
    "UPDATE mfa_factors SET confirmed = TRUE, last_used_step = :step"
    "\nWHERE user_id = :user_id AND kind = :kind AND NOT confirmed AND secret IS NOT DISTINCT FROM :secret",
    sqlite_text="UPDATE mfa_factors SET confirmed = TRUE, last_used_step = :step"
    "\nWHERE user_id = :user_id AND kind = :kind AND NOT confirmed AND secret IS :secret",
)
# A racing UPDATE with the same step waits for the winner's write, re-checks `last_used_step < :step`
# against the new row and matches nothing: the code works once.
ADVANCE_TOTP = query("""\
UPDATE mfa_factors SET last_used_step = :step
WHERE user_id = :user_id AND kind = 'totp' AND last_used_step < :step""")
DELETE_RECOVERY_CODES = query("DELETE FROM recovery_codes WHERE user_id = :user_id")
ADD_RECOVERY_CODE = query(
    "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (:user_id, :code_hash, :created_at)"
)
# Of concurrent deletes of one code, only the first finds the row.
USE_RECOVERY_CODE = query("DELETE FROM recovery_codes WHERE user_id = :user_id AND code_hash = :code_hash")
COUNT_RECOVERY_CODES = query("SELECT count(*) FROM recovery_codes WHERE user_id = :user_id")

# -- passkeys -------------------------------------------------------------------------------------

ADD_AUTHENTICATOR = query("""\
INSERT INTO authenticators (credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up,
    last_used_at)
VALUES (:credential_id, :user_id, :public_key, :sign_count, :name, :created_at, :transports, :backed_up,
    :last_used_at)""")
AUTHENTICATOR = query("""\
SELECT credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up, last_used_at
FROM authenticators WHERE credential_id = :credential_id""")
LIST_AUTHENTICATORS = by_insertion("""\
SELECT credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up, last_used_at
FROM authenticators WHERE user_id = :user_id ORDER BY created_at{tiebreak}""")
# WebAuthn's rule in the WHERE clause, so the check and the write are one atomic step: unless both
# counts are zero, the new count must exceed the stored one (anything else suggests a clone).
AUTHENTICATOR_USE = query("""\
UPDATE authenticators SET sign_count = :sign_count, last_used_at = :now
WHERE credential_id = :credential_id AND ((:sign_count = 0 AND sign_count = 0) OR :sign_count > sign_count)""")
RENAME_AUTHENTICATOR = query(
    "UPDATE authenticators SET name = :name WHERE credential_id = :credential_id AND user_id = :user_id"
)
DELETE_AUTHENTICATOR = query("DELETE FROM authenticators WHERE credential_id = :credential_id AND user_id = :user_id")
