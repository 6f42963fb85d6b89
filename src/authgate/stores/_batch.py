"""Coalesce concurrent lookups: the ones started in one event-loop turn share one query.

Under load a server starts many session checks in the same turn of the event loop (uvicorn runs
every request whose bytes arrived together before it polls the sockets again). Each asyncpg round
trip costs the server far more CPU than the rows it returns, so one `WHERE token = ANY($1)` for all
of them is much cheaper than one query each. Nothing is cached: every caller gets what the database
holds at the moment of its query, a query that starts after the caller asked.

The first caller leads a batch: it yields once to the loop, so that the callers already runnable
in this turn can join, then sends the batch. A lone caller therefore waits for no one: after that
one yield it runs the usual single-row statement itself, in its own task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

K = TypeVar("K")
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """`await get(key)` answers like `fetch_one(key)`; concurrent keys go through `fetch_many`.

    `fetch_many(keys)` returns a mapping with an entry for each key found; a key it leaves out is
    None for its callers. An exception from either function is raised to every caller of the
    batch. At most `max_batch` distinct keys go into one query; more start another batch.
    """

    def __init__(
        self,
        fetch_one: Callable[[K], Awaitable[V | None]],
        fetch_many: Callable[[list[K]], Awaitable[Mapping[K, V]]],
        *,
        max_batch: int = 256,
    ) -> None:
        self._fetch_one = fetch_one
        self._fetch_many = fetch_many
        self._max_batch = max_batch
        self._pending: dict[K, list[asyncio.Future[V | None]]] | None = None
        self._pending_loop: asyncio.AbstractEventLoop | None = None  # a batch never spans two loops
        self._running: set[asyncio.Task[None]] = set()  # strong references until each batch is done

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        pending = self._pending
        if pending is not None and self._pending_loop is loop and (key in pending or len(pending) < self._max_batch):
            future: asyncio.Future[V | None] = loop.create_future()
            pending.setdefault(key, []).append(future)
            # A waiter that is cancelled (client gone) leaves the batch running for the others.
            return await future
        return await self._lead(key, loop)

    async def _lead(self, key: K, loop: asyncio.AbstractEventLoop) -> V | None:
        batch: dict[K, list[asyncio.Future[V | None]]] = {key: []}
        self._pending, self._pending_loop = batch, loop
        try:
            await asyncio.sleep(0)  # one turn of the loop: the callers runnable now join the batch
        except asyncio.CancelledError:
            self._close(batch)
            if len(batch) > 1 or batch[key]:
                self._send(batch, loop)  # the others still get their answer
            raise
        self._close(batch)
        if len(batch) == 1 and not batch[key]:
            return await self._fetch_one(key)  # alone: the single-row statement, in our own task
        own: asyncio.Future[V | None] = loop.create_future()
        batch[key].append(own)
        self._send(batch, loop)
        return await own

    def _close(self, batch: dict[K, list[asyncio.Future[V | None]]]) -> None:
        if self._pending is batch:
            self._pending = None

    def _send(self, batch: dict[K, list[asyncio.Future[V | None]]], loop: asyncio.AbstractEventLoop) -> None:
        # In a task of its own, so that no caller's cancellation can stop the others' query.
        task = loop.create_task(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: dict[K, list[asyncio.Future[V | None]]]) -> None:
        keys = list(batch)
        try:
            if len(keys) == 1:
                found: Mapping[K, V | None] = {keys[0]: await self._fetch_one(keys[0])}
            else:
                found = await self._fetch_many(keys)
        except asyncio.CancelledError:
            for waiters in batch.values():
                for future in waiters:
                    future.cancel()
            raise
        except Exception as exc:  # every waiter sees the failure of the query it was part of
            for waiters in batch.values():
                for future in waiters:
                    if not future.done():
                        future.set_exception(exc)
            return
        for key, waiters in batch.items():
            value = found.get(key)
            for future in waiters:
                if not future.done():
                    future.set_result(value)
