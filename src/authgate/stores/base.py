"""The storage contract. Narrow on purpose: every adapter implements these methods and passes
`authgate.testing.StoreContract`; the engine holds all the rules (expiry, rotation, reuse)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, TypedDict, runtime_checkable

from .._models import Account, Authenticator, AuthEvent, MFAFactor, RetiredRefresh, Session, User, VerificationToken

__all__ = ["RefreshRotation", "Store", "StoredCredentials"]

StoredCredentials = tuple[User, str | None]
"""A user with its password hash (None for accounts that never set a password)."""


class RefreshRotation(TypedDict):
    """The keyword arguments of `Store.rotate_refresh`, for a store that takes them as one
    (`**rotation: Unpack[RefreshRotation]`) or passes them on; mypy checks that both agree."""

    old_refresh_hash: str
    token_hash: str
    refresh_hash: str
    expires_at: datetime
    refresh_expires_at: datetime
    now: datetime


@runtime_checkable
class Store(Protocol):
    """Async persistence for users and sessions.

    Token arguments are always SHA-256 hex digests, never raw tokens. `email_key` is the
    normalised email (NFKC, trimmed, case-folded) that uniqueness and lookups use. Any failure to
    reach the database raises `authgate.ServiceUnavailable`; nothing is half-written.
    """

    async def open(self) -> None:
        """Connect (pools, files). Idempotent."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    async def create_user(self, user: User, *, email_key: str, password_hash: str | None) -> None:
        """Insert a user; raise `EmailInUse` when `email_key` already exists."""

    async def get_credentials(self, email_key: str) -> StoredCredentials | None:
        """The user and password hash for an email, by an indexed lookup."""

    async def get_user(self, user_id: str) -> User | None:
        """A user by id."""

    async def set_password_hash(self, user_id: str, password_hash: str | None, *, now: datetime) -> None:
        """Replace a password hash (rehash on sign-in, password change); None removes the password
        (an account recovered by its mailbox owner through a sign-in link)."""

    async def create_session(
        self, session: Session, *, token_hash: str, refresh_hash: str, credential_version: int | None = None
    ) -> bool:
        """Insert a session with the hashes of its access and refresh tokens (and `auth_time`).

        With `credential_version`, insert only if the user's version still equals it, checked in
        the same statement as the insert and serialised with `record_credential_change` (a row
        lock on the user in SQL): a sign-in whose password check saw the old password can never
        outlive a password change. False when nothing was inserted."""

    async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        """The session and its user for an access-token hash, in one indexed query. Expired
        sessions are returned too: the engine decides between SessionExpired and valid."""

    async def get_session(self, session_id: str) -> tuple[Session, User] | None:
        """A session and its user by session id."""

    async def get_session_by_refresh(self, refresh_hash: str) -> tuple[Session, User] | None:
        """The session and its user for a current refresh-token hash."""

    async def rotate_refresh(
        self,
        session_id: str,
        *,
        old_refresh_hash: str,
        token_hash: str,
        refresh_hash: str,
        expires_at: datetime,
        refresh_expires_at: datetime,
        now: datetime,
    ) -> Session | None:
        """Atomically swap both token hashes if the session's refresh hash is still
        `old_refresh_hash`, and record the old one as retired at `now`. Returns the updated
        session, or None when another request rotated first (compare-and-swap lost)."""

    async def get_retired_refresh(self, refresh_hash: str) -> RetiredRefresh | None:
        """Where a rotated-away refresh token belonged, when it was retired, and whether it is the
        one the session's latest rotation retired (`is_latest`)."""

    async def get_retired_access(self, token_hash: str) -> RetiredRefresh | None:
        """Where an access token that a rotation replaced belonged (sign-out racing a refresh may
        carry only that one). Never consulted to authenticate: a retired token signs nobody in."""

    async def set_session_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        """Record a re-authentication (step-up) on a session. True when the session exists."""

    async def record_credential_change(self, user_id: str, *, keep_session_id: str | None) -> int:
        """A credential event, in one transaction: bump the user's credential version, delete every
        verification token of the user (every purpose: reset, email change, verification, MFA and
        passkey challenges, magic links) and every session but `keep_session_id`. Returns how many
        sessions went."""

    async def delete_session(self, session_id: str) -> bool:
        """Revoke one session. True when it existed."""

    async def delete_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        """Revoke every session of a user, optionally keeping one. Returns how many went."""

    async def list_user_sessions(self, user_id: str) -> list[Session]:
        """A user's sessions, newest first."""

    async def delete_expired_sessions(self, *, now: datetime, limit: int) -> int:
        """Delete at most `limit` sessions whose refresh lifetime ended before `now`, without
        blocking concurrent session reads. Returns how many were deleted."""

    async def update_user(self, user: User, *, email_key: str | None = None) -> None:
        """Write a user's email, name, image, email_verified and updated_at (and the email key when
        the email changed); raise `EmailInUse` when that key belongs to someone else."""

    async def delete_user(self, user_id: str) -> bool:
        """Delete a user with its sessions and linked accounts. True when it existed."""

    async def link_account(self, account: Account) -> None:
        """Link a provider identity to a user; raise `AccountInUse` when the (provider,
        account_id) pair is already linked to anyone."""

    async def unlink_account(self, user_id: str, provider: str, account_id: str) -> bool:
        """Remove one of the user's provider identities. True when it existed."""

    async def get_user_by_account(self, provider: str, account_id: str) -> User | None:
        """The user a provider identity is linked to."""

    async def list_accounts(self, user_id: str) -> list[Account]:
        """A user's linked provider identities, oldest first."""

    async def record_event(self, event: AuthEvent) -> None:
        """Append to the audit trail."""

    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> list[AuthEvent]:
        """Audit events, newest first, optionally for one user."""

    # -- verification tokens (email verification, reset, email change, MFA and WebAuthn challenges)

    async def create_verification(self, token: VerificationToken) -> None:
        """Store a verification token (by hash)."""

    async def get_verification(self, token_hash: str) -> VerificationToken | None:
        """A verification token without consuming it (expired ones too: the engine decides)."""

    async def consume_verification(self, token_hash: str, purpose: str) -> VerificationToken | None:
        """Atomically delete and return the token if it exists with this purpose; None otherwise.
        Of two concurrent calls exactly one gets the token (single use)."""

    async def count_verification_attempt(self, token_hash: str) -> int:
        """Atomically add one to the token's attempts and return the new count (0 if no such token)."""

    async def delete_verifications(self, user_id: str, purpose: str) -> int:
        """Delete every token of a user for a purpose (e.g. older reset links)."""

    # -- MFA factors and recovery codes ---------------------------------------------------------

    async def save_mfa_factor(self, factor: MFAFactor) -> None:
        """Insert or replace the user's factor of `factor.kind`."""

    async def list_mfa_factors(self, user_id: str) -> list[MFAFactor]:
        """A user's factors, oldest first."""

    async def delete_mfa_factor(self, user_id: str, kind: str) -> bool:
        """Remove a factor. True when it existed."""

    async def confirm_mfa_factor(self, user_id: str, kind: str, *, secret: str | None, step: int) -> bool:
        """Atomically turn the user's unconfirmed factor of `kind` (holding exactly `secret`) into a
        confirmed one whose last used step is `step`. Of concurrent confirmations exactly one gets
        True, so only one set of recovery codes is ever handed out."""

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        """Atomically record `step` as the last used TOTP step if it is greater than the stored one.
        False means this step (or a later one) was already used: a replay."""

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], *, now: datetime) -> None:
        """Replace all of a user's recovery codes with these hashes."""

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        """Atomically delete one recovery code; True when it existed (each code works once)."""

    async def count_recovery_codes(self, user_id: str) -> int:
        """How many unused recovery codes a user has."""

    # -- passkeys -------------------------------------------------------------------------------

    async def add_authenticator(self, authenticator: Authenticator) -> None:
        """Register a passkey; raise `PasskeyInUse` when the credential id exists."""

    async def get_authenticator(self, credential_id: str) -> Authenticator | None:
        """A passkey by credential id."""

    async def list_authenticators(self, user_id: str) -> list[Authenticator]:
        """A user's passkeys, oldest first."""

    async def update_authenticator_use(self, credential_id: str, *, sign_count: int, now: datetime) -> bool:
        """Record a successful assertion: store the new sign count and last use. Atomically refuses
        (returns False) unless both counts are zero or the new one exceeds the stored one (WebAuthn's
        rule against cloned authenticators)."""

    async def rename_authenticator(self, user_id: str, credential_id: str, name: str) -> bool:
        """Rename one of the user's passkeys."""

    async def delete_authenticator(self, user_id: str, credential_id: str) -> bool:
        """Remove one of the user's passkeys."""
