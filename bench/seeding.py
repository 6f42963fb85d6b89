"""Resetting the benchmark databases and seeding users and sessions in bulk."""

# A driver script: a blocking open() or Popen() between load runs costs nothing that is measured.
# ruff: noqa: ASYNC221, ASYNC240

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.common import (
    ACCESS_LIFETIME_SECONDS,
    AUTHGATE_SCHEMA,
    BETTER_AUTH_DATABASE,
    DATABASE_URL,
    FAU_SCHEMA,
    REDIS_KEY_PREFIX,
    REDIS_URL,
    SQLITE_PATH,
)
from bench.servers import SERVERS, better_auth_env
from bench.settings import BA_SESSION_DAYS, BETTER_AUTH_DIR, EMAIL_DOMAIN, log


def raw_token(i: int) -> str:
    return f"benchtoken-{i:012d}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def user_email(i: int) -> str:
    return f"user{i}@{EMAIL_DOMAIN}"


def user_id(i: int) -> str:
    return str(uuid.UUID(hashlib.md5(f"user{i}".encode()).hexdigest()))  # matches md5(...)::uuid in SQL


async def pg_connect(schema: str | None = None) -> asyncpg.Connection:
    settings = {"search_path": schema} if schema else {}
    return await asyncpg.connect(DATABASE_URL, server_settings=settings)


async def reset_databases() -> None:
    conn = await pg_connect()
    try:
        for schema in (AUTHGATE_SCHEMA, FAU_SCHEMA):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    from authgate.stores.postgres import apply_schema

    conn = await pg_connect(AUTHGATE_SCHEMA)
    try:
        await apply_schema(conn)
    finally:
        await conn.close()
    sqlite_path = Path(SQLITE_PATH)
    sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{sqlite_path}{suffix}").unlink()
    from authgate.schema import SCHEMA_SQL

    db = sqlite3.connect(sqlite_path)
    try:
        db.executescript(SCHEMA_SQL["sqlite"])
        db.execute("PRAGMA journal_mode=WAL")
        db.commit()
    finally:
        db.close()
    await reset_better_auth()
    reset_redis()


def better_auth_url() -> str:
    return better_auth_env(SERVERS["better_auth"])["BA_DATABASE_URL"]


async def reset_better_auth() -> None:
    """Better Auth's own database on the same Postgres server, its tables made by its own migration."""
    conn = await pg_connect()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{BETTER_AUTH_DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{BETTER_AUTH_DATABASE}"')
    finally:
        await conn.close()
    env = {**os.environ, **better_auth_env(SERVERS["better_auth"])}
    out = subprocess.run(
        ["node", "server.mjs", "migrate"], cwd=BETTER_AUTH_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    if out.returncode != 0:
        raise SystemExit(f"Better Auth migration failed:\n{out.stdout}{out.stderr}")
    log(f"  Better Auth: {out.stdout.strip().splitlines()[-1]}")


def reset_redis() -> None:
    """Drop RedisStore's keys left by an earlier run ((f) and (g) use their own key prefix)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        for key in client.scan_iter(match=f"{REDIS_KEY_PREFIX}:*", count=1000):
            client.unlink(key)
    finally:
        client.close()


_PG_USERS_SQL = """\
INSERT INTO users (id, email, email_key, name, password_hash, email_verified, created_at, updated_at)
SELECT md5('user' || i)::uuid::text, 'user' || i || '@{domain}', 'user' || i || '@{domain}', 'Bench User ' || i,
       $1, true, now(), now()
FROM generate_series($2::int, $3::int) AS i"""
_PG_SESSIONS_SQL = """\
INSERT INTO sessions (id, user_id, token, refresh_token, expires_at, refresh_expires_at, created_at, last_used_at)
SELECT md5('session' || i)::uuid::text, md5('user' || i)::uuid::text,
       encode(sha256(convert_to('benchtoken-' || lpad(i::text, 12, '0'), 'UTF8')), 'hex'),
       encode(sha256(convert_to('benchrefresh-' || i, 'UTF8')), 'hex'),
       now() + make_interval(secs => $3), now() + interval '30 days', now(), now()
FROM generate_series($1::int, $2::int) AS i"""


async def seed_authgate_pg(password_hash: str, first: int, last: int) -> float:
    """Users first..last, one live session each (token benchtoken-<i>). Returns seconds taken."""
    started = time.monotonic()
    conn = await pg_connect(AUTHGATE_SCHEMA)
    try:
        await conn.execute("SET synchronous_commit = off")
        chunk = 200_000
        for lo in range(first, last + 1, chunk):
            hi = min(last, lo + chunk - 1)
            await conn.execute(_PG_USERS_SQL.format(domain=EMAIL_DOMAIN), password_hash, lo, hi)
            await conn.execute(_PG_SESSIONS_SQL, lo, hi, float(ACCESS_LIFETIME_SECONDS))
            if last - first > chunk:
                log(f"  authgate Postgres: users and sessions up to {hi:,}")
        await conn.execute("VACUUM ANALYZE users")
        await conn.execute("VACUUM ANALYZE sessions")
        # Flush the bulk load now (about 1 GB at 1M users), so that the checkpoint it would
        # otherwise trigger does not run during the next measurement. Needs superuser; skipped if not.
        with contextlib.suppress(asyncpg.PostgresError):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return time.monotonic() - started


def seed_authgate_sqlite(password_hash: str, count: int) -> None:
    now = datetime.now(UTC)

    def ts(value: datetime) -> str:
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    db = sqlite3.connect(SQLITE_PATH)
    try:
        db.executemany(
            "INSERT INTO users (id, email, email_key, name, password_hash, email_verified, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
            (
                (user_id(i), user_email(i), user_email(i), f"Bench User {i}", password_hash, ts(now), ts(now))
                for i in range(1, count + 1)
            ),
        )
        expires = ts(now + timedelta(seconds=ACCESS_LIFETIME_SECONDS))
        refresh_expires = ts(now + timedelta(days=30))
        db.executemany(
            "INSERT INTO sessions (id, user_id, token, refresh_token, expires_at, refresh_expires_at, created_at,"
            " last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    str(uuid.uuid4()),
                    user_id(i),
                    token_hash(raw_token(i)),
                    token_hash(f"benchrefresh-{i}"),
                    expires,
                    refresh_expires,
                    ts(now),
                    ts(now),
                )
                for i in range(1, count + 1)
            ),
        )
        db.commit()
        db.execute("ANALYZE")
    finally:
        db.close()


async def seed_fastapi_users(count: int, registered_hash: str) -> None:
    """Bulk users (with the hash fastapi-users made for a registered user) and database-strategy tokens."""
    conn = await pg_connect(FAU_SCHEMA)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(
            f"""INSERT INTO "user" (id, email, hashed_password, is_active, is_superuser, is_verified)
            SELECT md5('user' || i)::uuid, 'user' || i || '@{EMAIL_DOMAIN}', $1, true, false, true
            FROM generate_series(1, $2::int) AS i""",
            registered_hash,
            count,
        )
        await conn.execute(
            """INSERT INTO accesstoken (token, created_at, user_id)
            SELECT 'benchtoken-' || lpad(i::text, 12, '0'), now(), md5('user' || i)::uuid
            FROM generate_series(1, $1::int) AS i""",
            count,
        )
        await conn.execute('VACUUM ANALYZE "user"')
        await conn.execute("VACUUM ANALYZE accesstoken")
    finally:
        await conn.close()


async def seed_better_auth(count: int, password_hash: str) -> None:
    """Users 1..count with a credential account (the scrypt hash Better Auth made for a registered
    user) and one live session each, token benchtoken-<i> (Better Auth stores its tokens as they are)."""
    conn = await asyncpg.connect(better_auth_url())
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(
            f"""INSERT INTO "user" (id, name, email, "emailVerified", "createdAt", "updatedAt")
            SELECT md5('user' || i), 'Bench User ' || i, 'user' || i || '@{EMAIL_DOMAIN}', true, now(), now()
            FROM generate_series(1, $1::int) AS i""",
            count,
        )
        await conn.execute(
            """INSERT INTO account (id, "accountId", "providerId", "userId", password, "createdAt", "updatedAt")
            SELECT md5('account' || i), md5('user' || i), 'credential', md5('user' || i), $2, now(), now()
            FROM generate_series(1, $1::int) AS i""",
            count,
            password_hash,
        )
        await conn.execute(
            """INSERT INTO session (id, "expiresAt", token, "createdAt", "updatedAt", "ipAddress", "userAgent", "userId")
            SELECT md5('session' || i), now() + make_interval(days => $2), 'benchtoken-' || lpad(i::text, 12, '0'),
                   now(), now(), '127.0.0.1', 'bench', md5('user' || i)
            FROM generate_series(1, $1::int) AS i""",
            count,
            BA_SESSION_DAYS,
        )
        for table in ('"user"', "account", "session"):
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
