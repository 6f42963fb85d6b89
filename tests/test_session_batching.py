"""PostgresStore batches concurrent session checks into one query, and each caller still gets
exactly what the database holds for its own token (no cache, no staleness)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from authgate import ServiceUnavailable
from authgate.stores import PostgresStore, Session, User
from authgate.stores._batch import Coalescer


async def _user_with_session(store: PostgresStore, i: int) -> tuple[User, Session, str]:
    now = datetime.now(UTC).replace(microsecond=0)
    user = User(id=str(uuid.uuid4()), email=f"u{i}@example.com", name=f"U{i}", email_verified=False, image=None,
                created_at=now, updated_at=now)  # fmt: skip
    await store.create_user(user, email_key=user.email, password_hash=None)
    session = Session(id=str(uuid.uuid4()), user_id=user.id, expires_at=now + timedelta(hours=1),
                      refresh_expires_at=now + timedelta(days=1), created_at=now, last_used_at=now)  # fmt: skip
    token_hash = f"{i:064x}"
    await store.create_session(session, token_hash=token_hash, refresh_hash=f"r{i:063x}")
    return user, session, token_hash


def _count_batches(store: PostgresStore) -> list[int]:
    """Record the size of each multi-token query the store sends (wraps the batch function)."""
    sizes: list[int] = []
    coalescer = store._session_checks
    fetch_many = coalescer._fetch_many

    async def counted(keys: list[str]) -> object:
        sizes.append(len(keys))
        return await fetch_many(keys)

    coalescer._fetch_many = counted  # type: ignore[assignment]
    return sizes


async def test_concurrent_checks_share_one_query_and_each_gets_its_own_session(pg_store: PostgresStore) -> None:
    made = [await _user_with_session(pg_store, i) for i in range(20)]
    sizes = _count_batches(pg_store)
    unknown = "f" * 64
    hashes = [token_hash for _, _, token_hash in made]
    found = await asyncio.gather(*(pg_store.get_session_by_token(h) for h in [*hashes, unknown, hashes[3]]))
    assert sizes == [21]  # twenty distinct tokens and an unknown one; the repeated token rides along
    for (user, session, _), answer in zip(made, found[:20], strict=True):
        assert answer is not None
        assert answer[0] == session and answer[1] == user
    assert found[20] is None
    assert found[21] == found[3]


async def test_a_token_revoked_before_the_batch_is_refused_while_the_others_pass(pg_store: PostgresStore) -> None:
    made = [await _user_with_session(pg_store, i) for i in range(5)]
    assert await pg_store.delete_session(made[2][1].id)
    found = await asyncio.gather(*(pg_store.get_session_by_token(h) for _, _, h in made))
    assert [answer is not None for answer in found] == [True, True, False, True, True]
    # No staleness: a revocation between two checks shows in the very next one.
    assert await pg_store.delete_session(made[0][1].id)
    assert await pg_store.get_session_by_token(made[0][2]) is None


async def test_a_lone_check_uses_the_single_row_statement(pg_store: PostgresStore) -> None:
    _, session, token_hash = await _user_with_session(pg_store, 1)
    sizes = _count_batches(pg_store)
    found = await pg_store.get_session_by_token(token_hash)
    assert found is not None and found[0] == session
    assert sizes == []


async def test_a_failed_batch_raises_service_unavailable_to_every_waiter(pg_url: str, pg_schema: str) -> None:
    store = PostgresStore(pg_url, schema=pg_schema, command_timeout=0.5, min_size=1, max_size=5)
    await store.open()
    locker = await asyncpg.connect(pg_url, server_settings={"search_path": pg_schema})
    try:
        made = [await _user_with_session(store, i) for i in range(4)]
        transaction = locker.transaction()
        await transaction.start()
        await locker.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
        began = time.monotonic()
        answers = await asyncio.gather(
            *(store.get_session_by_token(h) for _, _, h in made), return_exceptions=True
        )  # fmt: skip
        assert all(isinstance(answer, ServiceUnavailable) for answer in answers), answers
        assert time.monotonic() - began < 3
        await transaction.rollback()
        # The lock gone, the same store answers again.
        found = await asyncio.gather(*(store.get_session_by_token(h) for _, _, h in made))
        assert all(answer is not None for answer in found)
    finally:
        await locker.close()
        await store.close()


async def test_a_cancelled_waiter_leaves_the_batch_to_the_others() -> None:
    release = asyncio.Event()

    async def slow_many(keys: list[str]) -> dict[str, str]:
        await release.wait()
        return {key: key.upper() for key in keys}

    async def one(key: str) -> str:
        return key.upper()

    coalescer: Coalescer[str, str] = Coalescer(one, slow_many)
    tasks = [asyncio.create_task(coalescer.get(key)) for key in ("a", "b", "c")]
    await asyncio.sleep(0.01)
    tasks[0].cancel()
    release.set()
    assert await asyncio.gather(*tasks[1:]) == ["B", "C"]
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]


async def test_batches_are_bounded_and_a_batch_error_reaches_all_its_callers() -> None:
    sizes: list[int] = []

    async def many(keys: list[int]) -> dict[int, int]:
        sizes.append(len(keys))
        if 13 in keys:
            raise ServiceUnavailable()
        return {key: key * 2 for key in keys}

    async def one(key: int) -> int:
        return key * 2

    coalescer: Coalescer[int, int] = Coalescer(one, many, max_batch=10)
    results = await asyncio.gather(*(coalescer.get(key) for key in range(25)), return_exceptions=True)
    assert sizes == [10, 10, 5]
    assert all(isinstance(r, ServiceUnavailable) for r in results[10:20])
    assert results[:10] == [k * 2 for k in range(10)] and results[20:] == [k * 2 for k in range(20, 25)]


async def _timed(call: Callable[[], Awaitable[object]], n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - began) / n


async def test_a_lone_check_waits_for_nobody(pg_store: PostgresStore) -> None:
    # One connection: the batched path costs no more than calling the single statement directly.
    _, _, token_hash = await _user_with_session(pg_store, 1)
    direct = lambda: pg_store._session_by_token(token_hash)  # noqa: E731
    batched = lambda: pg_store.get_session_by_token(token_hash)  # noqa: E731
    await _timed(batched, 50)
    rounds = [(await _timed(direct, 100), await _timed(batched, 100)) for _ in range(3)]
    best_direct, best_batched = min(r[0] for r in rounds), min(r[1] for r in rounds)
    assert best_batched < best_direct * 1.5 + 0.0002, rounds


def test_a_batch_left_behind_by_a_closed_loop_does_not_trap_the_next_loop() -> None:
    async def many(keys: list[int]) -> dict[int, int]:
        return {key: key for key in keys}

    async def one(key: int) -> int:
        return key

    coalescer: Coalescer[int, int] = Coalescer(one, many)

    async def abandon() -> None:
        asyncio.get_running_loop().create_task(coalescer.get(1))  # queued, never sent: the loop ends first

    first = asyncio.new_event_loop()
    first.set_exception_handler(lambda loop, context: None)  # the abandoned task is expected to die pending
    first.run_until_complete(abandon())
    first.close()
    second = asyncio.new_event_loop()
    try:
        assert second.run_until_complete(asyncio.wait_for(coalescer.get(2), 2)) == 2
    finally:
        second.close()


async def test_the_batched_statement_answers_exactly_like_the_single_one(pg_store: PostgresStore) -> None:
    made = [await _user_with_session(pg_store, i) for i in range(3)]
    hashes = [h for _, _, h in made]
    single = [await pg_store._session_by_token(h) for h in hashes]
    batched = await pg_store._sessions_by_tokens(hashes)
    assert [batched.get(h) for h in hashes] == single
    assert all(found is not None for found in single)


async def test_a_leader_cancelled_while_gathering_still_gets_the_others_served() -> None:
    async def many(keys: list[str]) -> dict[str, str]:
        return {key: key.upper() for key in keys}

    async def one(key: str) -> str:
        return key.upper()

    coalescer: Coalescer[str, str] = Coalescer(one, many)
    tasks = [asyncio.create_task(coalescer.get(key)) for key in ("a", "b", "c")]
    await asyncio.sleep(0)  # "a" now leads and yields; "b" and "c" have joined its batch
    tasks[0].cancel()
    assert await asyncio.wait_for(asyncio.gather(*tasks[1:]), 2) == ["B", "C"]
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
