"""(a) The floor: a bare Starlette endpoint doing the one query a session check needs.

Reads the `authgate_session` cookie, hashes it with SHA-256, runs one indexed query joining
authgate's sessions and users tables, answers `hello <email>`. One asyncpg pool with default
settings (including asyncpg's default connection reset); tables are schema-qualified so the pool
needs no search_path.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench.common import AUTHGATE_SCHEMA, DATABASE_URL

QUERY = (
    f"SELECT u.id, u.email FROM {AUTHGATE_SCHEMA}.sessions s JOIN {AUTHGATE_SCHEMA}.users u ON u.id = s.user_id"
    " WHERE s.token = $1 AND s.expires_at > now()"
)

pool: asyncpg.Pool | None = None


async def private(request: Request) -> PlainTextResponse:
    token = request.cookies.get("authgate_session")
    if not token:
        return PlainTextResponse("unauthenticated", status_code=401)
    assert pool is not None
    row = await pool.fetchrow(QUERY, hashlib.sha256(token.encode()).hexdigest())
    if row is None:
        return PlainTextResponse("unauthenticated", status_code=401)
    return PlainTextResponse(f"hello {row['email']}")


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(DATABASE_URL)
    try:
        yield
    finally:
        await pool.close()


app = Starlette(routes=[Route("/api/private", private)], lifespan=lifespan)
