"""Paths, constants and run settings of the benchmark driver."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
RAW = RESULTS / "raw"
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks-session-check.png"
BETTER_AUTH_DIR = ROOT / "bench" / "better_auth"
BA_COOKIE = "better-auth.session_token"
BA_DATA_COOKIE = "better-auth.session_data"
BA_SESSION_DAYS = 7  # Better Auth's default session.expiresIn; seeded sessions get the same
DOCS_START = "<!-- bench:results:start -->"
DOCS_END = "<!-- bench:results:end -->"

EMAIL_DOMAIN = "example.com"
TOKEN_SAMPLE = 256  # distinct sessions the protected-route load cycles through
HTTP_SIGNINS = 8  # sessions created through each server's own sign-in route
SIGNIN_USERS = 16  # users the sign-in flood cycles through

# authgate's default argon2id parameters (OWASP: m=19 MiB, t=2, p=1).
ARGON2 = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# settings


@dataclass
class Settings:
    warmup: float = 3.0
    duration: float = 10.0
    runs: int = 3
    connections: int = 32
    signin_connections: int = 16
    signin_duration: float = 10.0
    base_users: int = 10_000
    large_users: int = 1_000_000
    expired_sessions: int = 100_000
    cleanup_wrk_duration: float = 10.0
    paced_connections: int = 4
    paced_delay_ms: int = 10
    quiet_wait: float = 10.0  # longest wait for other processes on the host to go quiet before a run
    quiet_budget: float = 300.0  # ... and over the whole run
    update_docs: bool = True
    profile: bool = False
    quick: bool = False

    @classmethod
    def quick_settings(cls) -> Settings:
        return cls(
            warmup=1.0,
            duration=2.0,
            runs=1,
            signin_duration=3.0,
            large_users=30_000,
            expired_sessions=20_000,
            cleanup_wrk_duration=4.0,
            update_docs=False,
            quiet_wait=2.0,
            quiet_budget=30.0,
            quick=True,
        )
