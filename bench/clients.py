"""Sessions made through each server's own routes, the cookies the load uses, and the checks that every contender answers for the user before it is loaded."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import urllib.parse
from collections.abc import Iterable

from bench.common import (
    PASSWORD,
    SECRET,
)
from bench.seeding import user_email
from bench.servers import Server, cookie_from, http_request
from bench.settings import BA_COOKIE, BA_DATA_COOKIE


def better_auth_cookie(token: str) -> str:
    """Better Auth's signed cookie value (better-call: `token.base64(HMAC-SHA256(secret, token))`,
    URI-encoded), as its sign-in route would set it."""
    import base64
    import hmac

    signature = base64.b64encode(hmac.new(SECRET.encode(), token.encode(), hashlib.sha256).digest()).decode()
    return urllib.parse.quote(f"{token}.{signature}", safe="")


async def better_auth_sign_up(server: Server, email: str) -> None:
    body = json.dumps({"email": email, "password": PASSWORD, "name": "Registered"}).encode()
    status, _, data = await http_request(
        server.port, "POST", "/api/auth/sign-up/email", body, {"Content-Type": "application/json"}
    )
    if status != 200:
        raise RuntimeError(f"Better Auth sign-up failed: {status} {data[:300]!r}")


async def better_auth_sign_in(server: Server, email: str) -> str:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    status, headers, data = await http_request(
        server.port, "POST", "/api/auth/sign-in/email", body, {"Content-Type": "application/json"}
    )
    if status != 200:
        raise RuntimeError(f"Better Auth sign-in failed: {status} {data[:300]!r}")
    return cookie_from(headers, BA_COOKIE)


async def better_auth_data_cookie(server: Server, session_cookie: str) -> str:
    """The cookie-cache cookie Better Auth sets on a get-session answer read from the database."""
    status, headers, data = await http_request(
        server.port, "GET", "/api/auth/get-session", headers={"Cookie": f"{BA_COOKIE}={session_cookie}"}
    )
    if status != 200:
        raise RuntimeError(f"Better Auth get-session failed: {status} {data[:300]!r}")
    return cookie_from(headers, BA_DATA_COOKIE)


async def authgate_sign_in(server: Server, i: int) -> str:
    body = json.dumps({"email": user_email(i), "password": PASSWORD}).encode()
    status, headers, data = await http_request(
        server.port,
        "POST",
        "/api/auth/sign-in",
        body,
        {"Content-Type": "application/json", "X-Authgate-Client": "true"},
    )
    if status != 200:
        raise RuntimeError(f"{server.key} sign-in failed: {status} {data[:300]!r}")
    return cookie_from(headers, "authgate_session")


async def fau_register(server: Server, email: str) -> None:
    body = json.dumps({"email": email, "password": PASSWORD}).encode()
    status, _, data = await http_request(
        server.port, "POST", "/auth/register", body, {"Content-Type": "application/json"}
    )
    if status != 201:
        raise RuntimeError(f"fastapi-users register failed: {status} {data[:300]!r}")


async def fau_login(server: Server, strategy: str, email: str) -> str:
    body = urllib.parse.urlencode({"username": email, "password": PASSWORD}).encode()
    status, headers, data = await http_request(
        server.port, "POST", f"/auth/{strategy}/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    if status not in (200, 204):
        raise RuntimeError(f"fastapi-users login failed: {status} {data[:300]!r}")
    return cookie_from(headers, "fastapiusersauth")


def sample_ids(count: int, population: int, rng: random.Random) -> list[int]:
    return rng.sample(range(1, population + 1), min(count, population))


def protected_requests(
    server: Server, tokens: Iterable[str], path: str = "/api/private"
) -> list[tuple[str, str, dict[str, str], str | None]]:
    return cookie_requests([f"{server.cookie}={t}" for t in tokens], path)


def cookie_requests(cookies: Iterable[str], path: str) -> list[tuple[str, str, dict[str, str], str | None]]:
    return [("GET", path, {"Cookie": c, "X-Authgate-Client": "true"}, None) for c in cookies]


def _answers_for_user(data: bytes) -> bool:
    text = data.decode(errors="replace").strip()
    if text.startswith("{"):
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            return str(json.loads(text)["user"]["email"]).startswith("user")
        return False
    return text.strip('"').startswith("hello user")


async def check_cookies(server: Server, path: str, cookies: list[str]) -> None:
    """Every contender must answer for the user (`hello <email>`, or `{user: {email}}` on the JSON
    session routes) with the cookies it is loaded with, and refuse without one (401, or Better
    Auth's `null`)."""
    for cookie in cookies[:5] + cookies[-5:]:
        status, _, data = await http_request(
            server.port, "GET", path, headers={"Cookie": cookie, "X-Authgate-Client": "true"}
        )
        if status != 200 or not _answers_for_user(data):
            raise RuntimeError(f"{server.key} {path}: cookie {cookie[:40]}... got {status} {data[:200]!r}")
    status, _, data = await http_request(server.port, "GET", path, headers={"X-Authgate-Client": "true"})
    if not (status == 401 or (status == 200 and data.strip() == b"null")):
        raise RuntimeError(f"{server.key} {path}: no cookie gave {status} {data[:100]!r}, expected a refusal")


async def check_protected(server: Server, tokens: list[str]) -> None:
    await check_cookies(server, "/api/private", [f"{server.cookie}={t}" for t in tokens])
