"""The contract for users, their updates and deletion, linked accounts and audit events."""

# The contract is a test suite shipped in the package: asserts and literal fake hashes are its job.
# ruff: noqa: S101, S106

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from .._errors import AccountInUse, EmailInUse
from ..stores import AuthEvent, Store, User
from ._records import T0, add_event, add_session, add_user, make_account, make_user, rotate


class UserContract:
    """What a store does with users, linked accounts and audit events."""

    # -- users ---------------------------------------------------------------------------------

    async def test_store_satisfies_the_store_protocol(self, store: Store) -> None:
        assert isinstance(store, Store)

    async def test_open_again_is_harmless(self, store: Store) -> None:
        await store.open()
        user = await add_user(store)
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
        user = await add_user(store)
        _, hashes = await add_session(store, user)
        found = await store.get_session_by_token(hashes.token)
        assert found is not None
        for value in (found[0].created_at, found[0].expires_at, found[0].refresh_expires_at, found[1].created_at):
            assert value.utcoffset() == timedelta(0)
        assert found[0].created_at == T0

    async def test_duplicate_email_key_raises_email_in_use_and_writes_nothing(self, store: Store) -> None:
        first = await add_user(store, "ada@example.com", password_hash="first")
        second = make_user("ADA@example.com")
        with pytest.raises(EmailInUse):
            await store.create_user(second, email_key="ada@example.com", password_hash="second")
        assert await store.get_user(second.id) is None
        assert await store.get_credentials("ada@example.com") == (first, "first")

    async def test_get_credentials_returns_user_and_password_hash(self, store: Store) -> None:
        user = await add_user(store, "grace@example.com", password_hash="$argon2id$v=19$abc")
        assert await store.get_credentials("grace@example.com") == (user, "$argon2id$v=19$abc")

    async def test_get_credentials_of_user_without_password_has_none_hash(self, store: Store) -> None:
        user = await add_user(store, "oauth@example.com", password_hash=None)
        assert await store.get_credentials("oauth@example.com") == (user, None)

    async def test_get_credentials_unknown_email_key_returns_none(self, store: Store) -> None:
        await add_user(store, "ada@example.com")
        assert await store.get_credentials("someone@example.com") is None

    async def test_set_password_hash_replaces_hash_and_updated_at(self, store: Store) -> None:
        user = await add_user(store, "ada@example.com", password_hash="old")
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

    # -- user updates and deletion -------------------------------------------------------------

    async def test_update_user_writes_every_field_and_keeps_password_and_email_key(self, store: Store) -> None:
        user = await add_user(store, "ada@example.com", password_hash="hash")
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
        user = await add_user(store, "ada@example.com", password_hash="hash")
        updated = replace(user, email="Ada@New.example", updated_at=T0 + timedelta(hours=1))
        await store.update_user(updated, email_key="ada@new.example")
        assert await store.get_credentials("ada@new.example") == (updated, "hash")
        assert await store.get_credentials("ada@example.com") is None
        # The old address is free again.
        other = await add_user(store, "ada@example.com")
        assert await store.get_user(other.id) == other

    async def test_update_user_keeping_its_own_email_key_is_not_email_in_use(self, store: Store) -> None:
        user = await add_user(store, "ada@example.com")
        updated = replace(user, email="ADA@example.com", updated_at=T0 + timedelta(minutes=1))
        await store.update_user(updated, email_key="ada@example.com")
        found = await store.get_credentials("ada@example.com")
        assert found is not None and found[0] == updated

    async def test_update_user_taking_another_users_email_key_raises_email_in_use_and_writes_nothing(
        self, store: Store
    ) -> None:
        ada = await add_user(store, "ada@example.com", password_hash="a")
        grace = await add_user(store, "grace@example.com", password_hash="g")
        taken = replace(grace, email="ada@example.com", name="Grace Hopper", updated_at=T0 + timedelta(hours=1))
        with pytest.raises(EmailInUse):
            await store.update_user(taken, email_key="ada@example.com")
        assert await store.get_user(grace.id) == grace
        assert await store.get_credentials("ada@example.com") == (ada, "a")
        assert await store.get_credentials("grace@example.com") == (grace, "g")

    async def test_update_user_of_unknown_user_does_nothing(self, store: Store) -> None:
        ghost = make_user("ghost@example.com")
        await store.update_user(ghost, email_key="ghost@example.com")
        assert await store.get_user(ghost.id) is None
        assert await store.get_credentials("ghost@example.com") is None

    async def test_delete_user_takes_sessions_retired_hashes_and_accounts_with_it(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        session, old = await add_session(store, ada)
        _, new = await rotate(store, session, old.refresh, T0 + timedelta(minutes=1))
        other_session, other_hashes = await add_session(store, ada)
        await store.link_account(make_account(ada, "github", "42"))
        kept_session, kept_hashes = await add_session(store, grace)
        kept_account = make_account(grace, "github", "7")
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
        ada = await add_user(store, "ada@example.com")
        await store.link_account(make_account(ada, "github", "42"))
        assert await store.delete_user(ada.id) is True
        again = await add_user(store, "ada@example.com")
        await store.link_account(make_account(again, "github", "42"))
        assert await store.get_user_by_account("github", "42") == again

    async def test_delete_user_of_unknown_user_returns_false(self, store: Store) -> None:
        kept = await add_user(store)
        assert await store.delete_user("nobody") is False
        assert await store.get_user(kept.id) == kept

    async def test_delete_user_keeps_its_audit_events(self, store: Store) -> None:
        user = await add_user(store)
        event = await add_event(store, "signin", user=user)
        assert await store.delete_user(user.id) is True
        assert await store.list_events(user_id=user.id) == [event]

    # -- linked accounts -----------------------------------------------------------------------

    async def test_linked_account_finds_its_user(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        await store.link_account(make_account(ada, "github", "42"))
        assert await store.get_user_by_account("github", "42") == ada

    async def test_get_user_by_account_unknown_identity_returns_none(self, store: Store) -> None:
        ada = await add_user(store)
        await store.link_account(make_account(ada, "github", "42"))
        assert await store.get_user_by_account("github", "43") is None
        assert await store.get_user_by_account("google", "42") is None

    async def test_link_account_already_linked_raises_account_in_use_and_writes_nothing(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        first = make_account(ada, "github", "42")
        await store.link_account(first)
        with pytest.raises(AccountInUse):
            await store.link_account(make_account(grace, "github", "42", at=T0 + timedelta(minutes=1)))
        with pytest.raises(AccountInUse):
            await store.link_account(make_account(ada, "github", "42", at=T0 + timedelta(minutes=2)))
        assert await store.get_user_by_account("github", "42") == ada
        assert await store.list_accounts(ada.id) == [first]
        assert await store.list_accounts(grace.id) == []

    async def test_same_account_id_under_another_provider_links_separately(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        await store.link_account(make_account(ada, "github", "42"))
        await store.link_account(make_account(grace, "google", "42"))
        assert await store.get_user_by_account("github", "42") == ada
        assert await store.get_user_by_account("google", "42") == grace

    async def test_list_accounts_is_oldest_first_and_only_that_users(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        middle = make_account(ada, "google", "g-1", at=T0 + timedelta(hours=1))
        newest = make_account(ada, "oidc", "sub-1", at=T0 + timedelta(hours=2))
        oldest = make_account(ada, "github", "42", at=T0)
        for account in (middle, newest, oldest, make_account(grace, "github", "7")):
            await store.link_account(account)
        assert await store.list_accounts(ada.id) == [oldest, middle, newest]
        assert await store.list_accounts("nobody") == []

    # -- audit events --------------------------------------------------------------------------

    async def test_list_events_is_newest_first(self, store: Store) -> None:
        ada = await add_user(store)
        middle = await add_event(store, "signin", user=ada, at=T0 + timedelta(minutes=1))
        oldest = await add_event(store, "signin_failed", at=T0)
        newest = await add_event(store, "signout", user=ada, at=T0 + timedelta(minutes=2))
        assert await store.list_events() == [newest, middle, oldest]

    async def test_list_events_filtered_by_user_returns_only_theirs(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        first = await add_event(store, "signin", user=ada, at=T0)
        await add_event(store, "signin", user=grace, at=T0 + timedelta(minutes=1))
        await add_event(store, "signin_failed", at=T0 + timedelta(minutes=2))
        second = await add_event(store, "signout", user=ada, at=T0 + timedelta(minutes=3))
        assert await store.list_events(user_id=ada.id) == [second, first]
        assert await store.list_events(user_id="nobody") == []

    async def test_list_events_respects_limit(self, store: Store) -> None:
        user = await add_user(store)
        events = [await add_event(store, user=user, at=T0 + timedelta(seconds=i)) for i in range(5)]
        assert await store.list_events(limit=2) == [events[4], events[3]]
        assert await store.list_events(user_id=user.id, limit=3) == [events[4], events[3], events[2]]
        assert await store.list_events(limit=0) == []

    async def test_list_events_returns_at_most_100_by_default(self, store: Store) -> None:
        events = [await add_event(store, at=T0 + timedelta(seconds=i)) for i in range(101)]
        listed = await store.list_events()
        assert len(listed) == 100
        assert listed[0] == events[-1] and listed[-1] == events[1]

    async def test_event_reads_back_with_every_field_and_its_detail(self, store: Store) -> None:
        user = await add_user(store)
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
        event = await add_event(store, "signin_failed")
        assert await store.list_events() == [event]
        assert event.user_id is None and event.detail is None
