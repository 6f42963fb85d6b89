"""The store logic both SQL dialects share, written once against the statements in `_queries.py`.

`PostgresStore` and `SQLiteStore` subclass `SQLStore` and supply only what differs: how a statement
runs (connections, transactions, which failures mean "storage unavailable"), how a unique-key
conflict shows, how their driver carries a timestamp (`_time`), and the refresh rotation, which each
does its own way. Booleans and JSON need no dialect code: both drivers bind a bool (SQLite as 0/1)
and read back something `bool()` takes, and JSON travels as text in both.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Unpack, overload

from .._errors import AccountInUse, AuthError, EmailInUse, PasskeyInUse
from .._models import Account, Authenticator, AuthEvent, MFAFactor, RetiredRefresh, Session, User, VerificationToken
from . import _queries as q
from ._queries import Query
from .base import RefreshRotation, StoredCredentials

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["Conflict", "Row", "SQLStore", "Transaction"]

Conflict = Literal["email", "primary_key"]
"""The unique key a write may hit: the user's email, or the table's primary key."""


class Row(Protocol):
    """A result row read by position (an asyncpg Record, a SQLite tuple)."""

    @overload
    def __getitem__(self, index: int, /) -> Any: ...
    @overload
    def __getitem__(self, index: slice, /) -> tuple[Any, ...]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Transaction(Protocol):
    """Statements inside one transaction of the dialect's store."""

    async def execute(self, query: Query, /, **params: Any) -> int:
        """Run one statement; how many rows it changed."""

    async def executemany(self, query: Query, rows: Iterable[Mapping[str, Any]], /) -> None:
        """Run one statement once per parameter mapping."""


def _fields(record: DataclassInstance, **overrides: Any) -> dict[str, Any]:
    """A record's fields by name (the statements name their parameters after them), with overrides."""
    return {field.name: getattr(record, field.name) for field in fields(record)} | overrides


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


class SQLStore(abc.ABC):
    """The `Store` methods over SQL. Token arguments are hashes; see `Store` for each contract."""

    # -- what a dialect supplies ------------------------------------------------------------------

    @abc.abstractmethod
    async def _execute(self, query: Query, /, **params: Any) -> int:
        """Run one write statement; how many rows it changed."""

    @abc.abstractmethod
    async def _fetch(self, query: Query, /, **params: Any) -> list[Row]:
        """The rows of one read."""

    @abc.abstractmethod
    async def _fetchrow(self, query: Query, /, **params: Any) -> Row | None:
        """The first row of one read."""

    @abc.abstractmethod
    async def _write_fetchrow(self, query: Query, /, **params: Any) -> Row | None:
        """The row a write statement returns (RETURNING)."""

    @abc.abstractmethod
    def _transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """One transaction: committed when the block ends, rolled back when it raises."""

    _unique_violation: ClassVar[type[Exception]]
    """The driver's error for a unique-key violation."""

    @staticmethod
    @abc.abstractmethod
    def _violates(error: Exception, on: Conflict) -> bool:
        """Whether a unique-key violation is on the key `on` names."""

    @staticmethod
    @abc.abstractmethod
    def _time(value: Any) -> datetime:
        """A timestamp as the driver returns it, as an aware datetime."""

    @contextmanager
    def _conflict(self, error: type[AuthError], *, on: Conflict) -> Iterator[None]:
        """Raise `error` instead of the driver's error when the write in the block hits that key."""
        try:
            yield
        except self._unique_violation as violation:
            if self._violates(violation, on):
                raise error() from None
            raise

    # -- rows: each query lists its columns in the order of the record's fields -----------------

    def _maybe_time(self, value: Any) -> datetime | None:
        return None if value is None else self._time(value)

    def _user(self, row: Row) -> User:
        user_id, email, name, verified, image, created_at, updated_at, version = row
        return User(
            user_id, email, name, bool(verified), image, self._time(created_at), self._time(updated_at), version
        )

    def _session(self, row: Row) -> Session:
        sid, uid, expires, refresh_expires, created, last_used, ip, agent, auth_time = row
        t, maybe = self._time, self._maybe_time
        return Session(
            sid, uid, t(expires), t(refresh_expires), t(created), maybe(last_used), ip, agent, maybe(auth_time)
        )

    def _joined(self, row: Row) -> tuple[Session, User]:
        """A session's columns followed by its user's."""
        return self._session(row[:9]), self._user(row[9:])

    def _account(self, row: Row) -> Account:
        user_id, provider, account_id, created_at = row
        return Account(user_id, provider, account_id, self._time(created_at))

    def _event(self, row: Row) -> AuthEvent:
        event_id, kind, created_at, user_id, session_id, ip, agent, detail = row
        detail = None if detail is None else json.loads(detail)
        return AuthEvent(event_id, kind, self._time(created_at), user_id, session_id, ip, agent, detail)

    def _verification(self, row: Row) -> VerificationToken:
        token_hash, purpose, expires_at, created_at, user_id, data, attempts = row
        data = None if data is None else json.loads(data)
        return VerificationToken(
            token_hash, purpose, self._time(expires_at), self._time(created_at), user_id, data, attempts
        )

    def _factor(self, row: Row) -> MFAFactor:
        user_id, kind, confirmed, created_at, secret, last_used_step = row
        return MFAFactor(user_id, kind, bool(confirmed), self._time(created_at), secret, last_used_step)

    def _authenticator(self, row: Row) -> Authenticator:
        credential_id, user_id, public_key, sign_count, name, created_at, transports, backed_up, last_used = row
        created, last_used = self._time(created_at), self._maybe_time(last_used)
        transports = tuple(json.loads(transports))
        return Authenticator(
            credential_id, user_id, bytes(public_key), sign_count, name, created, transports, bool(backed_up), last_used
        )

    @abc.abstractmethod
    async def rotate_refresh(self, session_id: str, **rotation: Unpack[RefreshRotation]) -> Session | None:
        """See `Store.rotate_refresh`: one statement on Postgres, one transaction on SQLite."""

    # -- users ------------------------------------------------------------------------------------

    async def create_user(self, user: User, *, email_key: str, password_hash: str | None) -> None:
        with self._conflict(EmailInUse, on="email"):
            await self._execute(q.CREATE_USER, **_fields(user, email_key=email_key, password_hash=password_hash))

    async def get_credentials(self, email_key: str) -> StoredCredentials | None:
        row = await self._fetchrow(q.CREDENTIALS, email_key=email_key)
        return None if row is None else (self._user(row[:8]), row[8])

    async def get_user(self, user_id: str) -> User | None:
        row = await self._fetchrow(q.USER, user_id=user_id)
        return None if row is None else self._user(row)

    async def set_password_hash(self, user_id: str, password_hash: str | None, *, now: datetime) -> None:
        await self._execute(q.SET_PASSWORD_HASH, user_id=user_id, password_hash=password_hash, now=now)

    async def update_user(self, user: User, *, email_key: str | None = None) -> None:
        with self._conflict(EmailInUse, on="email"):
            await self._execute(q.UPDATE_USER, **_fields(user, email_key=email_key))

    async def delete_user(self, user_id: str) -> bool:
        return await self._execute(q.DELETE_USER, user_id=user_id) > 0

    # -- sessions ---------------------------------------------------------------------------------

    async def create_session(
        self, session: Session, *, token_hash: str, refresh_hash: str, credential_version: int | None = None
    ) -> bool:
        params = _fields(session, token_hash=token_hash, refresh_hash=refresh_hash)
        return await self._execute(q.CREATE_SESSION, **params, credential_version=credential_version) > 0

    async def get_session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        return await self._session_by_token(token_hash)

    async def _session_by_token(self, token_hash: str) -> tuple[Session, User] | None:
        row = await self._fetchrow(q.SESSION_BY_TOKEN, token_hash=token_hash)
        return None if row is None else self._joined(row)

    async def get_session(self, session_id: str) -> tuple[Session, User] | None:
        row = await self._fetchrow(q.SESSION_BY_ID, session_id=session_id)
        return None if row is None else self._joined(row)

    async def get_session_by_refresh(self, refresh_hash: str) -> tuple[Session, User] | None:
        row = await self._fetchrow(q.SESSION_BY_REFRESH, refresh_hash=refresh_hash)
        return None if row is None else self._joined(row)

    async def get_retired_refresh(self, refresh_hash: str) -> RetiredRefresh | None:
        row = await self._fetchrow(q.RETIRED, token_hash=refresh_hash, kind="refresh")
        return None if row is None else RetiredRefresh(row[0], self._time(row[1]), is_latest=bool(row[2]))

    async def get_retired_access(self, token_hash: str) -> RetiredRefresh | None:
        row = await self._fetchrow(q.RETIRED, token_hash=token_hash, kind="access")
        return None if row is None else RetiredRefresh(row[0], self._time(row[1]))

    async def set_session_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        return await self._execute(q.SET_AUTH_TIME, session_id=session_id, auth_time=auth_time) > 0

    async def record_credential_change(self, user_id: str, *, keep_session_id: str | None) -> int:
        async with self._transaction() as transaction:
            await transaction.execute(q.BUMP_CREDENTIAL_VERSION, user_id=user_id)
            await transaction.execute(q.DELETE_USER_VERIFICATIONS, user_id=user_id)
            return await transaction.execute(q.DELETE_USER_SESSIONS, user_id=user_id, keep=keep_session_id)

    async def delete_session(self, session_id: str) -> bool:
        return await self._execute(q.DELETE_SESSION, session_id=session_id) > 0

    async def delete_user_sessions(self, user_id: str, *, except_session_id: str | None = None) -> int:
        return await self._execute(q.DELETE_USER_SESSIONS, user_id=user_id, keep=except_session_id)

    async def list_user_sessions(self, user_id: str) -> list[Session]:
        return [self._session(row) for row in await self._fetch(q.LIST_USER_SESSIONS, user_id=user_id)]

    async def delete_expired_sessions(self, *, now: datetime, limit: int) -> int:
        return await self._execute(q.DELETE_EXPIRED, now=now, limit=limit)

    # -- linked accounts and the audit trail ------------------------------------------------------

    async def link_account(self, account: Account) -> None:
        with self._conflict(AccountInUse, on="primary_key"):
            await self._execute(q.LINK_ACCOUNT, **_fields(account))

    async def unlink_account(self, user_id: str, provider: str, account_id: str) -> bool:
        return await self._execute(q.UNLINK_ACCOUNT, user_id=user_id, provider=provider, account_id=account_id) > 0

    async def get_user_by_account(self, provider: str, account_id: str) -> User | None:
        row = await self._fetchrow(q.USER_BY_ACCOUNT, provider=provider, account_id=account_id)
        return None if row is None else self._user(row)

    async def list_accounts(self, user_id: str) -> list[Account]:
        return [self._account(row) for row in await self._fetch(q.LIST_ACCOUNTS, user_id=user_id)]

    async def record_event(self, event: AuthEvent) -> None:
        await self._execute(q.RECORD_EVENT, **_fields(event, detail=_json(event.detail)))

    async def list_events(self, *, user_id: str | None = None, limit: int = 100) -> list[AuthEvent]:
        if user_id is None:
            rows = await self._fetch(q.EVENTS, limit=limit)
        else:
            rows = await self._fetch(q.USER_EVENTS, user_id=user_id, limit=limit)
        return [self._event(row) for row in rows]

    # -- verification tokens ----------------------------------------------------------------------

    async def create_verification(self, token: VerificationToken) -> None:
        await self._execute(q.CREATE_VERIFICATION, **_fields(token, data=_json(token.data)))

    async def get_verification(self, token_hash: str) -> VerificationToken | None:
        row = await self._fetchrow(q.VERIFICATION, token_hash=token_hash)
        return None if row is None else self._verification(row)

    async def consume_verification(self, token_hash: str, purpose: str) -> VerificationToken | None:
        row = await self._write_fetchrow(q.CONSUME_VERIFICATION, token_hash=token_hash, purpose=purpose)
        return None if row is None else self._verification(row)

    async def count_verification_attempt(self, token_hash: str) -> int:
        row = await self._write_fetchrow(q.COUNT_VERIFICATION_ATTEMPT, token_hash=token_hash)
        return 0 if row is None else int(row[0])

    async def delete_verifications(self, user_id: str, purpose: str) -> int:
        return await self._execute(q.DELETE_VERIFICATIONS, user_id=user_id, purpose=purpose)

    # -- MFA factors and recovery codes -----------------------------------------------------------

    async def save_mfa_factor(self, factor: MFAFactor) -> None:
        await self._execute(q.SAVE_FACTOR, **_fields(factor))

    async def list_mfa_factors(self, user_id: str) -> list[MFAFactor]:
        return [self._factor(row) for row in await self._fetch(q.LIST_FACTORS, user_id=user_id)]

    async def delete_mfa_factor(self, user_id: str, kind: str) -> bool:
        return await self._execute(q.DELETE_FACTOR, user_id=user_id, kind=kind) > 0

    async def confirm_mfa_factor(self, user_id: str, kind: str, *, secret: str | None, step: int) -> bool:
        return await self._execute(q.CONFIRM_FACTOR, user_id=user_id, kind=kind, secret=secret, step=step) > 0

    async def advance_totp_step(self, user_id: str, step: int) -> bool:
        return await self._execute(q.ADVANCE_TOTP, user_id=user_id, step=step) > 0

    async def replace_recovery_codes(self, user_id: str, code_hashes: list[str], *, now: datetime) -> None:
        codes = [{"user_id": user_id, "code_hash": code, "created_at": now} for code in dict.fromkeys(code_hashes)]
        async with self._transaction() as transaction:
            await transaction.execute(q.DELETE_RECOVERY_CODES, user_id=user_id)
            await transaction.executemany(q.ADD_RECOVERY_CODE, codes)

    async def use_recovery_code(self, user_id: str, code_hash: str) -> bool:
        return await self._execute(q.USE_RECOVERY_CODE, user_id=user_id, code_hash=code_hash) > 0

    async def count_recovery_codes(self, user_id: str) -> int:
        row = await self._fetchrow(q.COUNT_RECOVERY_CODES, user_id=user_id)
        return 0 if row is None else int(row[0])

    # -- passkeys ---------------------------------------------------------------------------------

    async def add_authenticator(self, authenticator: Authenticator) -> None:
        with self._conflict(PasskeyInUse, on="primary_key"):
            transports = json.dumps(list(authenticator.transports))
            await self._execute(q.ADD_AUTHENTICATOR, **_fields(authenticator, transports=transports))

    async def get_authenticator(self, credential_id: str) -> Authenticator | None:
        row = await self._fetchrow(q.AUTHENTICATOR, credential_id=credential_id)
        return None if row is None else self._authenticator(row)

    async def list_authenticators(self, user_id: str) -> list[Authenticator]:
        return [self._authenticator(row) for row in await self._fetch(q.LIST_AUTHENTICATORS, user_id=user_id)]

    async def update_authenticator_use(self, credential_id: str, *, sign_count: int, now: datetime) -> bool:
        changed = await self._execute(q.AUTHENTICATOR_USE, credential_id=credential_id, sign_count=sign_count, now=now)
        return changed > 0

    async def rename_authenticator(self, user_id: str, credential_id: str, name: str) -> bool:
        return await self._execute(q.RENAME_AUTHENTICATOR, user_id=user_id, credential_id=credential_id, name=name) > 0

    async def delete_authenticator(self, user_id: str, credential_id: str) -> bool:
        return await self._execute(q.DELETE_AUTHENTICATOR, user_id=user_id, credential_id=credential_id) > 0
