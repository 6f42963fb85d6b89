"""Fail fast, naming the service, when Postgres or Redis is not reachable."""

from __future__ import annotations

import asyncio
import os
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
    for line in missing:
        print(f"scripts/test: {line}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
