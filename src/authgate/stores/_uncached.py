"""The `Store` methods that `RedisStore` passes straight to its primary store, uncached."""

from __future__ import annotations

from datetime import datetime

from .._models import Account, Authenticator, AuthEvent, MFAFactor, RetiredRefresh, Session, User, VerificationToken
from .base import Store, StoredCredentials

__all__ = ["Uncached"]


class Uncached:
    """Every `Store` method that neither answers a session check nor can end or change a session
    or its user: each goes to `primary` unchanged. Sensitive reads (credentials, the session list,
    MFA factors, passkeys) therefore always see the database."""

    primary: Store

    async def create_user(self, user: User, *, email_key: str, password_hash: str | None) -> None:
        await self.primary.create_user(user, email_key=email_key, password_hash=password_hash)

    async def get_credentials(self, email_key: str) -> StoredCredentials | None:
        return await self.primary.get_credentials(email_key)

    async def get_user(self, user_id: str) -> User | None:
        return await self.primary.get_user(user_id)

    async def get_session(self, session_id: str) -> tuple[Session, User] | None:
        return await self.primary.get_session(session_id)

    async def get_session_by_refresh(self, refresh_hash: str) -> tuple[Session, User] | None:
        return await self.primary.get_session_by_refresh(refresh_hash)

    async def get_retired_refresh(self, refresh_hash: str) -> RetiredRefresh | None:
        return await self.primary.get_retired_refresh(refresh_hash)

    async def get_retired_access(self, token_hash: str) -> RetiredRefresh | None:
        return await self.primary.get_retired_access(token_hash)

    async def list_user_sessions(self, user_id: str) -> list[Session]:
        return await self.primary.list_user_sessions(user_id)

    async def link_account(self, account: Account) -> None:
        await self.primary.link_account(account)

    async def unlink_account(self, user_id: str, provider: str, account_id: str) -> bool:
        return await self.primary.unlink_account(user_id, provider, account_id)

    async def get_user_by_account(self, provider: str, account_id: str) -> User | None:
        return await self.primary.get_user_by_account(provider, account_id)

    async def list_accounts(self, user_id: str) -> list[Account]:
        return await self.primary.list_accounts(user_id)

    async def record_event(self, event: AuthEvent) -> None:
        await self.primary.record_event(event)

    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> list[AuthEvent]:
        return await self.primary.list_events(user_id=user_id, limit=limit)

    async def create_verification(self, token: VerificationToken) -> None:
        await self.primary.create_verification(token)

    async def get_verification(self, token_hash: str) -> VerificationToken | None:
        return await self.primary.get_verification(token_hash)

    async def consume_verification(self, token_hash: str, purpose: str) -> VerificationToken | None:
        return await self.primary.consume_verification(token_hash, purpose)

    async def count_verification_attempt(self, token_hash: str) -> int:
        return await self.primary.count_verification_attempt(token_hash)

    async def delete_verifications(self, user_id: str, purpose: str) -> int:
        return await self.primary.delete_verifications(user_id, purpose)

    async def save_mfa_factor(self, factor: MFAFactor) -> None:
        await self.primary.save_mfa_factor(factor)

    async def list_mfa_factors(self, user_id: str) -> list[MFAFactor]:
        return await self.primary.list_mfa_factors(user_id)

    async def delete_mfa_factor(self, user_id: str, kind: str) -> bool:
        return await self.primary.delete_mfa_factor(user_id, kind)

    async def confirm_mfa_factor(self, user_id: str, kind: str, *, secret: str | None, step: int) -> bool:
        return await self.primary.confirm_mfa_factor(user_id, kind, secret=secret, step=step)

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        return await self.primary.advance_totp_step(user_id, step)

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], *, now: datetime) -> None:
        await self.primary.replace_recovery_codes(user_id, code_hashes, now=now)

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        return await self.primary.use_recovery_code(user_id, code_hash)

    async def count_recovery_codes(self, user_id: str) -> int:
        return await self.primary.count_recovery_codes(user_id)

    async def add_authenticator(self, authenticator: Authenticator) -> None:
        await self.primary.add_authenticator(authenticator)

    async def get_authenticator(self, credential_id: str) -> Authenticator | None:
        return await self.primary.get_authenticator(credential_id)

    async def list_authenticators(self, user_id: str) -> list[Authenticator]:
        return await self.primary.list_authenticators(user_id)

    async def update_authenticator_use(self, credential_id: str, *, sign_count: int, now: datetime) -> bool:
        return await self.primary.update_authenticator_use(credential_id, sign_count=sign_count, now=now)

    async def rename_authenticator(self, user_id: str, credential_id: str, name: str) -> bool:
        return await self.primary.rename_authenticator(user_id, credential_id, name)

    async def delete_authenticator(self, user_id: str, credential_id: str) -> bool:
        return await self.primary.delete_authenticator(user_id, credential_id)
