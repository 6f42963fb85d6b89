"""The contract for passkeys, and for user deletion reaching every factor."""

# The contract is a test suite shipped in the package: asserts are its job.
# ruff: noqa: S101

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from .._errors import PasskeyInUse
from ..stores import Authenticator, Store
from ._records import T0, add_user, make_passkey, make_totp, make_verification, new_hash


class PasskeyContract:
    """What a store does with passkeys, and user deletion reaching every factor."""

    # -- passkeys --------------------------------------------------------------------------------

    async def test_authenticator_reads_back_with_every_field(self, store: Store) -> None:
        user = await add_user(store)
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
        user = await add_user(store)
        passkey = make_passkey(user)
        await store.add_authenticator(passkey)
        assert await store.get_authenticator(passkey.credential_id) == passkey
        assert passkey.transports == () and passkey.backed_up is False and passkey.last_used_at is None
        assert await store.get_authenticator("unknown") is None

    async def test_add_authenticator_with_a_known_credential_id_raises_passkey_in_use_and_writes_nothing(
        self, store: Store
    ) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        first = make_passkey(ada, "cred-1")
        await store.add_authenticator(first)
        with pytest.raises(PasskeyInUse):
            await store.add_authenticator(make_passkey(grace, "cred-1", name="Stolen"))
        with pytest.raises(PasskeyInUse):
            await store.add_authenticator(make_passkey(ada, "cred-1", name="Again"))
        assert await store.get_authenticator("cred-1") == first
        assert await store.list_authenticators(grace.id) == []

    async def test_list_authenticators_is_oldest_first_and_only_that_users(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        middle = make_passkey(ada, at=T0 + timedelta(hours=1))
        newest = make_passkey(ada, at=T0 + timedelta(hours=2))
        oldest = make_passkey(ada, at=T0)
        for passkey in (middle, newest, oldest, make_passkey(grace)):
            await store.add_authenticator(passkey)
        assert await store.list_authenticators(ada.id) == [oldest, middle, newest]
        assert await store.list_authenticators("nobody") == []

    # Both counts zero: an authenticator without a counter, accepted every time.
    @pytest.mark.parametrize(("stored", "presented"), [(0, 0), (5, 6)], ids=["both-zero", "higher"])
    async def test_authenticator_use_with_a_higher_count_or_both_zero_is_accepted_and_stored(
        self, store: Store, stored: int, presented: int
    ) -> None:
        user = await add_user(store)
        passkey = make_passkey(user, sign_count=stored)
        await store.add_authenticator(passkey)
        now = T0 + timedelta(minutes=5)
        assert await store.update_authenticator_use(passkey.credential_id, sign_count=presented, now=now) is True
        expected = replace(passkey, sign_count=presented, last_used_at=now)
        assert await store.get_authenticator(passkey.credential_id) == expected

    async def test_authenticator_use_with_a_count_not_above_the_stored_one_is_refused(self, store: Store) -> None:
        user = await add_user(store)
        passkey = make_passkey(user, sign_count=5)
        await store.add_authenticator(passkey)
        for count in (5, 4, 0):  # a replayed or cloned authenticator; 0 after 5 is no "no counter"
            assert await store.update_authenticator_use(passkey.credential_id, sign_count=count, now=T0) is False
        assert await store.get_authenticator(passkey.credential_id) == passkey

    async def test_authenticator_use_of_unknown_credential_returns_false(self, store: Store) -> None:
        assert await store.update_authenticator_use("unknown", sign_count=1, now=T0) is False

    async def test_concurrent_uses_with_the_same_sign_count_have_exactly_one_winner(self, store: Store) -> None:
        user = await add_user(store)
        passkey = make_passkey(user, sign_count=5)
        await store.add_authenticator(passkey)
        results = await asyncio.gather(
            *(store.update_authenticator_use(passkey.credential_id, sign_count=6, now=T0) for _ in range(10))
        )
        assert results.count(True) == 1

    async def test_rename_authenticator_renames_only_the_owners_passkey(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        passkey = make_passkey(ada, name="Laptop")
        await store.add_authenticator(passkey)
        assert await store.rename_authenticator(grace.id, passkey.credential_id, "Mine now") is False
        assert await store.get_authenticator(passkey.credential_id) == passkey
        assert await store.rename_authenticator(ada.id, passkey.credential_id, "Work laptop") is True
        assert await store.get_authenticator(passkey.credential_id) == replace(passkey, name="Work laptop")
        assert await store.rename_authenticator(ada.id, "unknown", "x") is False

    async def test_delete_authenticator_removes_only_the_owners_passkey(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        passkey = make_passkey(ada)
        kept = make_passkey(ada)
        await store.add_authenticator(passkey)
        await store.add_authenticator(kept)
        assert await store.delete_authenticator(grace.id, passkey.credential_id) is False
        assert await store.get_authenticator(passkey.credential_id) == passkey
        assert await store.delete_authenticator(ada.id, passkey.credential_id) is True
        assert await store.delete_authenticator(ada.id, passkey.credential_id) is False
        assert await store.list_authenticators(ada.id) == [kept]

    # -- user deletion reaches the MFA and passkey data ------------------------------------------

    async def test_delete_user_takes_verifications_factors_recovery_codes_and_passkeys(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        ada_token, ada_passkey = make_verification(ada), make_passkey(ada, "ada-cred")
        grace_token, grace_passkey = make_verification(grace), make_passkey(grace, "grace-cred")
        anonymous = make_verification(None, "webauthn_signin")
        for user, token, passkey in ((ada, ada_token, ada_passkey), (grace, grace_token, grace_passkey)):
            await store.create_verification(token)
            await store.save_mfa_factor(make_totp(user))
            await store.replace_recovery_codes(user.id, [new_hash(), new_hash()], now=T0)
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
        assert await store.list_mfa_factors(grace.id) == [make_totp(grace)]
        assert await store.count_recovery_codes(grace.id) == 2
        assert await store.get_authenticator("grace-cred") == grace_passkey
        # The credential id is free again, as the email is.
        again = await add_user(store, "ada@example.com")
        await store.add_authenticator(make_passkey(again, "ada-cred"))
