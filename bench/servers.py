"""The servers under test: what each is, and starting and stopping them by process id."""

# A driver script: a blocking open() or Popen() between load runs costs nothing that is measured.
# ruff: noqa: ASYNC220, ASYNC230

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    ACCESS_LIFETIME_SECONDS,
    BETTER_AUTH_DATABASE,
    DATABASE_URL,
    SECRET,
)
from bench.settings import BA_COOKIE, BETTER_AUTH_DIR, RAW, ROOT


@dataclass
class Server:
    key: str
    label: str
    module: str
    env: dict[str, str] = field(default_factory=dict)
    cookie: str = "authgate_session"
    ready_path: str = "/api/private"
    command: list[str] | None = None  # not a uvicorn app (Better Auth: node)
    cwd: Path = ROOT
    python_env: str = "authgate"  # which pinned environment runs it (bench/envs/, see contender_python)
    port: int = 0  # picked free when the server starts
    proc: subprocess.Popen[bytes] | None = None
    logfile: Any = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _server(key: str, label: str, module: str = "bench.authgate_app:app", **kwargs: Any) -> Server:
    return Server(key, label, module, **kwargs)


_BA = {"cookie": BA_COOKIE, "ready_path": "/api/auth/ok", "command": ["node", "server.mjs"], "cwd": BETTER_AUTH_DIR}
_FAU = {"cookie": "fastapiusersauth", "python_env": "fastapi-users"}
SERVERS = {
    server.key: server
    for server in (
        _server("floor", "(a) floor: Starlette + asyncpg, 1 query", "bench.floor:app"),
        _server("authgate_pg", "(b) authgate RequireAuth, Postgres", env={"BENCH_STORE": "postgres"}),
        _server(
            "authgate_pg_nobatch",
            "(b0) authgate RequireAuth, Postgres, one query per check (before batching)",
            env={"BENCH_STORE": "postgres", "BENCH_PG_BATCH": "0"},
        ),
        _server(
            "fau_db",
            "(c) fastapi-users, database strategy",
            "bench.fastapi_users_app:app",
            env={"BENCH_FAU_STRATEGY": "db"},
            **_FAU,
        ),
        _server(
            "fau_jwt",
            "(d) fastapi-users, JWT strategy",
            "bench.fastapi_users_app:app",
            env={"BENCH_FAU_STRATEGY": "jwt"},
            **_FAU,
        ),
        _server("authgate_sqlite", "(e) authgate RequireAuth, SQLite", env={"BENCH_STORE": "sqlite"}),
        _server(
            "authgate_redis_local",
            "(f) authgate RequireAuth, Postgres + RedisStore with local cache",
            env={"BENCH_STORE": "redis_local"},
        ),
        _server(
            "authgate_redis",
            "(g) authgate RequireAuth, Postgres + RedisStore, no local cache",
            env={"BENCH_STORE": "redis"},
        ),
        _server("better_auth", "(h) Better Auth get-session, Postgres", "", env={"BA_COOKIE_CACHE": "0"}, **_BA),
        _server(
            "better_auth_cc", "(i) Better Auth get-session, cookie cache on", "", env={"BA_COOKIE_CACHE": "1"}, **_BA
        ),
        # The JWT strategy (issue 14): one server per codec, each with a plain hello route beside
        # the protected one.
        _server(
            "authgate_jwt",
            "(j) authgate JWT strategy, codec on cryptography + verified-token cache",
            env={"BENCH_STRATEGY": "jwt", "BENCH_JWT": "cache"},
        ),
        _server(
            "authgate_jwt_lean",
            "(k) authgate JWT strategy, codec on cryptography, no cache",
            env={"BENCH_STRATEGY": "jwt", "BENCH_JWT": "lean"},
        ),
        _server(
            "authgate_jwt_joserfc",
            "(l) authgate JWT strategy, joserfc per request (before)",
            env={"BENCH_STRATEGY": "jwt", "BENCH_JWT": "joserfc"},
        ),
    )
}


def better_auth_env(server: Server) -> dict[str, str]:
    parsed = urllib.parse.urlsplit(DATABASE_URL)
    url = urllib.parse.urlunsplit(parsed._replace(path="/" + BETTER_AUTH_DATABASE))
    return {
        "BA_DATABASE_URL": url,
        "BA_SECRET": SECRET,
        "BA_PORT": str(server.port),
        # The cookie cache's lifetime (Better Auth's default is 5 minutes) must outlive the run, as
        # the seeded sessions do; it does not change what a cached check costs.
        "BA_COOKIE_CACHE_MAX_AGE": str(ACCESS_LIFETIME_SECONDS),
        "NODE_ENV": "production",
        "BETTER_AUTH_TELEMETRY": "0",
    }


@dataclass
class Contender:
    """One row of the session-check table: a server and the path its session check is loaded on."""

    key: str
    label: str
    server: Server
    path: str = "/api/private"


CONTENDERS = [
    Contender("floor", SERVERS["floor"].label, SERVERS["floor"]),
    Contender("authgate_pg", SERVERS["authgate_pg"].label, SERVERS["authgate_pg"]),
    Contender("authgate_pg_nobatch", SERVERS["authgate_pg_nobatch"].label, SERVERS["authgate_pg_nobatch"]),
    Contender("fau_db", SERVERS["fau_db"].label, SERVERS["fau_db"]),
    Contender("fau_jwt", SERVERS["fau_jwt"].label, SERVERS["fau_jwt"]),
    Contender("authgate_sqlite", SERVERS["authgate_sqlite"].label, SERVERS["authgate_sqlite"]),
    Contender("authgate_redis_local", SERVERS["authgate_redis_local"].label, SERVERS["authgate_redis_local"]),
    Contender("authgate_redis", SERVERS["authgate_redis"].label, SERVERS["authgate_redis"]),
    Contender(
        "authgate_pg_session",
        "(b') authgate `GET /api/auth/session`, Postgres",
        SERVERS["authgate_pg"],
        "/api/auth/session",
    ),
    Contender(
        "authgate_redis_local_session",
        "(f') authgate `GET /api/auth/session`, + RedisStore local cache",
        SERVERS["authgate_redis_local"],
        "/api/auth/session",
    ),
    Contender("better_auth", SERVERS["better_auth"].label, SERVERS["better_auth"], "/api/auth/get-session"),
    Contender("better_auth_cc", SERVERS["better_auth_cc"].label, SERVERS["better_auth_cc"], "/api/auth/get-session"),
]


def uvicorn_command(server: Server) -> list[str]:
    cmd = [
        contender_python(server.python_env),
        "-m",
        "uvicorn",
        server.module,
        "--host",
        "127.0.0.1",
        "--port",
        str(server.port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401

        cmd += ["--loop", "uvloop"]
    with contextlib.suppress(ImportError):
        import httptools  # noqa: F401

        cmd += ["--http", "httptools"]
    return cmd


def contender_python(name: str) -> str:
    """The interpreter of a pinned environment (`scripts/bench` makes them from bench/envs/<name>.txt
    under .bench-envs/, or BENCH_ENVS). The driver itself runs in the `authgate` one."""
    root = Path(os.environ.get("BENCH_ENVS", ROOT / ".bench-envs"))
    python = root / name / "bin" / "python"
    if not python.exists():
        if name == "authgate":
            return sys.executable
        raise SystemExit(f"no {python}: run the benchmark through scripts/bench, which creates it")
    return str(python)


def free_port() -> int:
    """A port nobody listens on now (the kernel picks it), so parallel runs do not collide."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def start_server(server: Server) -> None:
    server.port = free_port()
    env = {**os.environ, **server.env, "PYTHONPATH": str(ROOT)}
    if server.command is not None:
        env.update(better_auth_env(server))
    server.logfile = open(RAW / f"server-{server.key}.log", "ab")  # closed in stop_server
    server.proc = subprocess.Popen(
        server.command or uvicorn_command(server),
        cwd=server.cwd,
        env=env,
        stdout=server.logfile,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(f"{server.key} exited with {server.proc.returncode}; see {RAW}/server-{server.key}.log")
        with contextlib.suppress(OSError):
            status, _, _ = await http_request(server.port, "GET", server.ready_path)
            if status in (200, 401, 403):
                return
        await asyncio.sleep(0.2)
    raise SystemExit(f"{server.key} did not answer within 60 s")


async def stop_server(server: Server) -> None:
    proc = server.proc
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        for _ in range(100):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            proc.kill()
            proc.wait()
    server.proc = None
    if server.logfile:
        server.logfile.close()


@contextlib.asynccontextmanager
async def running(*servers: Server) -> AsyncIterator[None]:
    try:
        for server in servers:
            await start_server(server)
        yield
    finally:
        for server in servers:
            await stop_server(server)


def _http_request_sync(
    port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, list[str]], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        collected: dict[str, list[str]] = {}
        for name, value in resp.getheaders():
            collected.setdefault(name.lower(), []).append(value)
        return resp.status, collected, data
    finally:
        conn.close()


async def http_request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, list[str]], bytes]:
    return await asyncio.to_thread(_http_request_sync, port, method, path, body, headers or {})


def cookie_from(headers: dict[str, list[str]], name: str) -> str:
    for value in headers.get("set-cookie", []):
        key, _, rest = value.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    raise RuntimeError(f"no {name} cookie in {headers.get('set-cookie')}")
