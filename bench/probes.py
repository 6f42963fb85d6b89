"""Measurements the scenarios share: the raw argon2id rate, repeated route runs, query plans, lock waits, row counts."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type as Argon2Type

from bench.common import (
    AUTHGATE_SCHEMA,
    PASSWORD,
)
from bench.cpu import wait_for_quiet
from bench.load import WrkResult, wrk
from bench.seeding import pg_connect
from bench.servers import Server
from bench.settings import ARGON2, Settings


def raw_argon2_rate(password_hash: str, seconds: float, threads: int = 2) -> tuple[float, float]:
    """argon2id verifies per second on `threads` threads in this process (argon2-cffi releases the
    GIL), and the CPU milliseconds one verify costs (thread CPU time, so a busy host does not skew it)."""
    hasher = Argon2Hasher(type=Argon2Type.ID, **ARGON2)
    deadline = time.monotonic() + seconds

    def worker() -> tuple[int, float]:
        done = 0
        cpu = time.thread_time()
        while time.monotonic() < deadline:
            hasher.verify(password_hash, PASSWORD)
            done += 1
        return done, time.thread_time() - cpu

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts = [f.result() for f in [pool.submit(worker) for _ in range(threads)]]
    total = sum(n for n, _ in parts)
    return total / (time.monotonic() - started), 1000 * sum(c for _, c in parts) / max(1, total)


async def bench_route(server: Server, script: Path, s: Settings, label: str) -> list[WrkResult]:
    url = server.base + "/api/private"
    runs = []
    for n in range(s.runs):
        await wait_for_quiet(s.quiet_wait)
        result = await wrk(
            url, script, duration=s.duration, connections=s.connections, label=f"{label} run {n + 1}", server=server
        )
        runs.append(result)
    return runs


async def explain(schema: str, sql: str, *args: Any) -> str:
    conn = await pg_connect(schema)
    try:
        rows = await conn.fetch("EXPLAIN " + sql, *args)
    finally:
        await conn.close()
    return "\n".join(r[0] for r in rows)


CLEANUP_APP_NAME = "authgate-bench-cleanup"


async def lock_waits_during(task: asyncio.Task[Any]) -> dict[str, Any]:
    """Poll pg_stat_activity every 10 ms while `task` runs. Counts samples in which any backend
    waits on a lock held by the cleanup's connections (application_name CLEANUP_APP_NAME), and,
    for context, samples with any lock wait at all in the database (other users of a shared
    Postgres included)."""
    conn = await pg_connect()
    samples = blocked = any_wait = 0
    examples: list[str] = []
    try:
        while not task.done():
            rows = await conn.fetch(
                "SELECT w.wait_event, left(w.query, 120) AS query,"
                " EXISTS (SELECT 1 FROM pg_stat_activity b WHERE b.pid = ANY(pg_blocking_pids(w.pid))"
                "         AND b.application_name = $1) AS by_cleanup"
                " FROM pg_stat_activity w"
                " WHERE w.datname = current_database() AND w.pid <> pg_backend_pid() AND w.wait_event_type = 'Lock'",
                CLEANUP_APP_NAME,
            )
            samples += 1
            any_wait += bool(rows)
            mine = [r for r in rows if r["by_cleanup"]]
            if mine:
                blocked += 1
                if len(examples) < 5:
                    examples.extend(f"{r['wait_event']}: {r['query']}" for r in mine)
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    return {"samples": samples, "blocked_by_cleanup": blocked, "any_lock_wait": any_wait, "examples": examples}


async def insert_expired_sessions(count: int, users: int) -> None:
    conn = await pg_connect(AUTHGATE_SCHEMA)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(
            """INSERT INTO sessions (id, user_id, token, refresh_token, expires_at, refresh_expires_at, created_at)
            SELECT 'expired-' || i, md5('user' || (1 + i % $2))::uuid::text,
                   encode(sha256(convert_to('expired-token-' || i, 'UTF8')), 'hex'),
                   encode(sha256(convert_to('expired-refresh-' || i, 'UTF8')), 'hex'),
                   now() - interval '31 days', now() - interval '1 day', now() - interval '31 days'
            FROM generate_series(1, $1::int) AS i""",
            count,
            users,
        )
        await conn.execute("ANALYZE sessions")
    finally:
        await conn.close()


async def count_rows(schema: str, table: str, where: str = "true") -> int:
    conn = await pg_connect(schema)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}"))
    finally:
        await conn.close()
