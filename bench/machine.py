"""The machine and the versions a run used, for the report."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
from pathlib import Path

from bench.common import (
    REDIS_URL,
)
from bench.settings import BETTER_AUTH_DIR

_AUTHGATE_PACKAGES = ["authgate", "starlette", "uvicorn", "uvloop", "httptools", "asyncpg", "aiosqlite", "argon2-cffi",
                      "cryptography", "joserfc", "redis"]  # fmt: skip
_FAU_PACKAGES = ["fastapi", "fastapi-users", "fastapi-users-db-sqlalchemy", "sqlalchemy", "pwdlib", "starlette",
                 "uvicorn", "asyncpg"]  # fmt: skip


def _versions_in(python: str, packages: list[str]) -> str:
    """Versions of `packages` as another environment's interpreter sees them."""
    program = (
        "import sys, importlib.metadata as m\n"
        "for p in sys.argv[1:]:\n"
        "    try: print(p, m.version(p))\n"
        "    except m.PackageNotFoundError: print(p, '-')"
    )
    out = subprocess.run([python, "-c", program, *packages], capture_output=True, text=True, timeout=60)
    return ", ".join(out.stdout.split("\n")[:-1]) if out.returncode == 0 else "-"


def machine_info(wrk_version: str, pg_version: str, fau_python: str) -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"

    node_packages = []
    for name in ("better-auth", "pg"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            data = json.loads((BETTER_AUTH_DIR / "node_modules" / name / "package.json").read_text())
            node_packages.append(f"{name} {data['version']}")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() or "-"
    redis_server = "-"
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
        redis_server = str(client.info("server")["redis_version"])
        client.close()
    return {
        "cpus": str(os.cpu_count()),
        "cpu_model": cpu,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgres": pg_version,
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version,
        "packages": _versions_in(sys.executable, _AUTHGATE_PACKAGES),
        "fau_packages": _versions_in(fau_python, _FAU_PACKAGES),
        "node": f"Node {node} ({', '.join(node_packages)})",
        "redis": redis_server,
    }
