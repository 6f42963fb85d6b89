"""The reference Store: plain dicts, readable in one sitting. Every method finishes without an
`await` in the middle, so each is atomic on the event loop, just as the SQL adapters are atomic
through transactions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Unpack

from .._errors import AccountInUse, EmailInUse, PasskeyInUse
from .._models import Account, Authenticator, AuthEvent, MFAFactor, RetiredRefresh, Session, User, VerificationToken
from .base import RefreshRotation, StoredCredentials

__all__ = ["MemoryStore"]


@dataclass(slots=True)
class _SessionRow:
    session: Session
    token_hash: str
    refresh_hash: str
    previous_refresh_hash: str | None = None


class MemoryStore:
    """In-process storage for tests, demos and single-process prototypes. Data dies with the process."""

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._password_hashes: dict[str, str | None] = {}
        self._user_id_by_email: dict[str, str] = {}
        self._sessions: dict[str, _SessionRow] = {}
        self._session_by_token: dict[str, str] = {}
        self._session_by_refresh: dict[str, str] = {}
        self._retired: dict[str, RetiredRefresh] = {}
        self._retired_access: dict[str, RetiredRefresh] = {}
        self._accounts: dict[tuple[str, str], Account] = {}
        self._events: list[AuthEvent] = []
        self._verifications: dict[str, VerificationToken] = {}
        self._factors: dict[tuple[str, str], MFAFactor] = {}
        self._recovery: dict[str, set[str]] = {}
        self._authenticators: dict[str, Authenticator] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create_user(self, user: User, *, email_key: str, password_hash: str | None) -> None:
        if email_key in self._user_id_by_email:
            raise EmailInUse()
        self._users[user.id] = user
        self._password_hashes[user.id] = password_hash
        self._user_id_by_email[email_key] = user.id

    async def get_credentials(self, email_key: str) -> StoredCredentials | None:
        user_id = self._user_id_by_email.get(email_key)
        if user_id is None:
            return None
        return self._users[user_id], self._password_hashes[user_id]

    async def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    async def set_password_hash(self, user_id: str, password_hash: str | None, *, now: datetime) -> None:
        if user_id in self._users:
            self._password_hashes[user_id] = password_hash
            self._users[user_id] = replace(self._users[user_id], updated_at=now)

    async def create_session(
        self, session: Session, *, token_hash: str, refresh_hash: str, credential_version: int | None = None
    ) -> bool:
        user = self._users.get(session.user_id)
        if user is None or (credential_version is not None and user.credential_version != credential_version):
            return False
        self._sessions[session.id] = _SessionRow(session, token_hash, refresh_hash)
        self._session_by_token[token_hash] = session.id
        self._session_by_refresh[refresh_hash] = session.id
        return True

    def _joined(self, session_id: str | None) -> tuple[Session, User] | None:
        row = self._sessions.get(session_id) if session_id else None
        if row is None:
            return None
        return row.session, self._users[row.session.user_id]

    async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        return self._joined(self._session_by_token.get(token_hash))

    async def get_session(self, session_id: str) -> tuple[Session, User] | None:
        return self._joined(session_id)

    async def get_session_by_refresh(self, refresh_hash: str) -> tuple[Session, User] | None:
        return self._joined(self._session_by_refresh.get(refresh_hash))

    async def rotate_refresh(self, session_id: str, **rotation: Unpack[RefreshRotation]) -> Session | None:
        row = self._sessions.get(session_id)
        old_refresh_hash, now = rotation["old_refresh_hash"], rotation["now"]
        if row is None or row.refresh_hash != old_refresh_hash:
            return None
        del self._session_by_token[row.token_hash]
        del self._session_by_refresh[row.refresh_hash]
        self._retired[old_refresh_hash] = RetiredRefresh(session_id=session_id, retired_at=now)
        self._retired_access[row.token_hash] = RetiredRefresh(session_id=session_id, retired_at=now)
        row.previous_refresh_hash = old_refresh_hash
        row.session = replace(
            row.session,
            expires_at=rotation["expires_at"],
            refresh_expires_at=rotation["refresh_expires_at"],
            last_used_at=now,
        )
        row.token_hash, row.refresh_hash = rotation["token_hash"], rotation["refresh_hash"]
        self._session_by_token[row.token_hash] = session_id
        self._session_by_refresh[row.refresh_hash] = session_id
        return row.session

    async def get_retired_refresh(self, refresh_hash: str) -> RetiredRefresh | None:
        retired = self._retired.get(refresh_hash)
        row = self._sessions.get(retired.session_id) if retired else None
        if retired is None or row is None:
            return None
        return replace(retired, is_latest=row.previous_refresh_hash == refresh_hash)

    async def get_retired_access(self, token_hash: str) -> RetiredRefresh | None:
        retired = self._retired_access.get(token_hash)
        return retired if retired is not None and retired.session_id in self._sessions else None

    async def set_session_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        row = self._sessions.get(session_id)
        if row is None:
            return False
        row.session = replace(row.session, auth_time=auth_time)
        return True

    async def record_credential_change(self, user_id: str, *, keep_session_id: str | None) -> int:
        user = self._users.get(user_id)
        if user is not None:
            self._users[user_id] = replace(user, credential_version=user.credential_version + 1)
        for token_hash in [h for h, v in self._verifications.items() if v.user_id == user_id]:
            del self._verifications[token_hash]
        return await self.delete_user_sessions(user_id, except_session_id=keep_session_id)

    async def delete_session(self, session_id: str) -> bool:
        row = self._sessions.pop(session_id, None)
        if row is None:
            return False
        del self._session_by_token[row.token_hash]
        del self._session_by_refresh[row.refresh_hash]
        # Retired hashes go with their session, as ON DELETE CASCADE does in SQL.
        for retired in (self._retired, self._retired_access):
            for retired_hash in [h for h, r in retired.items() if r.session_id == session_id]:
                del retired[retired_hash]
        return True

    async def delete_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        doomed = [
            sid for sid, row in self._sessions.items() if row.session.user_id == user_id and sid != except_session_id
        ]
        for sid in doomed:
            await self.delete_session(sid)
        return len(doomed)

    async def list_user_sessions(self, user_id: str) -> list[Session]:
        sessions = [row.session for row in self._sessions.values() if row.session.user_id == user_id]
        return sorted(sessions, key=lambda s: s.created_at, reverse=True)

    async def delete_expired_sessions(self, *, now: datetime, limit: int) -> int:
        doomed = [sid for sid, row in self._sessions.items() if row.session.refresh_expires_at < now][:limit]
        for sid in doomed:
            await self.delete_session(sid)
        return len(doomed)

    async def update_user(self, user: User, *, email_key: str | None = None) -> None:
        if user.id not in self._users:
            return
        if email_key is not None:
            owner = self._user_id_by_email.get(email_key)
            if owner is not None and owner != user.id:
                raise EmailInUse()
            for key in [k for k, uid in self._user_id_by_email.items() if uid == user.id]:
                del self._user_id_by_email[key]
            self._user_id_by_email[email_key] = user.id
        # The credential version changes only through record_credential_change.
        self._users[user.id] = replace(user, credential_version=self._users[user.id].credential_version)

    async def delete_user(self, user_id: str) -> bool:
        if user_id not in self._users:
            return False
        await self.delete_user_sessions(user_id)
        for key in [k for k, a in self._accounts.items() if a.user_id == user_id]:
            del self._accounts[key]
        for token_hash in [h for h, v in self._verifications.items() if v.user_id == user_id]:
            del self._verifications[token_hash]
        for factor_key in [k for k in self._factors if k[0] == user_id]:
            del self._factors[factor_key]
        self._recovery.pop(user_id, None)
        for credential_id in [c for c, a in self._authenticators.items() if a.user_id == user_id]:
            del self._authenticators[credential_id]
        for email_key in [k for k, uid in self._user_id_by_email.items() if uid == user_id]:
            del self._user_id_by_email[email_key]
        del self._users[user_id], self._password_hashes[user_id]
        return True

    async def link_account(self, account: Account) -> None:
        key = (account.provider, account.account_id)
        if key in self._accounts:
            raise AccountInUse()
        self._accounts[key] = account

    async def unlink_account(self, user_id: str, provider: str, account_id: str) -> bool:
        account = self._accounts.get((provider, account_id))
        if account is None or account.user_id != user_id:
            return False
        del self._accounts[(provider, account_id)]
        return True

    async def get_user_by_account(self, provider: str, account_id: str) -> User | None:
        account = self._accounts.get((provider, account_id))
        return self._users.get(account.user_id) if account else None

    async def list_accounts(self, user_id: str) -> list[Account]:
        accounts = [a for a in self._accounts.values() if a.user_id == user_id]
        return sorted(accounts, key=lambda a: a.created_at)

    async def record_event(self, event: AuthEvent) -> None:
        self._events.append(event)

    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> list[AuthEvent]:
        events = [e for e in self._events if user_id is None or e.user_id == user_id]
        return sorted(events, key=lambda e: e.created_at, reverse=True)[:limit]

    async def create_verification(self, token: VerificationToken) -> None:
        self._verifications[token.token_hash] = token

    async def get_verification(self, token_hash: str) -> VerificationToken | None:
        return self._verifications.get(token_hash)

    async def consume_verification(self, token_hash: str, purpose: str) -> VerificationToken | None:
        token = self._verifications.get(token_hash)
        if token is None or token.purpose != purpose:
            return None
        return self._verifications.pop(token_hash)

    async def count_verification_attempt(self, token_hash: str) -> int:
        token = self._verifications.get(token_hash)
        if token is None:
            return 0
        self._verifications[token_hash] = replace(token, attempts=token.attempts + 1)
        return token.attempts + 1

    async def delete_verifications(self, user_id: str, purpose: str) -> int:
        doomed = [h for h, v in self._verifications.items() if v.user_id == user_id and v.purpose == purpose]
        for token_hash in doomed:
            del self._verifications[token_hash]
        return len(doomed)

    async def save_mfa_factor(self, factor: MFAFactor) -> None:
        self._factors[(factor.user_id, factor.kind)] = factor

    async def list_mfa_factors(self, user_id: str) -> list[MFAFactor]:
        factors = [f for (uid, _), f in self._factors.items() if uid == user_id]
        return sorted(factors, key=lambda f: f.created_at)

    async def delete_mfa_factor(self, user_id: str, kind: str) -> bool:
        return self._factors.pop((user_id, kind), None) is not None

    async def confirm_mfa_factor(self, user_id: str, kind: str, *, secret: str | None, step: int) -> bool:
        factor = self._factors.get((user_id, kind))
        if factor is None or factor.confirmed or factor.secret != secret:
            return False
        self._factors[(user_id, kind)] = replace(factor, confirmed=True, last_used_step=step)
        return True

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        factor = self._factors.get((user_id, "totp"))
        if factor is None or step <= factor.last_used_step:
            return False
        self._factors[(user_id, "totp")] = replace(factor, last_used_step=step)
        return True

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], *, now: datetime) -> None:
        self._recovery[user_id] = set(code_hashes)

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        codes = self._recovery.get(user_id, set())
        if code_hash not in codes:
            return False
        codes.remove(code_hash)
        return True

    async def count_recovery_codes(self, user_id: str) -> int:
        return len(self._recovery.get(user_id, ()))

    async def add_authenticator(self, authenticator: Authenticator) -> None:
        if authenticator.credential_id in self._authenticators:
            raise PasskeyInUse()
        self._authenticators[authenticator.credential_id] = authenticator

    async def get_authenticator(self, credential_id: str) -> Authenticator | None:
        return self._authenticators.get(credential_id)

    async def list_authenticators(self, user_id: str) -> list[Authenticator]:
        found = [a for a in self._authenticators.values() if a.user_id == user_id]
        return sorted(found, key=lambda a: a.created_at)

    async def update_authenticator_use(self, credential_id: str, *, sign_count: int, now: datetime) -> bool:
        current = self._authenticators.get(credential_id)
        # WebAuthn's rule: unless both counts are zero (authenticators without a counter), the new
        # count must exceed the stored one; anything else suggests a cloned authenticator.
        if current is None or ((sign_count or current.sign_count) and sign_count <= current.sign_count):
            return False
        self._authenticators[credential_id] = replace(current, sign_count=sign_count, last_used_at=now)
        return True

    async def rename_authenticator(self, user_id: str, credential_id: str, name: str) -> bool:
        current = self._authenticators.get(credential_id)
        if current is None or current.user_id != user_id:
            return False
        self._authenticators[credential_id] = replace(current, name=name)
        return True

    async def delete_authenticator(self, user_id: str, credential_id: str) -> bool:
        current = self._authenticators.get(credential_id)
        if current is None or current.user_id != user_id:
            return False
        del self._authenticators[credential_id]
        return True
