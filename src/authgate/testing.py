"""Test helpers for code built on authgate. Needs pytest and pytest-asyncio.

`StoreContract` is the one suite every storage adapter passes. Subclass it in a `Test*` class and
provide an async fixture `store` that yields an opened, empty store:

    from authgate.stores import Store  # and User, Session, ...: the records a store keeps
    from authgate.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        async def store(self) -> AsyncIterator[Store]:
            store = MyStore(...)
            await store.open()
            yield store
            await store.close()
"""

# This module is a test suite shipped in the package: asserts and literal fake hashes are its job.
# ruff: noqa: S101, S106, S107

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ._errors import AccountInUse, EmailInUse, PasskeyInUse
from .stores import Account, Authenticator, AuthEvent, MFAFactor, Session, Store, User, VerificationToken

__all__ = ["StoreContract", "hash_token"]

# Fixed instants with microseconds, so the suite also checks that timestamps survive a round trip.
T0 = datetime(2031, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest that stores keep in place of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_hash() -> str:
    return hash_token(secrets.token_urlsafe(32))


def _user(email: str = "ada@example.com", *, name: str = "Ada", at: datetime = T0) -> User:
    return User(
        id=secrets.token_hex(8),
        email=email,
        name=name,
        email_verified=False,
        image=None,
        created_at=at,
        updated_at=at,
    )


def _session(user: User, *, created_at: datetime = T0, refresh: timedelta = timedelta(days=30)) -> Session:
    return Session(
        id=secrets.token_hex(8),
        user_id=user.id,
        expires_at=created_at + timedelta(minutes=15),
        refresh_expires_at=created_at + refresh,
        created_at=created_at,
    )


class _Hashes:
    """The hashes a session was created with."""

    def __init__(self) -> None:
        self.token = _new_hash()
        self.refresh = _new_hash()


async def _add_user(store: Store, email: str = "ada@example.com", password_hash: str | None = "$argon2id$x") -> User:
    user = _user(email)
    await store.create_user(user, email_key=email.lower(), password_hash=password_hash)
    return user


async def _add_session(
    store: Store, user: User, *, created_at: datetime = T0, refresh: timedelta = timedelta(days=30)
) -> tuple[Session, _Hashes]:
    session = _session(user, created_at=created_at, refresh=refresh)
    hashes = _Hashes()
    await store.create_session(session, token_hash=hashes.token, refresh_hash=hashes.refresh)
    return session, hashes


def _account(user: User, provider: str = "github", account_id: str = "42", *, at: datetime = T0) -> Account:
    return Account(user_id=user.id, provider=provider, account_id=account_id, created_at=at)


async def _add_event(
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


def _verification(
    user: User | None,
    purpose: str = "reset_password",
    *,
    at: datetime = T0,
    data: dict[str, Any] | None = None,
) -> VerificationToken:
    return VerificationToken(
        token_hash=_new_hash(),
        purpose=purpose,
        expires_at=at + timedelta(hours=1),
        created_at=at,
        user_id=user.id if user else None,
        data=data,
    )


def _totp(user: User, *, at: datetime = T0, secret: str = "encrypted-secret", confirmed: bool = True) -> MFAFactor:
    return MFAFactor(user_id=user.id, kind="totp", confirmed=confirmed, created_at=at, secret=secret)


def _passkey(
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


class StoreContract:
    """Behaviour every `Store` adapter must have. Subclasses provide the `store` fixture."""

    # -- users ---------------------------------------------------------------------------------

    async def test_store_satisfies_the_store_protocol(self, store: Store) -> None:
        assert isinstance(store, Store)

    async def test_open_again_is_harmless(self, store: Store) -> None:
        await store.open()
        user = await _add_user(store)
        assert await store.get_user(user.id) == user

    async def test_created_user_reads_back_with_every_field(self, store: Store) -> None:
        user = User(
            id="user-1",
            email="Ada@Example.com",
            name="Ada Lovelace",
            email_verified=True,
            image="https://example.com/ada.png",
            created_at=T0,
            updated_at=T0 + timedelta(seconds=1),
        )
        await store.create_user(user, email_key="ada@example.com", password_hash=None)
        assert await store.get_user("user-1") == user

    async def test_get_user_unknown_id_returns_none(self, store: Store) -> None:
        assert await store.get_user("nobody") is None

    async def test_timestamps_come_back_timezone_aware_utc(self, store: Store) -> None:
        user = await _add_user(store)
        _, hashes = await _add_session(store, user)
        found = await store.get_session_by_token(hashes.token)
        assert found is not None
        for value in (found[0].created_at, found[0].expires_at, found[0].refresh_expires_at, found[1].created_at):
            assert value.utcoffset() == timedelta(0)
        assert found[0].created_at == T0

    async def test_duplicate_email_key_raises_email_in_use_and_writes_nothing(self, store: Store) -> None:
        first = await _add_user(store, "ada@example.com", password_hash="first")
        second = _user("ADA@example.com")
        with pytest.raises(EmailInUse):
            await store.create_user(second, email_key="ada@example.com", password_hash="second")
        assert await store.get_user(second.id) is None
        assert await store.get_credentials("ada@example.com") == (first, "first")

    async def test_get_credentials_returns_user_and_password_hash(self, store: Store) -> None:
        user = await _add_user(store, "grace@example.com", password_hash="$argon2id$v=19$abc")
        assert await store.get_credentials("grace@example.com") == (user, "$argon2id$v=19$abc")

    async def test_get_credentials_of_user_without_password_has_none_hash(self, store: Store) -> None:
        user = await _add_user(store, "oauth@example.com", password_hash=None)
        assert await store.get_credentials("oauth@example.com") == (user, None)

    async def test_get_credentials_unknown_email_key_returns_none(self, store: Store) -> None:
        await _add_user(store, "ada@example.com")
        assert await store.get_credentials("someone@example.com") is None

    async def test_set_password_hash_replaces_hash_and_updated_at(self, store: Store) -> None:
        user = await _add_user(store, "ada@example.com", password_hash="old")
        later = T0 + timedelta(hours=1)
        await store.set_password_hash(user.id, "new", now=later)
        found = await store.get_credentials("ada@example.com")
        assert found is not None
        assert found[1] == "new"
        assert found[0].updated_at == later
        assert found[0].created_at == user.created_at

    async def test_set_password_hash_of_unknown_user_does_nothing(self, store: Store) -> None:
        await store.set_password_hash("nobody", "hash", now=T0)
        assert await store.get_user("nobody") is None

    # -- sessions ------------------------------------------------------------------------------

    async def test_session_by_token_returns_session_and_its_user(self, store: Store) -> None:
        user = await _add_user(store)
        session = Session(
            id="session-1",
            user_id=user.id,
            expires_at=T0 + timedelta(minutes=15),
            refresh_expires_at=T0 + timedelta(days=30),
            created_at=T0,
            last_used_at=T0 + timedelta(seconds=5),
            ip="203.0.113.7",
            user_agent="Mozilla/5.0",
        )
        await store.create_session(session, token_hash="a" * 64, refresh_hash="b" * 64)
        assert await store.get_session_by_token("a" * 64) == (session, user)

    async def test_session_by_token_unknown_hash_returns_none(self, store: Store) -> None:
        user = await _add_user(store)
        await _add_session(store, user)
        assert await store.get_session_by_token(_new_hash()) is None

    async def test_session_by_token_is_not_found_by_refresh_hash(self, store: Store) -> None:
        user = await _add_user(store)
        _, hashes = await _add_session(store, user)
        assert await store.get_session_by_token(hashes.refresh) is None
        assert await store.get_session_by_refresh(hashes.token) is None

    async def test_session_by_token_returns_expired_sessions_too(self, store: Store) -> None:
        user = await _add_user(store)
        long_ago = T0 - timedelta(days=400)
        session, hashes = await _add_session(store, user, created_at=long_ago)
        assert await store.get_session_by_token(hashes.token) == (session, user)

    async def test_session_by_id_returns_session_and_its_user(self, store: Store) -> None:
        user = await _add_user(store)
        session, _ = await _add_session(store, user)
        assert await store.get_session(session.id) == (session, user)
        assert await store.get_session("no-such-session") is None

    async def test_session_by_refresh_returns_session_and_its_user(self, store: Store) -> None:
        user = await _add_user(store)
        session, hashes = await _add_session(store, user)
        assert await store.get_session_by_refresh(hashes.refresh) == (session, user)
        assert await store.get_session_by_refresh(_new_hash()) is None

    # -- refresh rotation ----------------------------------------------------------------------

    async def _rotate(self, store: Store, session: Session, old: str, now: datetime) -> tuple[Session | None, _Hashes]:
        new = _Hashes()
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

    async def test_rotate_refresh_swaps_both_hashes_and_records_the_retired_one(self, store: Store) -> None:
        user = await _add_user(store)
        session, old = await _add_session(store, user)
        now = T0 + timedelta(minutes=20)
        rotated, new = await self._rotate(store, session, old.refresh, now)
        assert rotated is not None
        assert (rotated.id, rotated.user_id, rotated.created_at) == (session.id, user.id, session.created_at)
        assert rotated.expires_at == now + timedelta(minutes=15)
        assert rotated.refresh_expires_at == now + timedelta(days=30)
        assert rotated.last_used_at == now
        assert await store.get_session_by_token(new.token) == (rotated, user)
        assert await store.get_session_by_refresh(new.refresh) == (rotated, user)
        assert await store.get_session_by_token(old.token) is None
        assert await store.get_session_by_refresh(old.refresh) is None
        retired = await store.get_retired_refresh(old.refresh)
        assert retired is not None
        assert (retired.session_id, retired.retired_at) == (session.id, now)

    async def test_rotation_retires_the_access_token_for_sign_out_only(self, store: Store) -> None:
        user = await _add_user(store)
        session, old = await _add_session(store, user)
        now = T0 + timedelta(minutes=20)
        _, new = await self._rotate(store, session, old.refresh, now)
        retired = await store.get_retired_access(old.token)
        assert retired is not None and (retired.session_id, retired.retired_at) == (session.id, now)
        assert await store.get_retired_access(new.token) is None  # the current one is not retired
        # The kinds never mix: a retired access token is no retired refresh token, and vice versa.
        assert await store.get_retired_refresh(old.token) is None
        assert await store.get_retired_access(old.refresh) is None
        latest = await store.get_retired_refresh(old.refresh)
        assert latest is not None and latest.is_latest
        await self._rotate(store, session, new.refresh, now + timedelta(minutes=1))
        older = await store.get_retired_refresh(old.refresh)
        assert older is not None and not older.is_latest

    async def test_rotate_refresh_with_stale_old_hash_returns_none_and_changes_nothing(self, store: Store) -> None:
        user = await _add_user(store)
        session, old = await _add_session(store, user)
        first, new = await self._rotate(store, session, old.refresh, T0 + timedelta(minutes=20))
        assert first is not None
        second, loser = await self._rotate(store, session, old.refresh, T0 + timedelta(minutes=21))
        assert second is None
        assert await store.get_session_by_refresh(new.refresh) == (first, user)
        assert await store.get_session_by_token(loser.token) is None
        retired = await store.get_retired_refresh(old.refresh)
        assert retired is not None and retired.retired_at == T0 + timedelta(minutes=20)

    async def test_rotate_refresh_of_unknown_session_returns_none(self, store: Store) -> None:
        user = await _add_user(store)
        session = _session(user)
        rotated, _ = await self._rotate(store, session, _new_hash(), T0)
        assert rotated is None

    async def test_rotated_session_can_rotate_again_and_keeps_every_retired_hash(self, store: Store) -> None:
        user = await _add_user(store)
        session, first = await _add_session(store, user)
        _, second = await self._rotate(store, session, first.refresh, T0 + timedelta(minutes=1))
        third, _ = await self._rotate(store, session, second.refresh, T0 + timedelta(minutes=2))
        assert third is not None
        for hashes, at in ((first, 1), (second, 2)):
            retired = await store.get_retired_refresh(hashes.refresh)
            assert retired is not None and retired.retired_at == T0 + timedelta(minutes=at)

    async def test_concurrent_rotations_with_the_same_old_hash_have_exactly_one_winner(self, store: Store) -> None:
        user = await _add_user(store)
        session, old = await _add_session(store, user)
        now = T0 + timedelta(minutes=20)
        results = await asyncio.gather(*(self._rotate(store, session, old.refresh, now) for _ in range(20)))
        winners = [(rotated, new) for rotated, new in results if rotated is not None]
        assert len(winners) == 1
        rotated, new = winners[0]
        assert await store.get_session_by_refresh(new.refresh) == (rotated, user)
        retired = await store.get_retired_refresh(old.refresh)
        assert retired is not None and retired.session_id == session.id

    async def test_get_retired_refresh_of_never_retired_hash_returns_none(self, store: Store) -> None:
        user = await _add_user(store)
        _, hashes = await _add_session(store, user)
        assert await store.get_retired_refresh(hashes.refresh) is None
        assert await store.get_retired_refresh(_new_hash()) is None

    # -- revocation ----------------------------------------------------------------------------

    async def test_delete_session_returns_true_once_and_drops_its_retired_hashes(self, store: Store) -> None:
        user = await _add_user(store)
        session, old = await _add_session(store, user)
        _, new = await self._rotate(store, session, old.refresh, T0 + timedelta(minutes=1))
        assert await store.delete_session(session.id) is True
        assert await store.delete_session(session.id) is False
        assert await store.get_session_by_token(new.token) is None
        assert await store.get_session(session.id) is None
        assert await store.get_retired_refresh(old.refresh) is None

    async def test_delete_user_sessions_removes_every_session_of_that_user_only(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        for _ in range(3):
            await _add_session(store, ada)
        kept, kept_hashes = await _add_session(store, grace)
        assert await store.delete_user_sessions(ada.id) == 3
        assert await store.list_user_sessions(ada.id) == []
        assert await store.get_session_by_token(kept_hashes.token) == (kept, grace)
        assert await store.delete_user_sessions(ada.id) == 0

    async def test_delete_user_sessions_keeps_the_excepted_session(self, store: Store) -> None:
        user = await _add_user(store)
        current, _ = await _add_session(store, user)
        await _add_session(store, user)
        await _add_session(store, user)
        assert await store.delete_user_sessions(user.id, except_session_id=current.id) == 2
        assert await store.list_user_sessions(user.id) == [current]

    async def test_list_user_sessions_is_newest_first(self, store: Store) -> None:
        user = await _add_user(store)
        other = await _add_user(store, "other@example.com")
        middle, _ = await _add_session(store, user, created_at=T0 + timedelta(hours=1))
        oldest, _ = await _add_session(store, user, created_at=T0)
        newest, _ = await _add_session(store, user, created_at=T0 + timedelta(hours=2))
        await _add_session(store, other)
        assert await store.list_user_sessions(user.id) == [newest, middle, oldest]
        assert await store.list_user_sessions("nobody") == []

    # -- cleanup -------------------------------------------------------------------------------

    async def test_delete_expired_sessions_deletes_only_refresh_expired_ones(self, store: Store) -> None:
        user = await _add_user(store)
        now = T0 + timedelta(days=10)
        # Access lifetime over but refresh still valid: the client can refresh, so it must stay.
        access_expired, access_hashes = await _add_session(store, user, refresh=timedelta(days=30))
        refresh_expired, _ = await _add_session(store, user, refresh=timedelta(days=1))
        assert await store.delete_expired_sessions(now=now, limit=1000) == 1
        assert await store.get_session_by_token(access_hashes.token) == (access_expired, user)
        assert await store.get_session(refresh_expired.id) is None

    async def test_delete_expired_sessions_keeps_a_session_expiring_exactly_now(self, store: Store) -> None:
        user = await _add_user(store)
        session, _ = await _add_session(store, user, refresh=timedelta(days=1))
        assert await store.delete_expired_sessions(now=session.refresh_expires_at, limit=10) == 0
        assert await store.get_session(session.id) is not None

    async def test_delete_expired_sessions_respects_limit_and_returns_counts(self, store: Store) -> None:
        user = await _add_user(store)
        for _ in range(5):
            await _add_session(store, user, refresh=timedelta(days=1))
        live, _ = await _add_session(store, user, refresh=timedelta(days=30))
        now = T0 + timedelta(days=2)
        assert await store.delete_expired_sessions(now=now, limit=2) == 2
        assert await store.delete_expired_sessions(now=now, limit=2) == 2
        assert await store.delete_expired_sessions(now=now, limit=2) == 1
        assert await store.delete_expired_sessions(now=now, limit=2) == 0
        assert await store.list_user_sessions(user.id) == [live]

    async def test_delete_expired_sessions_drops_their_retired_hashes(self, store: Store) -> None:
        user = await _add_user(store)
        session, old = await _add_session(store, user, refresh=timedelta(days=1))
        await self._rotate(store, session, old.refresh, T0)
        assert await store.get_retired_refresh(old.refresh) is not None
        assert await store.delete_expired_sessions(now=T0 + timedelta(days=31), limit=10) == 1
        assert await store.get_retired_refresh(old.refresh) is None

    # -- user updates and deletion -------------------------------------------------------------

    async def test_update_user_writes_every_field_and_keeps_password_and_email_key(self, store: Store) -> None:
        user = await _add_user(store, "ada@example.com", password_hash="hash")
        updated = replace(
            user,
            name="Ada Lovelace",
            email_verified=True,
            image="https://example.com/ada.png",
            updated_at=T0 + timedelta(hours=1),
        )
        await store.update_user(updated)
        assert await store.get_user(user.id) == updated
        assert await store.get_credentials("ada@example.com") == (updated, "hash")

    async def test_update_user_with_a_new_email_key_moves_the_email_lookup(self, store: Store) -> None:
        user = await _add_user(store, "ada@example.com", password_hash="hash")
        updated = replace(user, email="Ada@New.example", updated_at=T0 + timedelta(hours=1))
        await store.update_user(updated, email_key="ada@new.example")
        assert await store.get_credentials("ada@new.example") == (updated, "hash")
        assert await store.get_credentials("ada@example.com") is None
        # The old address is free again.
        other = await _add_user(store, "ada@example.com")
        assert await store.get_user(other.id) == other

    async def test_update_user_keeping_its_own_email_key_is_not_email_in_use(self, store: Store) -> None:
        user = await _add_user(store, "ada@example.com")
        updated = replace(user, email="ADA@example.com", updated_at=T0 + timedelta(minutes=1))
        await store.update_user(updated, email_key="ada@example.com")
        found = await store.get_credentials("ada@example.com")
        assert found is not None and found[0] == updated

    async def test_update_user_taking_another_users_email_key_raises_email_in_use_and_writes_nothing(
        self, store: Store
    ) -> None:
        ada = await _add_user(store, "ada@example.com", password_hash="a")
        grace = await _add_user(store, "grace@example.com", password_hash="g")
        taken = replace(grace, email="ada@example.com", name="Grace Hopper", updated_at=T0 + timedelta(hours=1))
        with pytest.raises(EmailInUse):
            await store.update_user(taken, email_key="ada@example.com")
        assert await store.get_user(grace.id) == grace
        assert await store.get_credentials("ada@example.com") == (ada, "a")
        assert await store.get_credentials("grace@example.com") == (grace, "g")

    async def test_update_user_of_unknown_user_does_nothing(self, store: Store) -> None:
        ghost = _user("ghost@example.com")
        await store.update_user(ghost, email_key="ghost@example.com")
        assert await store.get_user(ghost.id) is None
        assert await store.get_credentials("ghost@example.com") is None

    async def test_delete_user_takes_sessions_retired_hashes_and_accounts_with_it(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        session, old = await _add_session(store, ada)
        _, new = await self._rotate(store, session, old.refresh, T0 + timedelta(minutes=1))
        other_session, other_hashes = await _add_session(store, ada)
        await store.link_account(_account(ada, "github", "42"))
        kept_session, kept_hashes = await _add_session(store, grace)
        kept_account = _account(grace, "github", "7")
        await store.link_account(kept_account)

        assert await store.delete_user(ada.id) is True

        assert await store.get_user(ada.id) is None
        assert await store.get_credentials("ada@example.com") is None
        assert await store.list_user_sessions(ada.id) == []
        for sid in (session.id, other_session.id):
            assert await store.get_session(sid) is None
        assert await store.get_session_by_token(new.token) is None
        assert await store.get_session_by_refresh(other_hashes.refresh) is None
        assert await store.get_retired_refresh(old.refresh) is None
        assert await store.list_accounts(ada.id) == []
        assert await store.get_user_by_account("github", "42") is None
        assert await store.get_session_by_token(kept_hashes.token) == (kept_session, grace)
        assert await store.list_accounts(grace.id) == [kept_account]
        assert await store.delete_user(ada.id) is False

    async def test_delete_user_frees_its_email_and_provider_identities(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        await store.link_account(_account(ada, "github", "42"))
        assert await store.delete_user(ada.id) is True
        again = await _add_user(store, "ada@example.com")
        await store.link_account(_account(again, "github", "42"))
        assert await store.get_user_by_account("github", "42") == again

    async def test_delete_user_of_unknown_user_returns_false(self, store: Store) -> None:
        kept = await _add_user(store)
        assert await store.delete_user("nobody") is False
        assert await store.get_user(kept.id) == kept

    async def test_delete_user_keeps_its_audit_events(self, store: Store) -> None:
        user = await _add_user(store)
        event = await _add_event(store, "signin", user=user)
        assert await store.delete_user(user.id) is True
        assert await store.list_events(user_id=user.id) == [event]

    # -- linked accounts -----------------------------------------------------------------------

    async def test_linked_account_finds_its_user(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        await store.link_account(_account(ada, "github", "42"))
        assert await store.get_user_by_account("github", "42") == ada

    async def test_get_user_by_account_unknown_identity_returns_none(self, store: Store) -> None:
        ada = await _add_user(store)
        await store.link_account(_account(ada, "github", "42"))
        assert await store.get_user_by_account("github", "43") is None
        assert await store.get_user_by_account("google", "42") is None

    async def test_link_account_already_linked_raises_account_in_use_and_writes_nothing(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        first = _account(ada, "github", "42")
        await store.link_account(first)
        with pytest.raises(AccountInUse):
            await store.link_account(_account(grace, "github", "42", at=T0 + timedelta(minutes=1)))
        with pytest.raises(AccountInUse):
            await store.link_account(_account(ada, "github", "42", at=T0 + timedelta(minutes=2)))
        assert await store.get_user_by_account("github", "42") == ada
        assert await store.list_accounts(ada.id) == [first]
        assert await store.list_accounts(grace.id) == []

    async def test_same_account_id_under_another_provider_links_separately(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        await store.link_account(_account(ada, "github", "42"))
        await store.link_account(_account(grace, "google", "42"))
        assert await store.get_user_by_account("github", "42") == ada
        assert await store.get_user_by_account("google", "42") == grace

    async def test_list_accounts_is_oldest_first_and_only_that_users(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        middle = _account(ada, "google", "g-1", at=T0 + timedelta(hours=1))
        newest = _account(ada, "oidc", "sub-1", at=T0 + timedelta(hours=2))
        oldest = _account(ada, "github", "42", at=T0)
        for account in (middle, newest, oldest, _account(grace, "github", "7")):
            await store.link_account(account)
        assert await store.list_accounts(ada.id) == [oldest, middle, newest]
        assert await store.list_accounts("nobody") == []

    # -- audit events --------------------------------------------------------------------------

    async def test_list_events_is_newest_first(self, store: Store) -> None:
        ada = await _add_user(store)
        middle = await _add_event(store, "signin", user=ada, at=T0 + timedelta(minutes=1))
        oldest = await _add_event(store, "signin_failed", at=T0)
        newest = await _add_event(store, "signout", user=ada, at=T0 + timedelta(minutes=2))
        assert await store.list_events() == [newest, middle, oldest]

    async def test_list_events_filtered_by_user_returns_only_theirs(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        first = await _add_event(store, "signin", user=ada, at=T0)
        await _add_event(store, "signin", user=grace, at=T0 + timedelta(minutes=1))
        await _add_event(store, "signin_failed", at=T0 + timedelta(minutes=2))
        second = await _add_event(store, "signout", user=ada, at=T0 + timedelta(minutes=3))
        assert await store.list_events(user_id=ada.id) == [second, first]
        assert await store.list_events(user_id="nobody") == []

    async def test_list_events_respects_limit(self, store: Store) -> None:
        user = await _add_user(store)
        events = [await _add_event(store, user=user, at=T0 + timedelta(seconds=i)) for i in range(5)]
        assert await store.list_events(limit=2) == [events[4], events[3]]
        assert await store.list_events(user_id=user.id, limit=3) == [events[4], events[3], events[2]]
        assert await store.list_events(limit=0) == []

    async def test_list_events_returns_at_most_100_by_default(self, store: Store) -> None:
        events = [await _add_event(store, at=T0 + timedelta(seconds=i)) for i in range(101)]
        listed = await store.list_events()
        assert len(listed) == 100
        assert listed[0] == events[-1] and listed[-1] == events[1]

    async def test_event_reads_back_with_every_field_and_its_detail(self, store: Store) -> None:
        user = await _add_user(store)
        event = AuthEvent(
            id="event-1",
            type="refresh_reuse",
            created_at=T0,
            user_id=user.id,
            session_id="session-1",
            ip="2001:db8::1",
            user_agent="Mozilla/5.0",
            detail={"provider": "github", "attempts": 3, "ok": False, "nested": {"list": [1, "two", None]}, "é": "ü"},
        )
        await store.record_event(event)
        assert await store.list_events() == [event]
        found = (await store.list_events(user_id=user.id))[0]
        assert found.created_at.utcoffset() == timedelta(0)

    async def test_event_without_user_or_detail_reads_back_with_nones(self, store: Store) -> None:
        event = await _add_event(store, "signin_failed")
        assert await store.list_events() == [event]
        assert event.user_id is None and event.detail is None

    # -- verification tokens -------------------------------------------------------------------

    async def test_verification_reads_back_with_every_field(self, store: Store) -> None:
        user = await _add_user(store)
        token = VerificationToken(
            token_hash="c" * 64,
            purpose="change_email",
            expires_at=T0 + timedelta(hours=24),
            created_at=T0,
            user_id=user.id,
            data={"email": "Ada@New.example", "n": 3, "flags": [True, None], "é": "ü"},
            attempts=2,
        )
        await store.create_verification(token)
        assert await store.get_verification("c" * 64) == token
        found = await store.get_verification("c" * 64)
        assert found is not None and found.expires_at.utcoffset() == timedelta(0)

    async def test_verification_without_user_or_data_reads_back_with_nones(self, store: Store) -> None:
        token = _verification(None, "webauthn_signin")
        await store.create_verification(token)
        assert await store.get_verification(token.token_hash) == token
        assert token.user_id is None and token.data is None and token.attempts == 0

    async def test_get_verification_does_not_consume_and_returns_expired_tokens_too(self, store: Store) -> None:
        user = await _add_user(store)
        expired = _verification(user, at=T0 - timedelta(days=30))
        await store.create_verification(expired)
        assert await store.get_verification(expired.token_hash) == expired
        assert await store.get_verification(expired.token_hash) == expired
        assert await store.get_verification(_new_hash()) is None

    async def test_consume_verification_returns_the_token_once(self, store: Store) -> None:
        user = await _add_user(store)
        token = _verification(user, "verify_email", data={"email": "ada@example.com"})
        await store.create_verification(token)
        assert await store.consume_verification(token.token_hash, "verify_email") == token
        assert await store.consume_verification(token.token_hash, "verify_email") is None
        assert await store.get_verification(token.token_hash) is None
        assert await store.consume_verification(_new_hash(), "verify_email") is None

    async def test_consume_verification_with_another_purpose_returns_none_and_keeps_the_token(
        self, store: Store
    ) -> None:
        user = await _add_user(store)
        token = _verification(user, "reset_password")
        await store.create_verification(token)
        assert await store.consume_verification(token.token_hash, "verify_email") is None
        assert await store.get_verification(token.token_hash) == token
        assert await store.consume_verification(token.token_hash, "reset_password") == token

    async def test_concurrent_consumes_of_one_verification_have_exactly_one_winner(self, store: Store) -> None:
        user = await _add_user(store)
        token = _verification(user)
        await store.create_verification(token)
        results = await asyncio.gather(
            *(store.consume_verification(token.token_hash, token.purpose) for _ in range(20))
        )
        assert [r for r in results if r is not None] == [token]
        assert await store.get_verification(token.token_hash) is None

    async def test_count_verification_attempt_counts_up_and_the_count_is_stored(self, store: Store) -> None:
        user = await _add_user(store)
        token = _verification(user, "mfa_challenge")
        await store.create_verification(token)
        assert await store.count_verification_attempt(token.token_hash) == 1
        assert await store.count_verification_attempt(token.token_hash) == 2
        assert await store.get_verification(token.token_hash) == replace(token, attempts=2)
        assert await store.consume_verification(token.token_hash, "mfa_challenge") == replace(token, attempts=2)

    async def test_count_verification_attempt_of_unknown_token_returns_zero(self, store: Store) -> None:
        assert await store.count_verification_attempt(_new_hash()) == 0

    async def test_concurrent_verification_attempts_are_all_counted(self, store: Store) -> None:
        user = await _add_user(store)
        token = _verification(user, "mfa_challenge")
        await store.create_verification(token)
        counts = await asyncio.gather(*(store.count_verification_attempt(token.token_hash) for _ in range(20)))
        assert sorted(counts) == list(range(1, 21))
        found = await store.get_verification(token.token_hash)
        assert found is not None and found.attempts == 20

    async def test_delete_verifications_removes_that_users_tokens_of_that_purpose_only(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        doomed = [_verification(ada, "reset_password") for _ in range(2)]
        kept = [_verification(ada, "verify_email"), _verification(grace, "reset_password"), _verification(None)]
        for token in (*doomed, *kept):
            await store.create_verification(token)
        assert await store.delete_verifications(ada.id, "reset_password") == 2
        for token in doomed:
            assert await store.get_verification(token.token_hash) is None
        for token in kept:
            assert await store.get_verification(token.token_hash) == token
        assert await store.delete_verifications(ada.id, "reset_password") == 0

    # -- MFA factors -----------------------------------------------------------------------------

    async def test_mfa_factor_reads_back_with_every_field(self, store: Store) -> None:
        user = await _add_user(store)
        totp = MFAFactor(
            user_id=user.id, kind="totp", confirmed=False, created_at=T0, secret="v1.nonce.ciphertext", last_used_step=7
        )
        email = MFAFactor(user_id=user.id, kind="email", confirmed=True, created_at=T0 + timedelta(seconds=1))
        await store.save_mfa_factor(totp)
        await store.save_mfa_factor(email)
        assert await store.list_mfa_factors(user.id) == [totp, email]
        assert email.secret is None and email.last_used_step == -1

    async def test_save_mfa_factor_replaces_the_users_factor_of_that_kind(self, store: Store) -> None:
        user = await _add_user(store)
        await store.save_mfa_factor(_totp(user, secret="old", confirmed=False))
        confirmed = replace(_totp(user, secret="new", at=T0 + timedelta(minutes=1)), last_used_step=12)
        await store.save_mfa_factor(confirmed)
        assert await store.list_mfa_factors(user.id) == [confirmed]

    async def test_list_mfa_factors_is_oldest_first_and_only_that_users(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        newer = MFAFactor(user_id=ada.id, kind="email", confirmed=True, created_at=T0 + timedelta(hours=1))
        older = _totp(ada, at=T0)
        for factor in (newer, older, _totp(grace)):
            await store.save_mfa_factor(factor)
        assert await store.list_mfa_factors(ada.id) == [older, newer]
        assert await store.list_mfa_factors("nobody") == []

    async def test_delete_mfa_factor_removes_that_kind_only_and_returns_true_once(self, store: Store) -> None:
        user = await _add_user(store)
        email = MFAFactor(user_id=user.id, kind="email", confirmed=True, created_at=T0)
        await store.save_mfa_factor(_totp(user))
        await store.save_mfa_factor(email)
        assert await store.delete_mfa_factor(user.id, "totp") is True
        assert await store.delete_mfa_factor(user.id, "totp") is False
        assert await store.list_mfa_factors(user.id) == [email]

    async def test_advance_totp_step_accepts_only_a_later_step(self, store: Store) -> None:
        user = await _add_user(store)
        factor = _totp(user)
        await store.save_mfa_factor(factor)
        assert await store.advance_totp_step(user.id, 100) is True
        assert await store.advance_totp_step(user.id, 100) is False  # the same code again: a replay
        assert await store.advance_totp_step(user.id, 99) is False
        assert await store.advance_totp_step(user.id, 101) is True
        assert await store.list_mfa_factors(user.id) == [replace(factor, last_used_step=101)]

    async def test_advance_totp_step_without_a_totp_factor_returns_false(self, store: Store) -> None:
        user = await _add_user(store)
        await store.save_mfa_factor(MFAFactor(user_id=user.id, kind="email", confirmed=True, created_at=T0))
        assert await store.advance_totp_step(user.id, 1) is False
        assert await store.advance_totp_step("nobody", 1) is False

    async def test_concurrent_advances_to_the_same_totp_step_have_exactly_one_winner(self, store: Store) -> None:
        user = await _add_user(store)
        await store.save_mfa_factor(_totp(user))
        results = await asyncio.gather(*(store.advance_totp_step(user.id, 5000) for _ in range(20)))
        assert results.count(True) == 1

    # -- recovery codes --------------------------------------------------------------------------

    async def test_replace_recovery_codes_replaces_every_previous_code(self, store: Store) -> None:
        user = await _add_user(store)
        old = [_new_hash() for _ in range(3)]
        new = [_new_hash() for _ in range(2)]
        await store.replace_recovery_codes(user.id, old, now=T0)
        assert await store.count_recovery_codes(user.id) == 3
        await store.replace_recovery_codes(user.id, new, now=T0 + timedelta(days=1))
        assert await store.count_recovery_codes(user.id) == 2
        assert await store.use_recovery_code(user.id, old[0]) is False
        assert await store.use_recovery_code(user.id, new[0]) is True
        await store.replace_recovery_codes(user.id, [], now=T0 + timedelta(days=2))
        assert await store.count_recovery_codes(user.id) == 0

    async def test_replace_recovery_codes_keeps_a_repeated_hash_once(self, store: Store) -> None:
        user = await _add_user(store)
        code = _new_hash()
        await store.replace_recovery_codes(user.id, [code, code, _new_hash()], now=T0)
        assert await store.count_recovery_codes(user.id) == 2

    async def test_use_recovery_code_works_once_and_only_for_its_user(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        codes = [_new_hash() for _ in range(3)]
        await store.replace_recovery_codes(ada.id, codes, now=T0)
        await store.replace_recovery_codes(grace.id, [_new_hash()], now=T0)
        assert await store.use_recovery_code(grace.id, codes[0]) is False
        assert await store.use_recovery_code(ada.id, codes[0]) is True
        assert await store.use_recovery_code(ada.id, codes[0]) is False
        assert await store.count_recovery_codes(ada.id) == 2
        assert await store.count_recovery_codes(grace.id) == 1
        assert await store.count_recovery_codes("nobody") == 0

    async def test_concurrent_uses_of_one_recovery_code_have_exactly_one_winner(self, store: Store) -> None:
        user = await _add_user(store)
        codes = [_new_hash() for _ in range(10)]
        await store.replace_recovery_codes(user.id, codes, now=T0)
        results = await asyncio.gather(*(store.use_recovery_code(user.id, codes[3]) for _ in range(10)))
        assert results.count(True) == 1
        assert await store.count_recovery_codes(user.id) == 9

    # -- passkeys --------------------------------------------------------------------------------

    async def test_authenticator_reads_back_with_every_field(self, store: Store) -> None:
        user = await _add_user(store)
        passkey = Authenticator(
            credential_id="AbC-_0" * 170,  # 1020 base64url characters
            user_id=user.id,
            public_key=bytes(range(256)),
            sign_count=2**32 - 1,
            name="YubiKey 5 «NFC»",
            created_at=T0,
            transports=("usb", "nfc", "hybrid"),
            backed_up=True,
            last_used_at=T0 + timedelta(days=1),
        )
        await store.add_authenticator(passkey)
        assert await store.get_authenticator(passkey.credential_id) == passkey
        assert await store.list_authenticators(user.id) == [passkey]

    async def test_authenticator_with_defaults_reads_back_unchanged(self, store: Store) -> None:
        user = await _add_user(store)
        passkey = _passkey(user)
        await store.add_authenticator(passkey)
        assert await store.get_authenticator(passkey.credential_id) == passkey
        assert passkey.transports == () and passkey.backed_up is False and passkey.last_used_at is None
        assert await store.get_authenticator("unknown") is None

    async def test_add_authenticator_with_a_known_credential_id_raises_passkey_in_use_and_writes_nothing(
        self, store: Store
    ) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        first = _passkey(ada, "cred-1")
        await store.add_authenticator(first)
        with pytest.raises(PasskeyInUse):
            await store.add_authenticator(_passkey(grace, "cred-1", name="Stolen"))
        with pytest.raises(PasskeyInUse):
            await store.add_authenticator(_passkey(ada, "cred-1", name="Again"))
        assert await store.get_authenticator("cred-1") == first
        assert await store.list_authenticators(grace.id) == []

    async def test_list_authenticators_is_oldest_first_and_only_that_users(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        middle = _passkey(ada, at=T0 + timedelta(hours=1))
        newest = _passkey(ada, at=T0 + timedelta(hours=2))
        oldest = _passkey(ada, at=T0)
        for passkey in (middle, newest, oldest, _passkey(grace)):
            await store.add_authenticator(passkey)
        assert await store.list_authenticators(ada.id) == [oldest, middle, newest]
        assert await store.list_authenticators("nobody") == []

    async def test_authenticator_use_with_both_counts_zero_is_accepted(self, store: Store) -> None:
        user = await _add_user(store)
        passkey = _passkey(user, sign_count=0)
        await store.add_authenticator(passkey)
        now = T0 + timedelta(minutes=5)
        assert await store.update_authenticator_use(passkey.credential_id, sign_count=0, now=now) is True
        assert await store.get_authenticator(passkey.credential_id) == replace(passkey, last_used_at=now)

    async def test_authenticator_use_with_a_higher_count_is_accepted_and_stored(self, store: Store) -> None:
        user = await _add_user(store)
        passkey = _passkey(user, sign_count=5)
        await store.add_authenticator(passkey)
        now = T0 + timedelta(minutes=5)
        assert await store.update_authenticator_use(passkey.credential_id, sign_count=6, now=now) is True
        assert await store.get_authenticator(passkey.credential_id) == replace(passkey, sign_count=6, last_used_at=now)

    async def test_authenticator_use_with_a_count_not_above_the_stored_one_is_refused(self, store: Store) -> None:
        user = await _add_user(store)
        passkey = _passkey(user, sign_count=5)
        await store.add_authenticator(passkey)
        for count in (5, 4, 0):  # a replayed or cloned authenticator; 0 after 5 is no "no counter"
            assert await store.update_authenticator_use(passkey.credential_id, sign_count=count, now=T0) is False
        assert await store.get_authenticator(passkey.credential_id) == passkey

    async def test_authenticator_use_of_unknown_credential_returns_false(self, store: Store) -> None:
        assert await store.update_authenticator_use("unknown", sign_count=1, now=T0) is False

    async def test_concurrent_uses_with_the_same_sign_count_have_exactly_one_winner(self, store: Store) -> None:
        user = await _add_user(store)
        passkey = _passkey(user, sign_count=5)
        await store.add_authenticator(passkey)
        results = await asyncio.gather(
            *(store.update_authenticator_use(passkey.credential_id, sign_count=6, now=T0) for _ in range(10))
        )
        assert results.count(True) == 1

    async def test_rename_authenticator_renames_only_the_owners_passkey(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        passkey = _passkey(ada, name="Laptop")
        await store.add_authenticator(passkey)
        assert await store.rename_authenticator(grace.id, passkey.credential_id, "Mine now") is False
        assert await store.get_authenticator(passkey.credential_id) == passkey
        assert await store.rename_authenticator(ada.id, passkey.credential_id, "Work laptop") is True
        assert await store.get_authenticator(passkey.credential_id) == replace(passkey, name="Work laptop")
        assert await store.rename_authenticator(ada.id, "unknown", "x") is False

    async def test_delete_authenticator_removes_only_the_owners_passkey(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        passkey = _passkey(ada)
        kept = _passkey(ada)
        await store.add_authenticator(passkey)
        await store.add_authenticator(kept)
        assert await store.delete_authenticator(grace.id, passkey.credential_id) is False
        assert await store.get_authenticator(passkey.credential_id) == passkey
        assert await store.delete_authenticator(ada.id, passkey.credential_id) is True
        assert await store.delete_authenticator(ada.id, passkey.credential_id) is False
        assert await store.list_authenticators(ada.id) == [kept]

    # -- user deletion reaches the MFA and passkey data ------------------------------------------

    async def test_delete_user_takes_verifications_factors_recovery_codes_and_passkeys(self, store: Store) -> None:
        ada = await _add_user(store, "ada@example.com")
        grace = await _add_user(store, "grace@example.com")
        ada_token, ada_passkey = _verification(ada), _passkey(ada, "ada-cred")
        grace_token, grace_passkey = _verification(grace), _passkey(grace, "grace-cred")
        anonymous = _verification(None, "webauthn_signin")
        for user, token, passkey in ((ada, ada_token, ada_passkey), (grace, grace_token, grace_passkey)):
            await store.create_verification(token)
            await store.save_mfa_factor(_totp(user))
            await store.replace_recovery_codes(user.id, [_new_hash(), _new_hash()], now=T0)
            await store.add_authenticator(passkey)
        await store.create_verification(anonymous)

        assert await store.delete_user(ada.id) is True

        assert await store.get_verification(ada_token.token_hash) is None
        assert await store.list_mfa_factors(ada.id) == []
        assert await store.count_recovery_codes(ada.id) == 0
        assert await store.get_authenticator("ada-cred") is None
        assert await store.list_authenticators(ada.id) == []
        assert await store.get_verification(grace_token.token_hash) == grace_token
        assert await store.get_verification(anonymous.token_hash) == anonymous
        assert await store.list_mfa_factors(grace.id) == [_totp(grace)]
        assert await store.count_recovery_codes(grace.id) == 2
        assert await store.get_authenticator("grace-cred") == grace_passkey
        # The credential id is free again, as the email is.
        again = await _add_user(store, "ada@example.com")
        await store.add_authenticator(_passkey(again, "ada-cred"))
