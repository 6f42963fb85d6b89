"""The contract for verification tokens, MFA factors and recovery codes."""

# The contract is a test suite shipped in the package: asserts and literal fake secrets are its job.
# ruff: noqa: S101, S106

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from ..stores import MFAFactor, Store, VerificationToken
from ._records import T0, add_user, make_totp, make_verification, new_hash


class TokenContract:
    """What a store does with verification tokens, MFA factors and recovery codes."""

    # -- verification tokens -------------------------------------------------------------------

    async def test_verification_reads_back_with_every_field(self, store: Store) -> None:
        user = await add_user(store)
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
        token = make_verification(None, "webauthn_signin")
        await store.create_verification(token)
        assert await store.get_verification(token.token_hash) == token
        assert token.user_id is None and token.data is None and token.attempts == 0

    async def test_get_verification_does_not_consume_and_returns_expired_tokens_too(self, store: Store) -> None:
        user = await add_user(store)
        expired = make_verification(user, at=T0 - timedelta(days=30))
        await store.create_verification(expired)
        assert await store.get_verification(expired.token_hash) == expired
        assert await store.get_verification(expired.token_hash) == expired
        assert await store.get_verification(new_hash()) is None

    async def test_consume_verification_returns_the_token_once(self, store: Store) -> None:
        user = await add_user(store)
        token = make_verification(user, "verify_email", data={"email": "ada@example.com"})
        await store.create_verification(token)
        assert await store.consume_verification(token.token_hash, "verify_email") == token
        assert await store.consume_verification(token.token_hash, "verify_email") is None
        assert await store.get_verification(token.token_hash) is None
        assert await store.consume_verification(new_hash(), "verify_email") is None

    async def test_consume_verification_with_another_purpose_returns_none_and_keeps_the_token(
        self, store: Store
    ) -> None:
        user = await add_user(store)
        token = make_verification(user, "reset_password")
        await store.create_verification(token)
        assert await store.consume_verification(token.token_hash, "verify_email") is None
        assert await store.get_verification(token.token_hash) == token
        assert await store.consume_verification(token.token_hash, "reset_password") == token

    async def test_concurrent_consumes_of_one_verification_have_exactly_one_winner(self, store: Store) -> None:
        user = await add_user(store)
        token = make_verification(user)
        await store.create_verification(token)
        results = await asyncio.gather(
            *(store.consume_verification(token.token_hash, token.purpose) for _ in range(20))
        )
        assert [r for r in results if r is not None] == [token]
        assert await store.get_verification(token.token_hash) is None

    async def test_count_verification_attempt_counts_up_and_the_count_is_stored(self, store: Store) -> None:
        user = await add_user(store)
        token = make_verification(user, "mfa_challenge")
        await store.create_verification(token)
        assert await store.count_verification_attempt(token.token_hash) == 1
        assert await store.count_verification_attempt(token.token_hash) == 2
        assert await store.get_verification(token.token_hash) == replace(token, attempts=2)
        assert await store.consume_verification(token.token_hash, "mfa_challenge") == replace(token, attempts=2)

    async def test_count_verification_attempt_of_unknown_token_returns_zero(self, store: Store) -> None:
        assert await store.count_verification_attempt(new_hash()) == 0

    async def test_concurrent_verification_attempts_are_all_counted(self, store: Store) -> None:
        user = await add_user(store)
        token = make_verification(user, "mfa_challenge")
        await store.create_verification(token)
        counts = await asyncio.gather(*(store.count_verification_attempt(token.token_hash) for _ in range(20)))
        assert sorted(counts) == list(range(1, 21))
        found = await store.get_verification(token.token_hash)
        assert found is not None and found.attempts == 20

    async def test_delete_verifications_removes_that_users_tokens_of_that_purpose_only(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        doomed = [make_verification(ada, "reset_password") for _ in range(2)]
        kept = [
            make_verification(ada, "verify_email"),
            make_verification(grace, "reset_password"),
            make_verification(None),
        ]
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
        user = await add_user(store)
        totp = MFAFactor(
            user_id=user.id, kind="totp", confirmed=False, created_at=T0, secret="v1.nonce.ciphertext", last_used_step=7
        )
        email = MFAFactor(user_id=user.id, kind="email", confirmed=True, created_at=T0 + timedelta(seconds=1))
        await store.save_mfa_factor(totp)
        await store.save_mfa_factor(email)
        assert await store.list_mfa_factors(user.id) == [totp, email]
        assert email.secret is None and email.last_used_step == -1

    async def test_save_mfa_factor_replaces_the_users_factor_of_that_kind(self, store: Store) -> None:
        user = await add_user(store)
        await store.save_mfa_factor(make_totp(user, secret="old", confirmed=False))
        confirmed = replace(make_totp(user, secret="new", at=T0 + timedelta(minutes=1)), last_used_step=12)
        await store.save_mfa_factor(confirmed)
        assert await store.list_mfa_factors(user.id) == [confirmed]

    async def test_list_mfa_factors_is_oldest_first_and_only_that_users(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        newer = MFAFactor(user_id=ada.id, kind="email", confirmed=True, created_at=T0 + timedelta(hours=1))
        older = make_totp(ada, at=T0)
        for factor in (newer, older, make_totp(grace)):
            await store.save_mfa_factor(factor)
        assert await store.list_mfa_factors(ada.id) == [older, newer]
        assert await store.list_mfa_factors("nobody") == []

    async def test_delete_mfa_factor_removes_that_kind_only_and_returns_true_once(self, store: Store) -> None:
        user = await add_user(store)
        email = MFAFactor(user_id=user.id, kind="email", confirmed=True, created_at=T0)
        await store.save_mfa_factor(make_totp(user))
        await store.save_mfa_factor(email)
        assert await store.delete_mfa_factor(user.id, "totp") is True
        assert await store.delete_mfa_factor(user.id, "totp") is False
        assert await store.list_mfa_factors(user.id) == [email]

    async def test_advance_totp_step_accepts_only_a_later_step(self, store: Store) -> None:
        user = await add_user(store)
        factor = make_totp(user)
        await store.save_mfa_factor(factor)
        assert await store.advance_totp_step(user.id, 100) is True
        assert await store.advance_totp_step(user.id, 100) is False  # the same code again: a replay
        assert await store.advance_totp_step(user.id, 99) is False
        assert await store.advance_totp_step(user.id, 101) is True
        assert await store.list_mfa_factors(user.id) == [replace(factor, last_used_step=101)]

    async def test_advance_totp_step_without_a_totp_factor_returns_false(self, store: Store) -> None:
        user = await add_user(store)
        await store.save_mfa_factor(MFAFactor(user_id=user.id, kind="email", confirmed=True, created_at=T0))
        assert await store.advance_totp_step(user.id, 1) is False
        assert await store.advance_totp_step("nobody", 1) is False

    async def test_concurrent_advances_to_the_same_totp_step_have_exactly_one_winner(self, store: Store) -> None:
        user = await add_user(store)
        await store.save_mfa_factor(make_totp(user))
        results = await asyncio.gather(*(store.advance_totp_step(user.id, 5000) for _ in range(20)))
        assert results.count(True) == 1

    # -- recovery codes --------------------------------------------------------------------------

    async def test_replace_recovery_codes_replaces_every_previous_code(self, store: Store) -> None:
        user = await add_user(store)
        old = [new_hash() for _ in range(3)]
        new = [new_hash() for _ in range(2)]
        await store.replace_recovery_codes(user.id, old, now=T0)
        assert await store.count_recovery_codes(user.id) == 3
        await store.replace_recovery_codes(user.id, new, now=T0 + timedelta(days=1))
        assert await store.count_recovery_codes(user.id) == 2
        assert await store.use_recovery_code(user.id, old[0]) is False
        assert await store.use_recovery_code(user.id, new[0]) is True
        await store.replace_recovery_codes(user.id, [], now=T0 + timedelta(days=2))
        assert await store.count_recovery_codes(user.id) == 0

    async def test_replace_recovery_codes_keeps_a_repeated_hash_once(self, store: Store) -> None:
        user = await add_user(store)
        code = new_hash()
        await store.replace_recovery_codes(user.id, [code, code, new_hash()], now=T0)
        assert await store.count_recovery_codes(user.id) == 2

    async def test_use_recovery_code_works_once_and_only_for_its_user(self, store: Store) -> None:
        ada = await add_user(store, "ada@example.com")
        grace = await add_user(store, "grace@example.com")
        codes = [new_hash() for _ in range(3)]
        await store.replace_recovery_codes(ada.id, codes, now=T0)
        await store.replace_recovery_codes(grace.id, [new_hash()], now=T0)
        assert await store.use_recovery_code(grace.id, codes[0]) is False
        assert await store.use_recovery_code(ada.id, codes[0]) is True
        assert await store.use_recovery_code(ada.id, codes[0]) is False
        assert await store.count_recovery_codes(ada.id) == 2
        assert await store.count_recovery_codes(grace.id) == 1
        assert await store.count_recovery_codes("nobody") == 0

    async def test_concurrent_uses_of_one_recovery_code_have_exactly_one_winner(self, store: Store) -> None:
        user = await add_user(store)
        codes = [new_hash() for _ in range(10)]
        await store.replace_recovery_codes(user.id, codes, now=T0)
        results = await asyncio.gather(*(store.use_recovery_code(user.id, codes[3]) for _ in range(10)))
        assert results.count(True) == 1
        assert await store.count_recovery_codes(user.id) == 9
