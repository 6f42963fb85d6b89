"""5. Cleanup of expired sessions from a second process while wrk loads the protected route."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict
from typing import Any

import asyncpg

from authgate import Auth
from authgate.stores import PostgresStore
from bench.clients import protected_requests, sample_ids
from bench.common import AUTHGATE_SCHEMA, DATABASE_URL, SECRET
from bench.cpu import wait_for_quiet
from bench.load import write_lua, wrk
from bench.probes import CLEANUP_APP_NAME, count_rows, insert_expired_sessions, lock_waits_during
from bench.seeding import raw_token
from bench.servers import SERVERS, running
from bench.settings import TOKEN_SAMPLE, Settings, log


async def _cleanup_during_load(s: Settings, script: Any) -> tuple[int, float, dict[str, Any], Any]:
    ag_pg = SERVERS["authgate_pg"]
    # The cleanup runs on a pool of our own only to tag its connections (application_name), so
    # that lock waits it causes can be told from those of anyone else sharing this Postgres.
    cleanup_pool = await asyncpg.create_pool(
        DATABASE_URL, min_size=1, max_size=2,
        server_settings={"search_path": AUTHGATE_SCHEMA, "application_name": CLEANUP_APP_NAME},
    )  # fmt: skip
    auth = Auth(store=PostgresStore(pool=cleanup_pool), secret=SECRET)
    await auth.open()
    try:
        await wait_for_quiet(s.quiet_wait)
        load = asyncio.create_task(
            wrk(ag_pg.base + "/api/private", script, duration=s.cleanup_wrk_duration, connections=s.connections,
                label="during cleanup", server=ag_pg)
        )  # fmt: skip
        await asyncio.sleep(0.5)
        started = time.monotonic()
        job = asyncio.create_task(auth.cleanup_expired_sessions())
        locks = await lock_waits_during(job)
        deleted = await job
        elapsed = time.monotonic() - started
        during = await load
    finally:
        await auth.close()
        await cleanup_pool.close()
    return deleted, elapsed, locks, during


async def cleanup(s: Settings, rng: random.Random) -> dict[str, Any]:
    ag_pg = SERVERS["authgate_pg"]
    result: dict[str, Any] = {"expired": s.expired_sessions}
    ids = sample_ids(TOKEN_SAMPLE, s.large_users, rng)
    script = write_lua("protected-cleanup", protected_requests(ag_pg, [raw_token(i) for i in ids]))
    async with running(ag_pg):  # its lifespan's first cleanup pass runs now, before the expired rows exist
        url = ag_pg.base + "/api/private"
        await wrk(url, script, duration=s.warmup, connections=s.connections, label="cleanup warm-up")
        await wait_for_quiet(s.quiet_wait)
        idle = await wrk(url, script, duration=s.cleanup_wrk_duration, connections=s.connections,
                         label="cleanup idle", server=ag_pg)  # fmt: skip
        log(f"inserting {s.expired_sessions:,} expired sessions")
        await insert_expired_sessions(s.expired_sessions, s.large_users)
        deleted, elapsed, locks, during = await _cleanup_during_load(s, script)
        remaining = await count_rows(AUTHGATE_SCHEMA, "sessions", "refresh_expires_at < now()")
    result.update(
        {
            "deleted": deleted,
            "seconds": elapsed,
            "remaining_expired": remaining,
            "idle": asdict(idle),
            "during": asdict(during),
            "p99_ratio": during.p99_ms / idle.p99_ms,
            "locks": locks,
            "window_fraction": min(1.0, elapsed / s.cleanup_wrk_duration),
        }
    )
    log(
        f"cleanup: deleted {deleted:,} in {elapsed:.2f} s; protected p99 idle {idle.p99_ms:.2f} ms, during "
        f"{during.p99_ms:.2f} ms; waits on its locks in {locks['blocked_by_cleanup']}/{locks['samples']} samples;"
        f" errors {during.errors}"
    )
    return result
