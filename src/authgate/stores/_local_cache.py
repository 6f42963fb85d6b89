"""The in-process part of `RedisStore`'s session cache: a bounded LRU of session lookups, with
indexes by session id and user id so that an invalidation drops exactly the affected entries."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from .._models import Session, User

__all__ = ["LocalSessionCache"]

Found = tuple[Session, User]


@dataclass(slots=True)
class _Entry:
    found: Found
    deadline: float  # monotonic
    expires_at: datetime  # the session's access expiry (wall clock)


class LocalSessionCache:
    """Token hash -> (session, user), each entry living at most `ttl` seconds and never past the
    session's access expiry. `generation` moves on every drop or clear, so a lookup that started
    before an invalidation can tell that its result must not be stored."""

    def __init__(self, *, ttl: float, max_entries: int, wall_clock: Callable[[], datetime]) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._wall_clock = wall_clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_session: dict[str, str] = {}
        self._by_user: dict[str, set[str]] = {}
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_hash: str) -> Found | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if time.monotonic() >= entry.deadline or self._wall_clock() >= entry.expires_at:
            self._remove(token_hash)
            return None
        self._entries.move_to_end(token_hash)
        return entry.found

    def put(self, token_hash: str, found: Found, *, generation: int, max_age: float | None = None) -> None:
        """Store a lookup result unless an invalidation happened since `generation` was read; it
        lives at most `ttl` seconds, and at most `max_age` (what is left of the Redis entry's
        deadline), so an in-process copy never outlives the entry it came from."""
        if generation != self.generation or self.max_entries <= 0:
            return
        if max_age is not None and max_age <= 0:
            return
        session, user = found
        remaining = (session.expires_at - self._wall_clock()).total_seconds()
        if remaining <= 0:
            return
        self._remove(token_hash)
        old = self._by_session.get(session.id)
        if old is not None:
            self._remove(old)
        while len(self._entries) >= self.max_entries:
            self._remove(next(iter(self._entries)))
        deadline = time.monotonic() + min(self.ttl, remaining, self.ttl if max_age is None else max_age)
        self._entries[token_hash] = _Entry(found, deadline, session.expires_at)
        self._by_session[session.id] = token_hash
        self._by_user.setdefault(user.id, set()).add(session.id)

    def drop(
        self,
        *,
        session_ids: Iterable[str] = (),
        user_ids: Iterable[str] = (),
        refresh_expired_before: float | None = None,
    ) -> None:
        """Forget the given sessions, every session of the given users, and (for cleanup) every
        session whose refresh lifetime ends before that POSIX timestamp."""
        self.generation += 1
        doomed = set(session_ids)
        for user_id in user_ids:
            doomed |= self._by_user.get(user_id, set())
        if refresh_expired_before is not None:
            doomed |= {
                e.found[0].id
                for e in self._entries.values()
                if e.found[0].refresh_expires_at.timestamp() < refresh_expired_before
            }
        for session_id in doomed:
            token_hash = self._by_session.get(session_id)
            if token_hash is not None:
                self._remove(token_hash)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._by_session.clear()
        self._by_user.clear()

    def _remove(self, token_hash: str) -> None:
        entry = self._entries.pop(token_hash, None)
        if entry is None:
            return
        session, user = entry.found
        if self._by_session.get(session.id) == token_hash:
            del self._by_session[session.id]
        sessions = self._by_user.get(user.id)
        if sessions is not None:
            sessions.discard(session.id)
            if not sessions:
                del self._by_user[user.id]
