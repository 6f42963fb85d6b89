"""Test helpers for code built on authgate. Needs pytest and pytest-asyncio.

`StoreContract` is the one suite every storage adapter passes. Subclass it in a `Test*` class and
provide an async fixture `store` that yields an opened, empty store:

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
from datetime import UTC, datetime, timedelta

import pytest

from ._errors import EmailInUse
from ._models import Session, User
from .stores.base import Store

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
