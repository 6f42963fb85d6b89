"""The contract for sessions: lookups, refresh rotation, revocation and cleanup."""

# The contract is a test suite shipped in the package: asserts are its job.
# ruff: noqa: S101

from __future__ import annotations

import asyncio
from datetime import timedelta

from ..stores import Session, Store
from ._records import T0, add_session, add_user, make_session, new_hash, rotate


class SessionContract:
    """What a store does with sessions: lookups, refresh rotation, revocation and cleanup."""

    # -- sessions ------------------------------------------------------------------------------

    async def test_session_by_token_returns_session_and_its_user(self, store: Store) -> None:
        user = await add_user(store)
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
        user = await add_user(store)
        await add_session(store, user)
        assert await store.get_session_by_token(new_hash()) is None

    async def test_session_by_token_is_not_found_by_refresh_hash(self, store: Store) -> None:
        user = await add_user(store)
        _, hashes = await add_session(store, user)
        assert await store.get_session_by_token(hashes.refresh) is None
        assert await store.get_session_by_refresh(hashes.token) is None

    async def test_session_by_token_returns_expired_sessions_too(self, store: Store) -> None:
        user = await add_user(store)
        long_ago = T0 - timedelta(days=400)
        session, hashes = await add_session(store, user, created_at=long_ago)
        assert await store.get_session_by_token(hashes.token) == (session, user)

    async def test_session_by_id_returns_session_and_its_user(self, store: Store) -> None:
        user = await add_user(store)
        session, _ = await add_session(store, user)
        assert await store.get_session(session.id) == (session, user)
        assert await store.get_session("no-such-session") is None

    async def test_session_by_refresh_returns_session_and_its_user(self, store: Store) -> None:
        user = await add_user(store)
        session, hashes = await add_session(store, user)
        assert await store.get_session_by_refresh(hashes.refresh) == (session, user)
        assert await store.get_session_by_refresh(new_hash()) is None

    # -- refresh rotation ----------------------------------------------------------------------

    async def test_rotate_refresh_swaps_both_hashes_and_records_the_retired_one(self, store: Store) -> None:
        user = await add_user(store)
        session, old = await add_session(store, user)
        now = T0 + timedelta(minutes=20)
        rotated, new = await rotate(store, session, old.refresh, now)
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
        user = await add_user(store)
        session, old = await add_session(store, user)
        now = T0 + timedelta(minutes=20)
        _, new = await rotate(store, session, old.refresh, now)
        retired = await store.get_retired_access(old.token)
        assert retired is not None and (retired.session_id, retired.retired_at) == (session.id, now)
        assert await store.get_retired_access(new.token) is None  # the current one is not retired
        # The kinds never mix: a retired access token is no retired refresh token, and vice versa.
        assert await store.get_retired_refresh(old.token) is None
        assert await store.get_retired_access(old.refresh) is None
        latest = await store.get_retired_refresh(old.refresh)
        assert latest is not None and latest.is_latest
        await rotate(store, session, new.refresh, now + timedelta(minutes=1))
        older = await store.get_retired_refresh(old.refresh)
        assert older is not None and not older.is_latest

    async def test_rotate_refresh_with_stale_old_hash_returns_none_and_changes_nothing(self, store: Store) -> None:
        user = await add_user(store)
        session, old = await add_session(store, user)
        first, new = await rotate(store, session, old.refresh, T0 + timedelta(minutes=20))
        assert first is not None
        second, loser = await rotate(store, session, old.refresh, T0 + timedelta(minutes=21))
        assert second is None
        assert await store.get_session_by_refresh(new.refresh) == (first, user)
        assert await store.get_session_by_token(loser.token) is None
        retired = await store.get_retired_refresh(old.refresh)
        assert retired is not None and retired.retired_at == T0 + timedelta(minutes=20)

    async def test_rotate_refresh_of_unknown_session_returns_none(self, store: Store) -> None:
        user = await add_user(store)
        session = make_session(user)
        rotated, _ = await rotate(store, session, new_hash(), T0)
        assert rotated is None

    async def test_rotated_session_can_rotate_again_and_keeps_every_retired_hash(self, store: Store) -> None:
        user = await add_user(store)
        session, first = await add_session(store, user)
        _, second = await rotate(store, session, first.refresh, T0 + timedelta(minutes=1))
        third, _ = await rotate(store, session, second.refresh, T0 + timedelta(minutes=2))
        assert third is not None
        for hashes, at in ((first, 1), (second, 2)):
            retired = await store.get_retired_refresh(hashes.refresh)
            assert retired is not None and retired.retired_at == T0 + timedelta(minutes=at)

    async def test_concurrent_rotations_with_the_same_old_hash_have_exactly_one_winner(self, store: Store) -> None:
        user = await add_user(store)
        session, old = await add_session(store, user)
        now = T0 + timedelta(minutes=20)
        results = await asyncio.gather(*(rotate(store, session, old.refresh, now) for _ in range(20)))
        winners = [(rotated, new) for rotated, new in results if rotated is not None]
        assert len(winners) == 1
        rotated, new = winners[0]
        assert await store.get_session_by_refresh(new.refresh) == (rotated, user)
        retired = await store.get_retired_refresh(old.refresh)
        assert retired is not None and retired.session_id == session.id

    async def test_get_retired_refresh_of_never_retired_hash_returns_none(self, store: Store) -> None:
        user = await add_user(store)
        _, hashes = await add_session(store, user)
        assert await store.get_retired_refresh(hashes.refresh) is None
        assert await store.get_retired_refresh(new_hash()) is None

    # -- revocation ----------------------------------------------------------------------------

    async def test_delete_session_returns_true_once_and_drops_its_retired_hashes(self, store: Store) -> None:
        user = await add_user(store)
        session, old = await add_session(store, user)
        _, new = await rotate(store, session, old.refresh, T0 + timedelta(minutes=1))
        assert await store.delete_session(session.id) is True
        assert await store.delete_session(session.id) is False
        assert await store.get_session_by_token(new.token) is None
        assert await store.get_session(session.id) is None
        assert await store.get_retired_refresh(old.refresh) is None

    async def test_delete_user_sessions_removes_every_session_of_that_user_only(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        for _ in range(3):
            await add_session(store, ada)
        kept, kept_hashes = await add_session(store, grace)
        assert await store.delete_user_sessions(ada.id) == 3
        assert await store.list_user_sessions(ada.id) == []
        assert await store.get_session_by_token(kept_hashes.token) == (kept, grace)
        assert await store.delete_user_sessions(ada.id) == 0

    async def test_delete_user_sessions_keeps_the_excepted_session(self, store: Store) -> None:
        user = await add_user(store)
        current, _ = await add_session(store, user)
        await add_session(store, user)
        await add_session(store, user)
        assert await store.delete_user_sessions(user.id, except_session_id=current.id) == 2
        assert await store.list_user_sessions(user.id) == [current]

    async def test_list_user_sessions_is_newest_first(self, store: Store) -> None:
        user = await add_user(store)
        other = await add_user(store, "other@example.com")
        middle, _ = await add_session(store, user, created_at=T0 + timedelta(hours=1))
        oldest, _ = await add_session(store, user, created_at=T0)
        newest, _ = await add_session(store, user, created_at=T0 + timedelta(hours=2))
        await add_session(store, other)
        assert await store.list_user_sessions(user.id) == [newest, middle, oldest]
        assert await store.list_user_sessions("nobody") == []

    # -- cleanup -------------------------------------------------------------------------------

    async def test_delete_expired_sessions_deletes_only_refresh_expired_ones(self, store: Store) -> None:
        user = await add_user(store)
        now = T0 + timedelta(days=10)
        # Access lifetime over but refresh still valid: the client can refresh, so it must stay.
        access_expired, access_hashes = await add_session(store, user, refresh=timedelta(days=30))
        refresh_expired, _ = await add_session(store, user, refresh=timedelta(days=1))
        assert await store.delete_expired_sessions(now=now, limit=1000) == 1
        assert await store.get_session_by_token(access_hashes.token) == (access_expired, user)
        assert await store.get_session(refresh_expired.id) is None

    async def test_delete_expired_sessions_keeps_a_session_expiring_exactly_now(self, store: Store) -> None:
        user = await add_user(store)
        session, _ = await add_session(store, user, refresh=timedelta(days=1))
        assert await store.delete_expired_sessions(now=session.refresh_expires_at, limit=10) == 0
        assert await store.get_session(session.id) is not None

    async def test_delete_expired_sessions_respects_limit_and_returns_counts(self, store: Store) -> None:
        user = await add_user(store)
        for _ in range(5):
            await add_session(store, user, refresh=timedelta(days=1))
        live, _ = await add_session(store, user, refresh=timedelta(days=30))
        now = T0 + timedelta(days=2)
        assert await store.delete_expired_sessions(now=now, limit=2) == 2
        assert await store.delete_expired_sessions(now=now, limit=2) == 2
        assert await store.delete_expired_sessions(now=now, limit=2) == 1
        assert await store.delete_expired_sessions(now=now, limit=2) == 0
        assert await store.list_user_sessions(user.id) == [live]

    async def test_delete_expired_sessions_drops_their_retired_hashes(self, store: Store) -> None:
        user = await add_user(store)
        session, old = await add_session(store, user, refresh=timedelta(days=1))
        await rotate(store, session, old.refresh, T0)
        assert await store.get_retired_refresh(old.refresh) is not None
        assert await store.delete_expired_sessions(now=T0 + timedelta(days=31), limit=10) == 1
        assert await store.get_retired_refresh(old.refresh) is None
