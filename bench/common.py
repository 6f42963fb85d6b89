"""Settings shared by the benchmark servers and the driver (all read from the environment)."""

from __future__ import annotations

import os

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
AUTHGATE_SCHEMA = os.environ.get("BENCH_AUTHGATE_SCHEMA", "bench_authgate")
FAU_SCHEMA = os.environ.get("BENCH_FAU_SCHEMA", "bench_fastapi_users")
SQLITE_PATH = os.environ.get("BENCH_SQLITE_PATH", "/tmp/authgate-bench/authgate.db")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_KEY_PREFIX = os.environ.get(
    "BENCH_REDIS_KEY_PREFIX", "authgate-bench"
)  # RedisStore's keys for (f) and (g); deleted on reset
BETTER_AUTH_DATABASE = os.environ.get("BENCH_BETTER_AUTH_DATABASE", "bench_better_auth")
SECRET = "bench-secret-" + "x" * 64
PASSWORD = "correct horse battery staple"
# Sessions seeded for the benchmark must outlive the whole run (authgate's default access
# lifetime is 15 minutes); the value has no effect on the cost of a check.
ACCESS_LIFETIME_SECONDS = 4 * 3600
