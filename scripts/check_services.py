"""Fail fast, naming the service, when Postgres or Redis is not reachable, or when the server
programs the fault tests start private instances of (initdb/pg_ctl, redis-server) are missing."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import sys

import asyncpg
import redis.asyncio as redis

PG_URL = os.environ.get("AUTHGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AUTHGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def main() -> int:
    missing: list[str] = []
    try:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        await conn.close()
        print(f"postgres: ok ({PG_URL})")
    except Exception as error:  # any failure means "not usable"
        missing.append(f"PostgreSQL is not reachable at {PG_URL}: {error!r}")
    try:
        client = redis.from_url(REDIS_URL, socket_connect_timeout=5)
        await client.ping()
        await client.aclose()
        print(f"redis: ok ({REDIS_URL})")
    except Exception as error:
        missing.append(f"Redis is not reachable at {REDIS_URL}: {error!r}")
    # Fault tests stop and reconfigure servers of their own, never the shared ones above.
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb") or not glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        missing.append("the Postgres server programs (initdb, pg_ctl under /usr/lib/postgresql/*/bin) are missing")
    if shutil.which("redis-server") is None:
        missing.append("redis-server is not on PATH")
    for line in missing:
        print(f"scripts/test: {line}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
