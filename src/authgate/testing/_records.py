"""The records and builders the contract tests share: fixed instants, fresh hashes, and one-line
ways to add a user, a session, an event, a token, a factor or a passkey to a store."""

# Builders for tests: the default password hash is a literal fake.
# ruff: noqa: S107

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from ..stores import Account, Authenticator, AuthEvent, MFAFactor, Session, Store, User, VerificationToken

# Fixed instants with microseconds, so the suite also checks that timestamps survive a round trip.
T0 = datetime(2031, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest that stores keep in place of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_hash() -> str:
    return hash_token(secrets.token_urlsafe(32))


def make_user(email: str = "ada@example.com", *, name: str = "Ada", at: datetime = T0) -> User:
    return User(
        id=secrets.token_hex(8),
        email=email,
        name=name,
        email_verified=False,
        image=None,
        created_at=at,
        updated_at=at,
    )


def make_session(user: User, *, created_at: datetime = T0, refresh: timedelta = timedelta(days=30)) -> Session:
    return Session(
        id=secrets.token_hex(8),
        user_id=user.id,
        expires_at=created_at + timedelta(minutes=15),
        refresh_expires_at=created_at + refresh,
        created_at=created_at,
    )


class Hashes:
    """The hashes a session was created with."""

    def __init__(self) -> None:
        self.token = new_hash()
        self.refresh = new_hash()


async def add_user(store: Store, email: str = "ada@example.com", password_hash: str | None = "$argon2id$x") -> User:
    user = make_user(email)
    await store.create_user(user, email_key=email.lower(), password_hash=password_hash)
    return user


async def add_session(
    store: Store, user: User, *, created_at: datetime = T0, refresh: timedelta = timedelta(days=30)
) -> tuple[Session, Hashes]:
    session = make_session(user, created_at=created_at, refresh=refresh)
    hashes = Hashes()
    await store.create_session(session, token_hash=hashes.token, refresh_hash=hashes.refresh)
    return session, hashes


def make_account(user: User, provider: str = "github", account_id: str = "42", *, at: datetime = T0) -> Account:
    return Account(user_id=user.id, provider=provider, account_id=account_id, created_at=at)


async def add_event(
    store: Store,
    type_: str = "signin",
    *,
    user: User | None = None,
    at: datetime = T0,
    detail: dict[str, Any] | None = None,
) -> AuthEvent:
    event = AuthEvent(
        id=secrets.token_hex(8), type=type_, created_at=at, user_id=user.id if user else None, detail=detail
    )
    await store.record_event(event)
    return event


def make_verification(
    user: User | None,
    purpose: str = "reset_password",
    *,
    at: datetime = T0,
    data: dict[str, Any] | None = None,
) -> VerificationToken:
    return VerificationToken(
        token_hash=new_hash(),
        purpose=purpose,
        expires_at=at + timedelta(hours=1),
        created_at=at,
        user_id=user.id if user else None,
        data=data,
    )


def make_totp(user: User, *, at: datetime = T0, secret: str = "encrypted-secret", confirmed: bool = True) -> MFAFactor:
    return MFAFactor(user_id=user.id, kind="totp", confirmed=confirmed, created_at=at, secret=secret)


def make_passkey(
    user: User, credential_id: str | None = None, *, sign_count: int = 0, at: datetime = T0, name: str = "Laptop"
) -> Authenticator:
    return Authenticator(
        credential_id=credential_id or secrets.token_urlsafe(32),
        user_id=user.id,
        public_key=b"\xa5\x01\x02\x03&" + secrets.token_bytes(64),
        sign_count=sign_count,
        name=name,
        created_at=at,
    )


async def rotate(store: Store, session: Session, old: str, now: datetime) -> tuple[Session | None, Hashes]:
    """Rotate `session` away from the refresh hash `old` at `now`; the result and the new hashes."""
    new = Hashes()
    rotated = await store.rotate_refresh(
        session.id,
        old_refresh_hash=old,
        token_hash=new.token,
        refresh_hash=new.refresh,
        expires_at=now + timedelta(minutes=15),
        refresh_expires_at=now + timedelta(days=30),
        now=now,
    )
    return rotated, new
