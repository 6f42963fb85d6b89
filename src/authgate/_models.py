"""The records authgate hands to applications. Frozen, so a route cannot change them by accident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["AuthSession", "MFAChallenge", "RequestMeta", "RetiredRefresh", "Session", "SignInResult", "Tokens", "User"]


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class User:
    """An account. Never carries a password hash, so it is always safe to serialise."""

    id: str
    email: str
    name: str
    email_verified: bool
    image: str | None
    created_at: datetime
    updated_at: datetime
    # Bumped by every credential event (password, email, factor, passkey or provider change). A
    # session is only created for the version its credential check saw, and trusted-device cookies
    # name it, so both die with the change. Internal: never serialised.
    credential_version: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "email_verified": self.email_verified,
            "image": self.image,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Session:
    """A server-side sign-in. The tokens themselves are never part of it, only their hashes in the store."""

    id: str
    user_id: str
    expires_at: datetime
    refresh_expires_at: datetime
    created_at: datetime
    last_used_at: datetime | None = None
    ip: str | None = None
    user_agent: str | None = None
    # When the user last proved a credential in this session (sign-in or step-up). Refresh and
    # re-issue keep it, so `reauth_window` measures real re-authentication, never token age.
    auth_time: datetime | None = None

    @property
    def authenticated_at(self) -> datetime:
        """The auth time, or the creation time for sessions made before auth times were stored."""
        return self.auth_time or self.created_at

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "expires_at": _iso(self.expires_at),
            "refresh_expires_at": _iso(self.refresh_expires_at),
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class AuthSession:
    """What a protected route gets: the user and the session that authenticated the request."""

    user: User
    session: Session
    # The decrypted claims, with the JWT strategy only (custom claims from the `jwt` callback).
    claims: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user.to_json(), "session": self.session.to_json()}


@dataclass(frozen=True, slots=True)
class Tokens:
    """Raw tokens, handed out exactly once (cookies or a bearer response); only hashes are stored.

    With the JWT strategy `access_token` is the JWE and there is no refresh token."""

    access_token: str
    refresh_token: str | None
    access_expires_at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignInResult:
    """A new or rotated session with the raw tokens to hand to the client.

    `tokens` is None for a refresh answered inside the grace window: the racing request that
    rotated first already delivered the new tokens, so this answer must not overwrite them.
    """

    user: User
    session: Session
    tokens: Tokens | None
    claims: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user.to_json(), "session": self.session.to_json()}


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Where a request came from, recorded on the session for the session list."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class RetiredRefresh:
    """A refresh token that was rotated away; presenting it again is a grace-window race or theft."""

    session_id: str
    retired_at: datetime
    # True only for the token the latest rotation retired: the one a racing tab may still send.
    # Any older retired token coming back is reuse at once, whatever the grace window.
    is_latest: bool = False


@dataclass(frozen=True, slots=True)
class Account:
    """A provider identity (GitHub user 42, an OIDC `sub`) linked to a user. Provider tokens are
    not kept: authgate signs people in and has no use for them, so a leak cannot expose them."""

    user_id: str
    provider: str
    account_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuthEvent:
    """One line of the audit trail: sign-ins, failures, refresh reuse, revocations."""

    id: str
    type: str
    created_at: datetime
    user_id: str | None = None
    session_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class VerificationToken:
    """A single-use secret bound to a user and a purpose (email verification, password reset,
    email change, MFA challenge, WebAuthn challenge). Only its hash is stored."""

    token_hash: str
    purpose: str
    expires_at: datetime
    created_at: datetime
    user_id: str | None = None
    data: dict[str, Any] | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class MFAFactor:
    """A second factor of a user: `totp` (secret encrypted at rest) or `email` (one-time codes)."""

    user_id: str
    kind: str
    confirmed: bool
    created_at: datetime
    secret: str | None = None
    # The last TOTP time step accepted, so the same code cannot be used twice in its window.
    last_used_step: int = -1


@dataclass(frozen=True, slots=True)
class Authenticator:
    """A registered passkey (WebAuthn credential)."""

    credential_id: str
    user_id: str
    public_key: bytes
    sign_count: int
    name: str
    created_at: datetime
    transports: tuple[str, ...] = ()
    backed_up: bool = False
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MFAChallenge:
    """The first step passed: no session yet, a second factor is due."""

    challenge: str
    expires_in: int
    methods: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "mfa_required": True,
            "challenge": self.challenge,
            "expires_in": self.expires_in,
            "methods": list(self.methods),
        }
